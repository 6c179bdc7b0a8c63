/* arch/x86_64/power.c: ACPI power-off and reset for the kernel.
 *
 * power_init() runs the parser (arch/x86_64/acpi.c) once at boot over the
 * identity-mapped memory, through a reader that refuses any range outside
 * the first MiB and the loader's memory map (a hostile pointer never
 * reaches unbacked memory, where hvhost would stop the VM). power_off() and
 * power_reset() are what hw_exit() and hw_reset() do after the status byte:
 * SLP_TYPa|SLP_EN to PM1a_CNT (and SLP_TYPb to PM1b_CNT), or the FADT's
 * RESET_REG, else 0xCF9, else the keyboard controller; then halt for good. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/multiboot.h"

#define LOW_MEMORY_END 0x100000ull
#define IDENTITY_MAP_END (4ull << 30)
/* Bounded waits: a controller that never answers must not hang the end. */
#define KBC_MAX_POLLS 100000u
#define RESET_SETTLE_POLLS 100000u

static struct acpi_info power_acpi;
static int power_rc = -1; /* -1: not parsed */
static const struct mb_info *power_mbi;

/* Is [pa, pa+len) inside one entry of the loader's memory map (any type)? */
static bool power_in_map(uint64_t pa, uint64_t len) {
  const struct mb_info *mbi = power_mbi;
  if (!mbi || !(mbi->flags & MB_INFO_MEM_MAP))
    return false;
  uint32_t mlen = mbi->mmap_length, off = 0;
  for (unsigned n = 0; n < 128 && off < mlen; n++) {
    if (mlen - off < sizeof(struct mb_mmap_entry))
      break;
    const struct mb_mmap_entry *e = (const void *)(uintptr_t)(mbi->mmap_addr + off);
    uint32_t size = e->size;
    if (size < 20 || size > mlen - off - 4)
      break;
    off += size + 4;
    uint64_t a = e->addr, l = e->len;
    if (l && pa >= a && pa - a <= l && len <= l - (pa - a))
      return true;
  }
  return false;
}

static int power_read(void *ctx, uint64_t pa, void *buf, size_t len) {
  (void)ctx;
  if (len == 0 || pa >= IDENTITY_MAP_END || len > IDENTITY_MAP_END - pa)
    return -1;
  bool low = pa + len <= LOW_MEMORY_END;
  if (!low && !power_in_map(pa, len))
    return -1;
  memcpy(buf, (const void *)(uintptr_t)pa, len);
  return 0;
}

int power_init(const struct mb_info *mbi) {
  power_mbi = mbi;
  power_rc = acpi_parse(power_read, NULL, &power_acpi);
  return power_rc;
}

const struct acpi_info *power_acpi_info(void) { return power_rc < 0 ? NULL : &power_acpi; }

void power_log(void) {
  const struct acpi_info *a = &power_acpi;
  if (power_rc < 0)
    return;
  if (a->rsdp_pa)
    printf("acpi: RSDP at %#lx rev %u OEM %s, %s at %#lx\n", (unsigned long)a->rsdp_pa,
           a->rsdp_revision, a->oem_id, a->root_is_xsdt ? "XSDT" : "RSDT",
           (unsigned long)a->root_pa);
  if (a->fadt_pa && a->reset_ok)
    printf("acpi: FADT rev %u: PM1a_CNT %#x PM1b_CNT %#x, RESET_REG %s %#lx value %#x\n",
           a->fadt_revision, a->pm1a_cnt, a->pm1b_cnt,
           a->reset_reg.space_id == ACPI_GAS_IO ? "io" : "mem", (unsigned long)a->reset_reg.address,
           a->reset_value);
  else if (a->fadt_pa)
    printf("acpi: FADT rev %u: PM1a_CNT %#x PM1b_CNT %#x, no RESET_REG (reset: 0xcf9, then the "
           "keyboard controller)\n",
           a->fadt_revision, a->pm1a_cnt, a->pm1b_cnt);
  if (a->s5_found)
    printf("acpi: \\_S5 SLP_TYPa %u SLP_TYPb %u (DSDT %u bytes): power-off ready\n", a->slp_typa,
           a->slp_typb, a->dsdt_len);
  if (power_rc != ACPI_OK)
    printf("acpi: %s: no ACPI power-off; the kernel halts at the end\n", acpi_strerror(power_rc));
}

static void power_note(const char *s) { console_write(s, strlen(s)); }

static _Noreturn void power_halt(void) {
  for (;;)
    __asm__ volatile("cli; hlt");
}

/* PM1x_CNT: the sleep type first, then SLP_EN (ACPI 6.4, 16.1.7). */
static void power_pm1(uint16_t port, uint8_t typ) {
  uint16_t v = inw(port) & (uint16_t) ~(ACPI_PM1_SLP_TYP_MASK | ACPI_PM1_SLP_EN);
  v |= (uint16_t)((unsigned)typ << ACPI_PM1_SLP_TYP_SHIFT);
  outw(port, v);
  outw(port, v | ACPI_PM1_SLP_EN);
}

void power_off(void) {
  const struct acpi_info *a = &power_acpi;
  if (power_rc == ACPI_OK && a->s5_found && a->pm1a_cnt) {
    power_note("acpi: powering off (S5)\n");
    cpu_cli();
    power_pm1(a->pm1a_cnt, a->slp_typa);
    if (a->pm1b_cnt)
      power_pm1(a->pm1b_cnt, a->slp_typb);
  }
  power_halt();
}

void power_reset(void) {
  const struct acpi_info *a = &power_acpi;
  power_note("acpi: resetting\n");
  cpu_cli();
  if (power_rc >= 0 && a->reset_ok) {
    if (a->reset_reg.space_id == ACPI_GAS_IO)
      outb((uint16_t)a->reset_reg.address, a->reset_value);
    else if (a->reset_reg.address < IDENTITY_MAP_END)
      *(volatile uint8_t *)(uintptr_t)a->reset_reg.address = a->reset_value;
    for (unsigned i = 0; i < RESET_SETTLE_POLLS; i++)
      cpu_pause();
  }
  /* The PCI reset control register: SYS_RST, then SYS_RST | RST_CPU. */
  outb(ACPI_PORT_CF9, 0x02);
  outb(ACPI_PORT_CF9, ACPI_CF9_RESET_VALUE);
  for (unsigned i = 0; i < RESET_SETTLE_POLLS; i++)
    cpu_pause();
  /* The keyboard controller's pulse of the reset line, once its input
   * buffer is empty (status bit 1). */
  for (unsigned i = 0; i < KBC_MAX_POLLS && (inb(ACPI_PORT_KBC_CMD) & 0x02); i++)
    cpu_pause();
  outb(ACPI_PORT_KBC_CMD, ACPI_KBC_CMD_RESET);
  power_halt();
}
