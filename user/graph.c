// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl [-j [-p]] graph show`: every user-visible device with the
 * chain of nodes under it, and the throttle groups.
 *
 * The graph is read from where it lives: the kernel's nodes (netlink) and
 * each node's device-mapper table, whose option words are the node's
 * options. With -j every device carries its top node as a QEMU
 * blockdev-add object: "driver", "node-name", the options by QEMU's names,
 * and the children nested ("file", "backing"), an image file as
 * {"driver": "file", "filename": ...}; a node met a second time is named
 * by its node-name, as blockdev-add allows. Throttle groups are QEMU's
 * object-add arguments ({"qom-type": "throttle-group", "id": ...,
 * "limits": {...}}).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "nl.h"
#include "node.h"
#include "output.h"
#include "parse.h"
#include "util.h"

struct gnode {
	struct vs_node *n;
	struct vs_dm_info dev;		/* the device with the node's table */
	char *target;
	char **words;			/* the table's parameters, unescaped */
	size_t nr_words;
	bool referenced;		/* another node's child */
	bool printed;
};

struct graph {
	struct vs_node *nodes;
	size_t nr;
	struct gnode *g;
};

/* dm_split_args(): words split at spaces, backslash escapes undone. */
static size_t split_words(const char *s, char ***out)
{
	size_t nr = 0, len = strlen(s);
	char **w = xcalloc(len / 2 + 2, sizeof(*w));

	while (*s) {
		char *word, *o;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		word = o = xcalloc(1, strlen(s) + 1);
		for (; *s && *s != ' '; s++) {
			if (*s == '\\' && s[1])
				s++;
			*o++ = *s;
		}
		w[nr++] = word;
	}
	*out = w;
	return nr;
}

static struct gnode *by_dev(struct graph *gr, const char *word)
{
	uint32_t major, minor;
	char line[VSTORAGE_PATH_MAX + 8];
	size_t i;

	/* vs_table_child_dev() reads the second word of a line */
	snprintf(line, sizeof(line), "x %s", word);
	if (vs_table_child_dev(line, &major, &minor))
		return NULL;
	for (i = 0; i < gr->nr; i++) {
		const struct vs_node *n = gr->g[i].n;

		if (n->has_dev && n->major == major && n->minor == minor)
			return &gr->g[i];
	}
	return NULL;
}

/* The option words after "<node> <child> <#opts>". */
static size_t first_opt(const struct gnode *x)
{
	return x->nr_words > 2 ? 3 : x->nr_words;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void print_image(const char *key, const char *path, const char *locking)
{
	struct stat st;
	bool blk = !stat(path, &st) && S_ISBLK(st.st_mode);

	open_json_object(key);
	print_string(PRINT_JSON, "driver", NULL, blk ? "host_device" : "file");
	print_string(PRINT_JSON, "filename", NULL, path);
	if (locking)
		print_string(PRINT_JSON, "locking", NULL, locking);
	close_json_object();
}

static void print_node(struct graph *gr, struct gnode *x, const char *key,
		       int depth);

/* A child: a node (nested, or its name when printed before) or a file. */
static void print_child(struct graph *gr, const char *role, const char *word,
			const char *locking, int depth)
{
	struct gnode *c = by_dev(gr, word);

	print_fp("%*s%s: ", depth * 2, "", role);
	if (!c) {
		print_fp("%s\n", word);
		print_image(role, word, locking);
		return;
	}
	if (c->printed || depth > VS_STACK_DEPTH_MAX * 2) {
		print_string(PRINT_ANY, role, "node %s (above)\n", c->n->name);
		return;
	}
	print_node(gr, c, role, depth);
}

static void print_node(struct graph *gr, struct gnode *x, const char *key,
		       int depth)
{
	const char *locking = NULL, *backing = NULL;
	size_t i, nr_cache = 0;

	x->printed = true;
	open_json_object(key);
	print_string(PRINT_ANY, "node-name", "%s", x->n->name);
	print_string(PRINT_ANY, "driver", " (%s)", x->n->driver);
	/* node add makes it from the image's backing file name */
	if (!strncmp(x->dev.uuid, VS_DM_UUID_AUTO_PREFIX,
		     sizeof(VS_DM_UUID_AUTO_PREFIX) - 1))
		print_bool(PRINT_JSON, "x-vstorage-auto", NULL, true);
	print_fp(" on %s", x->dev.name);
	for (i = first_opt(x); i < x->nr_words; i++) {
		const char *k = x->words[i];
		const char *v = i + 1 < x->nr_words ? x->words[i + 1] : "";

		if (!strcmp(k, "read-only")) {
			print_bool(PRINT_JSON, "read-only", NULL, true);
			print_fp(" read-only");
			continue;
		}
		i++;
		print_fp(" %s=%s", k, v);
		if (!strcmp(k, "backing"))
			backing = v;
		else if (!strcmp(k, "locking"))
			locking = v;
		else if (!strncmp(k, "cache.", 6))
			nr_cache++;
		else if (is_number(v))
			print_u64(PRINT_JSON, k, NULL, strtoull(v, NULL, 10));
		else if (!strcmp(v, "on") || !strcmp(v, "off"))
			print_bool(PRINT_JSON, k, NULL, !strcmp(v, "on"));
		else
			print_string(PRINT_JSON, k, NULL, v);
	}
	print_fp("\n");
	if (nr_cache) {
		open_json_object("cache");
		for (i = first_opt(x); i + 1 < x->nr_words; i++) {
			if (!strcmp(x->words[i], "read-only"))
				continue;
			if (!strncmp(x->words[i], "cache.", 6))
				print_bool(PRINT_JSON, x->words[i] + 6, NULL,
					   !strcmp(x->words[i + 1], "on"));
			i++;
		}
		close_json_object();
	}
	if (x->nr_words > 1)
		print_child(gr, "file", x->words[1], locking, depth + 1);
	if (backing && !strcmp(backing, "none")) {
		print_fp("%*sbacking: none\n", (depth + 1) * 2, "");
		print_string(PRINT_JSON, "backing", NULL, NULL);
	} else if (backing) {
		print_child(gr, "backing", backing, NULL, depth + 1);
	}
	close_json_object();
}

static int graph_load(struct vs_nl *nl, struct graph *gr)
{
	char err[1024], *params;
	size_t i;

	if (vs_node_dump(nl, &gr->nodes, &gr->nr))
		return -1;
	gr->g = xcalloc(gr->nr + 1, sizeof(*gr->g));
	for (i = 0; i < gr->nr; i++) {
		struct gnode *x = &gr->g[i];

		x->n = &gr->nodes[i];
		if (!x->n->has_dev ||
		    vs_dm_info_dev(x->n->major, x->n->minor, &x->dev) ||
		    !x->dev.exists)
			continue;	/* going away as we look */
		if (vs_dm_get_table(x->dev.name, &x->target, &params, err,
				    sizeof(err)))
			continue;
		x->nr_words = split_words(params, &x->words);
		free(params);
	}
	/* what is some node's child is not the top of a device */
	for (i = 0; i < gr->nr; i++) {
		struct gnode *x = &gr->g[i], *c;
		size_t w;

		if (x->nr_words > 1) {
			c = by_dev(gr, x->words[1]);
			if (c)
				c->referenced = true;
		}
		for (w = first_opt(x); w + 1 < x->nr_words; w++) {
			if (!strcmp(x->words[w], "read-only"))
				continue;
			if (!strcmp(x->words[w], "backing")) {
				c = by_dev(gr, x->words[w + 1]);
				if (c)
					c->referenced = true;
			}
			w++;
		}
	}
	return 0;
}

static void graph_free(struct graph *gr)
{
	size_t i, w;

	for (i = 0; gr->g && i < gr->nr; i++) {
		for (w = 0; w < gr->g[i].nr_words; w++)
			free(gr->g[i].words[w]);
		free(gr->g[i].words);
		free(gr->g[i].target);
	}
	free(gr->g);
	vs_node_dump_free(gr->nodes, gr->nr);
}

static int graph_show(void)
{
	struct graph gr = { 0 };
	struct vs_nl nl;
	size_t i;
	int ret = EXIT_ERR;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	if (graph_load(&nl, &gr))
		goto out;
	open_json_object(NULL);
	open_json_array(PRINT_JSON, "devices");
	for (i = 0; i < gr.nr; i++) {
		struct gnode *x = &gr.g[i];
		struct vs_node_stack st;

		if (x->referenced || !x->nr_words || vs_node_stack(x->n, &st))
			continue;
		open_json_object(NULL);
		print_string(PRINT_ANY, "dm-name", "/dev/mapper/%s", st.top.name);
		print_u64(PRINT_ANY, "major", " (%" PRIu64, st.top.major);
		print_u64(PRINT_ANY, "minor", ":%" PRIu64 ")\n", st.top.minor);
		print_fp("  ");
		print_node(&gr, x, "node", 1);
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
	ret = vs_tgroup_print_config(&nl) ? EXIT_ERR : EXIT_OK;
	close_json_object();
out:
	graph_free(&gr);
	vs_nl_close(&nl);
	return ret;
}

void usage_graph(FILE *f)
{
	fprintf(f, "Usage: vstoragectl [-j [-p]] graph show\n"
		"       vstoragectl graph apply FILE|DIR\n");
}

int cmd_graph(int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "apply")) {
		if (argc != 2)
			return usage_err("graph help", argc < 2 ?
					 "graph apply: missing FILE%s" :
					 "graph apply: unexpected argument '%s'",
					 argc < 2 ? "" : argv[2]);
		return vs_graph_apply(argv[1]);
	}
	if (argc < 1)
		return usage_err("graph help", "graph: missing COMMAND");
	if (!strcmp(argv[0], "help")) {
		usage_graph(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "show")) {
		if (argc > 1)
			return usage_err("graph help",
					 "graph show: unexpected argument '%s'",
					 argv[1]);
		return graph_show();
	}
	return usage_err("graph help", "graph: unknown command '%s'", argv[0]);
}
