/* tests/unit/unit.h: cmocka glue for the project's unit tests.
 *
 * Each tests/unit/<layer>_test.c ends with UNIT_MAIN("<layer>", tests),
 * which runs the group and prints the project's closing line
 * `<layer>: N passed, N failed[, N skipped]` that tests/run.sh adds up.
 * Tests link the real objects of every layer (build/host/libhvstack.a) and
 * the sources under tests/unit/lib/, compiled with ASan and UBSan.
 */
#ifndef TESTS_UNIT_UNIT_H
#define TESTS_UNIT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

/* Skips are counted by the test itself calling unit_skip(reason), which
 * prints why and marks the test skipped in cmocka. */
extern int unit_skipped;
#define unit_skip(reason)                                                                          \
  do {                                                                                             \
    printf("SKIP %s: %s\n", __func__, (reason));                                                   \
    unit_skipped++;                                                                                \
    skip();                                                                                        \
  } while (0)

/* A test run between its file's own setup() and teardown() (static
 * functions of that name), for files whose every test needs the same
 * fixture. */
#define UNIT_TEST_FIXTURE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#define UNIT_MAIN(name, tests) UNIT_MAIN_GROUP(name, tests, NULL, NULL)
/* The same with a group setup and teardown, run once around all the tests. */
#define UNIT_MAIN_GROUP(name, tests, setup, teardown)                                              \
  int unit_skipped;                                                                                \
  int main(void) {                                                                                 \
    int failed = cmocka_run_group_tests_name(name, tests, setup, teardown);                        \
    int total = (int)(sizeof(tests) / sizeof((tests)[0]));                                         \
    int passed = total - failed - unit_skipped;                                                    \
    if (unit_skipped)                                                                              \
      printf("%s: %d passed, %d failed, %d skipped\n", name, passed, failed, unit_skipped);        \
    else                                                                                           \
      printf("%s: %d passed, %d failed\n", name, passed, failed);                                  \
    return failed ? 1 : 0;                                                                         \
  }

#endif
