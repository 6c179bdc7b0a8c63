/* tests/unit/kernel_cmdline_test.c: kernel command-line parsing. */
#include <errno.h>
#include <string.h>

#include "kernel/cmdline.h"
#include "tests/unit/unit.h"

static struct cmdline cl;

static void test_empty_and_null(void **state) {
  (void)state;
  assert_int_equal(cmdline_parse(&cl, NULL), 0);
  assert_int_equal(cl.cl_nargs, 0);
  assert_int_equal(cmdline_parse(&cl, "   \t "), 0);
  assert_int_equal(cl.cl_nargs, 0);
  assert_null(cmdline_get(&cl, "log"));
}

static void test_keys_values(void **state) {
  (void)state;
  assert_int_equal(cmdline_parse(&cl, "/boot/kernel.elf vmbus.max_version=4.1  ip=192.0.2.2/24 "
                                      "exit-after=link flag log=debug"),
                   0);
  assert_int_equal(cl.cl_nargs, 6);
  assert_string_equal(cmdline_get(&cl, "vmbus.max_version"), "4.1");
  assert_string_equal(cmdline_get(&cl, "ip"), "192.0.2.2/24");
  assert_string_equal(cmdline_get(&cl, "exit-after"), "link");
  assert_string_equal(cmdline_get(&cl, "flag"), "");
  assert_string_equal(cmdline_get(&cl, "/boot/kernel.elf"), "");
  assert_string_equal(cmdline_get(&cl, "log"), "debug");
  assert_null(cmdline_get(&cl, "missing"));
  assert_null(cmdline_get(&cl, "vmbus"));
}

static void test_last_wins_and_equals_in_value(void **state) {
  (void)state;
  cmdline_parse(&cl, "log=info log=trace a==b =x");
  assert_string_equal(cmdline_get(&cl, "log"), "trace");
  assert_string_equal(cmdline_get(&cl, "a"), "=b");
  assert_string_equal(cmdline_get(&cl, ""), "x");
}

static void test_source_not_referenced(void **state) {
  (void)state;
  char line[] = "log=info";
  cmdline_parse(&cl, line);
  memset(line, 'Z', sizeof(line) - 1);
  assert_string_equal(cmdline_get(&cl, "log"), "info");
}

static void test_too_long_and_too_many(void **state) {
  (void)state;
  char big[CMDLINE_MAX_LEN + 64];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  memcpy(big, "k=v ", 4);
  assert_int_equal(cmdline_parse(&cl, big), -E2BIG);
  assert_string_equal(cmdline_get(&cl, "k"), "v");
  char many[CMDLINE_MAX_ARGS * 4 + 16] = "";
  for (int i = 0; i < CMDLINE_MAX_ARGS + 3; i++)
    strcat(many, "x=1 ");
  assert_int_equal(cmdline_parse(&cl, many), -E2BIG);
  assert_int_equal(cl.cl_nargs, CMDLINE_MAX_ARGS);
  assert_int_equal(cl.cl_dropped, 3);
}

static void test_u64(void **state) {
  (void)state;
  uint64_t v;
  cmdline_parse(&cl, "a=42 b=18446744073709551615 c=18446744073709551616 d=4x e=");
  assert_int_equal(cmdline_get_u64(&cl, "a", 7, &v), 0);
  assert_int_equal(v, 42);
  assert_int_equal(cmdline_get_u64(&cl, "b", 7, &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(cmdline_get_u64(&cl, "c", 7, &v), -EINVAL);
  assert_int_equal(cmdline_get_u64(&cl, "d", 7, &v), -EINVAL);
  assert_int_equal(cmdline_get_u64(&cl, "e", 7, &v), -EINVAL);
  assert_int_equal(cmdline_get_u64(&cl, "zz", 7, &v), 0);
  assert_int_equal(v, 7);
}

static void test_ipv4_prefix(void **state) {
  (void)state;
  uint8_t a[4], p;
  assert_int_equal(cmdline_parse_ipv4_prefix("192.0.2.2/24", a, &p), 0);
  assert_memory_equal(a, ((uint8_t[]){192, 0, 2, 2}), 4);
  assert_int_equal(p, 24);
  assert_int_equal(cmdline_parse_ipv4_prefix("0.0.0.0/0", a, &p), 0);
  const char *bad[] = {"192.0.2.2", "192.0.2/24", "256.0.0.1/8", "1.2.3.4/33",
                       "1.2.3.4/",  "1.2.3.4/8x", "1..3.4/8",    ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(cmdline_parse_ipv4_prefix(bad[i], a, &p), -EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_empty_and_null),
    cmocka_unit_test(test_keys_values),
    cmocka_unit_test(test_last_wins_and_equals_in_value),
    cmocka_unit_test(test_source_not_referenced),
    cmocka_unit_test(test_too_long_and_too_many),
    cmocka_unit_test(test_u64),
    cmocka_unit_test(test_ipv4_prefix),
};
UNIT_MAIN("kernel_cmdline", tests)
