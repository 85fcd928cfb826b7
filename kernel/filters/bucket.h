/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU's throttling arithmetic (util/throttle.c): six leaky buckets, their
 * limits, QEMU's rules for valid limits, and the limits' names. Pure
 * arithmetic without locks or clocks, so that vstoragectl and the unit
 * tests (tests/unit/test-throttle.c, QEMU's test-throttle vectors) compile
 * bucket.c too. The caller serialises calls on one state.
 *
 * QEMU keeps levels as doubles; here they are fixed point, in thousandths
 * of a byte or of an operation (VS_BKT_ONE), which keeps iops-size's
 * fractional operations and the leaks of short intervals.
 */
#ifndef VSTORAGE_BUCKET_H
#define VSTORAGE_BUCKET_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
typedef unsigned long long u64;
#endif

/* The order of the netlink attributes (uapi vstorage_throttle_attr). */
enum vs_bkt {
	VS_BKT_BPS_TOTAL,
	VS_BKT_BPS_READ,
	VS_BKT_BPS_WRITE,
	VS_BKT_OPS_TOTAL,
	VS_BKT_OPS_READ,
	VS_BKT_OPS_WRITE,
	VS_BKT_NR
};

/* One unit (a byte, an operation) of a bucket's level */
#define VS_BKT_ONE		1000ULL

/* QEMU's THROTTLE_VALUE_MAX: no limit, burst or length beyond it */
#define VS_THR_VALUE_MAX	1000000000000000ULL

/* A bucket's limits as the user gives them: 0 is "not set". */
struct vs_bkt_limit {
	u64 avg;		/* units per second */
	u64 max;		/* burst rate; 0: QEMU's avg / 10 */
	u64 burst_length;	/* seconds at max; 0 means 1 */
};

struct vs_thr_limits {
	struct vs_bkt_limit b[VS_BKT_NR];
	u64 iops_size;		/* bytes per operation for the ops buckets */
};

struct vs_bkt_state {
	u64 level;		/* VS_BKT_ONE units */
	u64 burst_level;	/* VS_BKT_ONE units; burst_length > 1 only */
};

struct vs_thr_state {
	struct vs_bkt_state b[VS_BKT_NR];
	u64 last_leak_ns;
};

/* Limits: 19 of them, in the netlink attribute order. */
#define VS_THR_NR_LIMITS	(3 * VS_BKT_NR + 1)

/* "bps-total", "bps-total-max", "bps-total-max-length", ..., "iops-size" */
const char *vs_thr_limit_name(unsigned int idx);
/* The index of NAME, or -1. */
int vs_thr_limit_index(const char *name);
u64 vs_thr_limit_get(const struct vs_thr_limits *l, unsigned int idx);
void vs_thr_limit_set(struct vs_thr_limits *l, unsigned int idx, u64 value);

/*
 * QEMU's rules (throttle_is_valid): 0 if L is valid, else -EINVAL with
 * *ERROR a static string naming the limits in conflict, e.g. "bps-total
 * and bps-read cannot be used together" (static: netlink's extack keeps
 * only a pointer, and 6.1 has no formatted extack messages).
 */
int vs_thr_limits_check(const struct vs_thr_limits *l, const char **error);

/* Any limit set at all; for reads (WRITE false) or writes. */
bool vs_thr_limits_enabled(const struct vs_thr_limits *l);
bool vs_thr_limits_dir_enabled(const struct vs_thr_limits *l, bool write);

/* Empty buckets, leaks counted from NOW_NS (new limits, as in QEMU). */
void vs_thr_state_reset(struct vs_thr_state *s, u64 now_ns);

/* Leak every bucket for the time since the last leak. */
void vs_thr_leak(const struct vs_thr_limits *l, struct vs_thr_state *s,
		 u64 now_ns);

/*
 * Nanoseconds a request of direction WRITE must still wait (0: it may
 * go), after vs_thr_leak(): the longest wait of the buckets that apply.
 */
u64 vs_thr_wait_ns(const struct vs_thr_limits *l,
		   const struct vs_thr_state *s, bool write);

/* A request of BYTES was let through: fill the buckets that apply. */
void vs_thr_account(const struct vs_thr_limits *l, struct vs_thr_state *s,
		    bool write, u64 bytes);

#endif /* VSTORAGE_BUCKET_H */
