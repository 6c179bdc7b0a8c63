/* arch/x86_64/console.c: the kernel console: COM1 and the VGA text screen.
 *
 * console=serial|vga|both on the command line (default both). The VGA text
 * buffer (80x25 at 0xB8000, what VMConnect and QEMU's window show) is used
 * only when the platform has one: the FADT does not say "VGA Not Present"
 * and the BIOS data area names the colour CRTC (0x3D4) a VGA BIOS set up.
 * hvhost has no VGA and says so in its FADT, so there nothing is written.
 * The screen scrolls by one line when the cursor passes the last row; the
 * hardware cursor follows the text once per write (two port pairs). */
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"

#define VGA_TEXT_ADDR 0xB8000u
#define VGA_COLS 80
#define VGA_ROWS 25
#define VGA_ATTR 0x07 /* light grey on black */
#define VGA_CRTC_INDEX 0x3D4
#define VGA_CRTC_DATA 0x3D5
#define BDA_CRTC_PORT 0x463 /* word: 0x3D4 colour, 0x3B4 mono */

static bool con_serial = true, con_vga;
static unsigned vga_row, vga_col;

static volatile uint16_t *vga_cell(unsigned row, unsigned col) {
  return (volatile uint16_t *)(uintptr_t)VGA_TEXT_ADDR + row * VGA_COLS + col;
}

static void vga_clear_row(unsigned row) {
  for (unsigned c = 0; c < VGA_COLS; c++)
    *vga_cell(row, c) = (uint16_t)(VGA_ATTR << 8 | ' ');
}

static void vga_scroll(void) {
  for (unsigned r = 1; r < VGA_ROWS; r++)
    for (unsigned c = 0; c < VGA_COLS; c++)
      *vga_cell(r - 1, c) = *vga_cell(r, c);
  vga_clear_row(VGA_ROWS - 1);
  vga_row = VGA_ROWS - 1;
}

static void vga_newline(void) {
  vga_col = 0;
  if (++vga_row >= VGA_ROWS)
    vga_scroll();
}

static void vga_put(char ch) {
  if (ch == '\n') {
    vga_newline();
  } else if (ch == '\r') {
    vga_col = 0;
  } else if (ch == '\t') {
    do
      vga_put(' ');
    while (vga_col % 8);
  } else {
    uint8_t b = (uint8_t)ch;
    if (b < 0x20 || b > 0x7e)
      b = '?';
    if (vga_col >= VGA_COLS)
      vga_newline();
    *vga_cell(vga_row, vga_col++) = (uint16_t)(VGA_ATTR << 8 | b);
  }
}

static void vga_cursor(void) {
  unsigned pos = vga_row * VGA_COLS + (vga_col < VGA_COLS ? vga_col : VGA_COLS - 1);
  outb(VGA_CRTC_INDEX, 0x0F);
  outb(VGA_CRTC_DATA, (uint8_t)pos);
  outb(VGA_CRTC_INDEX, 0x0E);
  outb(VGA_CRTC_DATA, (uint8_t)(pos >> 8));
}

int console_init(const char *which, bool vga_absent) {
  int rc = 0;
  bool want_vga = true;
  if (which && strcmp(which, "serial") == 0) {
    want_vga = false;
  } else if (which && strcmp(which, "vga") == 0) {
    con_serial = false;
  } else if (which && strcmp(which, "both") != 0) {
    rc = -1; /* unknown: keep the default, the caller warns */
  }
  /* The BDA is at a constant low address GCC would flag: launder it. */
  uintptr_t bda = BDA_CRTC_PORT;
  __asm__("" : "+r"(bda));
  uint16_t crtc = *(volatile const uint16_t *)bda;
  con_vga = want_vga && !vga_absent && crtc == VGA_CRTC_INDEX;
  if (!con_vga)
    con_serial = true; /* never leave the kernel without a console */
  if (con_vga) {
    for (unsigned r = 0; r < VGA_ROWS; r++)
      vga_clear_row(r);
    vga_row = vga_col = 0;
  }
  return rc;
}

bool console_has_vga(void) { return con_vga; }
bool console_has_serial(void) { return con_serial; }

void console_write(const char *s, size_t n) {
  if (con_serial)
    serial_write(s, n);
  if (con_vga) {
    for (size_t i = 0; i < n; i++)
      vga_put(s[i]);
    vga_cursor();
  }
}
