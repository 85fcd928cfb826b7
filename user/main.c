// SPDX-License-Identifier: GPL-2.0
/*
 * vstoragectl: control vstorage nodes (QEMU block nodes as device-mapper
 * targets in the kernel).
 *
 *   vstoragectl [-j|--json] [-p|--pretty] [-h|--help] [-V|--version]
 *               OBJECT { COMMAND | help }
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <linux/vstorage.h>

#include "cmds.h"
#include "dm.h"
#include "output.h"
#include "util.h"

#ifndef VSTORAGECTL_VERSION
#define VSTORAGECTL_VERSION "0.1.0"
#endif

void usage_main(FILE *f)
{
	fprintf(f,
		"Usage: vstoragectl [OPTIONS] OBJECT { COMMAND | help }\n"
		"where  OBJECT := { node | bitmap | throttle-group | graph | job | export | monitor }\n"
		"       OPTIONS := { -j[son] | -p[retty] | -h[elp] | -V[ersion] }\n"
		"\n");
	usage_node(f);
	fputc('\n', f);
	usage_bitmap(f);
	fputc('\n', f);
	usage_tgroup(f);
	fputc('\n', f);
	usage_graph(f);
	fputc('\n', f);
	usage_job(f);
	fputc('\n', f);
	usage_export(f);
	fputc('\n', f);
	usage_monitor(f);
	fprintf(f, "\nExit status: 0 success, 1 error, 2 bad usage.\n");
}

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "pretty", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	bool json = false, pretty = false;
	const char *obj;
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jphV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			pretty = true;
			break;
		case 'h':
			usage_main(stdout);
			return EXIT_OK;
		case 'V':
			printf("vstoragectl %s (netlink family %s version %d)\n",
			       VSTORAGECTL_VERSION, VSTORAGE_GENL_NAME,
			       VSTORAGE_GENL_VERSION);
			return EXIT_OK;
		default:
			if (optopt)
				return usage_err("help", "unknown option '-%c'",
						 optopt);
			return usage_err("help", "unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc)
		return usage_err("help", "missing OBJECT");
	obj = argv[0];

	output_init(json, pretty);
	if (!strcmp(obj, "node")) {
		ret = cmd_node(argc - 1, argv + 1);
	} else if (!strcmp(obj, "bitmap")) {
		ret = cmd_bitmap(argc - 1, argv + 1);
	} else if (!strcmp(obj, "throttle-group")) {
		ret = cmd_tgroup(argc - 1, argv + 1);
	} else if (!strcmp(obj, "graph")) {
		ret = cmd_graph(argc - 1, argv + 1);
	} else if (!strcmp(obj, "job")) {
		ret = cmd_job(argc - 1, argv + 1);
	} else if (!strcmp(obj, "export")) {
		ret = cmd_export(argc - 1, argv + 1);
	} else if (!strcmp(obj, "monitor")) {
		ret = cmd_monitor(argc - 1, argv + 1);
	} else if (!strcmp(obj, "help")) {
		usage_main(stdout);
		ret = EXIT_OK;
	} else {
		ret = usage_err("help", "unknown object '%s'", obj);
	}
	output_fini();
	vs_dm_exit();

	if (fflush(stdout) == EOF || ferror(stdout)) {
		pr_err("cannot write output: %s", strerror(errno));
		ret = EXIT_ERR;
	}
	return ret;
}
