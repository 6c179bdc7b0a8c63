/* tests/unit/arch_vga_text_test.c: the 80x25 text screen (arch/x86_64/
 * vga_text.c) over a buffer: what a person sees in VMConnect after the
 * kernel's log went by, cell by cell. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/vga_text.h"
#include "tests/unit/unit.h"

static uint16_t screen[VGA_TEXT_ROWS * VGA_TEXT_COLS];

/* Row r as text, trailing blanks dropped; checks every attribute. */
static const char *row(unsigned r) {
  static char line[VGA_TEXT_COLS + 1];
  for (unsigned c = 0; c < VGA_TEXT_COLS; c++) {
    uint16_t cell = screen[r * VGA_TEXT_COLS + c];
    assert_int_equal(cell >> 8, VGA_TEXT_ATTR);
    line[c] = (char)(cell & 0xff);
  }
  int n = VGA_TEXT_COLS;
  while (n > 0 && line[n - 1] == ' ')
    n--;
  line[n] = '\0';
  return line;
}

static void put(struct vga_text *vt, const char *s) { vga_text_write(vt, s, strlen(s)); }

static void test_lines_and_control_chars(void **state) {
  (void)state;
  struct vga_text vt;
  memset(screen, 0xAB, sizeof(screen));
  vga_text_init(&vt, screen);
  for (unsigned r = 0; r < VGA_TEXT_ROWS; r++)
    assert_string_equal(row(r), ""); /* cleared, attribute set */
  put(&vt, "hvkernel 0.1.0\nxy\rA\tB\n\x01\x7f\xff"
           "!\n");
  assert_string_equal(row(0), "hvkernel 0.1.0");
  assert_string_equal(row(1), "A       B"); /* the tab writes blanks over the y */
  assert_string_equal(row(2), "???"
                              "!");
  assert_int_equal(vga_text_cursor(&vt), 3 * VGA_TEXT_COLS);
}

static void test_wrap_and_scroll(void **state) {
  (void)state;
  struct vga_text vt;
  vga_text_init(&vt, screen);
  /* A 100-character line wraps at column 80. */
  char longl[101];
  memset(longl, 'x', 100);
  longl[100] = '\0';
  put(&vt, longl);
  put(&vt, "\n");
  assert_int_equal(strlen(row(0)), 80);
  assert_int_equal(strlen(row(1)), 20);
  /* 40 more lines: the screen keeps the last 24 and the cursor line. */
  for (int i = 0; i < 40; i++) {
    char l[32];
    snprintf(l, sizeof(l), "line %d\n", i);
    put(&vt, l);
  }
  assert_string_equal(row(0), "line 16");
  assert_string_equal(row(23), "line 39");
  assert_string_equal(row(24), "");
  assert_int_equal(vga_text_cursor(&vt), 24 * VGA_TEXT_COLS);
  /* Exactly 80 characters then '\n': one line, not an empty one after it. */
  char full[81];
  memset(full, 'y', 80);
  full[80] = '\0';
  put(&vt, full);
  assert_int_equal(vga_text_cursor(&vt), 24 * VGA_TEXT_COLS + 79); /* clamped */
  put(&vt, "\nend");
  assert_string_equal(row(23), full);
  assert_string_equal(row(24), "end");
  /* A tab at column 78 stops at the edge. */
  vga_text_init(&vt, screen);
  memset(full, 'z', 78);
  full[78] = '\0';
  put(&vt, full);
  put(&vt, "\t!");
  assert_string_equal(row(1), "!");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lines_and_control_chars),
    cmocka_unit_test(test_wrap_and_scroll),
};

UNIT_MAIN("arch_vga_text", tests)
