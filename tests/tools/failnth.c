// SPDX-License-Identifier: GPL-2.0
/*
 * failnth.so - systematic fault injection into one kind of system call, for
 * the debug kernel's fault injection (tests/cases/43-fault-injection.sh).
 *
 * LD_PRELOAD=build/lib/failnth.so FAILNTH_N=N FAILNTH_CALL=KIND CMD...
 *
 * Right before each system call of KIND the program makes, N is written to
 * /proc/thread-self/fail-nth: the kernel then fails the N-th fault site
 * (slab or page allocation, bio submission: whatever is configured under
 * /sys/kernel/debug/fail*) this thread reaches, and only that one. Right
 * after the call, fail-nth is read back and reset: 0 means the fault was
 * injected, R > 0 that the call reached only N - R sites. Setting fail-nth
 * from the shell before exec would spend it in execve and the dynamic
 * loader instead of in the call under test.
 *
 * KIND: table-load (ioctl DM_TABLE_LOAD: a dm target's constructor) or
 * blkio (read/write on a block device: a target's map path).
 * FAILNTH_REPORT=FILE appends "injected" or "reached R" per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *failnth_kind(void)
{
	return getenv("FAILNTH_CALL");
}

/* Returns the open fail-nth file, armed with N, or -1. */
static long failnth_arm(void)
{
	const char *n = getenv("FAILNTH_N");
	size_t len;
	int fd;

	if (!n || !*n)
		return -1;
	fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = strlen(n);
	if (pwrite(fd, n, len, 0) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read back what is left of N and disarm at once, on the same file: any
 * other system call first could take the fault meant for the call.
 */
static void failnth_disarm(long armed)
{
	const char *report = getenv("FAILNTH_REPORT");
	char buf[32] = "";
	ssize_t n;
	long left;
	FILE *f;

	if (armed < 0)
		return;
	n = pread((int)armed, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	left = strtol(buf, NULL, 10);
	if (pwrite((int)armed, "0", 1, 0) != 1)
		left = -1;
	close((int)armed);
	if (!report)
		return;
	f = fopen(report, "ae");
	if (!f)
		return;
	if (left == 0)
		fputs("injected\n", f);
	else
		fprintf(f, "reached %ld\n", left);
	fclose(f);
}

int ioctl(int fd, unsigned long request, ...)
{
	const char *kind = failnth_kind();
	long armed = -1, ret;
	va_list ap;
	void *arg;
	int saved;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (kind && !strcmp(kind, "table-load") && request == DM_TABLE_LOAD)
		armed = failnth_arm();
	ret = syscall(SYS_ioctl, fd, request, arg);
	saved = errno;
	failnth_disarm(armed);
	errno = saved;
	return (int)ret;
}

static int failnth_is_blkdev(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISBLK(st.st_mode);
}

/* read or write (system call NR), armed if FD is a block device. */
static ssize_t failnth_blkio(long nr, int fd, void *buf, size_t count)
{
	const char *kind = failnth_kind();
	long armed = -1, ret;
	int saved;

	if (kind && !strcmp(kind, "blkio") && failnth_is_blkdev(fd))
		armed = failnth_arm();
	ret = syscall(nr, fd, buf, count);
	saved = errno;
	failnth_disarm(armed);
	errno = saved;
	return ret;
}

ssize_t read(int fd, void *buf, size_t count)
{
	return failnth_blkio(SYS_read, fd, buf, count);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	return failnth_blkio(SYS_write, fd, (void *)buf, count);
}
