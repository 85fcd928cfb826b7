/* SPDX-License-Identifier: GPL-2.0 */
/*
 * node add's checks, shared with node insert-filter: everything about a
 * new node that can be checked before a device is made.
 */
#ifndef VS_NODE_ADD_H
#define VS_NODE_ADD_H

#include <stdbool.h>

#include "driver.h"
#include "nl.h"

/* Netlink, opened on first use; without the module there are no nodes. */
struct lazy_nl {
	struct vs_nl nl;
	bool tried, ok;
};

struct add_state {
	struct lazy_nl *l;
	struct vs_node *nodes;		/* a dump, made on first use */
	size_t nr_nodes;
	bool dumped;
};

struct vs_add_job {
	struct vs_add_ctx ctx;
	struct lazy_nl l;
	struct add_state st;
	char *uuid;			/* VSTORAGE-<node-name> */
};

/*
 * argv[0] is the driver, the rest PROPERTY=VALUE: parses and checks them
 * against the child, and checks that the node's name is free. 0, or -1
 * with the error printed; vs_add_job_free() either way.
 */
int vs_add_prepare(struct vs_add_job *j, int argc, char **argv);
void vs_add_job_free(struct vs_add_job *j);

#endif /* VS_NODE_ADD_H */
