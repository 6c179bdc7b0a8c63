/* tests/unit/kernel_page_test.c: the page allocator over the in-process arena. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "host/inproc_hw.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kernel/panic.h"
#include "tests/unit/unit.h"

/* panic() prints "PANIC: msg" and ends in hw_exit(2): catch the exit, and
 * read the message from stdout, redirected to a file meanwhile. */
static jmp_buf panic_jmp;
static int panic_status;
static void catch_exit(int status) {
  panic_status = status;
  longjmp(panic_jmp, 1);
}

static int setup(void **state) {
  (void)state;
  return inproc_mem_setup(1u << 20) == 0 ? 0 : -1; /* 256 pages */
}
static int teardown(void **state) {
  (void)state;
  inproc_mem_teardown();
  return 0;
}

static void test_counts_after_setup(void **state) {
  (void)state;
  assert_int_equal(page_free_count(), 256);
  assert_int_equal(page_total_count(), 256);
}

static void test_alloc_free_roundtrip(void **state) {
  (void)state;
  void *a = page_alloc(1), *b = page_alloc(3);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(page_free_count(), 252);
  /* Pages are page-aligned guest-physical pages of the arena, distinct. */
  assert_int_equal(hw_virt_to_phys(a) % PAGE_SIZE, 0);
  assert_int_equal(hw_virt_to_phys(b) % PAGE_SIZE, 0);
  assert_true((char *)b >= (char *)a + PAGE_SIZE || (char *)a >= (char *)b + 3 * PAGE_SIZE);
  memset(b, 0xa5, 3 * PAGE_SIZE); /* the whole run is usable (ASan checks) */
  page_free(a, 1);
  page_free(b, 3);
  assert_int_equal(page_free_count(), 256);
}

static void test_contiguous_run_and_exhaustion(void **state) {
  (void)state;
  void *all = page_alloc(256);
  assert_non_null(all);
  assert_int_equal(page_free_count(), 0);
  assert_null(page_alloc(1));
  page_free(all, 256);
  /* Fragment: every other page taken, then a 2-page run cannot be found. */
  void *p[256];
  for (int i = 0; i < 256; i++)
    p[i] = page_alloc(1);
  for (int i = 0; i < 256; i += 2)
    page_free(p[i], 1);
  assert_int_equal(page_free_count(), 128);
  assert_null(page_alloc(2));
  assert_non_null(p[0]);
  for (int i = 1; i < 256; i += 2)
    page_free(p[i], 1);
  assert_int_equal(page_free_count(), 256);
  assert_non_null(page_alloc(256));
}

static void test_zero_and_oversized(void **state) {
  (void)state;
  assert_null(page_alloc(0));
  assert_null(page_alloc(257));
  assert_int_equal(page_free_count(), 256);
}

static void test_reserve_and_add(void **state) {
  (void)state;
  page_reset();
  assert_int_equal(page_free_count(), 0);
  /* Partial pages at the ends are not usable. */
  assert_int_equal(page_add_free(INPROC_GPA_BASE + 100, 3 * PAGE_SIZE), 2);
  page_reset();
  assert_int_equal(page_add_free(INPROC_GPA_BASE, 16 * PAGE_SIZE), 16);
  /* Reserving rounds outwards: bytes 1..PAGE_SIZE+1 touch two pages. */
  assert_int_equal(page_reserve(INPROC_GPA_BASE + 1, PAGE_SIZE), 2);
  assert_int_equal(page_free_count(), 14);
  assert_int_equal(page_total_count(), 14);
  /* Reserving again changes nothing. */
  assert_int_equal(page_reserve(INPROC_GPA_BASE, 2 * PAGE_SIZE), 0);
  /* Beyond the managed range is ignored, without overflow. */
  assert_int_equal(page_add_free(PAGE_MAX_PHYS, PAGE_SIZE), 0);
  assert_int_equal(page_add_free(UINT64_MAX - 10, 100), 0);
  assert_int_equal(page_reserve(UINT64_MAX - 10, 100), 0);
}

static void test_double_free_panics(void **state) {
  (void)state;
  void *a = page_alloc(1);
  page_free(a, 1);
  fflush(stdout);
  FILE *out = tmpfile();
  assert_non_null(out);
  int saved = dup(1);
  dup2(fileno(out), 1);
  inproc_set_exit(catch_exit);
  bool panicked = false;
  if (setjmp(panic_jmp) == 0)
    page_free(a, 1);
  else
    panicked = true;
  inproc_set_exit(NULL);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  char msg[256] = "";
  rewind(out);
  size_t n = fread(msg, 1, sizeof(msg) - 1, out);
  msg[n] = '\0';
  fclose(out);
  assert_true(panicked);
  assert_int_equal(panic_status, EXIT_STATUS_PANIC);
  assert_non_null(strstr(msg, "PANIC: "));
  assert_non_null(strstr(msg, "double free"));
  assert_int_equal(page_free_count(), 256);
}

static void test_many_cycles_no_leak(void **state) {
  (void)state;
  void *held[16] = {0};
  size_t sizes[16] = {0};
  unsigned seed = 12345;
  for (int i = 0; i < 20000; i++) {
    seed = seed * 1103515245u + 12345u;
    int slot = (int)((seed >> 8) % 16);
    if (held[slot]) {
      page_free(held[slot], sizes[slot]);
      held[slot] = NULL;
    } else {
      sizes[slot] = 1 + (seed >> 20) % 8;
      held[slot] = page_alloc(sizes[slot]);
    }
  }
  for (int s = 0; s < 16; s++)
    if (held[s])
      page_free(held[s], sizes[s]);
  assert_int_equal(page_free_count(), 256);
}

static const struct CMUnitTest tests[] = {
    UNIT_TEST_FIXTURE(test_counts_after_setup),
    UNIT_TEST_FIXTURE(test_alloc_free_roundtrip),
    UNIT_TEST_FIXTURE(test_contiguous_run_and_exhaustion),
    UNIT_TEST_FIXTURE(test_zero_and_oversized),
    UNIT_TEST_FIXTURE(test_reserve_and_add),
    UNIT_TEST_FIXTURE(test_double_free_panics),
    UNIT_TEST_FIXTURE(test_many_cycles_no_leak),
};
UNIT_MAIN("kernel_page", tests)
