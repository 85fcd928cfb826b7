// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl monitor`: one line per event of the "events" multicast
 * group until SIGINT/SIGTERM. Human: "EVENT" then a node table row, or a
 * job's id, type and state; JSON: {"event": "new"|"change"|"del", "node":
 * {node object}} or {"event": "job-status"|"job-ready"|"job-pending"|
 * "job-completed"|"job-cancelled"|"job-io-error", "job": {job object}}
 * per line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "cmds.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "output.h"
#include "util.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

void usage_monitor(FILE *f)
{
	fprintf(f, "Usage: vstoragectl [-j [-p]] monitor\n"
		   "       vstoragectl monitor help\n");
}

static const char *event_name(uint8_t cmd)
{
	switch (cmd) {
	case VSTORAGE_CMD_NODE_NEW:
		return "new";
	case VSTORAGE_CMD_NODE_CHANGE:
		return "change";
	case VSTORAGE_CMD_NODE_DEL:
		return "del";
	default:
		return NULL;
	}
}

static int event_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	const struct vs_node_cols *cols = arg;
	const char *ev;
	struct vs_node n;

	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return 0;
	if (!vs_job_event_print(nlh))
		return 0;
	ev = event_name(g->cmd);
	if (!ev)
		return 0;	/* not an event we know */
	if (vs_node_parse(nlh, &n)) {
		fprintf(stderr, "Warning: malformed '%s' event ignored\n", ev);
		return 0;
	}
	open_json_object(NULL);
	print_string(PRINT_ANY, "event", "%-6s ", ev);
	vs_node_print(&n, "node", cols);
	close_json_object();
	fflush(stdout);
	vs_node_free(&n);
	return 0;
}

int cmd_monitor(int argc, char **argv)
{
	struct vs_node_cols cols;
	sigset_t orig;
	struct vs_nl nl;
	int ret = EXIT_ERR;

	if (argc && !strcmp(argv[0], "help")) {
		usage_monitor(stdout);
		return EXIT_OK;
	}
	if (argc)
		return usage_err("monitor help", "monitor: unexpected argument '%s'",
				 argv[0]);

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	if (vs_nl_join(&nl, VSTORAGE_GENL_MCGRP_EVENTS))
		goto out;

	catch_stop_signals(on_signal, &orig);

	vs_node_cols_init(&cols);
	cols.name = 16;
	cols.device = 28;
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = { nl_socket_get_fd(nl.sk), POLLIN, 0 };
		int r = ppoll(&pfd, 1, NULL, &orig);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			pr_err("cannot wait for events: %s", strerror(errno));
			goto restore;
		}
		r = vs_nl_recv_events(&nl, event_cb, &cols);
		if (r == -ENOBUFS) {
			fprintf(stderr, "Warning: events were lost (receive buffer overrun)\n");
			continue;
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN) {
			pr_err("cannot receive events: %s", strerror(-r));
			goto restore;
		}
	}
	ret = EXIT_OK;
restore:
	sigprocmask(SIG_SETMASK, &orig, NULL);
out:
	vs_nl_close(&nl);
	return ret;
}
