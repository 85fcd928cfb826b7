/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Why did device-mapper refuse a table? The ioctl only returns an errno;
 * the target's reason goes to the kernel log as
 *   device-mapper: table: MAJ:MIN: vstorage-raw: REASON (-EINVAL)
 * Open a cursor at the end of /dev/kmsg before the ioctl, read the new
 * records after it fails.
 */
#ifndef VS_KMSG_H
#define VS_KMSG_H

#include <stdbool.h>
#include <stddef.h>

struct vs_kmsg {
	int fd;		/* -1 when /dev/kmsg cannot be read */
};

void vs_kmsg_open(struct vs_kmsg *k);
void vs_kmsg_close(struct vs_kmsg *k);

/*
 * Reads the records logged since vs_kmsg_open() and copies the best reason
 * for device dev ("254:0") and target type target into buf. Returns true
 * if one was found.
 */
bool vs_kmsg_reason(struct vs_kmsg *k, const char *dev, const char *target,
		    char *buf, size_t len);

/*
 * Pure part, for tests: classifies one log message (the text after ';',
 * unescaped). Returns 0 if unrelated, else a priority (higher is better:
 * 3 the target's own error, 2 a table error of dev, 1 an ioctl error)
 * and copies the reason.
 */
int vs_kmsg_classify(const char *msg, const char *dev, const char *target,
		     char *reason, size_t len);

/*
 * Why did a target refuse a message (dmsetup message)? Targets log
 *   device-mapper: vstorage-qcow2: MAJ:MIN: REASON    (or NODE: REASON)
 * Like vs_kmsg_reason(), for the records since vs_kmsg_open().
 */
bool vs_kmsg_message_reason(struct vs_kmsg *k, const char *dev,
			    const char *target, const char *node, char *buf,
			    size_t len);

/*
 * Pure part: 3 for "device-mapper: TARGET: DEV|NODE: REASON", 2 for
 * "device-mapper: TARGET: REASON", 1 for "device-mapper: ioctl: REASON",
 * else 0; a trailing " (-EXXX)" is dropped.
 */
int vs_kmsg_classify_message(const char *msg, const char *dev,
			     const char *target, const char *node,
			     char *reason, size_t len);

/* Record "PRI,SEQ,TS,FLAGS;text\n KEY=VAL..." -> unescaped text. */
void vs_kmsg_text(const char *record, char *buf, size_t len);

#endif /* VS_KMSG_H */
