/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Generic netlink client for the "vstorage" family (libnl-genl-3): one
 * request, then every reply up to the ACK, NLMSG_DONE or error; kernel
 * extended-ACK messages are kept for the error report.
 */
#ifndef VS_NL_H
#define VS_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

struct nl_sock;
struct nl_msg;

#define VS_NL_EXTACK_MAX	256
#define VS_NL_BUF_SIZE		(64 * 1024)

struct vs_nl {
	struct nl_sock *sk;
	int family;
	uint32_t port;
	unsigned char *buf;	/* receive buffer, VS_NL_BUF_SIZE */

	/* result of the last request */
	int err;		/* positive errno, 0 on success */
	char extack[VS_NL_EXTACK_MAX];	/* kernel's message, or "" */
	char local[VS_NL_EXTACK_MAX];	/* what failed locally, or "" */
	bool dump_intr;		/* NLM_F_DUMP_INTR seen */
};

/*
 * Called for every reply message of the family. Returns 0, or a negative
 * errno to fail the request (the remaining replies are still drained).
 */
typedef int (*vs_nl_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Opens a socket and resolves the family. Returns 0; -ENOENT when the
 * family does not exist (the module is not loaded) or another negative
 * errno. Unless quiet, prints the error.
 */
int vs_nl_open(struct vs_nl *nl, bool quiet);
/* Same for another family (nlprobe's self-test against "nlctrl"). */
int vs_nl_open_family(struct vs_nl *nl, const char *name, bool quiet);
void vs_nl_close(struct vs_nl *nl);

/* Resolves a multicast group of the family and joins it. */
int vs_nl_join(struct vs_nl *nl, const char *group);

/* A request with genl header (cmd, VSTORAGE_GENL_VERSION) and flags. */
struct nl_msg *vs_nl_msg(struct vs_nl *nl, uint8_t cmd, int flags);

/*
 * Sends msg (does not free it) and receives the replies. Returns the number
 * of reply messages, or a negative errno (nl->err, nl->extack set).
 */
int vs_nl_transact(struct vs_nl *nl, struct nl_msg *msg, vs_nl_cb cb,
		   void *arg);

/*
 * Receives one batch of notifications and calls cb for each message of the
 * family. Returns 0, -EINTR when interrupted by a signal, -ENOBUFS when
 * notifications were lost, or another negative errno.
 */
int vs_nl_recv_events(struct vs_nl *nl, vs_nl_cb cb, void *arg);

/*
 * Reports the last failure: "Error: <extack>" when the kernel sent one,
 * else "Error: <what>: <strerror>".
 */
void vs_nl_perror(const struct vs_nl *nl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copies a string attribute (NUL-terminated or not) into buf. */
struct nlattr;
void vs_nla_strcpy(char *buf, size_t len, const struct nlattr *nla);
char *vs_nla_strdup(const struct nlattr *nla);

#endif /* VS_NL_H */
