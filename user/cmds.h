/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command entry points. Each takes the arguments after its own word and
 * returns the exit code (EXIT_OK, EXIT_ERR, EXIT_USAGE).
 */
#ifndef VS_CMDS_H
#define VS_CMDS_H

#include <stddef.h>
#include <stdio.h>

void usage_main(FILE *f);
void usage_node(FILE *f);
void usage_monitor(FILE *f);

int cmd_node(int argc, char **argv);
int cmd_node_add(int argc, char **argv);
int cmd_node_map(int argc, char **argv);
int cmd_node_move(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
void usage_export(FILE *f);
int cmd_export(int argc, char **argv);

struct vs_node;
/*
 * The device-mapper name of a node's user-visible device: the device of
 * the node's device number (device-mapper's own answer), or the device
 * above it after a move; else the kernel's DM_NAME, else the node name.
 */
void vs_node_dm_name(const struct vs_node *n, char *buf, size_t len);

/*
 * DM UUID of the device that holds a node moved under its user-visible
 * device (node move): VSTORAGE-node:<node-name>. ':' is never part of a
 * node name, so it cannot be the UUID of a node add device; udev gives it
 * no /dev/vstorage link.
 */
#define VS_DM_UUID_HOLDER_PREFIX	"VSTORAGE-node:"

#include "dm.h"

/* The devices of a node. */
struct vs_node_stack {
	/* the node's table is on a device under the user-visible one */
	bool moved;
	struct vs_dm_info holder;	/* the device with the node's table */
	struct vs_dm_info top;		/* the user-visible device */
};

/*
 * Looks the node's devices up (device-mapper, by device number and UUID).
 * Returns 0, -ENOENT when no device has the node's number, or another
 * negative errno.
 */
int vs_node_stack(const struct vs_node *n, struct vs_node_stack *st);

/* Fills the node's user-visible device in (for printing); best effort. */
void vs_node_resolve_top(struct vs_node *n);

struct vs_nl;
/*
 * Every node (NODE_GET dump, retried while the set changes), sorted by
 * name. Returns 0, or -1 with the error printed.
 */
int vs_node_dump(struct vs_nl *nl, struct vs_node **out, size_t *nr);
void vs_node_dump_free(struct vs_node *v, size_t nr);

#endif /* VS_CMDS_H */
