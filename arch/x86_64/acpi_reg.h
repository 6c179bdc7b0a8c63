/* arch/x86_64/acpi_reg.h: ACPI firmware table wire formats (ACPI 6.4,
 * chapter 5.2), as firmware writes them into guest memory. Written by
 * hvhost (host/acpi_fw.c) and by real firmware (SeaBIOS, Hyper-V Gen1);
 * read by the guest's parser (arch/x86_64/acpi.c), which treats every byte
 * as hostile. Nothing here but layouts and their constants.
 */
#ifndef ARCH_X86_64_ACPI_REG_H
#define ARCH_X86_64_ACPI_REG_H

#include <stddef.h>
#include <stdint.h>

/* ---- Root System Description Pointer (5.2.5.3) ---- */
#define ACPI_RSDP_SIG "RSD PTR "
#define ACPI_RSDP_V1_LEN 20 /* the part the first checksum covers */
struct acpi_rsdp {
  char sig[8];          /* "RSD PTR " */
  uint8_t checksum;     /* bytes 0-19 sum to 0 */
  char oem_id[6];       /* OEMID */
  uint8_t revision;     /* 0: ACPI 1.0 (20 bytes); 2: ACPI 2.0+ */
  uint32_t rsdt;        /* RsdtAddress (physical) */
  uint32_t length;      /* Length of the whole structure (revision >= 2) */
  uint64_t xsdt;        /* XsdtAddress (physical) */
  uint8_t ext_checksum; /* the whole `length` bytes sum to 0 */
  uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");
_Static_assert(offsetof(struct acpi_rsdp, rsdt) == 16, "RSDP RsdtAddress");
_Static_assert(offsetof(struct acpi_rsdp, length) == 20, "RSDP Length");
_Static_assert(offsetof(struct acpi_rsdp, xsdt) == 24, "RSDP XsdtAddress");
_Static_assert(offsetof(struct acpi_rsdp, ext_checksum) == 32, "RSDP Extended Checksum");

/* Where the RSDP may be (5.2.5.1): the first KiB of the EBDA, whose segment
 * is the 16-bit word at 0x40E, then the BIOS area; 16-byte aligned. */
#define ACPI_BDA_EBDA_SEG 0x40Eu
#define ACPI_EBDA_SCAN_LEN 1024u
#define ACPI_BIOS_AREA_START 0xE0000u
#define ACPI_BIOS_AREA_END 0x100000u
#define ACPI_RSDP_ALIGN 16u

/* ---- System Description Table header (5.2.6) ---- */
struct acpi_sdt_hdr {
  char sig[4];
  uint32_t length; /* the whole table, header included */
  uint8_t revision;
  uint8_t checksum; /* the whole table sums to 0 */
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  char creator_id[4];
  uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_hdr) == 36, "SDT header size");
_Static_assert(offsetof(struct acpi_sdt_hdr, checksum) == 9, "SDT header checksum");

#define ACPI_SIG_RSDT "RSDT"
#define ACPI_SIG_XSDT "XSDT"
#define ACPI_SIG_FADT "FACP"
#define ACPI_SIG_FACS "FACS"
#define ACPI_SIG_MADT "APIC"
#define ACPI_SIG_DSDT "DSDT"

/* ---- Generic Address Structure (5.2.3.2) ---- */
#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO 1
struct acpi_gas {
  uint8_t space_id; /* ACPI_GAS_* */
  uint8_t bit_width;
  uint8_t bit_offset;
  uint8_t access_size; /* 1 byte, 2 word, 3 dword, 4 qword; 0 undefined */
  uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS size");

/* ---- Fixed ACPI Description Table (5.2.9), the 244-byte ACPI 2.0 form
 * (revision 3 and 4; Hyper-V Gen1 writes revision 4, 244 bytes). Later
 * revisions only append fields. ---- */
#define ACPI_FADT_V1_LEN 116    /* up to and including Flags */
#define ACPI_FADT_RESET_LEN 129 /* up to and including RESET_VALUE */
#define ACPI_FADT_F_WBINVD (1u << 0)
#define ACPI_FADT_F_PROC_C1 (1u << 2)
#define ACPI_FADT_F_SLP_BUTTON (1u << 5)
#define ACPI_FADT_F_FIX_RTC (1u << 6)
#define ACPI_FADT_F_TMR_VAL_EXT (1u << 8)
#define ACPI_FADT_F_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define ACPI_FADT_BOOT_8042 (1u << 1)
struct acpi_fadt {
  struct acpi_sdt_hdr hdr; /* "FACP" */
  uint32_t firmware_ctrl;  /* FACS */
  uint32_t dsdt;
  uint8_t reserved0;
  uint8_t preferred_pm_profile;
  uint16_t sci_int;
  uint32_t smi_cmd;
  uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
  uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
  uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
  uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
  uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
  uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
  uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
  uint16_t iapc_boot_arch;
  uint8_t reserved1;
  uint32_t flags; /* ACPI_FADT_F_* */
  struct acpi_gas reset_reg;
  uint8_t reset_value;
  uint16_t arm_boot_arch;
  uint8_t minor_version;
  uint64_t x_firmware_ctrl;
  uint64_t x_dsdt;
  struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
  struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 244, "FADT (ACPI 2.0) size");
_Static_assert(offsetof(struct acpi_fadt, firmware_ctrl) == 36, "FADT FIRMWARE_CTRL");
_Static_assert(offsetof(struct acpi_fadt, dsdt) == 40, "FADT DSDT");
_Static_assert(offsetof(struct acpi_fadt, sci_int) == 46, "FADT SCI_INT");
_Static_assert(offsetof(struct acpi_fadt, pm1a_evt_blk) == 56, "FADT PM1a_EVT_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm1a_cnt_blk) == 64, "FADT PM1a_CNT_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm1b_cnt_blk) == 68, "FADT PM1b_CNT_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm_tmr_blk) == 76, "FADT PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm1_evt_len) == 88, "FADT PM1_EVT_LEN");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH");
_Static_assert(offsetof(struct acpi_fadt, flags) == ACPI_FADT_V1_LEN - 4, "FADT Flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT RESET_REG");
_Static_assert(offsetof(struct acpi_fadt, reset_value) == ACPI_FADT_RESET_LEN - 1, "RESET_VALUE");
_Static_assert(offsetof(struct acpi_fadt, x_firmware_ctrl) == 132, "FADT X_FIRMWARE_CTRL");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, x_pm1a_cnt_blk) == 172, "FADT X_PM1a_CNT_BLK");
_Static_assert(offsetof(struct acpi_fadt, x_pm1b_cnt_blk) == 184, "FADT X_PM1b_CNT_BLK");
_Static_assert(offsetof(struct acpi_fadt, x_gpe1_blk) == 232, "FADT X_GPE1_BLK");

/* PM1 control register bits (4.8.3.2.1). */
#define ACPI_PM1_SCI_EN (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN (1u << 13)

/* ---- Firmware ACPI Control Structure (5.2.10): no SDT header ---- */
struct acpi_facs {
  char sig[4]; /* "FACS" */
  uint32_t length;
  uint32_t hardware_signature;
  uint32_t firmware_waking_vector;
  uint32_t global_lock;
  uint32_t flags;
  uint64_t x_firmware_waking_vector;
  uint8_t version;
  uint8_t reserved0[3];
  uint32_t ospm_flags;
  uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS size");
_Static_assert(offsetof(struct acpi_facs, x_firmware_waking_vector) == 24, "FACS X waking vector");
#define ACPI_FACS_ALIGN 64u

/* ---- Multiple APIC Description Table (5.2.12) ---- */
#define ACPI_MADT_PCAT_COMPAT (1u << 0)
struct acpi_madt {
  struct acpi_sdt_hdr hdr; /* "APIC" */
  uint32_t lapic_addr;
  uint32_t flags; /* ACPI_MADT_PCAT_COMPAT */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part");

#define ACPI_MADT_LAPIC 0
#define ACPI_MADT_IOAPIC 1
#define ACPI_MADT_ISO 2
struct acpi_madt_lapic {
  uint8_t type, length; /* 0, 8 */
  uint8_t processor_uid;
  uint8_t apic_id;
  uint32_t flags; /* bit 0: enabled */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT processor local APIC");
struct acpi_madt_ioapic {
  uint8_t type, length; /* 1, 12 */
  uint8_t ioapic_id;
  uint8_t reserved;
  uint32_t address;
  uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC");
struct acpi_madt_iso {
  uint8_t type, length; /* 2, 10 */
  uint8_t bus;          /* 0: ISA */
  uint8_t source;       /* ISA IRQ */
  uint32_t gsi;
  uint16_t flags; /* MPS INTI flags: polarity bits 1:0, trigger bits 3:2 */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT interrupt source override");

/* ---- AML bytes the parser's \_S5 scan recognises (ACPI 6.4, 20.2) ---- */
#define ACPI_AML_NAME_OP 0x08
#define ACPI_AML_PACKAGE_OP 0x12
#define ACPI_AML_ZERO_OP 0x00
#define ACPI_AML_ONE_OP 0x01
#define ACPI_AML_BYTE_PREFIX 0x0A
#define ACPI_AML_WORD_PREFIX 0x0B
#define ACPI_AML_DWORD_PREFIX 0x0C
#define ACPI_AML_ROOT_CHAR 0x5C /* '\' */

/* The fixed hardware of a PIIX4-style PM block (the PIIX4 datasheet; what
 * QEMU's `pc` machine and Hyper-V Gen1 expose at I/O 0x400-0x43F). */
#define ACPI_PIIX4_PM_BASE 0x400u
#define ACPI_PIIX4_PM1A_EVT (ACPI_PIIX4_PM_BASE + 0x0)
#define ACPI_PIIX4_PM1A_CNT (ACPI_PIIX4_PM_BASE + 0x4)
#define ACPI_PIIX4_PM_TMR (ACPI_PIIX4_PM_BASE + 0x8)
#define ACPI_PIIX4_GPE0 (ACPI_PIIX4_PM_BASE + 0xC) /* GPSTS/GPEN, 4 bytes */
#define ACPI_PIIX4_PM_LEN 0x40u
#define ACPI_PM_TIMER_HZ 3579545u
/* The PCI reset control register and the keyboard controller's reset. */
#define ACPI_PORT_CF9 0xCF9u
#define ACPI_CF9_RESET_VALUE 0x06 /* FULL_RST off, SYS_RST | RST_CPU */
#define ACPI_PORT_KBC_CMD 0x64u
#define ACPI_KBC_CMD_RESET 0xFE

#endif
