// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink transport. libnl builds and sends the messages; replies
 * are read with our own loop so that errno values, NLMSG_DONE errors of
 * dumps and extended-ACK TLVs (which libnl 3.7 drops) are all kept.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/vstorage.h>

#include "nl.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void set_local(struct vs_nl *nl, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_local(struct vs_nl *nl, int err, const char *fmt, ...)
{
	va_list ap;

	nl->err = err;
	va_start(ap, fmt);
	vsnprintf(nl->local, sizeof(nl->local), fmt, ap);
	va_end(ap);
}

int vs_nl_open(struct vs_nl *nl, bool quiet)
{
	return vs_nl_open_family(nl, VSTORAGE_GENL_NAME, quiet);
}

int vs_nl_open_family(struct vs_nl *nl, const char *name, bool quiet)
{
	int one = 1, fd, ret;

	memset(nl, 0, sizeof(*nl));
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		if (!quiet)
			pr_err("cannot allocate netlink socket");
		return -ENOMEM;
	}
	ret = genl_connect(nl->sk);
	if (ret < 0) {
		if (!quiet)
			pr_err("cannot open generic netlink socket: %s",
			       nl_geterror(ret));
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	fd = nl_socket_get_fd(nl->sk);
	/* Best effort: kernels without extended ACK still work. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

	ret = genl_ctrl_resolve(nl->sk, name);
	if (ret < 0) {
		if (!quiet) {
			if (ret == -NLE_OBJ_NOTFOUND &&
			    !strcmp(name, VSTORAGE_GENL_NAME))
				pr_err("vstorage kernel module not available (modprobe vstorage)");
			else
				pr_err("cannot resolve generic netlink family '%s': %s",
				       name, nl_geterror(ret));
		}
		ret = ret == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
		goto fail;
	}
	nl->family = ret;
	/* genl_ctrl_resolve() needs libnl's auto-ACK; from here on we set
	 * NLM_F_ACK ourselves.
	 */
	nl_socket_disable_auto_ack(nl->sk);
	nl->port = nl_socket_get_local_port(nl->sk);
	nl->buf = xmalloc(VS_NL_BUF_SIZE);
	return 0;

fail:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return ret;
}

void vs_nl_close(struct vs_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
	free(nl->buf);
	nl->buf = NULL;
}

int vs_nl_join(struct vs_nl *nl, const char *group)
{
	int grp, ret;

	grp = genl_ctrl_resolve_grp(nl->sk, VSTORAGE_GENL_NAME, group);
	if (grp < 0) {
		pr_err("cannot resolve multicast group '%s' of family '%s': %s",
		       group, VSTORAGE_GENL_NAME, nl_geterror(grp));
		return -ENOENT;
	}
	ret = nl_socket_add_membership(nl->sk, grp);
	if (ret < 0) {
		pr_err("cannot join multicast group '%s': %s", group,
		       nl_geterror(ret));
		return -EIO;
	}
	/* Notifications carry no sequence numbers. */
	nl_socket_disable_seq_check(nl->sk);
	return 0;
}

struct nl_msg *vs_nl_msg(struct vs_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_size(VS_NL_BUF_SIZE);

	if (!msg) {
		fputs("Error: out of memory\n", stderr);
		exit(EXIT_ERR);
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 flags, cmd, VSTORAGE_GENL_VERSION)) {
		fputs("Error: out of memory\n", stderr);
		exit(EXIT_ERR);
	}
	return msg;
}

void vs_nla_strcpy(char *buf, size_t len, const struct nlattr *nla)
{
	size_t n = nla_len(nla);
	const char *s = nla_data(nla);

	n = strnlen(s, n);
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

char *vs_nla_strdup(const struct nlattr *nla)
{
	size_t n = strnlen(nla_data(nla), nla_len(nla));
	char *s = xmalloc(n + 1);

	memcpy(s, nla_data(nla), n);
	s[n] = '\0';
	return s;
}

/* Extended-ACK TLVs start off bytes into the payload of h. */
static void parse_extack(struct vs_nl *nl, const struct nlmsghdr *h,
			 size_t off)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t plen = h->nlmsg_len - NLMSG_HDRLEN;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || off >= plen)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)NLMSG_DATA(h) + off),
		      plen - off, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		vs_nla_strcpy(nl->extack, sizeof(nl->extack),
			      tb[NLMSGERR_ATTR_MSG]);
}

/* NLMSG_ERROR: an ACK (error 0) or a failure. */
static void handle_error(struct vs_nl *nl, const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = sizeof(*e);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
		set_local(nl, EBADMSG, "truncated netlink error message");
		return;
	}
	if (!e->error)
		return;
	nl->err = e->error < 0 ? -e->error : e->error;
	if (!(h->nlmsg_flags & NLM_F_CAPPED) &&
	    e->msg.nlmsg_len >= NLMSG_HDRLEN)
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	parse_extack(nl, h, off);
}

/* NLMSG_DONE of a dump: an int error, then extended-ACK TLVs. */
static void handle_done(struct vs_nl *nl, const struct nlmsghdr *h)
{
	int err;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int)))
		return;
	memcpy(&err, NLMSG_DATA(h), sizeof(err));
	if (err < 0) {
		nl->err = -err;
		parse_extack(nl, h, NLMSG_ALIGN(sizeof(int)));
	}
}

/* One datagram into nl->buf. Returns its length or a negative errno. */
static int read_datagram(struct vs_nl *nl, bool restart)
{
	struct sockaddr_nl sa;
	struct iovec iov = { nl->buf, VS_NL_BUF_SIZE };
	struct msghdr mh = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	for (;;) {
		n = recvmsg(nl_socket_get_fd(nl->sk), &mh, 0);
		if (n >= 0)
			break;
		if (errno == EINTR && restart)
			continue;
		return -errno;
	}
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	if (sa.nl_pid != 0)	/* not from the kernel */
		return 0;
	return (int)n;
}

int vs_nl_transact(struct vs_nl *nl, struct nl_msg *msg, vs_nl_cb cb,
		   void *arg)
{
	struct nlmsghdr *req = nlmsg_hdr(msg);
	int count = 0, cb_err = 0, ret;
	bool done = false;
	uint32_t seq;

	nl->err = 0;
	nl->extack[0] = '\0';
	nl->local[0] = '\0';
	nl->dump_intr = false;

	ret = nl_send_auto(nl->sk, msg);
	if (ret < 0) {
		set_local(nl, EIO, "cannot send netlink request: %s",
			  nl_geterror(ret));
		return -nl->err;
	}
	seq = req->nlmsg_seq;

	while (!done) {
		struct nlmsghdr *h;
		int len = read_datagram(nl, true);

		if (len < 0) {
			set_local(nl, -len, "cannot receive netlink reply: %s",
				  strerror(-len));
			return len;
		}
		h = (struct nlmsghdr *)nl->buf;
		for (; !done && nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != seq || h->nlmsg_pid != nl->port)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				nl->dump_intr = true;
			switch (h->nlmsg_type) {
			case NLMSG_NOOP:
				break;
			case NLMSG_OVERRUN:
				set_local(nl, ENOBUFS, "netlink overrun");
				done = true;
				break;
			case NLMSG_ERROR:
				handle_error(nl, h);
				done = true;
				break;
			case NLMSG_DONE:
				handle_done(nl, h);
				done = true;
				break;
			default:
				count++;
				if (cb && !cb_err)
					cb_err = cb(h, arg);
				/* a reply without NLM_F_MULTI to a request
				 * without NLM_F_ACK ends the exchange
				 */
				if (!(req->nlmsg_flags & (NLM_F_ACK | NLM_F_DUMP)) &&
				    !(h->nlmsg_flags & NLM_F_MULTI))
					done = true;
				break;
			}
		}
	}
	if (nl->err)
		return -nl->err;
	if (cb_err) {
		nl->err = -cb_err;
		return cb_err;
	}
	return count;
}

int vs_nl_recv_events(struct vs_nl *nl, vs_nl_cb cb, void *arg)
{
	struct nlmsghdr *h;
	int len = read_datagram(nl, false);

	if (len < 0)
		return len;
	h = (struct nlmsghdr *)nl->buf;
	for (; nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
		if (h->nlmsg_type == nl->family)
			cb(h, arg);
	}
	return 0;
}

void vs_nl_perror(const struct vs_nl *nl, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("Error: ", stderr);
	if (nl->extack[0]) {
		fprintf(stderr, "%s\n", nl->extack);
		return;
	}
	if (nl->local[0]) {
		fprintf(stderr, "%s\n", nl->local);
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(nl->err));
}
