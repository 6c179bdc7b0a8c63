/* tests/fuzz/fuzz_acpi.c: hostile firmware tables into the guest's ACPI
 * parser (arch/x86_64/acpi.c): whatever memory holds, acpi_parse() must end
 * with a defined result, read only through its reader, and never past what
 * the reader serves; the \_S5 scan must stay inside its buffer.
 *
 * Input: a 14-byte header, then memory contents:
 *   u32 hi_base   guest physical address of the "high" bytes (tables at the
 *                 top of RAM, as SeaBIOS puts them)
 *   u32 lo_off    where the "low" bytes start inside the BIOS area
 *                 (0xE0000 + lo_off, the RSDP scan range)
 *   u32 lo_len    how many of the following bytes are low; the rest are high
 *   u16 ebda_seg  the BDA word at 0x40E (EBDA segment)
 * Every other address is unreadable (the reader returns -1). The whole
 * input is also scanned by acpi_find_s5() as raw AML. Seeds
 * (tests/fuzz/corpus/fuzz_acpi): hvhost's tables, QEMU pc's tables from a
 * real boot and corrupted copies, written by the arch_acpi unit test
 * (ACPI_FUZZ_SEEDS=DIR, tools/fuzz-seeds.sh). */
#include <stdint.h>
#include <string.h>

#include "arch/x86_64/acpi.h"

struct fz_mem {
  const uint8_t *lo, *hi;
  uint64_t lo_pa, hi_pa;
  size_t lo_len, hi_len;
  uint16_t ebda_seg;
};

/* Serve [pa, pa+len) when it lies wholly in one window. */
static int fz_window(const uint8_t *w, uint64_t base, size_t wlen, uint64_t pa, void *buf,
                     size_t len) {
  if (pa < base || pa - base > wlen || len > wlen - (pa - base))
    return -1;
  memcpy(buf, w + (pa - base), len);
  return 0;
}

static int fz_read(void *ctx, uint64_t pa, void *buf, size_t len) {
  const struct fz_mem *m = ctx;
  if (pa == ACPI_BDA_EBDA_SEG && len == 2) {
    memcpy(buf, &m->ebda_seg, 2);
    return 0;
  }
  if (fz_window(m->lo, m->lo_pa, m->lo_len, pa, buf, len) == 0)
    return 0;
  return fz_window(m->hi, m->hi_pa, m->hi_len, pa, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t a, b;
  acpi_find_s5(data, size, &a, &b);
  if (size < 14)
    return 0;
  uint32_t hi_base, lo_off, lo_len;
  struct fz_mem m;
  memcpy(&hi_base, data, 4);
  memcpy(&lo_off, data + 4, 4);
  memcpy(&lo_len, data + 8, 4);
  memcpy(&m.ebda_seg, data + 12, 2);
  data += 14;
  size -= 14;
  lo_off %= ACPI_BIOS_AREA_END - ACPI_BIOS_AREA_START;
  if (lo_len > size)
    lo_len = (uint32_t)size;
  if (lo_len > ACPI_BIOS_AREA_END - ACPI_BIOS_AREA_START - lo_off)
    lo_len = ACPI_BIOS_AREA_END - ACPI_BIOS_AREA_START - lo_off;
  m.lo = data;
  m.lo_pa = ACPI_BIOS_AREA_START + lo_off;
  m.lo_len = lo_len;
  m.hi = data + lo_len;
  m.hi_pa = hi_base;
  m.hi_len = size - lo_len;
  struct acpi_info ai;
  int rc = acpi_parse(fz_read, &m, &ai);
  /* What a success promises the power-off code. */
  if (rc == ACPI_OK && (!ai.s5_found || !ai.pm1a_cnt || ai.slp_typa > 7 || ai.slp_typb > 7))
    __builtin_trap();
  if (rc < ACPI_OK || rc > ACPI_E_NO_S5)
    __builtin_trap();
  return 0;
}
