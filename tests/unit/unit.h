/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the unit tests (test-vstoragectl.c).
 */
#ifndef VS_UNIT_H
#define VS_UNIT_H

#include <stdbool.h>

/* One TAP line "ok N - name" / "not ok N - name". */
void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* result() of a string comparison, with both strings on failure. */
void check_str(const char *name, const char *got, const char *want);
/* Runs fn with the output layer (JSON or human) writing into a string. */
char *output_run(bool json, void (*fn)(void));

void test_bitmap(void);
void test_dm_table(void);
void test_job(void);
void test_jsonparse(void);
void test_kmsg(void);
void test_map(void);
void test_node_object(void);
void test_qcow2_driver(void);
void test_qcow2_image(void);

#endif /* VS_UNIT_H */
