// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: block job objects (user/job_obj.c): QEMU's names, job
 * start's key=value arguments and their refusals, job wait's progress
 * line, and job objects from netlink attributes to human and JSON output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "job.h"
#include "output.h"
#include "unit.h"

/* ---- names ---- */

static void test_names(void)
{
	static const char *const states[] = {
		"undefined", "created", "running", "paused", "ready",
		"standby", "waiting", "pending", "aborting", "concluded", "null",
	};
	static const char *const on_error[] = {
		"report", "ignore", "enospc", "stop",
	};
	uint32_t i, v;

	/* QEMU's JobStatus order, which the uapi enum copies */
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		check_str("job state name", vs_job_state_name(i), states[i]);
	check_str("job state out of range", vs_job_state_name(__VSTORAGE_JOB_S_MAX),
		  "unknown");
	for (i = 0; i < sizeof(on_error) / sizeof(on_error[0]); i++) {
		check_str("on-error name", vs_job_on_error_name(i), on_error[i]);
		result(!vs_job_on_error_parse(on_error[i], &v) && v == i,
		       "on-error '%s' parses to %u", on_error[i], i);
	}
	result(vs_job_on_error_parse("Report", &v) == -1,
	       "on-error is case-sensitive");
	result(vs_job_on_error_parse("", &v) == -1, "on-error '' refused");
	check_str("action report", vs_job_action_name(VSTORAGE_JOB_ACTION_REPORT),
		  "report");
	check_str("action stop", vs_job_action_name(VSTORAGE_JOB_ACTION_STOP),
		  "stop");
	check_str("action out of range", vs_job_action_name(9), "unknown");
	check_str("event status", vs_job_event_name(VSTORAGE_CMD_JOB_STATUS),
		  "job-status");
	check_str("event io-error", vs_job_event_name(VSTORAGE_CMD_JOB_IO_ERROR),
		  "job-io-error");
	check_str("event cancelled", vs_job_event_name(VSTORAGE_CMD_JOB_CANCELLED),
		  "job-cancelled");
	result(!vs_job_event_name(VSTORAGE_CMD_NODE_NEW),
	       "a node event is not a job event");
	result(!vs_job_event_name(VSTORAGE_CMD_JOB_GET),
	       "a job request is not a job event");
	result(vs_job_state_final(VSTORAGE_JOB_S_CONCLUDED) &&
	       vs_job_state_final(VSTORAGE_JOB_S_NULL) &&
	       !vs_job_state_final(VSTORAGE_JOB_S_PENDING) &&
	       !vs_job_state_final(VSTORAGE_JOB_S_ABORTING),
	       "only concluded and null are final");
}

/* ---- job start's arguments ---- */

/* Runs the parser on ARGV (NULL-terminated); what it printed into *err. */
static int start(struct vs_job_start *s, char **argv, char **err)
{
	FILE *saved = stderr, *f;
	size_t len = 0;
	int argc = 0, r;

	*err = NULL;
	while (argv[argc])
		argc++;
	f = open_memstream(err, &len);
	stderr = f;
	r = vs_job_start_parse(argc, argv, s);
	stderr = saved;
	fclose(f);
	return r;
}

#define ARGS(...)	((char *[]){ __VA_ARGS__, NULL })

static bool start_ok(struct vs_job_start *s, char **argv)
{
	char *err;
	bool ok = !start(s, argv, &err) && !*err;

	free(err);
	return ok;
}

static void start_bad(const char *name, const char *want, char **argv)
{
	struct vs_job_start s;
	char *err;

	result(start(&s, argv, &err) == -1, "job start refuses %s", name);
	check_str(name, err, want);
	free(err);
}

static void test_start_backup(void)
{
	struct vs_job_start s;

	result(start_ok(&s, ARGS("backup", "node=d", "target=/b/x.qcow2",
				 "sync=full")) &&
	       !strcmp(s.node, "d") && !strcmp(s.target, "/b/x.qcow2") &&
	       s.sync_given && s.sync == VSTORAGE_JOB_SYNC_FULL && !s.bitmap &&
	       !s.bitmap_mode_given,
	       "backup node=d target=/b/x.qcow2 sync=full");
	result(start_ok(&s, ARGS("backup", "node=d", "target=t", "sync=bitmap",
				 "bitmap=b0", "bitmap-mode=always",
				 "speed=1M")) &&
	       s.sync == VSTORAGE_JOB_SYNC_BITMAP && !strcmp(s.bitmap, "b0") &&
	       s.bitmap_mode_given &&
	       s.bitmap_mode == VSTORAGE_JOB_BITMAP_ALWAYS,
	       "backup sync=bitmap with a bitmap and a mode");
	start_bad("backup without a target",
		  "Error: job start backup: missing target=NODE|DEVICE|FILE\n",
		  ARGS("backup", "node=d", "sync=full"));
	start_bad("backup without sync",
		  "Error: job start backup: missing sync=full|top|none|bitmap\n",
		  ARGS("backup", "node=d", "target=t"));
	start_bad("a bad sync",
		  "Error: sync=incremental: sync is one of full, top, none, bitmap\n",
		  ARGS("backup", "node=d", "target=t", "sync=incremental"));
	start_bad("sync=bitmap without a bitmap",
		  "Error: job start backup: sync=bitmap needs bitmap=NAME\n",
		  ARGS("backup", "node=d", "target=t", "sync=bitmap"));
	start_bad("a bitmap without sync=bitmap",
		  "Error: job start backup: bitmap goes with sync=bitmap only\n",
		  ARGS("backup", "node=d", "target=t", "sync=full", "bitmap=b"));
	start_bad("a bad bitmap-mode",
		  "Error: bitmap-mode=sometimes: bitmap-mode is one of on-success, never, always\n",
		  ARGS("backup", "node=d", "target=t", "sync=bitmap", "bitmap=b",
		       "bitmap-mode=sometimes"));
	start_bad("base= of backup",
		  "Error: job start backup: unknown key 'base' (keys: node, target, sync, bitmap, bitmap-mode, job-id, speed, on-error, auto-finalize, auto-dismiss)\n",
		  ARGS("backup", "node=d", "base=b"));
	start_bad("the node as its own target",
		  "Error: target=d: the target is the node itself\n",
		  ARGS("backup", "node=d", "target=d", "sync=full"));
}

static void test_start_args(void)
{
	struct vs_job_start s;

	result(start_ok(&s, ARGS("stream", "node=top")) &&
	       !strcmp(s.node, "top") && !s.base && !s.id && !s.speed_given &&
	       !s.on_error_given && s.auto_finalize && s.auto_dismiss,
	       "stream node=top: defaults (auto-finalize, auto-dismiss on)");
	result(start_ok(&s, ARGS("stream", "node=top", "base=b2", "job-id=j1",
				 "speed=1M", "on-error=stop", "auto-finalize=off",
				 "auto-dismiss=no")) &&
	       !strcmp(s.base, "b2") && !strcmp(s.id, "j1") && s.speed_given &&
	       s.speed == 1048576 && s.on_error_given &&
	       s.on_error == VSTORAGE_JOB_ON_ERROR_STOP && !s.auto_finalize &&
	       !s.auto_dismiss,
	       "stream with every key");
	result(start_ok(&s, ARGS("commit", "top=t", "speed=0")) &&
	       !strcmp(s.type, "commit") && !strcmp(s.node, "t") &&
	       s.speed_given && !s.speed,
	       "commit top=t speed=0 (unlimited)");

	result(start_ok(&s, ARGS("mirror", "node=n", "target=/i/t.qcow2",
				 "sync=top", "granularity=4k",
				 "copy-mode=write-blocking", "format=raw")) &&
	       !strcmp(s.node, "n") && !strcmp(s.target, "/i/t.qcow2") &&
	       s.sync_given && s.sync == VSTORAGE_JOB_SYNC_TOP &&
	       s.granularity == 4096 &&
	       s.copy_mode == VSTORAGE_JOB_COPY_WRITE_BLOCKING &&
	       !strcmp(s.format, "raw"),
	       "mirror with every key of its own");
	result(start_ok(&s, ARGS("mirror", "node=n", "target=t", "sync=none")) &&
	       s.sync == VSTORAGE_JOB_SYNC_NONE && !s.granularity &&
	       s.copy_mode == VSTORAGE_JOB_COPY_BACKGROUND && !s.format,
	       "mirror defaults (background, the kernel's granularity)");

	start_bad("no type",
		  "Error: job start: missing TYPE (stream, commit, mirror or backup)\n",
		  (char *[]){ NULL });
	start_bad("an unknown type",
		  "Error: job start: unknown job type 'backup2' (types: stream, commit, mirror, backup)\n",
		  ARGS("backup2", "node=a"));
	start_bad("a mirror without sync",
		  "Error: job start mirror: missing sync=full|top|none\n",
		  ARGS("mirror", "node=a", "target=b"));
	start_bad("a mirror without target",
		  "Error: job start mirror: missing target=NODE-OR-PATH\n",
		  ARGS("mirror", "node=a", "sync=full"));
	start_bad("a mirror onto itself",
		  "Error: target=a: the target is the node itself\n",
		  ARGS("mirror", "node=a", "target=a", "sync=full"));
	start_bad("a bad granularity",
		  "Error: granularity=3k: granularity is a power of two from 512 to 64M\n",
		  ARGS("mirror", "node=a", "target=b", "sync=full",
		       "granularity=3k"));
	start_bad("sync=bitmap for mirror",
		  "Error: sync=bitmap: sync is one of full, top, none\n",
		  ARGS("mirror", "node=a", "target=b", "sync=bitmap"));
	start_bad("target= of stream",
		  "Error: job start stream: unknown key 'target' (keys: node, base, job-id, speed, on-error, auto-finalize, auto-dismiss)\n",
		  ARGS("stream", "node=a", "target=b"));
	start_bad("an unknown key",
		  "Error: job start stream: unknown key 'nodes' (keys: node, base, job-id, speed, on-error, auto-finalize, auto-dismiss)\n",
		  ARGS("stream", "nodes=a"));
	start_bad("top= of stream",
		  "Error: job start stream: unknown key 'top' (keys: node, base, job-id, speed, on-error, auto-finalize, auto-dismiss)\n",
		  ARGS("stream", "top=a"));
	start_bad("node= of commit",
		  "Error: job start commit: unknown key 'node' (keys: top, base, job-id, speed, on-error, auto-finalize, auto-dismiss)\n",
		  ARGS("commit", "node=a"));
	start_bad("a word without '='",
		  "Error: job start stream: 'top': expected KEY=VALUE\n",
		  ARGS("stream", "top"));
	start_bad("a repeated key",
		  "Error: job start stream: base given more than once\n",
		  ARGS("stream", "node=a", "base=b", "base=c"));
	start_bad("a missing node",
		  "Error: job start stream: missing node=NODE\n",
		  ARGS("stream", "base=b"));
	start_bad("a missing top",
		  "Error: job start commit: missing top=NODE\n",
		  ARGS("commit", "speed=1"));
	start_bad("a bad speed",
		  "Error: speed=fast: invalid size\n",
		  ARGS("stream", "node=a", "speed=fast"));
	start_bad("a negative speed",
		  "Error: speed=-1: negative size\n",
		  ARGS("stream", "node=a", "speed=-1"));
	start_bad("a bad on-error",
		  "Error: on-error=panic: on-error is one of report, ignore, stop, enospc\n",
		  ARGS("stream", "node=a", "on-error=panic"));
	start_bad("a bad auto-finalize",
		  "Error: auto-finalize=maybe: expected on or off\n",
		  ARGS("stream", "node=a", "auto-finalize=maybe"));
	start_bad("a bad node name",
		  "Error: node=1a: must start with a letter\n",
		  ARGS("stream", "node=1a"));
	start_bad("a bad base name",
		  "Error: base=a/b: may only contain letters, digits, '_', '.' and '-'\n",
		  ARGS("commit", "top=a", "base=a/b"));
	start_bad("a job id too long",
		  "Error: job-id=j123456789012345678901234567890x: longer than 31 characters\n",
		  ARGS("stream", "node=a", "job-id=j123456789012345678901234567890x"));
	start_bad("base = node",
		  "Error: base=a: the base is the top itself\n",
		  ARGS("commit", "top=a", "base=a"));
	test_start_backup();
}

/* ---- progress line ---- */

static void test_progress(void)
{
	char buf[256];

	vs_job_progress(buf, sizeof(buf), 0, 0, 0, 80);
	check_str("progress without a length", buf,
		  "  0%  0B/0B  --/s  --:--:-- left");
	/* the line fills the width: bar, brackets and text */
	vs_job_progress(buf, sizeof(buf), 512 << 20, 1024 << 20, 0, 64);
	result(strlen(buf) == 64, "progress line is 64 columns wide");
	check_str("progress at half, no rate yet", buf,
		  "[###########------------]  50%  512.0M/1.0G  --/s  --:--:-- left");
	vs_job_progress(buf, sizeof(buf), 256 << 20, 1024 << 20, 1 << 20, 70);
	check_str("progress with a rate and time left", buf,
		  "[#######---------------------]  25%  256.0M/1.0G  1.0M/s  0:12:48 left");
	vs_job_progress(buf, sizeof(buf), 2048, 1024, 1, 200);
	result(strstr(buf, "100%") && strstr(buf, "0:00:00 left") &&
	       strlen(buf) <= 200 && buf[0] == '[' && !strchr(buf, '-'),
	       "progress past the end is 100%%, full bar: %s", buf);
	vs_job_progress(buf, sizeof(buf), 1, 3, 0, 20);
	check_str("progress too narrow for a bar", buf,
		  " 33%  1B/3B  --/s  --:--:-- left");
	vs_job_progress(buf, 16, 1, 2, 0, 200);
	result(strlen(buf) == 15, "progress truncated to its buffer");
}

/* ---- job objects ---- */

static struct nl_msg *job_msg(int variant)
{
	struct nl_msg *m = nlmsg_alloc();
	struct nlattr *nest;

	genlmsg_put(m, 0, 0, 0x20, 0, 0,
		    variant == 3 ? VSTORAGE_CMD_JOB_IO_ERROR : VSTORAGE_CMD_JOB_GET,
		    VSTORAGE_GENL_VERSION);
	if (variant == 1)
		return m;		/* no nest */
	nest = nla_nest_start(m, VSTORAGE_A_JOB);
	nla_put(m, VSTORAGE_JOB_PAD, 0, NULL);
	if (variant != 2)
		nla_put_string(m, VSTORAGE_JOB_ID, "j1");
	nla_put_string(m, VSTORAGE_JOB_TYPE, "stream");
	nla_put_string(m, VSTORAGE_JOB_NODE, "top");
	nla_put_string(m, VSTORAGE_JOB_FILTER, "j1-cor");
	if (variant == 4)
		nla_put_u8(m, VSTORAGE_JOB_STATE, 2);	/* wrong size */
	else
		nla_put_u32(m, VSTORAGE_JOB_STATE, VSTORAGE_JOB_S_RUNNING);
	nla_put_u64(m, VSTORAGE_JOB_OFFSET, 1 << 20);
	nla_put_u64(m, VSTORAGE_JOB_LEN, 4 << 20);
	nla_put_u64(m, VSTORAGE_JOB_SPEED, 0);
	nla_put_u32(m, VSTORAGE_JOB_ON_ERROR, VSTORAGE_JOB_ON_ERROR_STOP);
	nla_put_u8(m, VSTORAGE_JOB_AUTO_FINALIZE, 1);
	nla_put_u8(m, VSTORAGE_JOB_AUTO_DISMISS, 0);
	nla_put_u8(m, VSTORAGE_JOB_BUSY, 1);
	nla_put_u8(m, VSTORAGE_JOB_PAUSED, 0);
	if (variant == 3) {
		nla_put_u32(m, VSTORAGE_JOB_OPERATION, 0);
		nla_put_u32(m, VSTORAGE_JOB_ACTION, VSTORAGE_JOB_ACTION_REPORT);
		nla_put_string(m, VSTORAGE_JOB_ERROR, "Input/output error");
	}
	nla_put_u32(m, 200, 7);		/* from a newer kernel */
	nla_nest_end(m, nest);
	return m;
}

static struct vs_job sample;

static void print_show(void)
{
	vs_job_print(&sample, NULL, false);
}

static void print_list(void)
{
	open_json_array(PRINT_JSON, NULL);
	vs_job_print_header();
	vs_job_print(&sample, NULL, true);
	close_json_array(PRINT_JSON, NULL);
}

static void test_job_object(void)
{
	struct nl_msg *m;
	char *s;
	int v;

	m = job_msg(0);
	result(!vs_job_parse(nlmsg_hdr(m), &sample) &&
	       !strcmp(sample.id, "j1") && !strcmp(sample.node, "top") &&
	       !sample.base[0] && sample.state == VSTORAGE_JOB_S_RUNNING &&
	       sample.offset == 1 << 20 && sample.len == 4 << 20 &&
	       sample.busy && sample.auto_finalize && !sample.auto_dismiss &&
	       sample.on_error == VSTORAGE_JOB_ON_ERROR_STOP && !sample.has_error,
	       "job object parsed");
	nlmsg_free(m);
	for (v = 1; v <= 4; v++) {
		struct vs_job j;

		if (v == 3)
			continue;
		m = job_msg(v);
		result(vs_job_parse(nlmsg_hdr(m), &j) == -EBADMSG,
		       "malformed job object %d refused", v);
		nlmsg_free(m);
	}

	s = output_run(true, print_show);
	check_str("job show -j", s,
		  "{\"id\":\"j1\",\"type\":\"stream\",\"node\":\"top\",\"base\":null,"
		  "\"filter\":\"j1-cor\",\"state\":\"running\",\"offset\":1048576,"
		  "\"len\":4194304,\"speed\":0,\"on-error\":\"stop\","
		  "\"auto-finalize\":true,\"auto-dismiss\":false,\"busy\":true,"
		  "\"paused\":false,\"error\":null}\n");
	free(s);
	s = output_run(false, print_show);
	check_str("job show", s,
		  "id: j1\ntype: stream\nnode: top\nfilter: j1-cor\nstate: running\n"
		  "progress: 1.0M/4.0M (25%) (offset 1048576 of len 4194304)\n"
		  "speed: 0 bytes/s (unlimited)\non-error: stop\n"
		  "auto-finalize: yes\nauto-dismiss: no\nbusy: yes\npaused: no\n");
	free(s);
	s = output_run(false, print_list);
	check_str("job list", s,
		  "ID               TYPE    NODE             STATE               PROGRESS      SPEED\n"
		  "j1               stream  top              running      1.0M/4.0M (25%)  unlimited\n");
	free(s);

	m = job_msg(3);
	result(!vs_job_parse(nlmsg_hdr(m), &sample) && sample.has_io &&
	       sample.action == VSTORAGE_JOB_ACTION_REPORT && sample.has_error,
	       "job-io-error object parsed");
	nlmsg_free(m);
	s = output_run(true, print_show);
	result(s && strstr(s, "\"operation\":\"read\",\"action\":\"report\","
			      "\"error\":\"Input/output error\"}"),
	       "job-io-error JSON names operation, action and error");
	free(s);
}

void test_job(void)
{
	test_names();
	test_start_args();
	test_progress();
	test_job_object();
}
