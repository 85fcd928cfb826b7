// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of QEMU's throttling arithmetic (kernel/filters/bucket.c), built
 * for userspace: QEMU's tests/unit/test-throttle.c vectors (leak, burst
 * leak, waits, bursts, accounting with iops-size), every validation rule
 * with the limits it names, the names, overflow edges, and simulated
 * clocks that check achieved rates and bursts against the limits.
 * Prints "ok"/"FAIL" per test and exits 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"

static int nr_failed, nr_run, cur_failed;

static void fail_at(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    line %d: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed = 1;
}

#define CHECK(cond) do {						\
	if (!(cond))							\
		fail_at(__LINE__, "%s", #cond);				\
} while (0)

/* A == B within TOL, all u64 */
#define NEAR(a, b, tol) do {						\
	unsigned long long a_ = (a), b_ = (b);				\
	if ((a_ > b_ ? a_ - b_ : b_ - a_) > (unsigned long long)(tol))	\
		fail_at(__LINE__, "%s = %llu, want %llu +- %llu", #a,	\
			a_, b_, (unsigned long long)(tol));		\
} while (0)

static void run(const char *name, void (*fn)(void))
{
	cur_failed = 0;
	fn();
	nr_run++;
	nr_failed += cur_failed;
	printf("%s %s\n", cur_failed ? "FAIL" : "ok", name);
}

#define ONE VS_BKT_ONE
#define SEC 1000000000ULL

static void set(struct vs_thr_limits *l, const char *name, u64 v)
{
	int i = vs_thr_limit_index(name);

	if (i < 0) {
		fail_at(__LINE__, "unknown limit %s", name);
		return;
	}
	vs_thr_limit_set(l, (unsigned int)i, v);
}

/* QEMU test_leak_bucket: avg 150, max 15, level 1.5, steps of 1/150 s. */
static void test_leak(void)
{
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;
	u64 t = 0;

	set(&l, "bps-total", 150);
	set(&l, "bps-total-max", 15);
	vs_thr_state_reset(&s, 0);
	s.b[VS_BKT_BPS_TOTAL].level = 1500;	/* 1.5 */
	t += SEC / 150;
	vs_thr_leak(&l, &s, t);
	NEAR(s.b[VS_BKT_BPS_TOTAL].level, 500, 1);
	t += SEC / 150;
	vs_thr_leak(&l, &s, t);
	NEAR(s.b[VS_BKT_BPS_TOTAL].level, 0, 1);
	t += SEC / 150;
	vs_thr_leak(&l, &s, t);
	CHECK(s.b[VS_BKT_BPS_TOTAL].level == 0);
}

/* QEMU: burst_level 6, max 250, burst_length 2, steps of 10 ms. */
static void test_burst_leak(void)
{
	static const u64 want[] = { 3500, 1000, 0, 0 };
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;
	unsigned int i;

	set(&l, "bps-total", 150);
	set(&l, "bps-total-max", 250);
	set(&l, "bps-total-max-length", 2);
	vs_thr_state_reset(&s, 0);
	s.b[VS_BKT_BPS_TOTAL].burst_level = 6000;
	for (i = 0; i < 4; i++) {
		vs_thr_leak(&l, &s, (i + 1) * SEC / 100);
		NEAR(s.b[VS_BKT_BPS_TOTAL].burst_level, want[i], 1);
	}
}

/* QEMU test_compute_wait. */
static void test_wait(void)
{
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;

	vs_thr_state_reset(&s, 0);
	/* no limit: never wait, whatever the level */
	s.b[VS_BKT_BPS_TOTAL].level = 1000000;
	CHECK(vs_thr_wait_ns(&l, &s, false) == 0);

	set(&l, "bps-total", 150);
	set(&l, "bps-total-max", 15);
	s.b[VS_BKT_BPS_TOTAL].level = 15 * ONE;
	CHECK(vs_thr_wait_ns(&l, &s, false) == 0);
	s.b[VS_BKT_BPS_TOTAL].level = 9 * ONE;
	CHECK(vs_thr_wait_ns(&l, &s, true) == 0);
	/* half a unit above the bucket: 1e9 / 150 / 2 ns */
	s.b[VS_BKT_BPS_TOTAL].level = 15500;
	NEAR(vs_thr_wait_ns(&l, &s, false), SEC / 150 / 2, 1);
	NEAR(vs_thr_wait_ns(&l, &s, true), SEC / 150 / 2, 1);

	/* a read limit makes reads wait, not writes */
	memset(&l, 0, sizeof(l));
	set(&l, "iops-read", 10);
	vs_thr_state_reset(&s, 0);
	s.b[VS_BKT_OPS_READ].level = 2 * ONE;	/* bucket: 1 */
	NEAR(vs_thr_wait_ns(&l, &s, false), SEC / 10, 1);
	CHECK(vs_thr_wait_ns(&l, &s, true) == 0);
}

/*
 * QEMU test_compute_wait's burst: avg 10, max 200, burst_length 2; every
 * 100 ms 20 units go in and the buckets leak: the burst bucket stays
 * empty, the level grows by 19 a step, and the wait is 0 until step 21,
 * then 1.8 s.
 */
static void test_burst(void)
{
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;
	u64 wait;
	unsigned int i;

	set(&l, "iops-total", 10);
	set(&l, "iops-total-max", 200);
	set(&l, "iops-total-max-length", 2);
	vs_thr_state_reset(&s, 0);
	for (i = 0; i < 22; i++) {
		s.b[VS_BKT_OPS_TOTAL].level += 20 * ONE;
		s.b[VS_BKT_OPS_TOTAL].burst_level += 20 * ONE;
		vs_thr_leak(&l, &s, (u64)(i + 1) * SEC / 10);
		wait = vs_thr_wait_ns(&l, &s, false);
		NEAR(s.b[VS_BKT_OPS_TOTAL].burst_level, 0, 1);
		NEAR(s.b[VS_BKT_OPS_TOTAL].level, (i + 1) * 19 * ONE, 1);
		NEAR(wait, i < 21 ? 0 : 18 * SEC / 10, 2);
	}
}

/* QEMU test_accounting. */
static void test_accounting(void)
{
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;
	unsigned int i;

	for (i = 0; i < VS_BKT_NR; i++)
		l.b[i].avg = 150;
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, false, 512);
	vs_thr_account(&l, &s, true, 512);
	CHECK(s.b[VS_BKT_BPS_TOTAL].level == 1024 * ONE);
	CHECK(s.b[VS_BKT_BPS_READ].level == 512 * ONE);
	CHECK(s.b[VS_BKT_BPS_WRITE].level == 512 * ONE);
	CHECK(s.b[VS_BKT_OPS_TOTAL].level == 2 * ONE);
	CHECK(s.b[VS_BKT_OPS_READ].level == ONE);
	CHECK(s.b[VS_BKT_OPS_WRITE].level == ONE);

	/* 64 * 512 bytes with iops-size 13 * 512: 64 / 13 operations each */
	l.iops_size = 13 * 512;
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, false, 64 * 512);
	vs_thr_account(&l, &s, true, 64 * 512);
	NEAR(s.b[VS_BKT_OPS_TOTAL].level, 128 * ONE / 13, 1);
	NEAR(s.b[VS_BKT_OPS_READ].level, 64 * ONE / 13, 1);
	NEAR(s.b[VS_BKT_OPS_WRITE].level, 64 * ONE / 13, 1);
	/* smaller than iops-size: one operation */
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, false, 512);
	CHECK(s.b[VS_BKT_OPS_READ].level == ONE);
	/* a bucket without a limit stays empty */
	memset(&l, 0, sizeof(l));
	set(&l, "bps-write", 100);
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, false, 4096);
	CHECK(s.b[VS_BKT_BPS_TOTAL].level == 0 && s.b[VS_BKT_BPS_WRITE].level == 0);
}

/* One configuration and the message it must be refused with (NULL: valid). */
struct rule_case {
	const char *limits;	/* "name=value name=value" */
	const char *error;
};

static const struct rule_case rule_cases[] = {
	{ "", NULL },
	{ "bps-total=1000", NULL },
	{ "bps-read=1000 bps-write=2000 iops-read=10 iops-write=5", NULL },
	{ "bps-total=1000 bps-total-max=1000", NULL },
	{ "bps-total=1000 bps-total-max=5000 bps-total-max-length=60", NULL },
	{ "iops-total=10 iops-size=4096", NULL },
	{ "iops-read=10 iops-size=4096", NULL },
	{ "bps-total=1000000000000000", NULL },
	{ "bps-total=1 bps-total-max=1000000000000000", NULL },
	{ "bps-total=1 bps-read=1", "bps-total and bps-read cannot be used together" },
	{ "bps-total=1 bps-write=1", "bps-total and bps-write cannot be used together" },
	{ "iops-total=1 iops-read=1", "iops-total and iops-read cannot be used together" },
	{ "iops-total=1 iops-write=1", "iops-total and iops-write cannot be used together" },
	{ "bps-total-max=1 bps-read-max=1",
	  "bps-total-max and bps-read-max cannot be used together" },
	{ "iops-total-max=1 iops-write-max=1",
	  "iops-total-max and iops-write-max cannot be used together" },
	{ "iops-size=4096", "iops-size needs an iops limit" },
	{ "bps-total=1 iops-size=4096", "iops-size needs an iops limit" },
	{ "bps-total=1000000000000001", "bps-total is above 1e15" },
	{ "iops-write=1 iops-write-max=1000000000000001", "iops-write-max is above 1e15" },
	{ "bps-read=1 bps-read-max=2 bps-read-max-length=1000000000000001",
	  "bps-read-max-length is above 1e15" },
	{ "bps-read=1 bps-read-max=1000 bps-read-max-length=1000000000000", NULL },
	{ "bps-read=1 bps-read-max=1000 bps-read-max-length=1000000000001",
	  "bps-read-max times bps-read-max-length is above 1e15" },
	/* QEMU's test_ranges */
	{ "iops-read=1 iops-read-max=3 iops-read-max-length=500000000000000",
	  "iops-read-max times iops-read-max-length is above 1e15" },
	{ "iops-read=1 iops-read-max=2 iops-read-max-length=500000000000000", NULL },
	{ "bps-total=1 bps-total-max=1000000000000000 bps-total-max-length=2",
	  "bps-total-max times bps-total-max-length is above 1e15" },
	{ "bps-total=1 bps-total-max=1 bps-total-max-length=1000000000000000", NULL },
	{ "bps-total=1 bps-read=1 bps-write=1", "bps-total and bps-read cannot be used together" },
	{ "bps-write=10 bps-write-max-length=5", "bps-write-max-length above 1 needs bps-write-max" },
	{ "iops-read-max=100", "iops-read-max needs iops-read" },
	{ "iops-total=100 iops-total-max=99",
	  "iops-total-max must not be lower than iops-total" },
};

static void test_rules(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *c = &rule_cases[i];
		struct vs_thr_limits l = { 0 };
		const char *error = NULL;
		char buf[256], *tok, *save = NULL;
		int ret;

		snprintf(buf, sizeof(buf), "%s", c->limits);
		for (tok = strtok_r(buf, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');

			*eq = '\0';
			set(&l, tok, strtoull(eq + 1, NULL, 10));
		}
		ret = vs_thr_limits_check(&l, &error);
		if (!c->error) {
			if (ret)
				fail_at(__LINE__, "\"%s\" refused: %s", c->limits, error);
		} else if (!ret) {
			fail_at(__LINE__, "\"%s\" accepted", c->limits);
		} else if (!error || !strstr(error, c->error)) {
			fail_at(__LINE__, "\"%s\": \"%s\", want \"%s\"", c->limits,
				error ? error : "(none)", c->error);
		}
	}
}

static void test_names(void)
{
	struct vs_thr_limits l = { 0 };
	unsigned int i;

	CHECK(vs_thr_limit_index("nonsense") == -1);
	CHECK(vs_thr_limit_name(VS_THR_NR_LIMITS) == NULL);
	CHECK(!strcmp(vs_thr_limit_name(0), "bps-total"));
	CHECK(!strcmp(vs_thr_limit_name(5), "bps-read-max-length"));
	CHECK(!strcmp(vs_thr_limit_name(18), "iops-size"));
	for (i = 0; i < VS_THR_NR_LIMITS; i++) {
		CHECK(vs_thr_limit_index(vs_thr_limit_name(i)) == (int)i);
		vs_thr_limit_set(&l, i, 1000 + i);
	}
	for (i = 0; i < VS_THR_NR_LIMITS; i++)
		CHECK(vs_thr_limit_get(&l, i) == 1000 + i);
	CHECK(l.b[VS_BKT_OPS_WRITE].max == 1016 && l.iops_size == 1018);
	CHECK(vs_thr_limits_enabled(&l));
	memset(&l, 0, sizeof(l));
	CHECK(!vs_thr_limits_enabled(&l));
	set(&l, "bps-write", 1);
	CHECK(vs_thr_limits_dir_enabled(&l, true) && !vs_thr_limits_dir_enabled(&l, false));
}

/* The largest limits and intervals neither overflow nor stall. */
static void test_edges(void)
{
	struct vs_thr_limits l = { 0 };
	struct vs_thr_state s;
	const char *error = NULL;

	set(&l, "bps-total", VS_THR_VALUE_MAX);
	set(&l, "bps-total-max", VS_THR_VALUE_MAX);
	CHECK(vs_thr_limits_check(&l, &error) == 0);
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, true, 1ULL << 40);
	CHECK(vs_thr_wait_ns(&l, &s, true) == 0);
	/* a day later everything leaked */
	vs_thr_leak(&l, &s, 86400 * SEC);
	CHECK(s.b[VS_BKT_BPS_TOTAL].level == 0);

	/* 1 byte per second and a 1 GiB request: a wait of ~2^30 s */
	memset(&l, 0, sizeof(l));
	set(&l, "bps-write", 1);
	vs_thr_state_reset(&s, 0);
	vs_thr_account(&l, &s, true, 1ULL << 30);
	NEAR(vs_thr_wait_ns(&l, &s, true) / SEC, 1ULL << 30, 1);
	/* time never runs backwards */
	vs_thr_leak(&l, &s, 10 * SEC);
	vs_thr_leak(&l, &s, 5 * SEC);
	CHECK(s.last_leak_ns == 10 * SEC);
}

/*
 * A workload that submits BYTES-sized requests of direction WRITE as fast
 * as the buckets let it, on a simulated clock, for SECS seconds: the
 * bytes let through in each second.
 */
static void simulate(const struct vs_thr_limits *l, bool write, u64 bytes,
		     unsigned int secs, u64 *per_second)
{
	struct vs_thr_state s;
	u64 now = 0, end = (u64)secs * SEC;

	memset(per_second, 0, secs * sizeof(*per_second));
	vs_thr_state_reset(&s, 0);
	while (now < end) {
		u64 wait;

		vs_thr_leak(l, &s, now);
		wait = vs_thr_wait_ns(l, &s, write);
		if (wait) {
			now += wait;
			continue;
		}
		vs_thr_account(l, &s, write, bytes);
		per_second[now / SEC] += bytes;
	}
}

static u64 sum(const u64 *v, unsigned int from, unsigned int to)
{
	u64 t = 0;

	while (from < to)
		t += v[from++];
	return t;
}

/* Rates over 20 simulated seconds within 1 % of the limits. */
static void test_rates(void)
{
	struct vs_thr_limits l = { 0 };
	u64 sec[20];

	set(&l, "bps-total", 1000000);
	simulate(&l, true, 4096, 20, sec);
	NEAR(sum(sec, 0, 20) / 20, 1000000, 10000);

	memset(&l, 0, sizeof(l));
	set(&l, "iops-read", 250);
	simulate(&l, false, 4096, 20, sec);
	NEAR(sum(sec, 0, 20) / 4096 / 20, 250, 3);

	/* iops-size: 64 KiB requests count as 16 operations of 4 KiB */
	memset(&l, 0, sizeof(l));
	set(&l, "iops-write", 320);
	set(&l, "iops-size", 4096);
	simulate(&l, true, 65536, 20, sec);
	NEAR(sum(sec, 0, 20) / 65536 / 20, 20, 1);

	/* a write limit leaves reads alone */
	memset(&l, 0, sizeof(l));
	set(&l, "bps-write", 1000);
	set(&l, "bps-read", 1000000);
	simulate(&l, false, 4096, 20, sec);
	NEAR(sum(sec, 0, 20) / 20, 1000000, 10000);
}

/*
 * A burst: 4 MB/s for as long as the bucket of max * length = 12 MB
 * takes to fill at max - avg = 3 MB/s (4 s, QEMU's arithmetic), then the
 * limit of 1 MB/s. (The first second also drains the burst bucket's
 * max / 10: 4.4 MB.)
 */
static void test_burst_rates(void)
{
	struct vs_thr_limits l = { 0 };
	u64 sec[12];
	unsigned int i;

	set(&l, "bps-write", 1000000);
	set(&l, "bps-write-max", 4000000);
	set(&l, "bps-write-max-length", 3);
	simulate(&l, true, 4096, 12, sec);
	NEAR(sec[0], 4400000, 44000);
	for (i = 1; i < 3; i++)
		NEAR(sec[i], 4000000, 40000);
	for (i = 5; i < 12; i++)
		NEAR(sec[i], 1000000, 10000);
}

int main(void)
{
	run("leak", test_leak);
	run("burst-leak", test_burst_leak);
	run("compute-wait", test_wait);
	run("burst", test_burst);
	run("accounting", test_accounting);
	run("validation-rules", test_rules);
	run("names", test_names);
	run("edges", test_edges);
	run("rates", test_rates);
	run("burst-rates", test_burst_rates);
	printf("%d tests, %d failed\n", nr_run, nr_failed);
	return nr_failed ? 1 : 0;
}
