/* tests/unit/arch_trap_dump_test.c: the exception-dump formatter, compared
 * with the exact text a person reads on the serial console. */
#include <string.h>

#include "arch/x86_64/trap.h"
#include "tests/unit/unit.h"

static struct trap_frame sample(void) {
  struct trap_frame f;
  memset(&f, 0, sizeof(f));
  f.rax = 0x1111111111111111ull;
  f.rbx = 0x2222222222222222ull;
  f.rcx = 3, f.rdx = 4, f.rsi = 5, f.rdi = 6, f.rbp = 0x7ff0;
  f.r8 = 8, f.r9 = 9, f.r10 = 10, f.r11 = 11, f.r12 = 12, f.r13 = 13, f.r14 = 14;
  f.r15 = 0xffffffffffffffffull;
  f.vector = 14;
  f.error_code = 0x2;
  f.rip = 0x101234;
  f.cs = 0x8;
  f.rflags = 0x10046;
  f.rsp = 0x1ffff0;
  f.ss = 0x10;
  return f;
}

static void test_page_fault_dump_exact(void **state) {
  (void)state;
  struct trap_frame f = sample();
  char buf[1024];
  size_t n = trap_dump_format(buf, sizeof(buf), &f, 0x100000000000ull);
  const char *want =
      "EXCEPTION #PF vector=14 error=0x2\n"
      "  RIP=0000000000101234 CS=0008 RFLAGS=0000000000010046\n"
      "  RSP=00000000001ffff0 SS=0010 CR2=0000100000000000\n"
      "  RAX=1111111111111111 RBX=2222222222222222 RCX=0000000000000003 RDX=0000000000000004\n"
      "  RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000007ff0\n"
      "  R8 =0000000000000008 R9 =0000000000000009 R10=000000000000000a R11=000000000000000b\n"
      "  R12=000000000000000c R13=000000000000000d R14=000000000000000e R15=ffffffffffffffff\n";
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
}

static void test_vector_names(void **state) {
  (void)state;
  assert_string_equal(trap_vector_name(0), "#DE");
  assert_string_equal(trap_vector_name(6), "#UD");
  assert_string_equal(trap_vector_name(8), "#DF");
  assert_string_equal(trap_vector_name(13), "#GP");
  assert_string_equal(trap_vector_name(14), "#PF");
  assert_string_equal(trap_vector_name(31), "#31");
  assert_string_equal(trap_vector_name(32), "IRQ");
  assert_string_equal(trap_vector_name(1000), "???");
}

static void test_zero_error_code_and_small_buffer(void **state) {
  (void)state;
  struct trap_frame f = sample();
  f.vector = 6;
  f.error_code = 0;
  char buf[24];
  size_t n = trap_dump_format(buf, sizeof(buf), &f, 0);
  assert_true(n > sizeof(buf));                   /* reports the length it needed */
  assert_int_equal(strlen(buf), sizeof(buf) - 1); /* truncated, terminated */
  assert_memory_equal(buf, "EXCEPTION #UD vector=6 e", 23);
  char big[1024];
  trap_dump_format(big, sizeof(big), &f, 0);
  assert_non_null(strstr(big, "error=0\n"));
}

static void test_frame_layout_matches_entry_push_order(void **state) {
  (void)state;
  /* entry.S pushes rax first and r15 last; the CPU frame follows vector and
   * error code. Offsets as a person derives them from the assembly. */
  assert_int_equal(offsetof(struct trap_frame, r15), 0);
  assert_int_equal(offsetof(struct trap_frame, rbp), 64);
  assert_int_equal(offsetof(struct trap_frame, rax), 112);
  assert_int_equal(offsetof(struct trap_frame, error_code), 128);
  assert_int_equal(offsetof(struct trap_frame, rip), 136);
  assert_int_equal(offsetof(struct trap_frame, ss), 168);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_page_fault_dump_exact),
    cmocka_unit_test(test_vector_names),
    cmocka_unit_test(test_zero_error_code_and_small_buffer),
    cmocka_unit_test(test_frame_layout_matches_entry_push_order),
};
UNIT_MAIN("arch_trap_dump", tests)
