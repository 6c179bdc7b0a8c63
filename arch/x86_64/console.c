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
#include "arch/x86_64/vga_text.h"

#define VGA_TEXT_ADDR 0xB8000u
#define VGA_CRTC_INDEX 0x3D4
#define VGA_CRTC_DATA 0x3D5
#define BDA_CRTC_PORT 0x463 /* word: 0x3D4 colour, 0x3B4 mono */

static bool con_serial = true, con_vga;
static struct vga_text con_screen;

static void vga_cursor(void) {
  unsigned pos = vga_text_cursor(&con_screen);
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
  if (con_vga)
    vga_text_init(&con_screen, (volatile uint16_t *)(uintptr_t)VGA_TEXT_ADDR);
  return rc;
}

bool console_has_vga(void) { return con_vga; }
bool console_has_serial(void) { return con_serial; }

void console_write(const char *s, size_t n) {
  if (con_serial)
    serial_write(s, n);
  if (con_vga) {
    vga_text_write(&con_screen, s, n);
    vga_cursor();
  }
}
