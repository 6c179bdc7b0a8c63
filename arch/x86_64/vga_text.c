/* arch/x86_64/vga_text.c: the 80x25 text screen's writing and scrolling. */
#include "arch/x86_64/vga_text.h"

static volatile uint16_t *vt_cell(struct vga_text *vt, unsigned row, unsigned col) {
  return vt->vt_cells + row * VGA_TEXT_COLS + col;
}

static void vt_clear_row(struct vga_text *vt, unsigned row) {
  for (unsigned c = 0; c < VGA_TEXT_COLS; c++)
    *vt_cell(vt, row, c) = (uint16_t)(VGA_TEXT_ATTR << 8 | ' ');
}

static void vt_newline(struct vga_text *vt) {
  vt->vt_col = 0;
  if (vt->vt_row + 1 < VGA_TEXT_ROWS) {
    vt->vt_row++;
    return;
  }
  for (unsigned r = 1; r < VGA_TEXT_ROWS; r++)
    for (unsigned c = 0; c < VGA_TEXT_COLS; c++)
      *vt_cell(vt, r - 1, c) = *vt_cell(vt, r, c);
  vt_clear_row(vt, VGA_TEXT_ROWS - 1);
}

static void vt_put(struct vga_text *vt, uint8_t b) {
  if (b < 0x20 || b > 0x7e)
    b = '?';
  if (vt->vt_col >= VGA_TEXT_COLS)
    vt_newline(vt);
  *vt_cell(vt, vt->vt_row, vt->vt_col++) = (uint16_t)(VGA_TEXT_ATTR << 8 | b);
}

void vga_text_init(struct vga_text *vt, volatile uint16_t *cells) {
  vt->vt_cells = cells;
  for (unsigned r = 0; r < VGA_TEXT_ROWS; r++)
    vt_clear_row(vt, r);
  vt->vt_row = vt->vt_col = 0;
}

void vga_text_write(struct vga_text *vt, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '\n') {
      vt_newline(vt);
    } else if (ch == '\r') {
      vt->vt_col = 0;
    } else if (ch == '\t') {
      do
        vt_put(vt, ' ');
      while (vt->vt_col % 8 && vt->vt_col < VGA_TEXT_COLS);
    } else {
      vt_put(vt, (uint8_t)ch);
    }
  }
}

unsigned vga_text_cursor(const struct vga_text *vt) {
  unsigned col = vt->vt_col < VGA_TEXT_COLS ? vt->vt_col : VGA_TEXT_COLS - 1;
  return vt->vt_row * VGA_TEXT_COLS + col;
}
