/* arch/x86_64/vga_text.h: an 80x25 VGA text screen over any cell array
 * (pure, host-tested like trap_dump.c). The kernel points it at 0xB8000
 * (arch/x86_64/console.c); tests point it at a buffer. Each cell is a
 * character in bits 7:0 and an attribute in bits 15:8. */
#ifndef ARCH_X86_64_VGA_TEXT_H
#define ARCH_X86_64_VGA_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define VGA_TEXT_COLS 80
#define VGA_TEXT_ROWS 25
#define VGA_TEXT_ATTR 0x07 /* light grey on black */

struct vga_text {
  volatile uint16_t *vt_cells; /* VGA_TEXT_COLS * VGA_TEXT_ROWS */
  unsigned vt_row, vt_col;     /* the cursor */
};

/** Take over the screen at `cells`: clear it, cursor at the top left. */
void vga_text_init(struct vga_text *vt, volatile uint16_t *cells);
/** Write n bytes: '\n' starts a line, '\r' returns to column 0, '\t' moves
 * to the next multiple of 8, other bytes outside 0x20-0x7e show as '?'. A
 * line longer than 80 columns wraps; past the last row the screen scrolls
 * up one line (the top line is lost, the bottom one cleared). */
void vga_text_write(struct vga_text *vt, const char *s, size_t n);
/** The cursor as a cell index (for the CRTC's cursor location register). */
unsigned vga_text_cursor(const struct vga_text *vt);

#endif
