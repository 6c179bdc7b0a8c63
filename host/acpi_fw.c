/* host/acpi_fw.c: hvhost's firmware ACPI tables and PM ports (acpi_fw.h). */
#include "host/acpi_fw.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/acpi_reg.h"

/* iasl -tc output of host/acpi_dsdt.asl (Makefile): acpi_dsdt_aml_code[]. */
#include "acpi_dsdt.hex"

#define AF_OEM_ID "HVHOST"
#define AF_OEM_TABLE_ID "HVHOSTGN"
#define AF_CREATOR_ID "HVHS"
#define AF_REVISION 1u

const uint8_t *acpifw_dsdt(size_t *len) {
  *len = sizeof(acpi_dsdt_aml_code);
  return acpi_dsdt_aml_code;
}

static void af_hdr(struct acpi_sdt_hdr *h, const char *sig, uint32_t len, uint8_t rev) {
  memset(h, 0, sizeof(*h));
  memcpy(h->sig, sig, 4);
  h->length = len;
  h->revision = rev;
  memcpy(h->oem_id, AF_OEM_ID, 6);
  memcpy(h->oem_table_id, AF_OEM_TABLE_ID, 8);
  h->oem_revision = AF_REVISION;
  memcpy(h->creator_id, AF_CREATOR_ID, 4);
  h->creator_revision = AF_REVISION;
}

static struct acpi_gas af_io(uint16_t port, uint8_t bits) {
  struct acpi_gas g = {.space_id = ACPI_GAS_IO, .bit_width = bits, .address = port};
  return g;
}

static uint64_t af_align(uint64_t a, uint64_t to) { return (a + to - 1) & ~(to - 1); }

/* The MADT: its header, the LAPIC, the IOAPIC and the SCI's override. */
#define AF_MADT_LEN                                                                                \
  (sizeof(struct acpi_madt) + sizeof(struct acpi_madt_lapic) + sizeof(struct acpi_madt_ioapic) +   \
   sizeof(struct acpi_madt_iso))

/* Where each table goes: from the RSDP at ACPIFW_AREA_START on, in the order
 * RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT, each 16-byte aligned (the FACS
 * ACPI_FACS_ALIGN). Returns false when they would not fit in the area. */
static bool af_layout(struct acpifw_layout *l, size_t dsdt_len) {
  memset(l, 0, sizeof(*l));
  l->al_rsdp = ACPIFW_AREA_START;
  l->al_rsdp_len = sizeof(struct acpi_rsdp);
  l->al_rsdt = af_align(l->al_rsdp + l->al_rsdp_len, 16);
  l->al_rsdt_len = sizeof(struct acpi_sdt_hdr) + 2 * 4;
  l->al_xsdt = af_align(l->al_rsdt + l->al_rsdt_len, 16);
  l->al_xsdt_len = sizeof(struct acpi_sdt_hdr) + 2 * 8;
  l->al_fadt = af_align(l->al_xsdt + l->al_xsdt_len, 16);
  l->al_fadt_len = sizeof(struct acpi_fadt);
  l->al_facs = af_align(l->al_fadt + l->al_fadt_len, ACPI_FACS_ALIGN);
  l->al_facs_len = sizeof(struct acpi_facs);
  l->al_madt = af_align(l->al_facs + l->al_facs_len, 16);
  l->al_madt_len = AF_MADT_LEN;
  l->al_dsdt = af_align(l->al_madt + l->al_madt_len, 16);
  l->al_dsdt_len = (uint32_t)dsdt_len;
  l->al_end = l->al_dsdt + l->al_dsdt_len;
  return l->al_end <= ACPIFW_AREA_END; /* cannot fail with a DSDT of our size; kept honest */
}

/* FACS: no header checksum; 64-byte aligned. */
static void af_put_facs(uint8_t *mem, const struct acpifw_layout *l) {
  struct acpi_facs *facs = (struct acpi_facs *)(mem + l->al_facs);
  memcpy(facs->sig, ACPI_SIG_FACS, 4);
  facs->length = sizeof(*facs);
  facs->version = 2;
}

/* MADT: the LAPIC of vCPU 0, KVM's IOAPIC, and the SCI as level/high. */
static void af_put_madt(uint8_t *mem, const struct acpifw_layout *l) {
  uint8_t *m = mem + l->al_madt;
  struct acpi_madt *madt = (struct acpi_madt *)m;
  af_hdr(&madt->hdr, ACPI_SIG_MADT, AF_MADT_LEN, 3);
  madt->lapic_addr = ACPIFW_LAPIC_ADDR;
  madt->flags = ACPI_MADT_PCAT_COMPAT;
  struct acpi_madt_lapic *la = (struct acpi_madt_lapic *)(m + sizeof(*madt));
  *la = (struct acpi_madt_lapic){.type = ACPI_MADT_LAPIC, .length = sizeof(*la), .flags = 1};
  struct acpi_madt_ioapic *io = (struct acpi_madt_ioapic *)(la + 1);
  *io = (struct acpi_madt_ioapic){.type = ACPI_MADT_IOAPIC,
                                  .length = sizeof(*io),
                                  .address = ACPIFW_IOAPIC_ADDR,
                                  .gsi_base = 0};
  struct acpi_madt_iso *iso = (struct acpi_madt_iso *)(io + 1);
  *iso = (struct acpi_madt_iso){.type = ACPI_MADT_ISO,
                                .length = sizeof(*iso),
                                .source = ACPIFW_SCI_IRQ,
                                .gsi = ACPIFW_SCI_IRQ,
                                .flags = 0x000D}; /* active high (01), level (11) */
  madt->hdr.checksum = acpi_checksum(m, AF_MADT_LEN);
}

/* FADT, revision 4 (ACPI 2.0 layout), as Gen1 writes it: the FACS and DSDT,
 * the PIIX4-style PM block and the 0xCF9 reset register. */
static void af_put_fadt(uint8_t *mem, const struct acpifw_layout *l) {
  struct acpi_fadt *f = (struct acpi_fadt *)(mem + l->al_fadt);
  af_hdr(&f->hdr, ACPI_SIG_FADT, sizeof(*f), 4);
  f->firmware_ctrl = (uint32_t)l->al_facs;
  f->dsdt = (uint32_t)l->al_dsdt;
  f->x_firmware_ctrl = 0; /* FIRMWARE_CTRL says it; both set would have to agree */
  f->x_dsdt = l->al_dsdt;
  f->sci_int = ACPIFW_SCI_IRQ;
  f->smi_cmd = 0; /* no SMI: the machine is always in ACPI mode (SCI_EN set) */
  f->pm1a_evt_blk = ACPI_PIIX4_PM1A_EVT;
  f->pm1a_cnt_blk = ACPI_PIIX4_PM1A_CNT;
  f->pm_tmr_blk = ACPI_PIIX4_PM_TMR;
  f->gpe0_blk = ACPI_PIIX4_GPE0;
  f->pm1_evt_len = 4;
  f->pm1_cnt_len = 2;
  f->pm_tmr_len = 4;
  f->gpe0_blk_len = 4;
  f->p_lvl2_lat = 101;  /* > 100: no C2 */
  f->p_lvl3_lat = 1001; /* > 1000: no C3 */
  f->iapc_boot_arch = ACPI_FADT_BOOT_LEGACY_DEVICES | ACPI_FADT_BOOT_NO_VGA;
  f->flags = ACPI_FADT_F_WBINVD | ACPI_FADT_F_PROC_C1 | ACPI_FADT_F_SLP_BUTTON |
             ACPI_FADT_F_TMR_VAL_EXT | ACPI_FADT_F_RESET_REG_SUP;
  f->reset_reg = af_io(ACPI_PORT_CF9, 8);
  f->reset_reg.access_size = 1;
  f->reset_value = ACPI_CF9_RESET_VALUE;
  f->x_pm1a_evt_blk = af_io(ACPI_PIIX4_PM1A_EVT, 32);
  f->x_pm1a_cnt_blk = af_io(ACPI_PIIX4_PM1A_CNT, 16);
  f->x_pm_tmr_blk = af_io(ACPI_PIIX4_PM_TMR, 32);
  f->x_gpe0_blk = af_io(ACPI_PIIX4_GPE0, 32);
  f->hdr.checksum = acpi_checksum(f, sizeof(*f));
}

/* RSDT and XSDT: the FADT and the MADT, as 32-bit and 64-bit addresses. */
static void af_put_roots(uint8_t *mem, const struct acpifw_layout *l) {
  struct acpi_sdt_hdr *rsdt = (struct acpi_sdt_hdr *)(mem + l->al_rsdt);
  af_hdr(rsdt, ACPI_SIG_RSDT, l->al_rsdt_len, 1);
  uint32_t r32[2] = {(uint32_t)l->al_fadt, (uint32_t)l->al_madt};
  memcpy(rsdt + 1, r32, sizeof(r32));
  rsdt->checksum = acpi_checksum(rsdt, l->al_rsdt_len);
  struct acpi_sdt_hdr *xsdt = (struct acpi_sdt_hdr *)(mem + l->al_xsdt);
  af_hdr(xsdt, ACPI_SIG_XSDT, l->al_xsdt_len, 1);
  uint64_t x64[2] = {l->al_fadt, l->al_madt};
  memcpy(xsdt + 1, x64, sizeof(x64));
  xsdt->checksum = acpi_checksum(xsdt, l->al_xsdt_len);
}

/* RSDP, revision 2 with both roots (the first 20 bytes checksummed alone). */
static void af_put_rsdp(uint8_t *mem, const struct acpifw_layout *l) {
  struct acpi_rsdp *rp = (struct acpi_rsdp *)(mem + l->al_rsdp);
  memcpy(rp->sig, ACPI_RSDP_SIG, 8);
  memcpy(rp->oem_id, AF_OEM_ID, 6);
  rp->revision = 2;
  rp->rsdt = (uint32_t)l->al_rsdt;
  rp->length = sizeof(*rp);
  rp->xsdt = l->al_xsdt;
  rp->checksum = acpi_checksum(rp, ACPI_RSDP_V1_LEN);
  rp->ext_checksum = acpi_checksum(rp, sizeof(*rp));
}

int acpifw_build(uint8_t *mem, uint64_t mem_bytes, struct acpifw_layout *out) {
  if (mem_bytes < ACPIFW_AREA_END)
    return -EINVAL;
  size_t dsdt_len;
  const uint8_t *dsdt = acpifw_dsdt(&dsdt_len);
  struct acpifw_layout l;
  if (!af_layout(&l, dsdt_len))
    return -EINVAL;
  memset(mem + ACPIFW_AREA_START, 0, l.al_end - ACPIFW_AREA_START);
  memcpy(mem + l.al_dsdt, dsdt, dsdt_len); /* iasl's output as is: it carries its checksum */
  af_put_facs(mem, &l);
  af_put_madt(mem, &l);
  af_put_fadt(mem, &l);
  af_put_roots(mem, &l);
  af_put_rsdp(mem, &l);
  if (out)
    *out = l;
  return 0;
}

/* ---- the PM ports ---------------------------------------------------------- */

void acpifw_pm_init(struct acpifw_pm *pm, uint64_t now_ns) {
  memset(pm, 0, sizeof(*pm));
  pm->pm_cnt = ACPI_PM1_SCI_EN;
  pm->pm_t0_ns = now_ns;
}

const char *acpifw_power_name(enum acpifw_power p) {
  return p == ACPIFW_POWER_OFF ? "off" : p == ACPIFW_POWER_RESET ? "reset" : "none";
}

/* One byte of the PM block: read it, or write it (pm_cnt_new collects
 * PM1_CNT so that a 16-bit write is judged as one). */
static uint8_t af_pm_read(const struct acpifw_pm *pm, unsigned o, uint64_t now_ns) {
  if (o < 2)
    return (uint8_t)(pm->pm_sts >> (8 * o));
  if (o < 4)
    return (uint8_t)(pm->pm_en >> (8 * (o - 2)));
  if (o < 6)
    return (uint8_t)(pm->pm_cnt >> (8 * (o - 4)));
  if (o >= 8 && o < 12) { /* PM_TMR: 32 bits (TMR_VAL_EXT) at 3.579545 MHz */
    uint64_t ns = now_ns - pm->pm_t0_ns;
    uint64_t ticks =
        (ns / 1000000000u) * ACPI_PM_TIMER_HZ + (ns % 1000000000u) * ACPI_PM_TIMER_HZ / 1000000000u;
    return (uint8_t)((uint32_t)ticks >> (8 * (o - 8)));
  }
  if (o >= 12 && o < 16)
    return (uint8_t)(pm->pm_gpe >> (8 * (o - 12)));
  return 0;
}

static void af_pm_write(struct acpifw_pm *pm, unsigned o, uint8_t b, uint16_t *cnt) {
  if (o < 2)
    pm->pm_sts &= (uint16_t) ~((uint16_t)b << (8 * o)); /* write 1 to clear */
  else if (o < 4)
    pm->pm_en = (uint16_t)((pm->pm_en & ~(0xffu << (8 * (o - 2)))) | (uint16_t)b << (8 * (o - 2)));
  else if (o < 6)
    *cnt = (uint16_t)((*cnt & ~(0xffu << (8 * (o - 4)))) | (uint16_t)b << (8 * (o - 4)));
  else if (o == 12 || o == 13)
    pm->pm_gpe &= ~((uint32_t)b << (8 * (o - 12))); /* GPE0_STS: write 1 to clear */
  else if (o == 14 || o == 15)
    pm->pm_gpe = (pm->pm_gpe & ~(0xffu << (8 * (o - 12)))) | (uint32_t)b << (8 * (o - 12));
}

bool acpifw_pm_io(struct acpifw_pm *pm, uint16_t port, bool write, unsigned size, uint32_t *val,
                  uint64_t now_ns) {
  if (port == ACPI_PORT_CF9 && size == 1) {
    /* PIIX4 reset control: RST_CPU (bit 2) set performs the reset. */
    if (write && (*val & 0x04))
      pm->pm_power = ACPIFW_POWER_RESET;
    if (!write)
      *val = 0;
    return true;
  }
  if (port == ACPI_PORT_KBC_CMD && size == 1) {
    if (write && (*val & 0xff) == ACPI_KBC_CMD_RESET)
      pm->pm_power = ACPIFW_POWER_RESET;
    if (!write)
      *val = 0; /* status: both buffers empty */
    return true;
  }
  if (port < ACPI_PIIX4_PM_BASE || port >= ACPI_PIIX4_PM_BASE + ACPI_PIIX4_PM_LEN)
    return false;
  if (size != 1 && size != 2 && size != 4)
    size = 1;
  unsigned off = port - ACPI_PIIX4_PM_BASE;
  if (!write) {
    uint32_t v = 0;
    for (unsigned k = 0; k < size; k++)
      v |= (uint32_t)af_pm_read(pm, off + k, now_ns) << (8 * k);
    *val = v;
    return true;
  }
  uint16_t cnt = pm->pm_cnt;
  bool cnt_written = false;
  for (unsigned k = 0; k < size; k++) {
    unsigned o = off + k;
    cnt_written |= o == 4 || o == 5;
    af_pm_write(pm, o, (uint8_t)(*val >> (8 * k)), &cnt);
  }
  if (cnt_written) {
    /* SLP_EN is write-only and starts the sleep: S5 is the only state here. */
    uint32_t typ = (cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
    if ((cnt & ACPI_PM1_SLP_EN) && typ == ACPIFW_S5_TYPE)
      pm->pm_power = ACPIFW_POWER_OFF;
    pm->pm_cnt = (uint16_t)((cnt & ~ACPI_PM1_SLP_EN) | ACPI_PM1_SCI_EN);
  }
  return true;
}
