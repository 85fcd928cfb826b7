/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command entry points. Each takes the arguments after its own word and
 * returns the exit code (EXIT_OK, EXIT_ERR, EXIT_USAGE).
 */
#ifndef VS_CMDS_H
#define VS_CMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include <linux/vstorage.h>

void usage_main(FILE *f);
void usage_node(FILE *f);
void usage_monitor(FILE *f);

int cmd_node(int argc, char **argv);
int cmd_node_add(int argc, char **argv);
int cmd_node_map(int argc, char **argv);
int cmd_node_move(int argc, char **argv);
int cmd_node_insert_filter(int argc, char **argv);
int cmd_node_snapshot(int argc, char **argv);
int cmd_graph(int argc, char **argv);
/* graph apply FILE, or every *.json of a directory: EXIT_OK or EXIT_ERR. */
int vs_graph_apply(const char *path);
void usage_graph(FILE *f);
/* "invalid node name 'X': why" for a bad NAME argument: 0 or -1. */
int check_name_arg(const char *name);
struct vs_node;
/*
 * NODE_GET of NAME on a netlink socket of its own; "no node named 'X'" or
 * the kernel's words on failure. 0 or -1 (printed).
 */
int vs_node_fetch(const char *name, struct vs_node *n);

struct vs_nl;
/*
 * The throttle groups as QEMU's object-add arguments (JSON array
 * "throttle-groups"; a line each for humans). 0 or -1 (printed).
 */
int vs_tgroup_print_config(struct vs_nl *nl);
int cmd_node_remove_filter(int argc, char **argv);
int cmd_node_reopen(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
void usage_export(FILE *f);
int cmd_export(int argc, char **argv);
void usage_tgroup(FILE *f);
int cmd_tgroup(int argc, char **argv);

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

/*
 * Moves node NAME to a new device dm_name under its user-visible device D
 * (which then passes I/O through to it), or back onto D when it was moved
 * (dm_name is D). insert-filter gives D's new table instead of the linear
 * pass-through (pass_target, and make_pass builds the parameters for the
 * holder "MAJ:MIN"); remove-filter names the filter on D that goes away.
 * Returns EXIT_OK or EXIT_ERR with one line printed.
 */
struct vs_move_req {
	const char *name;
	const char *dm_name;
	const char *pass_target;
	char *(*make_pass)(const char *holder_dev, void *arg);
	void *arg;
	const char *filter;
	const char *what;	/* for errors: "cannot WHAT: ..." */
	/* the node goes down read-only (node snapshot: the old image) */
	bool below_read_only;
};
int vs_node_move(const struct vs_move_req *r);

/*
 * The device number of a target's child: the second word of a vstorage
 * table line ("MAJ:MIN" or a device path). 0 or -1.
 */
int vs_table_child_dev(const char *params, uint32_t *major,
		       uint32_t *minor);
/* The device of a vstorage-qcow2 table's backing option. 0 or -1. */
int vs_table_backing_dev(const char *params, uint32_t *major,
			 uint32_t *minor);

struct vs_node_stack;
/*
 * node snapshot of node NAME that sits right under a filter on its disk
 * (st: its devices): NAME's device is reloaded read-only, a device
 * "<disk>-<new_name>" (UUID VSTORAGE-node:<new_name>) gets make_table's
 * table (target) over NAME's device "MAJ:MIN", and the filter is reloaded
 * over it. EXIT_OK, or EXIT_ERR with "cannot WHAT: ..." printed and the
 * change undone.
 */
struct vs_snap_req {
	const char *name;
	const struct vs_node_stack *st;
	const char *new_name;
	const char *target;
	char *(*make_table)(const char *child_dev, void *arg);
	void *arg;
	const char *what;
};
int vs_snapshot_under_filter(const struct vs_snap_req *r);

/* Devices that node move and insert-filter may stack under one disk. */
#define VS_STACK_DEPTH_MAX	16

#include "dm.h"

/*
 * The new device is private, as LVM's -real devices are: udev gives it
 * /dev/mapper/NEW but scans nothing (the file system on it is the
 * workload's, seen through D: its by-uuid link must stay D's) and makes no
 * /dev/vstorage link.
 */
#define HOLDER_UDEV_FLAGS (DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG | \
			   DM_UDEV_DISABLE_DISK_RULES_FLAG | \
			   DM_UDEV_DISABLE_OTHER_RULES_FLAG)

/*
 * The devices that node move and insert-filter made under device TOP
 * (UUID VSTORAGE-node:*), top-down, following each table's child: how
 * many were put into names.
 */
size_t vs_stack_hidden(const char *top, char names[][VS_DM_NAME_LEN],
		       size_t max);

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

#include "table.h"

/* The backing chain below a node (node del, block jobs). */
#define VS_CHAIN_MAX	64
struct vs_chain_link {
	char node[VSTORAGE_NODE_NAME_MAX + 1];
	char dm_name[VS_DM_NAME_LEN];
};

/*
 * The backing nodes below node NAME, top-down, as far as the kernel names
 * them ("backing" children that are nodes). Returns how many.
 */
size_t vs_backing_chain(const char *name, struct vs_chain_link *chain,
			size_t max);
/*
 * Removes the automatic backing nodes (UUID VSTORAGE-auto-<dm-name>) of
 * CHAIN, top-down, while nothing holds them open; NAME is the node they
 * were removed for, in errors. 0, or -1 with the error printed.
 */
int vs_remove_auto_chain(const char *name, const struct vs_chain_link *chain,
			 size_t nr);

/* node resize NAME to SIZE bytes: EXIT_OK or EXIT_ERR (printed). */
int vs_node_resize(const char *name, uint64_t size);
/*
 * node insert-filter NAME DRIVER node-name=F ... and node remove-filter F
 * without the checks of the command line (block jobs use them for their
 * own filters): EXIT_OK or EXIT_ERR (printed).
 */
int vs_node_insert_filter(const char *name, int argc, char **argv);
int vs_node_remove_filter(const char *name);

void usage_job(FILE *f);
int cmd_job(int argc, char **argv);
void usage_bitmap(FILE *f);
int cmd_bitmap(int argc, char **argv);

#endif /* VS_CMDS_H */
