/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - the few kernel types and helpers that format.c and entries.c
 * use, mapped onto standard C for userspace builds: unit tests,
 * qcow2-inspect and fuzzers. Needs C11 with the GNU extensions GCC and
 * Clang have in every mode (statement expressions, __typeof__, builtins).
 * Kernel builds never include this file.
 */
#ifndef VSTORAGE_QCOW2_COMPAT_H
#define VSTORAGE_QCOW2_COMPAT_H

#ifdef __KERNEL__
#error "compat.h is for userspace builds only"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The kernel's own definitions (asm-generic/int-ll64.h) on every ABI. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;

#define U8_MAX			((u8)~0U)
#define U16_MAX			((u16)~0U)
#define U32_MAX			((u32)~0U)
#define U64_MAX			((u64)~0ULL)
#define S64_MAX			((s64)(U64_MAX >> 1))

#define BIT(nr)			(1UL << (nr))
#define BIT_ULL(nr)		(1ULL << (nr))
#define GENMASK_ULL(h, l)	((~0ULL << (l)) & (~0ULL >> (63 - (h))))

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define ALIGN(x, a) ({						\
	__typeof__(x) __qc_mask = (__typeof__(x))(a) - 1;	\
	((x) + __qc_mask) & ~__qc_mask;				\
})
#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)

#define min(a, b) ({						\
	__typeof__(a) __qc_a = (a);				\
	__typeof__(b) __qc_b = (b);				\
	__qc_a < __qc_b ? __qc_a : __qc_b;			\
})
#define max(a, b) ({						\
	__typeof__(a) __qc_a = (a);				\
	__typeof__(b) __qc_b = (b);				\
	__qc_a > __qc_b ? __qc_a : __qc_b;			\
})

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)

#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d)	__builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)

/* Index of the least significant set bit; undefined for 0, like the kernel's. */
static inline unsigned long __ffs(unsigned long word)
{
	return (unsigned long)__builtin_ctzl(word);
}

static inline unsigned int __ffs64(u64 word)
{
	return (unsigned int)__builtin_ctzll(word);
}

static inline unsigned long __fls(unsigned long word)
{
	return (unsigned long)(sizeof(word) * 8 - 1 - (unsigned long)__builtin_clzl(word));
}

static inline u16 get_unaligned_be16(const void *p)
{
	const u8 *b = p;

	return (u16)((unsigned int)b[0] << 8 | b[1]);
}

static inline u32 get_unaligned_be32(const void *p)
{
	const u8 *b = p;

	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static inline u64 get_unaligned_be64(const void *p)
{
	const u8 *b = p;

	return (u64)get_unaligned_be32(b) << 32 | get_unaligned_be32(b + 4);
}

static inline void put_unaligned_be16(u16 v, void *p)
{
	u8 *b = p;

	b[0] = (u8)(v >> 8);
	b[1] = (u8)v;
}

static inline void put_unaligned_be32(u32 v, void *p)
{
	u8 *b = p;

	b[0] = (u8)(v >> 24);
	b[1] = (u8)(v >> 16);
	b[2] = (u8)(v >> 8);
	b[3] = (u8)v;
}

static inline void put_unaligned_be64(u64 v, void *p)
{
	u8 *b = p;

	put_unaligned_be32((u32)(v >> 32), b);
	put_unaligned_be32((u32)v, b + 4);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define be16_to_cpu(x)		((u16)(x))
#define be32_to_cpu(x)		((u32)(x))
#define be64_to_cpu(x)		((u64)(x))
#else
#define be16_to_cpu(x)		__builtin_bswap16(x)
#define be32_to_cpu(x)		__builtin_bswap32(x)
#define be64_to_cpu(x)		__builtin_bswap64(x)
#endif
#define cpu_to_be16(x)		be16_to_cpu(x)
#define cpu_to_be32(x)		be32_to_cpu(x)
#define cpu_to_be64(x)		be64_to_cpu(x)

#endif /* VSTORAGE_QCOW2_COMPAT_H */
