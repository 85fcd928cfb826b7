/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by vstoragectl and nlprobe: error reporting,
 * allocation that cannot fail, exit codes.
 */
#ifndef VS_UTIL_H
#define VS_UTIL_H

#include <stddef.h>

/* Exit codes: 0 success, 1 any error, 2 bad usage (grammar). */
#define EXIT_OK		0
#define EXIT_ERR	1
#define EXIT_USAGE	2

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Prints "Error: <message>\n" on stderr. */
void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * When set, pr_err() puts it before the message ("Error: CONTEXT: ..."):
 * a command that runs others (graph apply) names the object it works on.
 */
extern const char *pr_err_context;

#include <signal.h>
/*
 * Blocks the termination signals (INT, TERM, HUP, QUIT) until the old mask
 * is restored: a ^C half-way through a change of devices must not leave a
 * device half-made or suspended. The old mask goes into *old.
 */
void block_term_signals(sigset_t *old);

/*
 * For loops that wait in ppoll() with the old mask until SIGINT or
 * SIGTERM: blocks both (the old mask into *old) and installs handler, so
 * that a signal only interrupts ppoll() and none is lost between the
 * loop's check and the wait.
 */
void catch_stop_signals(void (*handler)(int), sigset_t *old);

/*
 * Bad usage: prints "Error: <message> (see 'vstoragectl <help>')" on stderr
 * and returns EXIT_USAGE.
 */
int usage_err(const char *help, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VS_UTIL_H */
