/*
 * tap.h - a tiny TAP producer for lagoon's C unit tests.
 * Output goes to stdout; automake's tap-driver.sh grades it.
 */
#ifndef LAGOON_TAP_H
#define LAGOON_TAP_H

#include <stdbool.h>

void plan(int n);                 /* "1..n" */
void plan_lazy(void);             /* print the plan at exit from the count */
bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool is_int(long long want, long long got, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool is_str(const char *want, const char *got, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int exit_status(void);            /* 0 if every test passed and the plan was met */
/* directory of test data: $LAGOON_SRC_DIR/tests/data (or ./tests/data) */
const char *test_data_dir(void);

#endif
