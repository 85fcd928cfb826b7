/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The node object: parsed from a NODE_GET reply or a notification,
 * printed for humans (a table row or "key: value" lines) and as JSON from
 * the same code.
 */
#ifndef VS_NODE_H
#define VS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>
#include <linux/vstorage.h>

struct vs_nl;

/* "/dev/mapper/" and a device-mapper name */
#define VS_DEVICE_MAX	160

struct vs_child {
	char *role;
	char *node_name;	/* NULL unless the child is a node */
	char *path;
	bool has_dev;
	uint32_t major, minor;
};

struct vs_value {
	bool present;
	uint64_t u;
	char *s;
};

struct vs_node {
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	char driver[VSTORAGE_DRIVER_NAME_MAX + 1];
	char *dm_name;
	bool has_size;
	uint64_t size;
	bool read_only;
	bool has_dev;
	uint32_t major, minor;
	/*
	 * The user-visible device above the node's own device (dm_name,
	 * major:minor), when vstoragectl looked it up (vs_node_resolve_top());
	 * not the same device once the node was moved under it.
	 */
	char *top_dm_name;
	bool moved;
	uint32_t top_major, top_minor;
	struct vs_child *children;
	size_t nr_children;
	bool has_info, has_stats;
	struct vs_value info[VSTORAGE_INFO_MAX + 1];
	struct vs_value stats[VSTORAGE_STATS_MAX + 1];
};

/* Parses a node object message; returns 0 or -EBADMSG. */
int vs_node_parse(const struct nlmsghdr *nlh, struct vs_node *n);
void vs_node_free(struct vs_node *n);

/*
 * "/dev/mapper/<dm-name>" of the user-visible device (the node's own
 * device unless it was moved) into buf, or "" without a dm name.
 */
const char *vs_node_device(const struct vs_node *n, char *buf, size_t len);

/* The path of the child with that role, or NULL. */
const struct vs_child *vs_node_child(const struct vs_node *n,
				     const char *role);

/*
 * NODE_GET by name. Returns 0, -ENOENT if there is no such node, or another
 * negative errno; nl->extack holds the kernel's message.
 */
int vs_node_get(struct vs_nl *nl, const char *name, struct vs_node *n);

/* Column widths of the human table. */
struct vs_node_cols {
	int name, driver, size, ro, device;
};

void vs_node_cols_init(struct vs_node_cols *c);
void vs_node_cols_fit(struct vs_node_cols *c, const struct vs_node *n);
void vs_node_print_header(const struct vs_node_cols *c);

/*
 * Prints a node object (JSON key 'key' when inside an object). Humans get
 * a table row when cols is set, else "key: value" lines.
 */
void vs_node_print(const struct vs_node *n, const char *key,
		   const struct vs_node_cols *cols);

#endif /* VS_NODE_H */
