// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node reopen NAME PROP=VALUE ...`: QEMU's blockdev-reopen
 * for the options that a live node can change safely. The node's table is
 * read back from device-mapper, the options changed in it, and the device
 * that holds the node reloaded: the new instance takes the node over as
 * in any reload (the old one commits on the suspend), so the workload sees
 * no error and the device stays the same.
 *
 * Safe: read-only (the node's own device only, not one inside a stack of
 * filters: the device above would keep its mode), the cache options, the
 * qcow2 cache sizes and clean interval, discard, lazy-refcounts and
 * overlap-check, a throttle node's group. Anything else names a different
 * node (its image, its backing, its window of the file) and is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "dm.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "parse.h"
#include "table.h"
#include "util.h"

#define ERR_LEN 1024

enum reopen_kind { K_BOOL, K_SIZE, K_U32, K_ENUM, K_NAME };

struct reopen_key {
	const char *driver;		/* NULL: every driver with an image */
	const char *key;
	enum reopen_kind kind;
	const char *const *values;	/* K_ENUM */
};

static const char *const discard_values[] = { "ignore", "unmap", NULL };
static const char *const overlap_values[] = {
	"none", "constant", "cached", "all", NULL
};

static const struct reopen_key reopen_keys[] = {
	{ NULL, "cache.direct", K_BOOL, NULL },
	{ NULL, "cache.no-flush", K_BOOL, NULL },
	{ NULL, "cache.writeback", K_BOOL, NULL },
	{ "qcow2", "l2-cache-size", K_SIZE, NULL },
	{ "qcow2", "refcount-cache-size", K_SIZE, NULL },
	{ "qcow2", "cache-clean-interval", K_U32, NULL },
	{ "qcow2", "lazy-refcounts", K_BOOL, NULL },
	{ "qcow2", "discard", K_ENUM, discard_values },
	{ "qcow2", "overlap-check", K_ENUM, overlap_values },
	{ "throttle", "throttle-group", K_NAME, NULL },
};

static const struct reopen_key *find_key(const char *driver, const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reopen_keys); i++) {
		const struct reopen_key *k = &reopen_keys[i];

		if (strcmp(k->key, key))
			continue;
		if (k->driver ? !strcmp(k->driver, driver) :
				(!strcmp(driver, "raw") || !strcmp(driver, "qcow2")))
			return k;
	}
	return NULL;
}

/* The value as the table line spells it, or NULL (error printed). */
static char *table_value(const struct reopen_key *k, const char *key,
			 const char *v)
{
	const char *why;
	uint64_t u;
	bool b;
	size_t i;

	switch (k->kind) {
	case K_BOOL:
		if (parse_bool(v, &b))
			break;
		return xstrdup(b ? "on" : "off");
	case K_SIZE:
	case K_U32:
		if (parse_size(v, &u, &why)) {
			pr_err("%s=%s: %s", key, v, why);
			return NULL;
		}
		if (k->kind == K_U32 && u > UINT32_MAX)
			break;
		return xasprintf("%llu", (unsigned long long)u);
	case K_ENUM:
		/* QEMU's off/on for discard */
		if (k->values == discard_values && !strcmp(v, "off"))
			v = "ignore";
		if (k->values == discard_values && !strcmp(v, "on"))
			v = "unmap";
		for (i = 0; k->values[i]; i++)
			if (!strcmp(v, k->values[i]))
				return xstrdup(v);
		break;
	case K_NAME:
		if (check_node_name(v, &why)) {
			pr_err("%s=%s: %s", key, v, why);
			return NULL;
		}
		return xstrdup(v);
	}
	pr_err("%s=%s: invalid value", key, v);
	return NULL;
}

static int node_reopen(const char *name, int argc, char **argv)
{
	char err[ERR_LEN], dev[32], key[64], *target = NULL, *params = NULL;
	char *line = NULL, *value;
	struct vs_node_stack st;
	struct vs_table t = { 0 };
	bool ro, ro_given = false;
	uint64_t sectors;
	struct vs_node n;
	int i, ret = EXIT_ERR;

	if (vs_node_fetch(name, &n))
		return EXIT_ERR;
	ro = n.read_only;
	if (vs_node_stack(&n, &st)) {
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		goto out;
	}
	if (vs_dm_get_table_len(st.holder.name, &target, &params, &sectors,
				err, sizeof(err))) {
		pr_err("node '%s': %s", name, err);
		goto out;
	}
	if (vs_table_split(params, &t)) {
		pr_err("node '%s': table of device '%s' has too many words",
		       name, st.holder.name);
		goto out;
	}
	for (i = 0; i < argc; i++) {
		const char *v = split_kv(argv[i], key, sizeof(key));
		const struct reopen_key *k;

		if (!v) {
			pr_err("'%s': expected PROPERTY=VALUE", argv[i]);
			goto out;
		}
		if (!strcmp(key, "read-only")) {
			if (!strcmp(n.driver, "throttle") ||
			    !strcmp(n.driver, "copy-on-read")) {
				pr_err("read-only: a %s node has the mode of the node under it",
				       n.driver);
				goto out;
			}
			if (parse_bool(v, &ro)) {
				pr_err("read-only=%s: invalid value", v);
				goto out;
			}
			ro_given = true;
			continue;
		}
		k = find_key(n.driver, key);
		if (!k) {
			pr_err("node '%s' (%s): property '%s' cannot be changed on a live node",
			       name, n.driver, key);
			goto out;
		}
		value = table_value(k, key, v);
		if (!value)
			goto out;
		if (t.nr + 2 > VS_TABLE_MAX_WORDS) {
			free(value);
			pr_err("node '%s': too many options", name);
			goto out;
		}
		vs_table_set(&t, key, value);
		free(value);
	}
	if (ro_given && ro != n.read_only) {
		if (st.moved || strcmp(st.holder.name, st.top.name)) {
			pr_err("node '%s' is on device '%s' under '%s': read-only changes only on a node's own device",
			       name, st.holder.name, st.top.name);
			goto out;
		}
		vs_table_set_read_only(&t, ro);
	}
	line = vs_table_join(&t);
	snprintf(dev, sizeof(dev), "%u:%u", st.holder.major, st.holder.minor);
	if (vs_dm_reload(st.holder.name, dev, target, line, sectors, ro, err,
			 sizeof(err))) {
		pr_err("cannot reopen node '%s': %s", name, err);
		goto out;
	}
	ret = EXIT_OK;
out:
	vs_node_free(&n);
	vs_table_free(&t);
	free(line);
	free(target);
	free(params);
	return ret;
}

int cmd_node_reopen(int argc, char **argv)
{
	if (argc < 1)
		return usage_err("node help", "node reopen: missing NAME");
	if (argc < 2)
		return usage_err("node help", "node reopen: missing PROPERTY=VALUE");
	if (check_name_arg(argv[0]) || vs_job_check_free(argv[0]))
		return EXIT_ERR;
	return node_reopen(argv[0], argc - 1, argv + 1);
}
