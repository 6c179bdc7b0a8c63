/* arch/x86_64/acpi.h: the ACPI table parser (pure, host-tested).
 *
 * Finds what a small kernel needs to power the machine off and reset it:
 * the RSDP (EBDA, then the BIOS area), the RSDT or XSDT, the FADT's PM1a/PM1b
 * control blocks and reset register, and the SLP_TYPa/b values of the \_S5
 * package in the DSDT. The tables are host input: every table's signature,
 * length and checksum is validated, every walk is bounded by a constant,
 * every address is read through the caller's callback, which refuses
 * ranges outside memory. No allocation, no port access: arch/x86_64/power.c
 * does the writes; hvhost's tables (host/acpi_fw.c) are built with
 * acpi_checksum too.
 */
#ifndef ARCH_X86_64_ACPI_H
#define ARCH_X86_64_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/acpi_reg.h"

/* Bounds on what the parser believes (hostile tables). */
#define ACPI_MAX_TABLE_LEN (1u << 20) /* no table of ours or QEMU's is near */
#define ACPI_MAX_ROOT_ENTRIES 64u

/** Read `len` bytes of guest physical memory at `pa` into `buf`: 0, or -1
 * when any byte of the range is not readable memory (the parser then treats
 * the table as absent). Must not fault on any pa/len. */
typedef int (*acpi_read_fn)(void *ctx, uint64_t pa, void *buf, size_t len);

enum acpi_err {
  ACPI_OK = 0,
  ACPI_E_NO_RSDP, /* no valid RSDP in the EBDA or the BIOS area */
  ACPI_E_ROOT,    /* neither the XSDT nor the RSDT is valid */
  ACPI_E_NO_FADT, /* no valid FACP among the root table's entries */
  ACPI_E_FADT,    /* FADT too short or without a PM1a control block */
  ACPI_E_DSDT,    /* the DSDT is missing or invalid */
  ACPI_E_NO_S5,   /* the DSDT has no well-formed \_S5 package */
};

/** What the parser found. Fields after the first failure stay 0/false. */
struct acpi_info {
  uint64_t rsdp_pa;
  uint8_t rsdp_revision;
  char oem_id[7]; /* RSDP OEMID, NUL-terminated, non-printables as '?' */
  uint64_t root_pa;
  bool root_is_xsdt;
  uint64_t fadt_pa;
  uint32_t fadt_len;
  uint8_t fadt_revision;
  uint32_t fadt_flags;     /* ACPI_FADT_F_* */
  uint16_t iapc_boot_arch; /* 0 when the FADT is too short to say */
  uint16_t pm1a_cnt;       /* I/O port of PM1a_CNT_BLK (always set on success) */
  uint16_t pm1b_cnt;       /* 0: no PM1b block */
  bool reset_ok;           /* RESET_REG_SUP with a usable register */
  struct acpi_gas reset_reg;
  uint8_t reset_value;
  uint64_t dsdt_pa;
  uint32_t dsdt_len;
  bool s5_found;
  uint8_t slp_typa, slp_typb; /* 0..7 */
};

/* IAPC_BOOT_ARCH bit 2: "VGA Not Present" (ACPI 4.0+). */
#define ACPI_FADT_BOOT_NO_VGA (1u << 2)

/** Parse the platform's tables through `rd`. Fills *out as far as it got
 * and returns ACPI_OK or the first failure (enum acpi_err). Never reads
 * more than a bounded number of bytes (the RSDP scan plus at most
 * ACPI_MAX_ROOT_ENTRIES headers, one FADT and one DSDT of at most
 * ACPI_MAX_TABLE_LEN). */
int acpi_parse(acpi_read_fn rd, void *ctx, struct acpi_info *out);

/** A sentence for an enum acpi_err value. */
const char *acpi_strerror(int err);

/** The byte that makes `len` bytes at `p` sum to 0 mod 256 when stored in
 * the checksum field (which must be 0 while this is computed); also the
 * validation: a table is valid when acpi_sum() of it is 0. */
uint8_t acpi_checksum(const void *p, size_t len);
uint8_t acpi_sum(const void *p, size_t len);

/** Find a well-formed \_S5 package in AML bytes (a DSDT body or any
 * buffer): NameOp, optional root prefix, "_S5_", PackageOp, PkgLength,
 * NumElements >= 2, and two integer elements (ZeroOp, OneOp, or a
 * Byte/Word/DWord constant) of at most 7. Returns true with the values. */
bool acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typa, uint8_t *typb);

#endif
