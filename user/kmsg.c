// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel log reader for device-mapper table errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"
#include "parse.h"

#define KMSG_RECORD_MAX	8192

void vs_kmsg_open(struct vs_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd >= 0 && lseek(k->fd, 0, SEEK_END) < 0) {
		close(k->fd);
		k->fd = -1;
	}
}

void vs_kmsg_close(struct vs_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

void vs_kmsg_text(const char *record, char *buf, size_t len)
{
	const char *s = strchr(record, ';');
	size_t n = 0;

	if (!len)
		return;
	s = s ? s + 1 : record;
	for (; *s && *s != '\n' && n + 1 < len; s++) {
		/* /dev/kmsg writes unprintable bytes (and '\') as \xNN */
		if (s[0] == '\\' && s[1] == 'x' && parse_hex_digit(s[2]) >= 0 &&
		    parse_hex_digit(s[3]) >= 0) {
			buf[n++] = (char)(parse_hex_digit(s[2]) << 4 | parse_hex_digit(s[3]));
			s += 3;
			continue;
		}
		buf[n++] = *s;
	}
	buf[n] = '\0';
}

/* Drops a trailing " (-EINVAL)" or " (-22)" added by dm_table_add_target. */
static void strip_errname(char *s)
{
	char *p = strrchr(s, '(');
	size_t n = strlen(s);
	char *q;

	if (!p || p == s || p[-1] != ' ' || p[1] != '-' || s[n - 1] != ')')
		return;
	for (q = p + 2; q < s + n - 1; q++)
		if (!((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')))
			return;
	if (q == p + 2)
		return;
	p[-1] = '\0';
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int vs_kmsg_classify(const char *msg, const char *dev, const char *target,
		     char *reason, size_t len)
{
	static const char table[] = "device-mapper: table: ";
	static const char ioctl[] = "device-mapper: ioctl: ";
	size_t dl = strlen(dev), tl = strlen(target);
	const char *p;

	if (!strncmp(msg, table, sizeof(table) - 1)) {
		p = msg + sizeof(table) - 1;
		if (strncmp(p, dev, dl) || strncmp(p + dl, ": ", 2))
			return 0;
		p += dl + 2;
		if (!strncmp(p, target, tl) && !strncmp(p + tl, ": ", 2)) {
			copy(reason, len, p + tl + 2);
			strip_errname(reason);
			return 3;
		}
		copy(reason, len, p);
		return 2;
	}
	if (!strncmp(msg, ioctl, sizeof(ioctl) - 1)) {
		p = msg + sizeof(ioctl) - 1;
		if (!strcmp(p, "error adding target to table"))
			return 0;
		copy(reason, len, p);
		return 1;
	}
	return 0;
}

int vs_kmsg_classify_message(const char *msg, const char *dev,
			     const char *target, const char *node,
			     char *reason, size_t len)
{
	static const char dm[] = "device-mapper: ";
	static const char ioctl[] = "device-mapper: ioctl: ";
	size_t tl = strlen(target), dl = strlen(dev), nl = strlen(node);
	size_t skip = 0;
	const char *p;

	if (!strncmp(msg, ioctl, sizeof(ioctl) - 1)) {
		copy(reason, len, msg + sizeof(ioctl) - 1);
		return 1;
	}
	if (strncmp(msg, dm, sizeof(dm) - 1))
		return 0;
	p = msg + sizeof(dm) - 1;
	if (strncmp(p, target, tl) || strncmp(p + tl, ": ", 2))
		return 0;
	p += tl + 2;
	if (dl && !strncmp(p, dev, dl) && !strncmp(p + dl, ": ", 2))
		skip = dl + 2;
	else if (nl && !strncmp(p, node, nl) && !strncmp(p + nl, ": ", 2))
		skip = nl + 2;
	if (skip) {
		copy(reason, len, p + skip);
		strip_errname(reason);
		return 3;
	}
	copy(reason, len, p);
	strip_errname(reason);
	return 2;
}

/* Reads the new records; keeps the best reason by the classifier. */
static bool scan(struct vs_kmsg *k, const char *dev, const char *target,
		 const char *node, char *buf, size_t len)
{
	char rec[KMSG_RECORD_MAX], text[KMSG_RECORD_MAX], reason[1024];
	int best = 0;

	if (k->fd < 0)
		return false;
	for (;;) {
		ssize_t n = read(k->fd, rec, sizeof(rec) - 1);
		int prio;

		if (n < 0) {
			if (errno == EPIPE || errno == EINTR)
				continue;	/* overwritten records */
			break;			/* EAGAIN: no more */
		}
		if (n == 0)
			break;
		rec[n] = '\0';
		vs_kmsg_text(rec, text, sizeof(text));
		if (node)
			prio = vs_kmsg_classify_message(text, dev, target,
							node, reason,
							sizeof(reason));
		else
			prio = vs_kmsg_classify(text, dev, target, reason,
						sizeof(reason));
		if (prio > best) {
			best = prio;
			copy(buf, len, reason);
		}
	}
	return best > 0;
}

bool vs_kmsg_reason(struct vs_kmsg *k, const char *dev, const char *target,
		    char *buf, size_t len)
{
	return scan(k, dev, target, NULL, buf, len);
}

bool vs_kmsg_message_reason(struct vs_kmsg *k, const char *dev,
			    const char *target, const char *node, char *buf,
			    size_t len)
{
	return scan(k, dev, target, node, buf, len);
}
