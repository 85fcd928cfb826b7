// SPDX-License-Identifier: GPL-2.0
/*
 * replay-main.c - run a fuzz target without libFuzzer.
 *
 *   fuzz-TARGET-replay [-v] FILE|DIR...
 *
 * Feeds every FILE, and every regular file of every DIR (sorted, not
 * recursive), to LLVMFuzzerTestOneInput() once, in a buffer of exactly the
 * file's size. Prints the number of inputs run; a crash (sanitizer report
 * or a violated invariant) names the input first. -v prints each input.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_SANITIZED 1
#endif
#ifdef REPLAY_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

static const char *current;
static unsigned long nr_inputs;
static int verbose;

static void name_current(void)
{
	if (current) {
		static const char msg[] = "replay: crashed on input ";

		/* async-signal-safe: write(2) only */
		if (write(2, msg, sizeof(msg) - 1) < 0 ||
		    write(2, current, strlen(current)) < 0 ||
		    write(2, "\n", 1) < 0)
			return;
	}
}

static void on_signal(int sig)
{
	name_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long size;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "replay: %s: cannot get size\n", path);
		fclose(f);
		return -1;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (verbose)
		fprintf(stderr, "replay: %s (%ld bytes)\n", path, size);
	current = path;
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	current = NULL;
	free(buf);
	nr_inputs++;
	return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, i, ret = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &names, NULL, cmp_names);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *p;

		if (names[i]->d_name[0] == '.' ||
		    asprintf(&p, "%s/%s", path, names[i]->d_name) < 0) {
			free(names[i]);
			continue;
		}
		if (!stat(p, &st) && S_ISREG(st.st_mode) && run_file(p))
			ret = -1;
		free(p);
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	int i, ret = 0;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
		return 2;
	}
	signal(SIGABRT, on_signal);
	signal(SIGSEGV, on_signal);
#ifdef REPLAY_SANITIZED
	__sanitizer_set_death_callback(name_current);
#endif
	for (i = 1; i < argc; i++)
		if (run_path(argv[i]))
			ret = 1;
	printf("%s: %lu inputs\n", argv[0], nr_inputs);
	return ret;
}
