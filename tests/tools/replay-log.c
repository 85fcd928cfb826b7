// SPDX-License-Identifier: GPL-2.0
/*
 * replay-log - list a dm-log-writes log and replay it onto a device or file.
 *
 * Written from the description of the log format in the kernel's
 * Documentation/admin-guide/device-mapper/log-writes.rst and the comments of
 * drivers/md/dm-log-writes.c:
 *
 *   byte 0            super block (one "sector" of the logged device):
 *                       le64 magic, le64 version, le64 nr_entries,
 *                       le32 sectorsize
 *   then, nr_entries times, starting at byte sectorsize:
 *                     one sector: le64 sector, le64 nr_sectors, le64 flags,
 *                       le64 data_len, and for a MARK entry data_len bytes
 *                       of mark text right after these 32 bytes
 *                     nr_sectors sectors of written data, unless the entry
 *                       is a DISCARD (no data) or a MARK (nr_sectors 0)
 *   "sector" and nr_sectors count units of sectorsize bytes (the logged
 *   device's logical block size).
 *
 * Writes are logged in the order they reached stable storage: plain writes
 * only when a later flush completed (in completion order, before the flush
 * entry), FUA writes when they completed. Replaying a prefix of the log
 * therefore gives a state the device could have had after a power cut.
 *
 * Usage:
 *   replay-log --log LOG --list
 *       one line per entry:  INDEX LOGOFFSET FLAGS POS LEN [MARK]
 *       (POS and LEN in bytes on the replayed device; FLAGS is "-" or a
 *       "|"-joined list of WRITE-modifiers FLUSH FUA DISCARD MARK META)
 *   replay-log --log LOG --replay TARGET [--start N [--start-offset OFF]]
 *              [--end N] [--exclude N,N,...] [--undo FILE]
 *              [--discard zero|skip|fill:BYTE] [-v]
 *       apply entries START..END (inclusive; default: all) to TARGET;
 *       --start-offset is entry START's LOGOFFSET from --list (saves
 *       walking the log from its beginning); --exclude skips the listed
 *       entries (to build "some of the writes since the last flush"
 *       states); --undo saves what every write overwrote, for
 *       --apply-undo. Prints "next INDEX LOGOFFSET" when done.
 *   replay-log --replay TARGET --apply-undo FILE
 *       restore what a replay with --undo FILE overwrote.
 *
 * Exit status: 0 done, 1 error (message on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG		(1U << 0)
#define LOG_FUA_FLAG		(1U << 1)
#define LOG_DISCARD_FLAG	(1U << 2)
#define LOG_MARK_FLAG		(1U << 3)
#define LOG_METADATA_FLAG	(1U << 4)
#define LOG_KNOWN_FLAGS		0x1fU

#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1ULL

#define ENTRY_HDR_BYTES		32
#define COPY_CHUNK		(1U << 20)

struct entry {
	uint64_t index;
	uint64_t log_offset;	/* byte offset of the entry's header */
	uint64_t sector;	/* in sectorsize units */
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
	char mark[512];
};

struct log {
	int fd;
	uint64_t size;
	uint64_t nr_entries;
	uint32_t sectorsize;
	unsigned char *sect;	/* one sector buffer */
};

static const char *prog = "replay-log";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void pread_all(int fd, void *buf, size_t len, uint64_t off,
		      const char *what)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("reading %s at %" PRIu64 ": %s", what, off,
			    strerror(errno));
		if (n == 0)
			die("reading %s at %" PRIu64 ": unexpected end of file",
			    what, off);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

static void pwrite_all(int fd, const void *buf, size_t len, uint64_t off,
		       const char *what)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("writing %s at %" PRIu64 ": %s", what, off,
			    n < 0 ? strerror(errno) : "no progress");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

static uint64_t fd_size(int fd, const char *what)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st))
		die("stat %s: %s", what, strerror(errno));
	if (S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		die("size of %s: %s", what, strerror(errno));
	return (uint64_t)end;
}

static void log_open(struct log *lg, const char *path)
{
	unsigned char super[32];

	lg->fd = open(path, O_RDONLY);
	if (lg->fd < 0)
		die("open %s: %s", path, strerror(errno));
	lg->size = fd_size(lg->fd, path);
	if (lg->size < sizeof(super))
		die("%s: too small for a log super block", path);
	pread_all(lg->fd, super, sizeof(super), 0, "the log super block");
	if (le64(super) != WRITE_LOG_MAGIC)
		die("%s: bad magic (not a dm-log-writes log)", path);
	if (le64(super + 8) != WRITE_LOG_VERSION)
		die("%s: unsupported log version %" PRIu64, path,
		    le64(super + 8));
	lg->nr_entries = le64(super + 16);
	lg->sectorsize = le32(super + 24);
	if (lg->sectorsize < 512 || lg->sectorsize > 65536 ||
	    (lg->sectorsize & (lg->sectorsize - 1)))
		die("%s: bad sector size %u", path, lg->sectorsize);
	lg->sect = malloc(lg->sectorsize);
	if (!lg->sect)
		die("out of memory");
}

/* Bytes of data that follow entry E's header in the log. */
static uint64_t entry_data_bytes(const struct log *lg, const struct entry *e)
{
	if (e->flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG))
		return 0;
	return e->nr_sectors * lg->sectorsize;
}

/* Read the entry header at OFF; returns false past the end of the log. */
static bool entry_read(struct log *lg, uint64_t index, uint64_t off,
		       struct entry *e)
{
	if (index >= lg->nr_entries)
		return false;
	if (off + lg->sectorsize > lg->size)
		die("entry %" PRIu64 " at %" PRIu64 " lies past the end of the log",
		    index, off);
	pread_all(lg->fd, lg->sect, lg->sectorsize, off, "an entry header");
	memset(e, 0, sizeof(*e));
	e->index = index;
	e->log_offset = off;
	e->sector = le64(lg->sect);
	e->nr_sectors = le64(lg->sect + 8);
	e->flags = le64(lg->sect + 16);
	e->data_len = le64(lg->sect + 24);
	if (e->flags & ~(uint64_t)LOG_KNOWN_FLAGS)
		die("entry %" PRIu64 " at %" PRIu64 ": unknown flags %#" PRIx64,
		    index, off, e->flags);
	if (e->flags & LOG_MARK_FLAG) {
		size_t n = e->data_len;

		if (n > lg->sectorsize - ENTRY_HDR_BYTES ||
		    n >= sizeof(e->mark))
			die("entry %" PRIu64 ": mark text too long", index);
		memcpy(e->mark, lg->sect + ENTRY_HDR_BYTES, n);
		e->mark[n] = 0;
	}
	if (e->nr_sectors > (UINT64_MAX >> 20) ||
	    off + lg->sectorsize + entry_data_bytes(lg, e) > lg->size)
		die("entry %" PRIu64 " at %" PRIu64 ": data past the end of the log",
		    index, off);
	return true;
}

static uint64_t entry_next(const struct log *lg, const struct entry *e)
{
	return e->log_offset + lg->sectorsize + entry_data_bytes(lg, e);
}

static void flags_str(uint64_t flags, char *buf, size_t len)
{
	static const char *const names[] = {
		"FLUSH", "FUA", "DISCARD", "MARK", "META",
	};
	size_t i, used = 0;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & (1U << i)))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? "|" : "", names[i]);
		if (used >= len)
			break;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void do_list(struct log *lg)
{
	uint64_t i, off = lg->sectorsize;
	struct entry e;
	char fl[64];

	printf("# entries %" PRIu64 " sectorsize %u\n", lg->nr_entries,
	       lg->sectorsize);
	for (i = 0; entry_read(lg, i, off, &e); i++) {
		flags_str(e.flags, fl, sizeof(fl));
		printf("%" PRIu64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64, i, off,
		       fl, e.sector * lg->sectorsize,
		       e.nr_sectors * lg->sectorsize);
		if (e.flags & LOG_MARK_FLAG) {
			char *c;

			/* keep the line parseable: no blanks in the mark */
			for (c = e.mark; *c; c++)
				if (*c == ' ' || *c == '\n' || *c == '\t')
					*c = '_';
			printf(" %s", e.mark[0] ? e.mark : "_");
		}
		putchar('\n');
		off = entry_next(lg, &e);
	}
}

/* == Replay == */

enum discard_mode { DISCARD_ZERO, DISCARD_SKIP, DISCARD_FILL };

struct replay {
	int fd;
	uint64_t size;
	int undo_fd;		/* -1: none */
	uint64_t undo_off;
	enum discard_mode discard;
	unsigned char fill;
	unsigned char *buf;	/* COPY_CHUNK bytes */
	unsigned char *old;	/* COPY_CHUNK bytes, for undo */
	bool verbose;
};

/*
 * Undo file: records of { le64 pos, le64 len, len bytes }, in the order the
 * replay overwrote them; applied in reverse.
 */
static void put_le64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static void undo_save(struct replay *r, uint64_t pos, uint64_t len)
{
	unsigned char hdr[16];

	if (r->undo_fd < 0)
		return;
	while (len) {
		size_t n = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;

		pread_all(r->fd, r->old, n, pos, "the replay target");
		put_le64(hdr, pos);
		put_le64(hdr + 8, n);
		pwrite_all(r->undo_fd, hdr, sizeof(hdr), r->undo_off, "the undo file");
		pwrite_all(r->undo_fd, r->old, n, r->undo_off + sizeof(hdr),
			   "the undo file");
		r->undo_off += sizeof(hdr) + n;
		pos += n;
		len -= n;
	}
}

static void replay_range_check(struct replay *r, const struct entry *e,
			       uint64_t pos, uint64_t len)
{
	if (pos > r->size || len > r->size - pos)
		die("entry %" PRIu64 " writes %" PRIu64 "+%" PRIu64
		    ", past the end of the target (%" PRIu64 " bytes)",
		    e->index, pos, len, r->size);
}

static void replay_discard(struct replay *r, const struct entry *e,
			   uint64_t pos, uint64_t len)
{
	if (r->discard == DISCARD_SKIP)
		return;
	replay_range_check(r, e, pos, len);
	undo_save(r, pos, len);
	memset(r->buf, r->discard == DISCARD_FILL ? r->fill : 0, COPY_CHUNK);
	while (len) {
		size_t n = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;

		pwrite_all(r->fd, r->buf, n, pos, "the replay target");
		pos += n;
		len -= n;
	}
}

static void replay_write(struct replay *r, struct log *lg,
			 const struct entry *e, uint64_t pos, uint64_t len)
{
	uint64_t src = e->log_offset + lg->sectorsize;

	replay_range_check(r, e, pos, len);
	undo_save(r, pos, len);
	while (len) {
		size_t n = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;

		pread_all(lg->fd, r->buf, n, src, "entry data");
		pwrite_all(r->fd, r->buf, n, pos, "the replay target");
		src += n;
		pos += n;
		len -= n;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool excluded(const uint64_t *ex, size_t nr, uint64_t index)
{
	return nr && bsearch(&index, ex, nr, sizeof(*ex), cmp_u64);
}

static void do_replay(struct log *lg, struct replay *r, uint64_t start,
		      uint64_t start_off, uint64_t end, const uint64_t *ex,
		      size_t nr_ex)
{
	uint64_t i, off = lg->sectorsize;
	struct entry e;

	if (start_off) {
		off = start_off;
		i = start;
	} else {
		/* walk the headers up to START */
		for (i = 0; i < start && entry_read(lg, i, off, &e); i++)
			off = entry_next(lg, &e);
		if (i < start)
			die("the log has only %" PRIu64 " entries", i);
	}
	for (; i <= end && entry_read(lg, i, off, &e); i++) {
		uint64_t pos = e.sector * lg->sectorsize;
		uint64_t len = e.nr_sectors * lg->sectorsize;

		if (r->verbose) {
			char fl[64];

			flags_str(e.flags, fl, sizeof(fl));
			fprintf(stderr, "%s: entry %" PRIu64 " %s %" PRIu64
				"+%" PRIu64 "%s\n", prog, i, fl, pos, len,
				excluded(ex, nr_ex, i) ? " (excluded)" : "");
		}
		if (!excluded(ex, nr_ex, i) && len &&
		    !(e.flags & LOG_MARK_FLAG)) {
			if (e.flags & LOG_DISCARD_FLAG)
				replay_discard(r, &e, pos, len);
			else
				replay_write(r, lg, &e, pos, len);
		}
		off = entry_next(lg, &e);
	}
	if (fsync(r->fd) && errno != EINVAL)
		die("fsync of the replay target: %s", strerror(errno));
	if (r->undo_fd >= 0 && fsync(r->undo_fd))
		die("fsync of the undo file: %s", strerror(errno));
	printf("next %" PRIu64 " %" PRIu64 "\n", i, off);
}

static void do_apply_undo(struct replay *r, const char *path)
{
	unsigned char hdr[16];
	uint64_t *offs = NULL, off = 0, size;
	size_t nr = 0, max = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	size = fd_size(fd, path);
	while (off < size) {
		if (nr == max) {
			max = max ? max * 2 : 256;
			offs = realloc(offs, max * sizeof(*offs));
			if (!offs)
				die("out of memory");
		}
		offs[nr++] = off;
		pread_all(fd, hdr, sizeof(hdr), off, "the undo file");
		if (le64(hdr + 8) > COPY_CHUNK)
			die("%s: bad record at %" PRIu64, path, off);
		off += sizeof(hdr) + le64(hdr + 8);
	}
	if (off != size)
		die("%s: truncated", path);
	while (nr--) {
		uint64_t pos, len;

		pread_all(fd, hdr, sizeof(hdr), offs[nr], "the undo file");
		pos = le64(hdr);
		len = le64(hdr + 8);
		pread_all(fd, r->buf, len, offs[nr] + sizeof(hdr), "the undo file");
		pwrite_all(r->fd, r->buf, len, pos, "the replay target");
	}
	if (fsync(r->fd) && errno != EINVAL)
		die("fsync of the replay target: %s", strerror(errno));
	free(offs);
	close(fd);
}

/* == Options == */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s --log LOG --list\n"
		"       %s --log LOG --replay TARGET [--start N [--start-offset OFF]] [--end N]\n"
		"                  [--exclude N,N,...] [--undo FILE] [--discard zero|skip|fill:BYTE] [-v]\n"
		"       %s --replay TARGET --apply-undo FILE\n",
		prog, prog, prog);
	exit(status);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "%s: bad %s: %s\n", prog, what, s);
		usage(2);
	}
	return v;
}

static uint64_t *parse_list(const char *s, size_t *nr)
{
	uint64_t *v = NULL;
	size_t max = 0;
	char *copy = strdup(s), *tok, *save = NULL;

	if (!copy)
		die("out of memory");
	*nr = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!*tok)
			continue;
		if (*nr == max) {
			max = max ? max * 2 : 64;
			v = realloc(v, max * sizeof(*v));
			if (!v)
				die("out of memory");
		}
		v[(*nr)++] = parse_u64(tok, "--exclude entry");
	}
	free(copy);
	if (*nr)
		qsort(v, *nr, sizeof(*v), cmp_u64);
	return v;
}

int main(int argc, char **argv)
{
	enum {
		OPT_START = 256, OPT_START_OFF, OPT_END, OPT_EXCLUDE, OPT_UNDO,
		OPT_APPLY_UNDO, OPT_DISCARD,
	};
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "list", no_argument, NULL, 'L' },
		{ "replay", required_argument, NULL, 'r' },
		{ "start", required_argument, NULL, OPT_START },
		{ "start-offset", required_argument, NULL, OPT_START_OFF },
		{ "end", required_argument, NULL, OPT_END },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "undo", required_argument, NULL, OPT_UNDO },
		{ "apply-undo", required_argument, NULL, OPT_APPLY_UNDO },
		{ "discard", required_argument, NULL, OPT_DISCARD },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *log_path = NULL, *target = NULL, *undo = NULL,
		   *apply_undo = NULL;
	uint64_t start = 0, start_off = 0, end = UINT64_MAX, *ex = NULL;
	size_t nr_ex = 0;
	bool list = false;
	struct replay r = { .fd = -1, .undo_fd = -1 };
	struct log lg;
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log_path = optarg;
			break;
		case 'L':
			list = true;
			break;
		case 'r':
			target = optarg;
			break;
		case OPT_START:
			start = parse_u64(optarg, "--start");
			break;
		case OPT_START_OFF:
			start_off = parse_u64(optarg, "--start-offset");
			break;
		case OPT_END:
			end = parse_u64(optarg, "--end");
			break;
		case OPT_EXCLUDE:
			free(ex);
			ex = parse_list(optarg, &nr_ex);
			break;
		case OPT_UNDO:
			undo = optarg;
			break;
		case OPT_APPLY_UNDO:
			apply_undo = optarg;
			break;
		case OPT_DISCARD:
			if (!strcmp(optarg, "zero")) {
				r.discard = DISCARD_ZERO;
			} else if (!strcmp(optarg, "skip")) {
				r.discard = DISCARD_SKIP;
			} else if (!strncmp(optarg, "fill:", 5)) {
				uint64_t b = parse_u64(optarg + 5, "fill byte");

				if (b > 255)
					usage(2);
				r.discard = DISCARD_FILL;
				r.fill = (unsigned char)b;
			} else {
				usage(2);
			}
			break;
		case 'v':
			r.verbose = true;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (list + !!target + !!apply_undo == 0 || (list && target) ||
	    (apply_undo && (!target || log_path || undo)) ||
	    (!apply_undo && !log_path) || (start_off && start_off % 512) ||
	    start > end)
		usage(2);

	if (target) {
		r.fd = open(target, O_RDWR);
		if (r.fd < 0)
			die("open %s: %s", target, strerror(errno));
		r.size = fd_size(r.fd, target);
		r.buf = malloc(COPY_CHUNK);
		r.old = malloc(COPY_CHUNK);
		if (!r.buf || !r.old)
			die("out of memory");
	}
	if (apply_undo) {
		do_apply_undo(&r, apply_undo);
		free(r.buf);
		free(r.old);
		free(ex);
		return 0;
	}

	log_open(&lg, log_path);
	if (list) {
		do_list(&lg);
		free(lg.sect);
		free(r.buf);
		free(r.old);
		free(ex);
		if (fflush(stdout) || ferror(stdout))
			die("writing the list: %s", strerror(errno));
		return 0;
	}
	if (undo) {
		r.undo_fd = open(undo, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (r.undo_fd < 0)
			die("open %s: %s", undo, strerror(errno));
	}
	do_replay(&lg, &r, start, start_off, end, ex, nr_ex);
	free(lg.sect);
	free(ex);
	free(r.buf);
	free(r.old);
	if (fflush(stdout) || ferror(stdout))
		die("writing to stdout: %s", strerror(errno));
	return 0;
}
