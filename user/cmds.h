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
int cmd_monitor(int argc, char **argv);
void usage_export(FILE *f);
int cmd_export(int argc, char **argv);

struct vs_node;
/*
 * The device-mapper name of a node: device-mapper's own answer for the
 * node's device number, else the kernel's DM_NAME, else the node name.
 */
void vs_node_dm_name(const struct vs_node *n, char *buf, size_t len);

struct vs_nl;
/*
 * Every node (NODE_GET dump, retried while the set changes), sorted by
 * name. Returns 0, or -1 with the error printed.
 */
int vs_node_dump(struct vs_nl *nl, struct vs_node **out, size_t *nr);
void vs_node_dump_free(struct vs_node *v, size_t nr);

#endif /* VS_CMDS_H */
