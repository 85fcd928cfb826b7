// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl job ...`: QEMU's block jobs, run by the kernel
 * (Documentation/netlink.rst, "Block jobs"; Documentation/vstoragectl.rst,
 * "Block jobs").
 *
 *   job start TYPE key=value ...
 *   job { list | show ID }
 *   job { pause | resume | cancel | complete | finalize | dismiss } ID
 *   job set-speed ID BYTES
 *   job wait ID
 *
 * The verbs are the kernel's: it knows the state machine and refuses a
 * verb with a message naming the state. Finalize is vstoragectl's too:
 * the graph changes at the end of a job are device-mapper tables, which
 * only userspace loads (job_graph.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "cmds.h"
#include "job.h"
#include "nl.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#define DUMP_RETRIES	5
/* how often job wait asks for progress on a terminal */
#define PROGRESS_MS	500

void usage_job(FILE *f)
{
	fprintf(f,
		"Usage: vstoragectl [-j] job start stream node=NODE [base=NODE] [OPTION=VALUE ...]\n"
		"       vstoragectl [-j] job start commit top=NODE [base=NODE] [OPTION=VALUE ...]\n"
		"       vstoragectl [-j] job start mirror node=NODE target=NODE-OR-PATH sync=full|top|none\n"
		"                  [granularity=BYTES] [copy-mode=background|write-blocking]\n"
		"                  [format=qcow2|raw] [OPTION=VALUE ...]\n"
		"       vstoragectl [-j] job start backup node=NODE target=NODE|DEVICE|FILE\n"
		"                  sync=full|top|none|bitmap [bitmap=NAME]\n"
		"                  [bitmap-mode=on-success|never|always] [OPTION=VALUE ...]\n"
		"       vstoragectl [-j [-p]] job { list | show ID }\n"
		"       vstoragectl job { pause | resume | cancel | complete | finalize | dismiss } ID\n"
		"       vstoragectl job set-speed ID BYTES\n"
		"       vstoragectl [-j] job wait ID\n"
		"OPTION := { job-id=ID | speed=BYTES | on-error=report|ignore|stop|enospc |\n"
		"            auto-finalize=on|off | auto-dismiss=on|off }\n"
		"speed: bytes per second, with size suffixes; 0 is unlimited\n");
}

/* ---- getting jobs ---- */

struct job_vec {
	struct vs_job *v;
	size_t n;
};

static int job_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct job_vec *jv = arg;
	struct vs_job j;
	int ret = vs_job_parse(nlh, &j);

	if (ret)
		return ret;
	jv->v = xrealloc(jv->v, (jv->n + 1) * sizeof(*jv->v));
	jv->v[jv->n++] = j;
	return 0;
}

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct vs_job *)a)->id,
		      ((const struct vs_job *)b)->id);
}

/* Every job (ID NULL) or one. 0, -ENOENT (no such job), or -1. */
static int job_fetch(struct vs_nl *nl, const char *id, struct job_vec *jv,
		     bool quiet)
{
	int tries, r = 0;

	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		struct nl_msg *msg = vs_nl_msg(nl, VSTORAGE_CMD_JOB_GET,
					       id ? NLM_F_ACK : NLM_F_DUMP);
		struct nlattr *nest = nla_nest_start(msg, VSTORAGE_A_JOB);

		if (id)
			nla_put_string(msg, VSTORAGE_JOB_ID, id);
		nla_nest_end(msg, nest);
		r = vs_nl_transact(nl, msg, job_cb, jv);
		nlmsg_free(msg);
		if (r < 0 || !nl->dump_intr)
			break;
		free(jv->v);
		jv->v = NULL;
		jv->n = 0;
	}
	if (r < 0) {
		free(jv->v);
		jv->v = NULL;
		jv->n = 0;
	}
	if (r == -ENOENT && id)
		return -ENOENT;
	if (r < 0) {
		if (quiet)
			return -1;
		if (r == -EBADMSG && !nl->extack[0])
			pr_err("malformed job object from the kernel");
		else
			vs_nl_perror(nl, "cannot get jobs");
		return -1;
	}
	if (nl->dump_intr) {
		if (!quiet)
			pr_err("cannot list jobs: they keep changing, try again");
		return -1;
	}
	if (id && jv->n != 1) {
		if (!quiet)
			pr_err("job '%s': the kernel sent %zu job objects", id,
			       jv->n);
		free(jv->v);
		jv->v = NULL;
		jv->n = 0;
		return -1;
	}
	if (jv->n)
		qsort(jv->v, jv->n, sizeof(*jv->v), cmp_job);
	return 0;
}

int vs_job_get(struct vs_nl *nl, const char *id, struct vs_job *j, bool quiet)
{
	struct job_vec jv = { 0 };
	int r = job_fetch(nl, id, &jv, quiet);

	if (!r)
		*j = jv.v[0];
	free(jv.v);
	return r;
}

int vs_job_user(const char *name, char *job, size_t len)
{
	struct job_vec jv = { 0 };
	struct vs_nl nl;
	size_t i;
	int r;

	job[0] = '\0';
	if (vs_nl_open(&nl, true))
		return 0;	/* no module: no job */
	r = job_fetch(&nl, NULL, &jv, true);
	if (r) {
		/* a kernel without jobs refuses the command: no job either */
		r = nl.err == EOPNOTSUPP || nl.err == EINVAL ? 0 : -1;
		if (r)
			vs_nl_perror(&nl, "cannot list jobs");
		vs_nl_close(&nl);
		return r;
	}
	vs_nl_close(&nl);
	for (i = 0; i < jv.n; i++) {
		const struct vs_job *j = &jv.v[i];

		/* a concluded job has let its nodes go, as the kernel sees it */
		if (vs_job_state_final(j->state))
			continue;
		if (!strcmp(j->node, name) || !strcmp(j->base, name) ||
		    !strcmp(j->filter, name) || !strcmp(j->target, name)) {
			snprintf(job, len, "%s", j->id);
			break;
		}
	}
	free(jv.v);
	return 0;
}

int vs_job_check_free(const char *name)
{
	char job[VSTORAGE_JOB_ID_MAX + 1];

	if (vs_job_user(name, job, sizeof(job)))
		return -1;
	if (job[0]) {
		pr_err("node %s is in use by job %s", name, job);
		return -1;
	}
	return 0;
}

static int check_id(const char *id)
{
	const char *why;

	if (check_node_name(id, &why) || strlen(id) > VSTORAGE_JOB_ID_MAX) {
		pr_err("invalid job id '%s': %s", id,
		       strlen(id) > VSTORAGE_JOB_ID_MAX ?
		       "longer than 31 characters" : why);
		return -1;
	}
	return 0;
}

/* Scripts match "no job ID": the kernel's words would name an attribute. */
static void no_job(const struct vs_nl *nl, const char *id)
{
	(void)nl;
	pr_err("no job %s", id);
}

static int job_show(const char *id)
{
	struct job_vec jv = { 0 };
	struct vs_nl nl;
	size_t i;
	int r;

	if (id && check_id(id))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	r = job_fetch(&nl, id, &jv, false);
	if (r == -ENOENT)
		no_job(&nl, id);
	vs_nl_close(&nl);
	if (r)
		return EXIT_ERR;
	if (!id) {
		open_json_array(PRINT_JSON, NULL);
		if (jv.n)
			vs_job_print_header();
	}
	for (i = 0; i < jv.n; i++)
		vs_job_print(&jv.v[i], NULL, !id);
	if (!id)
		close_json_array(PRINT_JSON, NULL);
	free(jv.v);
	return EXIT_OK;
}

/* ---- verbs ---- */

/* A request with one job nest: ID and, when set, SPEED or ERROR. */
static int job_request(struct vs_nl *nl, uint8_t cmd, const char *id,
		       const uint64_t *speed, const char *error)
{
	struct nl_msg *msg = vs_nl_msg(nl, cmd, NLM_F_ACK);
	struct nlattr *nest = nla_nest_start(msg, VSTORAGE_A_JOB);
	int r;

	if (!nest || nla_put_string(msg, VSTORAGE_JOB_ID, id) ||
	    (speed && nla_put_u64(msg, VSTORAGE_JOB_SPEED, *speed)) ||
	    (error && nla_put_string(msg, VSTORAGE_JOB_ERROR, error))) {
		nlmsg_free(msg);
		pr_err("netlink message too large");
		return -1;
	}
	nla_nest_end(msg, nest);
	r = vs_nl_transact(nl, msg, NULL, NULL);
	nlmsg_free(msg);
	return r < 0 ? r : 0;
}

int vs_job_send_finalize(struct vs_nl *nl, const char *id, const char *error)
{
	int r = job_request(nl, VSTORAGE_CMD_JOB_FINALIZE, id, NULL, error);

	if (r == -ENOENT)
		no_job(nl, id);
	else if (r)
		vs_nl_perror(nl, "cannot finalize job '%s'", id);
	return r ? -1 : 0;
}

static const struct {
	const char *name;
	uint8_t cmd;
} verbs[] = {
	{ "pause", VSTORAGE_CMD_JOB_PAUSE },
	{ "resume", VSTORAGE_CMD_JOB_RESUME },
	{ "cancel", VSTORAGE_CMD_JOB_CANCEL },
	{ "complete", VSTORAGE_CMD_JOB_COMPLETE },
	{ "dismiss", VSTORAGE_CMD_JOB_DISMISS },
};

static int job_verb(const char *verb, uint8_t cmd, const char *id,
		    const char *speed_arg)
{
	uint64_t speed;
	const char *why;
	struct vs_nl nl;
	int r;

	if (check_id(id))
		return EXIT_ERR;
	if (speed_arg && parse_size(speed_arg, &speed, &why)) {
		pr_err("speed '%s': %s", speed_arg, why);
		return EXIT_ERR;
	}
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	r = job_request(&nl, cmd, id, speed_arg ? &speed : NULL, NULL);
	if (r == -ENOENT)
		no_job(&nl, id);
	else if (r == -EPERM && !nl.extack[0])
		pr_err("cannot %s job '%s': not permitted (CAP_SYS_ADMIN)", verb,
		       id);
	else if (r)
		vs_nl_perror(&nl, "cannot %s job '%s'", verb, id);
	vs_nl_close(&nl);
	return r ? EXIT_ERR : EXIT_OK;
}

/* ---- start ---- */

/* backup's attributes: the target node the preparation resolved, sync. */
static int put_backup(struct nl_msg *msg, const struct vs_job_start *s,
		      const struct vs_job_prep *p)
{
	if (strcmp(s->type, "backup"))
		return 0;
	return nla_put_string(msg, VSTORAGE_JOB_TARGET, p->target) ||
	       nla_put_u32(msg, VSTORAGE_JOB_SYNC, s->sync) ||
	       (s->bitmap && nla_put_string(msg, VSTORAGE_JOB_BITMAP, s->bitmap)) ||
	       (s->bitmap_mode_given &&
		nla_put_u32(msg, VSTORAGE_JOB_BITMAP_MODE, s->bitmap_mode));
}

static int put_start(struct nl_msg *msg, const struct vs_job_start *s,
		     const struct vs_job_prep *p)
{
	struct nlattr *nest = nla_nest_start(msg, VSTORAGE_A_JOB);

	if (!nest || nla_put_string(msg, VSTORAGE_JOB_TYPE, s->type) ||
	    nla_put_string(msg, VSTORAGE_JOB_NODE, s->node) ||
	    nla_put_string(msg, VSTORAGE_JOB_ID, p->id) ||
	    (p->base[0] && nla_put_string(msg, VSTORAGE_JOB_BASE, p->base)) ||
	    (p->filter[0] &&
	     nla_put_string(msg, VSTORAGE_JOB_FILTER, p->filter)) ||
	    (p->target[0] &&
	     (nla_put_string(msg, VSTORAGE_JOB_TARGET, p->target) ||
	      nla_put_u32(msg, VSTORAGE_JOB_SYNC, s->sync) ||
	      nla_put_u32(msg, VSTORAGE_JOB_COPY_MODE, s->copy_mode) ||
	      (s->granularity &&
	       nla_put_u32(msg, VSTORAGE_JOB_GRANULARITY, s->granularity)))) ||
	    (s->speed_given && nla_put_u64(msg, VSTORAGE_JOB_SPEED, s->speed)) ||
	    (s->on_error_given &&
	     nla_put_u32(msg, VSTORAGE_JOB_ON_ERROR, s->on_error)) ||
	    nla_put_u8(msg, VSTORAGE_JOB_AUTO_FINALIZE, s->auto_finalize) ||
	    nla_put_u8(msg, VSTORAGE_JOB_AUTO_DISMISS, s->auto_dismiss) ||
	    put_backup(msg, s, p))
		return -1;
	nla_nest_end(msg, nest);
	return 0;
}

static int job_start(int argc, char **argv)
{
	struct job_vec jv = { 0 };
	struct vs_job_start s;
	struct vs_job old;
	struct vs_job_prep p;
	struct nl_msg *msg;
	struct vs_nl nl;
	int r;

	if (vs_job_start_parse(argc, argv, &s))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	/* QEMU's default id is the node's name */
	memset(&p, 0, sizeof(p));
	snprintf(p.id, sizeof(p.id), "%s", s.id ? s.id : s.node);
	if (!vs_job_get(&nl, p.id, &old, true)) {
		pr_err("job-id=%s: a job with this id exists already", p.id);
		goto fail;
	}
	if (vs_job_prepare(&s, &p))
		goto fail;
	msg = vs_nl_msg(&nl, VSTORAGE_CMD_JOB_NEW, NLM_F_ACK);
	if (put_start(msg, &s, &p)) {
		nlmsg_free(msg);
		pr_err("netlink message too large");
		vs_job_unprepare(&p);
		goto fail;
	}
	r = vs_nl_transact(&nl, msg, job_cb, &jv);
	nlmsg_free(msg);
	if (r < 0) {
		if (r == -EPERM && !nl.extack[0])
			pr_err("cannot start a %s job: not permitted (CAP_SYS_ADMIN)",
			       s.type);
		else
			vs_nl_perror(&nl, "cannot start a %s job on node '%s'",
				     s.type, s.node);
		vs_job_unprepare(&p);
		goto fail;
	}
	vs_nl_close(&nl);
	free(jv.v);
	/* the kernel may have changed nothing of the id, but it is its word */
	if (vs_job_prep_save(&p) || vs_job_supervise(&p))
		fprintf(stderr, "Warning: job %s runs, but no supervisor will finalize it: run 'vstoragectl job finalize %s' when it is pending\n",
			p.id, p.id);
	open_json_object(NULL);
	print_string(PRINT_ANY, "id", "%s\n", p.id);
	close_json_object();
	return EXIT_OK;
fail:
	free(jv.v);
	vs_nl_close(&nl);
	return EXIT_ERR;
}

/* ---- wait and monitor ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int vs_job_event_print(const struct nlmsghdr *nlh)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	const char *ev;
	struct vs_job j;

	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return 1;
	ev = vs_job_event_name(g->cmd);
	if (!ev)
		return 1;
	if (vs_job_parse(nlh, &j)) {
		fprintf(stderr, "Warning: malformed '%s' event ignored\n", ev);
		return 0;
	}
	open_json_object(NULL);
	print_string(PRINT_ANY, "event", "%-13s ", ev);
	print_fp("%s %s %s", j.id, j.type, vs_job_state_name(j.state));
	if (g->cmd == VSTORAGE_CMD_JOB_IO_ERROR)
		print_fp(" %s error, action %s", j.operation ? "write" : "read",
			 vs_job_action_name(j.action));
	if (j.has_error)
		print_fp(" error: %s", j.error);
	print_fp("\n");
	vs_job_print(&j, "job", true);
	close_json_object();
	fflush(stdout);
	return 0;
}

struct waiter {
	const char *id;
	struct vs_job j;
	bool seen, done, failed, cancelled;
	char error[VSTORAGE_JOB_ERROR_MAX + 1];
};

/* Where the job is; whether waiting is over and how it ended. */
static void wait_update(struct waiter *w, uint8_t cmd, const struct vs_job *j)
{
	w->j = *j;
	w->seen = true;
	if (j->has_error) {
		w->failed = true;
		snprintf(w->error, sizeof(w->error), "%s", j->error);
	}
	if (cmd == VSTORAGE_CMD_JOB_CANCELLED || j->cancelled)
		w->cancelled = true;
	/* with auto-dismiss, the job is over when it is gone */
	if (j->state == VSTORAGE_JOB_S_NULL ||
	    (j->state == VSTORAGE_JOB_S_CONCLUDED && !j->auto_dismiss))
		w->done = true;
}

static int wait_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	struct waiter *w = arg;
	struct vs_job j;

	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN) ||
	    !vs_job_event_name(g->cmd) || vs_job_parse(nlh, &j) ||
	    strcmp(j.id, w->id))
		return 0;
	if (is_json_context())
		vs_job_event_print(nlh);
	wait_update(w, g->cmd, &j);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct bar {
	bool on;
	uint64_t t0, off0;	/* where the rate is measured from */
	uint64_t rate;
};

static void bar_draw(struct bar *b, const struct vs_job *j)
{
	struct winsize ws;
	uint64_t t = now_ms();
	char line[256];
	int width = 80;

	if (!b->on)
		return;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 20)
		width = ws.ws_col - 1;
	if (!b->t0 || j->offset < b->off0) {
		b->t0 = t;
		b->off0 = j->offset;
	} else if (t - b->t0 >= 1000) {
		/* a rate over the last second or more, smoothed */
		uint64_t r = (j->offset - b->off0) * 1000 / (t - b->t0);

		b->rate = b->rate ? (b->rate + r) / 2 : r;
		b->t0 = t;
		b->off0 = j->offset;
	}
	vs_job_progress(line, sizeof(line), j->offset, j->len, b->rate, width);
	printf("\r%s\033[K", line);
	fflush(stdout);
}

/* How long job wait waits for the supervisor after the job's end. */
#define GRAPH_SETTLE_MS 30000

static int job_wait(const char *id)
{
	struct waiter w = { .id = id };
	struct bar b = { 0 };
	sigset_t orig;
	struct vs_nl nl, req;
	struct vs_job j;
	int r, ret = EXIT_ERR;

	if (check_id(id))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	if (vs_nl_open(&req, false)) {
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	/* subscribe first, then ask: no event is lost in between */
	if (vs_nl_join(&nl, VSTORAGE_GENL_MCGRP_EVENTS))
		goto out;
	r = vs_job_get(&req, id, &j, false);
	if (r == -ENOENT)
		no_job(&req, id);
	if (r)
		goto out;
	if (is_json_context()) {
		open_json_object(NULL);
		print_string(PRINT_JSON, "event", NULL, "job-status");
		vs_job_print(&j, "job", true);
		close_json_object();
		fflush(stdout);
	}
	wait_update(&w, VSTORAGE_CMD_JOB_STATUS, &j);
	b.on = !is_json_context() && isatty(STDOUT_FILENO);

	catch_stop_signals(on_signal, &orig);
	while (!w.done && !stop) {
		struct pollfd pfd = { nl_socket_get_fd(nl.sk), POLLIN, 0 };
		struct timespec ts = { 0, PROGRESS_MS * 1000000L };

		bar_draw(&b, &w.j);
		r = ppoll(&pfd, 1, b.on ? &ts : NULL, &orig);
		if (r < 0 && errno != EINTR) {
			pr_err("cannot wait for job events: %s", strerror(errno));
			goto restore;
		}
		if (r > 0) {
			r = vs_nl_recv_events(&nl, wait_cb, &w);
			if (r == -ENOBUFS) {
				/* events were lost: the job's state is not */
				r = vs_job_get(&req, id, &j, true);
				if (r == -ENOENT)
					w.done = true;
				else if (!r)
					wait_update(&w, VSTORAGE_CMD_JOB_STATUS, &j);
			} else if (r < 0 && r != -EINTR && r != -EAGAIN) {
				pr_err("cannot receive job events: %s",
				       strerror(-r));
				goto restore;
			}
		} else if (b.on && !w.done) {
			r = vs_job_get(&req, id, &j, true);
			if (!r)
				w.j.offset = j.offset, w.j.len = j.len;
		}
	}
	if (b.on) {
		bar_draw(&b, &w.j);
		printf("\n");
	}
	/*
	 * The job's end is the kernel's; the graph changes after it are the
	 * supervisor's. A caller that goes on with the disk wants both done.
	 */
	if (!stop && !vs_job_graph_settled(id, GRAPH_SETTLE_MS))
		pr_err("job %s ended, but its graph changes are not done after %u s (no supervisor? see job finalize)",
		       id, GRAPH_SETTLE_MS / 1000);
	if (stop) {
		pr_err("job %s: interrupted while waiting (the job goes on)", id);
	} else if (w.failed) {
		pr_err("job %s failed: %s", id, w.error);
	} else if (w.cancelled) {
		pr_err("job %s was cancelled", id);
	} else {
		ret = EXIT_OK;
	}
restore:
	sigprocmask(SIG_SETMASK, &orig, NULL);
out:
	vs_nl_close(&req);
	vs_nl_close(&nl);
	return ret;
}

/* ---- dispatch ---- */

int cmd_job(int argc, char **argv)
{
	const char *cmd = argc ? argv[0] : NULL;
	size_t i;

	if (!cmd)
		return usage_err("job help", "missing job command");
	argc--;
	argv++;
	if (!strcmp(cmd, "help")) {
		usage_job(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "start"))
		return job_start(argc, argv);
	if (!strcmp(cmd, "list")) {
		if (argc)
			return usage_err("job help", "job list: unexpected argument '%s'",
					 argv[0]);
		return job_show(NULL);
	}
	if (!strcmp(cmd, "set-speed")) {
		if (argc != 2)
			return usage_err("job help", argc > 2 ?
					 "job set-speed: unexpected argument '%s'" :
					 "job set-speed: missing %s",
					 argc > 2 ? argv[2] : argc ? "BYTES" : "ID");
		return job_verb(cmd, VSTORAGE_CMD_JOB_SET_SPEED, argv[0], argv[1]);
	}
	if (!argc)
		return usage_err("job help", "job %s: missing ID", cmd);
	if (argc > 1)
		return usage_err("job help", "job %s: unexpected argument '%s'",
				 cmd, argv[1]);
	if (!strcmp(cmd, "show"))
		return job_show(argv[0]);
	if (!strcmp(cmd, "wait"))
		return job_wait(argv[0]);
	if (!strcmp(cmd, "finalize"))
		return check_id(argv[0]) || vs_job_finalize(argv[0], true) ?
		       EXIT_ERR : EXIT_OK;
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(cmd, verbs[i].name))
			return job_verb(cmd, verbs[i].cmd, argv[0], NULL);
	return usage_err("job help", "unknown job command '%s'", cmd);
}
