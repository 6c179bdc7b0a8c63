/* host/acpi_fw.h: the firmware ACPI tables hvhost puts in guest memory, and
 * its PIIX4-style power-management ports.
 *
 * acpifw_build() writes, as Hyper-V Gen1 firmware lays them out: the RSDP in
 * the BIOS area, an RSDT and an XSDT, a FADT (revision 4, 244 bytes) with a
 * PIIX4-style PM block (PM1a_EVT 0x400, PM1a_CNT 0x404, PM timer 0x408,
 * GPE0 0x40C) and RESET_REG (I/O 0xCF9, value 6), a FACS, a MADT with the
 * LAPIC (0xFEE00000) and IOAPIC (0xFEC00000, GSI base 0) KVM provides, and
 * the DSDT compiled by iasl from host/acpi_dsdt.asl (the VMBus device and
 * \_S5). The tables say no VGA is present (hvhost has none).
 *
 * acpifw_pm_io() answers the guest's port I/O on the PM block, 0xCF9 and the
 * keyboard controller's command port: an S5 write (SLP_EN with the DSDT's
 * \_S5 type) to PM1a_CNT asks for power-off, a reset write for a reset.
 */
#ifndef HOST_ACPI_FW_H
#define HOST_ACPI_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the tables go: the BIOS area, which the memory map marks reserved.
 * The RSDP comes first, at the start of the area the OS scans. */
#define ACPIFW_AREA_START 0xE0000u
#define ACPIFW_AREA_END 0x100000u
#define ACPIFW_IOAPIC_ADDR 0xFEC00000u
#define ACPIFW_LAPIC_ADDR 0xFEE00000u
#define ACPIFW_SCI_IRQ 9u
#define ACPIFW_S5_TYPE 0u /* SLP_TYP of \_S5 in host/acpi_dsdt.asl (PIIX4 soft off) */

/** Where each table went (guest physical) and how long it is. */
struct acpifw_layout {
  uint64_t al_rsdp, al_rsdt, al_xsdt, al_fadt, al_facs, al_madt, al_dsdt;
  uint32_t al_rsdp_len, al_rsdt_len, al_xsdt_len, al_fadt_len, al_facs_len, al_madt_len,
      al_dsdt_len;
  uint64_t al_end; /* first byte after the last table */
};

/** Write the tables into guest memory `mem` (guest physical 0 at mem[0],
 * `mem_bytes` long, at least ACPIFW_AREA_END). Returns 0, or -EINVAL when
 * memory is too small. Fills *out when it is not NULL. */
int acpifw_build(uint8_t *mem, uint64_t mem_bytes, struct acpifw_layout *out);

/** The DSDT's AML as iasl compiled it (for tests). */
const uint8_t *acpifw_dsdt(size_t *len);

enum acpifw_power { ACPIFW_POWER_NONE = 0, ACPIFW_POWER_OFF, ACPIFW_POWER_RESET };

/** The PM block's state (one per VM). */
struct acpifw_pm {
  uint16_t pm_sts, pm_en, pm_cnt;
  uint32_t pm_gpe;
  uint64_t pm_t0_ns;          /* PM timer origin */
  enum acpifw_power pm_power; /* what the guest asked for, sticky */
};

/** Start state: SCI_EN set (ACPI mode, no SMI_CMD handshake), timer at 0. */
void acpifw_pm_init(struct acpifw_pm *pm, uint64_t now_ns);

/** Port I/O the PM block, 0xCF9 or 0x64 decode: returns true when `port`
 * is one of them (then *val was read or used), false when not ours. `size`
 * is 1, 2 or 4; reads fill *val. After a write, pm->pm_power says whether
 * the guest powered off or reset the machine. */
bool acpifw_pm_io(struct acpifw_pm *pm, uint16_t port, bool write, unsigned size, uint32_t *val,
                  uint64_t now_ns);

/** "off", "reset" or "none", for the summary line's power= field. */
const char *acpifw_power_name(enum acpifw_power p);

#endif
