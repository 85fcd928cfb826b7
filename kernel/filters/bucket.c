// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's throttling arithmetic (util/throttle.c) in fixed point: see
 * bucket.h. Built into vstorage.ko, vstoragectl and the unit tests.
 *
 * Units: a level is in VS_BKT_ONE-ths of a byte or an operation; a rate
 * in units per second, so that "rate * ns / 1e9" is the leak of ns
 * nanoseconds, computed as one 128-bit product without overflow for any
 * rate up to 1e15 and any interval.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/math64.h>
#include <linux/string.h>
#else
#include <errno.h>
#include <string.h>
#endif

#include "bucket.h"

#ifndef __KERNEL__
static u64 mul_u64_u64_div_u64(u64 a, u64 b, u64 c)
{
	return (u64)((__uint128_t)a * b / c);
}
#endif

#define NSEC_PER_SECOND	1000000000ULL

/* The limits' names, in netlink attribute order. */
static const char * const vs_thr_names[VS_THR_NR_LIMITS] = {
	"bps-total", "bps-total-max", "bps-total-max-length",
	"bps-read", "bps-read-max", "bps-read-max-length",
	"bps-write", "bps-write-max", "bps-write-max-length",
	"iops-total", "iops-total-max", "iops-total-max-length",
	"iops-read", "iops-read-max", "iops-read-max-length",
	"iops-write", "iops-write-max", "iops-write-max-length",
	"iops-size",
};

const char *vs_thr_limit_name(unsigned int idx)
{
	return idx < VS_THR_NR_LIMITS ? vs_thr_names[idx] : NULL;
}

int vs_thr_limit_index(const char *name)
{
	unsigned int i;

	for (i = 0; i < VS_THR_NR_LIMITS; i++)
		if (!strcmp(vs_thr_names[i], name))
			return (int)i;
	return -1;
}

static u64 *vs_thr_limit_field(struct vs_thr_limits *l, unsigned int idx)
{
	struct vs_bkt_limit *b;

	if (idx == VS_THR_NR_LIMITS - 1)
		return &l->iops_size;
	b = &l->b[idx / 3];
	switch (idx % 3) {
	case 0:
		return &b->avg;
	case 1:
		return &b->max;
	default:
		return &b->burst_length;
	}
}

u64 vs_thr_limit_get(const struct vs_thr_limits *l, unsigned int idx)
{
	if (idx >= VS_THR_NR_LIMITS)
		return 0;
	return *vs_thr_limit_field((struct vs_thr_limits *)l, idx);
}

void vs_thr_limit_set(struct vs_thr_limits *l, unsigned int idx, u64 value)
{
	if (idx < VS_THR_NR_LIMITS)
		*vs_thr_limit_field(l, idx) = value;
}

/*
 * The refusals, as static strings (netlink's extack keeps a pointer): one
 * set per bucket, and the conflicts of a total with a read or write limit.
 */
struct vs_thr_bucket_msgs {
	const char *too_big, *max_too_big, *length_too_big, *burst_too_big;
	const char *max_needs_avg, *max_below_avg, *length_needs_max;
};

static const struct vs_thr_bucket_msgs vs_thr_msgs[VS_BKT_NR] = {
	{ "bps-total is above 1e15", "bps-total-max is above 1e15",
	  "bps-total-max-length is above 1e15",
	  "bps-total-max times bps-total-max-length is above 1e15",
	  "bps-total-max needs bps-total",
	  "bps-total-max must not be lower than bps-total",
	  "bps-total-max-length above 1 needs bps-total-max" },
	{ "bps-read is above 1e15", "bps-read-max is above 1e15",
	  "bps-read-max-length is above 1e15",
	  "bps-read-max times bps-read-max-length is above 1e15",
	  "bps-read-max needs bps-read",
	  "bps-read-max must not be lower than bps-read",
	  "bps-read-max-length above 1 needs bps-read-max" },
	{ "bps-write is above 1e15", "bps-write-max is above 1e15",
	  "bps-write-max-length is above 1e15",
	  "bps-write-max times bps-write-max-length is above 1e15",
	  "bps-write-max needs bps-write",
	  "bps-write-max must not be lower than bps-write",
	  "bps-write-max-length above 1 needs bps-write-max" },
	{ "iops-total is above 1e15", "iops-total-max is above 1e15",
	  "iops-total-max-length is above 1e15",
	  "iops-total-max times iops-total-max-length is above 1e15",
	  "iops-total-max needs iops-total",
	  "iops-total-max must not be lower than iops-total",
	  "iops-total-max-length above 1 needs iops-total-max" },
	{ "iops-read is above 1e15", "iops-read-max is above 1e15",
	  "iops-read-max-length is above 1e15",
	  "iops-read-max times iops-read-max-length is above 1e15",
	  "iops-read-max needs iops-read",
	  "iops-read-max must not be lower than iops-read",
	  "iops-read-max-length above 1 needs iops-read-max" },
	{ "iops-write is above 1e15", "iops-write-max is above 1e15",
	  "iops-write-max-length is above 1e15",
	  "iops-write-max times iops-write-max-length is above 1e15",
	  "iops-write-max needs iops-write",
	  "iops-write-max must not be lower than iops-write",
	  "iops-write-max-length above 1 needs iops-write-max" },
};

/* [bps or iops][rate or burst][read or write] */
static const char * const vs_thr_conflicts[2][2][2] = {
	{ { "bps-total and bps-read cannot be used together",
	    "bps-total and bps-write cannot be used together" },
	  { "bps-total-max and bps-read-max cannot be used together",
	    "bps-total-max and bps-write-max cannot be used together" } },
	{ { "iops-total and iops-read cannot be used together",
	    "iops-total and iops-write cannot be used together" },
	  { "iops-total-max and iops-read-max cannot be used together",
	    "iops-total-max and iops-write-max cannot be used together" } },
};

static u64 vs_bkt_length(const struct vs_bkt_limit *b)
{
	return b->burst_length ? b->burst_length : 1;
}

int vs_thr_limits_check(const struct vs_thr_limits *l, const char **error)
{
	unsigned int kind, i, dir;

	/* QEMU checks the conflicts first, then each bucket */
	for (kind = 0; kind < 2; kind++) {
		const struct vs_bkt_limit *b = &l->b[3 * kind];

		for (dir = 0; dir < 2; dir++) {
			if (b[0].avg && b[1 + dir].avg) {
				*error = vs_thr_conflicts[kind][0][dir];
				return -EINVAL;
			}
			if (b[0].max && b[1 + dir].max) {
				*error = vs_thr_conflicts[kind][1][dir];
				return -EINVAL;
			}
		}
	}
	if (l->iops_size && !l->b[VS_BKT_OPS_TOTAL].avg &&
	    !l->b[VS_BKT_OPS_READ].avg && !l->b[VS_BKT_OPS_WRITE].avg) {
		*error = "iops-size needs an iops limit (iops-total, iops-read or iops-write)";
		return -EINVAL;
	}
	if (l->iops_size > VS_THR_VALUE_MAX) {
		*error = "iops-size is above 1e15";
		return -EINVAL;
	}
	for (i = 0; i < VS_BKT_NR; i++) {
		const struct vs_bkt_limit *b = &l->b[i];
		const struct vs_thr_bucket_msgs *m = &vs_thr_msgs[i];
		u64 len = vs_bkt_length(b);

		if (b->avg > VS_THR_VALUE_MAX)
			*error = m->too_big;
		else if (b->max > VS_THR_VALUE_MAX)
			*error = m->max_too_big;
		else if (len > VS_THR_VALUE_MAX)
			*error = m->length_too_big;
		else if (b->max && len > VS_THR_VALUE_MAX / b->max)
			*error = m->burst_too_big;
		else if (len > 1 && !b->max)
			*error = m->length_needs_max;
		else if (b->max && !b->avg)
			*error = m->max_needs_avg;
		else if (b->max && b->max < b->avg)
			*error = m->max_below_avg;
		else
			continue;
		return -EINVAL;
	}
	return 0;
}

bool vs_thr_limits_dir_enabled(const struct vs_thr_limits *l, bool write)
{
	return l->b[VS_BKT_BPS_TOTAL].avg || l->b[VS_BKT_OPS_TOTAL].avg ||
	       l->b[write ? VS_BKT_BPS_WRITE : VS_BKT_BPS_READ].avg ||
	       l->b[write ? VS_BKT_OPS_WRITE : VS_BKT_OPS_READ].avg;
}

bool vs_thr_limits_enabled(const struct vs_thr_limits *l)
{
	return vs_thr_limits_dir_enabled(l, false) ||
	       vs_thr_limits_dir_enabled(l, true);
}

void vs_thr_state_reset(struct vs_thr_state *s, u64 now_ns)
{
	memset(s, 0, sizeof(*s));
	s->last_leak_ns = now_ns;
}

/*
 * The burst rate in VS_BKT_ONE units per second: QEMU's avg / 10 when no
 * -max is given (throttle_fix_bucket), kept exact in fixed point.
 */
static u64 vs_bkt_max_units(const struct vs_bkt_limit *b)
{
	return b->max ? b->max * VS_BKT_ONE : b->avg * VS_BKT_ONE / 10;
}

static u64 vs_bkt_leak_amount(u64 rate_units, u64 ns)
{
	return mul_u64_u64_div_u64(rate_units, ns, NSEC_PER_SECOND);
}

static void vs_bkt_sub(u64 *level, u64 amount)
{
	*level = *level > amount ? *level - amount : 0;
}

void vs_thr_leak(const struct vs_thr_limits *l, struct vs_thr_state *s,
		 u64 now_ns)
{
	u64 ns;
	int i;

	if (now_ns <= s->last_leak_ns)
		return;
	ns = now_ns - s->last_leak_ns;
	s->last_leak_ns = now_ns;
	for (i = 0; i < VS_BKT_NR; i++) {
		const struct vs_bkt_limit *b = &l->b[i];
		struct vs_bkt_state *st = &s->b[i];

		if (!b->avg)
			continue;
		vs_bkt_sub(&st->level, vs_bkt_leak_amount(b->avg * VS_BKT_ONE, ns));
		if (vs_bkt_length(b) > 1)
			vs_bkt_sub(&st->burst_level,
				   vs_bkt_leak_amount(vs_bkt_max_units(b), ns));
	}
}

/* Nanoseconds for EXTRA units to leak at RATE units per second, rounded up. */
static u64 vs_bkt_wait(u64 extra, u64 rate_units)
{
	u64 ns = mul_u64_u64_div_u64(extra, NSEC_PER_SECOND, rate_units);

	return mul_u64_u64_div_u64(ns, rate_units, NSEC_PER_SECOND) < extra ?
	       ns + 1 : ns;
}

static u64 vs_bkt_wait_ns(const struct vs_bkt_limit *b,
			  const struct vs_bkt_state *st)
{
	u64 max = vs_bkt_max_units(b), len = vs_bkt_length(b), size;

	if (!b->avg)
		return 0;
	/* limits are checked: max * len <= 1e15, times VS_BKT_ONE fits */
	size = max * len;
	if (st->level > size)
		return vs_bkt_wait(st->level - size, b->avg * VS_BKT_ONE);
	if (len > 1 && st->burst_level > max / 10)
		return vs_bkt_wait(st->burst_level - max / 10, max);
	return 0;
}

u64 vs_thr_wait_ns(const struct vs_thr_limits *l,
		   const struct vs_thr_state *s, bool write)
{
	static const int buckets[2][4] = {
		{ VS_BKT_BPS_TOTAL, VS_BKT_OPS_TOTAL, VS_BKT_BPS_READ,
		  VS_BKT_OPS_READ },
		{ VS_BKT_BPS_TOTAL, VS_BKT_OPS_TOTAL, VS_BKT_BPS_WRITE,
		  VS_BKT_OPS_WRITE },
	};
	u64 wait = 0, w;
	int i;

	for (i = 0; i < 4; i++) {
		int b = buckets[write][i];

		w = vs_bkt_wait_ns(&l->b[b], &s->b[b]);
		if (w > wait)
			wait = w;
	}
	return wait;
}

static void vs_bkt_add(const struct vs_bkt_limit *b, struct vs_bkt_state *st,
		       u64 units)
{
	if (!b->avg)
		return;
	st->level += units;
	if (vs_bkt_length(b) > 1)
		st->burst_level += units;
}

void vs_thr_account(const struct vs_thr_limits *l, struct vs_thr_state *s,
		    bool write, u64 bytes)
{
	u64 ops = VS_BKT_ONE;

	/* a request larger than iops-size counts as that many operations */
	if (l->iops_size && bytes > l->iops_size)
		ops = mul_u64_u64_div_u64(bytes, VS_BKT_ONE, l->iops_size);
	bytes = bytes > ~0ULL / VS_BKT_ONE ? ~0ULL : bytes * VS_BKT_ONE;

	vs_bkt_add(&l->b[VS_BKT_BPS_TOTAL], &s->b[VS_BKT_BPS_TOTAL], bytes);
	vs_bkt_add(&l->b[write ? VS_BKT_BPS_WRITE : VS_BKT_BPS_READ],
		   &s->b[write ? VS_BKT_BPS_WRITE : VS_BKT_BPS_READ], bytes);
	vs_bkt_add(&l->b[VS_BKT_OPS_TOTAL], &s->b[VS_BKT_OPS_TOTAL], ops);
	vs_bkt_add(&l->b[write ? VS_BKT_OPS_WRITE : VS_BKT_OPS_READ],
		   &s->b[write ? VS_BKT_OPS_WRITE : VS_BKT_OPS_READ], ops);
}
