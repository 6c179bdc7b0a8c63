/* arch/x86_64/acpi.c: the ACPI table parser (pure, host-tested).
 *
 * Every byte comes through the caller's read callback and is validated
 * before use: signatures, lengths (at least the header, at most
 * ACPI_MAX_TABLE_LEN), checksums over the stated length, root-table entry
 * counts capped at ACPI_MAX_ROOT_ENTRIES, and the \_S5 scan bounded by the
 * DSDT's validated length. Loops advance by a constant step. */
#include "arch/x86_64/acpi.h"

#include <string.h>

#define ACPI_CHUNK 2048u
#define ACPI_S5_OVERLAP 64u /* longer than any \_S5 package the scan accepts */

/* One scratch buffer: the parser runs once at boot, or in one test thread. */
static uint8_t acpi_buf[ACPI_CHUNK];

uint8_t acpi_sum(const void *p, size_t len) {
  const uint8_t *b = p;
  uint8_t s = 0;
  for (size_t i = 0; i < len; i++)
    s = (uint8_t)(s + b[i]);
  return s;
}

uint8_t acpi_checksum(const void *p, size_t len) { return (uint8_t)(0u - acpi_sum(p, len)); }

const char *acpi_strerror(int err) {
  switch (err) {
  case ACPI_OK:
    return "ok";
  case ACPI_E_NO_RSDP:
    return "no valid RSDP in the EBDA or at 0xE0000-0xFFFFF";
  case ACPI_E_ROOT:
    return "no valid XSDT or RSDT";
  case ACPI_E_NO_FADT:
    return "no valid FADT (FACP)";
  case ACPI_E_FADT:
    return "the FADT has no usable PM1a control block";
  case ACPI_E_DSDT:
    return "no valid DSDT";
  case ACPI_E_NO_S5:
    return "the DSDT has no well-formed \\_S5 package";
  default:
    return "unknown error";
  }
}

/* Sum `len` bytes at `pa` in chunks: 0 when they sum to 0, -1 when they do
 * not or a read failed. */
static int acpi_sum_range(acpi_read_fn rd, void *ctx, uint64_t pa, uint32_t len) {
  uint8_t s = 0;
  for (uint32_t off = 0; off < len;) {
    uint32_t n = len - off < ACPI_CHUNK ? len - off : ACPI_CHUNK;
    if (rd(ctx, pa + off, acpi_buf, n) != 0)
      return -1;
    s = (uint8_t)(s + acpi_sum(acpi_buf, n));
    off += n;
  }
  return s == 0 ? 0 : -1;
}

/* A valid table with signature `sig` at pa: header into *h, 0 or -1. */
static int acpi_table(acpi_read_fn rd, void *ctx, uint64_t pa, const char *sig,
                      struct acpi_sdt_hdr *h) {
  if (pa == 0 || pa > UINT64_MAX - ACPI_MAX_TABLE_LEN)
    return -1;
  if (rd(ctx, pa, h, sizeof(*h)) != 0)
    return -1;
  if (memcmp(h->sig, sig, 4) != 0 || h->length < sizeof(*h) || h->length > ACPI_MAX_TABLE_LEN)
    return -1;
  return acpi_sum_range(rd, ctx, pa, h->length);
}

/* A valid RSDP at pa (signature, v1 checksum, and for revision >= 2 its
 * length and extended checksum). */
static bool acpi_rsdp_at(acpi_read_fn rd, void *ctx, uint64_t pa, struct acpi_rsdp *r) {
  char sig[8];
  if (rd(ctx, pa, sig, sizeof(sig)) != 0 || memcmp(sig, ACPI_RSDP_SIG, 8) != 0)
    return false;
  memset(r, 0, sizeof(*r));
  if (rd(ctx, pa, r, ACPI_RSDP_V1_LEN) != 0 || acpi_sum(r, ACPI_RSDP_V1_LEN) != 0)
    return false;
  if (r->revision < 2)
    return true;
  if (rd(ctx, pa, r, sizeof(*r)) != 0 || r->length < sizeof(*r) || r->length > ACPI_CHUNK)
    return false;
  return acpi_sum_range(rd, ctx, pa, r->length) == 0;
}

/* Scan [start, end) on 16-byte boundaries. */
static uint64_t acpi_scan(acpi_read_fn rd, void *ctx, uint64_t start, uint64_t end,
                          struct acpi_rsdp *r) {
  for (uint64_t pa = start; pa + ACPI_RSDP_V1_LEN <= end; pa += ACPI_RSDP_ALIGN)
    if (acpi_rsdp_at(rd, ctx, pa, r))
      return pa;
  return 0;
}

static uint64_t acpi_find_rsdp(acpi_read_fn rd, void *ctx, struct acpi_rsdp *r) {
  uint16_t seg = 0;
  if (rd(ctx, ACPI_BDA_EBDA_SEG, &seg, sizeof(seg)) == 0) {
    uint64_t ebda = (uint64_t)seg << 4;
    /* A real EBDA lies above the BDA and below the VGA window. */
    if (ebda >= 0x400 && ebda < 0xA0000) {
      uint64_t end = ebda + ACPI_EBDA_SCAN_LEN < 0xA0000 ? ebda + ACPI_EBDA_SCAN_LEN : 0xA0000;
      uint64_t pa = acpi_scan(rd, ctx, ebda & ~(uint64_t)(ACPI_RSDP_ALIGN - 1), end, r);
      if (pa)
        return pa;
    }
  }
  return acpi_scan(rd, ctx, ACPI_BIOS_AREA_START, ACPI_BIOS_AREA_END, r);
}

/* The FADT among the root table's entries (entry size 4 or 8). */
static int acpi_find_fadt(acpi_read_fn rd, void *ctx, uint64_t root, uint32_t root_len,
                          unsigned esize, struct acpi_info *out) {
  uint32_t n = (root_len - (uint32_t)sizeof(struct acpi_sdt_hdr)) / esize;
  if (n > ACPI_MAX_ROOT_ENTRIES)
    n = ACPI_MAX_ROOT_ENTRIES;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t pa = 0;
    if (rd(ctx, root + sizeof(struct acpi_sdt_hdr) + (uint64_t)i * esize, &pa, esize) != 0)
      return -1;
    struct acpi_sdt_hdr h;
    if (acpi_table(rd, ctx, pa, ACPI_SIG_FADT, &h) == 0) {
      out->fadt_pa = pa;
      out->fadt_len = h.length;
      out->fadt_revision = h.revision;
      return 0;
    }
  }
  return -1;
}

/* An I/O port from a GAS (X_ block) when it names one, else the 32-bit
 * legacy block; 0 when neither is a valid port. */
static uint16_t acpi_port(const struct acpi_gas *x, bool have_x, uint32_t legacy) {
  if (have_x && x->address != 0 && x->space_id == ACPI_GAS_IO && x->address <= 0xFFFF)
    return (uint16_t)x->address;
  return legacy <= 0xFFFF ? (uint16_t)legacy : 0;
}

static int acpi_use_fadt(acpi_read_fn rd, void *ctx, struct acpi_info *out, struct acpi_fadt *f) {
  uint32_t len = out->fadt_len;
  if (len < ACPI_FADT_V1_LEN)
    return ACPI_E_FADT;
  memset(f, 0, sizeof(*f));
  if (rd(ctx, out->fadt_pa, f, len < sizeof(*f) ? len : sizeof(*f)) != 0)
    return ACPI_E_FADT;
#define ACPI_HAS(field) (len >= offsetof(struct acpi_fadt, field) + sizeof(f->field))
  out->fadt_flags = f->flags;
  out->iapc_boot_arch = f->iapc_boot_arch;
  out->pm1a_cnt = acpi_port(&f->x_pm1a_cnt_blk, ACPI_HAS(x_pm1a_cnt_blk), f->pm1a_cnt_blk);
  out->pm1b_cnt = acpi_port(&f->x_pm1b_cnt_blk, ACPI_HAS(x_pm1b_cnt_blk), f->pm1b_cnt_blk);
  if (ACPI_HAS(reset_value) && (f->flags & ACPI_FADT_F_RESET_REG_SUP) &&
      f->reset_reg.address != 0 &&
      ((f->reset_reg.space_id == ACPI_GAS_IO && f->reset_reg.address <= 0xFFFF) ||
       f->reset_reg.space_id == ACPI_GAS_MEMORY)) {
    out->reset_ok = true;
    out->reset_reg = f->reset_reg;
    out->reset_value = f->reset_value;
  }
  uint64_t dsdt = f->dsdt;
  if (ACPI_HAS(x_dsdt) && f->x_dsdt != 0)
    dsdt = f->x_dsdt; /* ACPI 2.0+: X_DSDT wins when set, as in ACPICA */
#undef ACPI_HAS
  out->dsdt_pa = dsdt;
  return out->pm1a_cnt ? ACPI_OK : ACPI_E_FADT;
}

/* The \_S5 scan over the DSDT, chunk by chunk with an overlap longer than
 * any package it accepts, so none is missed at a chunk boundary. */
static bool acpi_dsdt_s5(acpi_read_fn rd, void *ctx, uint64_t pa, uint32_t len,
                         struct acpi_info *out) {
  uint32_t off = sizeof(struct acpi_sdt_hdr);
  while (off < len) {
    uint32_t n = len - off < ACPI_CHUNK ? len - off : ACPI_CHUNK;
    if (rd(ctx, pa + off, acpi_buf, n) != 0)
      return false;
    if (acpi_find_s5(acpi_buf, n, &out->slp_typa, &out->slp_typb))
      return true;
    if (n < ACPI_CHUNK)
      break;
    off += ACPI_CHUNK - ACPI_S5_OVERLAP;
  }
  return false;
}

/* One AML integer constant at p[0..len): its value and size, or false. */
static bool acpi_aml_int(const uint8_t *p, size_t len, uint32_t *val, size_t *used) {
  if (len < 1)
    return false;
  switch (p[0]) {
  case ACPI_AML_ZERO_OP:
  case ACPI_AML_ONE_OP:
    *val = p[0];
    *used = 1;
    return true;
  case ACPI_AML_BYTE_PREFIX:
    if (len < 2)
      return false;
    *val = p[1];
    *used = 2;
    return true;
  case ACPI_AML_WORD_PREFIX:
    if (len < 3)
      return false;
    *val = (uint32_t)p[1] | (uint32_t)p[2] << 8;
    *used = 3;
    return true;
  case ACPI_AML_DWORD_PREFIX:
    if (len < 5)
      return false;
    *val = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    *used = 5;
    return true;
  default:
    return false;
  }
}

/* The package after "_S5_" at aml[i] (i + 4 is PackageOp). */
static bool acpi_s5_package(const uint8_t *aml, size_t len, size_t i, uint8_t *typa,
                            uint8_t *typb) {
  size_t p = i + 4;
  if (p >= len || aml[p] != ACPI_AML_PACKAGE_OP)
    return false;
  p++;
  if (p >= len)
    return false;
  size_t pkglen_bytes = 1 + (aml[p] >> 6); /* PkgLength: bits 7:6 count the extra bytes */
  if (pkglen_bytes > len - p)
    return false;
  p += pkglen_bytes;
  if (p >= len || aml[p] < 2) /* NumElements: SLP_TYPa and SLP_TYPb at least */
    return false;
  p++;
  uint32_t a, b;
  size_t used;
  if (!acpi_aml_int(aml + p, len - p, &a, &used))
    return false;
  p += used;
  if (!acpi_aml_int(aml + p, len - p, &b, &used))
    return false;
  if (a > 7 || b > 7) /* SLP_TYP is a 3-bit field */
    return false;
  *typa = (uint8_t)a;
  *typb = (uint8_t)b;
  return true;
}

bool acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typa, uint8_t *typb) {
  for (size_t i = 1; i + 4 <= len; i++) {
    if (memcmp(aml + i, "_S5_", 4) != 0)
      continue;
    /* NameOp "_S5_" or NameOp '\' "_S5_": a name, not a reference. */
    bool named = aml[i - 1] == ACPI_AML_NAME_OP ||
                 (i >= 2 && aml[i - 1] == ACPI_AML_ROOT_CHAR && aml[i - 2] == ACPI_AML_NAME_OP);
    if (named && acpi_s5_package(aml, len, i, typa, typb))
      return true;
  }
  return false;
}

static void acpi_copy_oem(char out[7], const char in[6]) {
  for (int i = 0; i < 6; i++)
    out[i] = (in[i] >= 0x20 && in[i] <= 0x7e) ? in[i] : '?';
  out[6] = '\0';
}

int acpi_parse(acpi_read_fn rd, void *ctx, struct acpi_info *out) {
  memset(out, 0, sizeof(*out));
  struct acpi_rsdp r;
  uint64_t rsdp = acpi_find_rsdp(rd, ctx, &r);
  if (!rsdp)
    return ACPI_E_NO_RSDP;
  out->rsdp_pa = rsdp;
  out->rsdp_revision = r.revision;
  acpi_copy_oem(out->oem_id, r.oem_id);

  /* The XSDT when the RSDP has one and it is valid, else the RSDT. */
  struct acpi_sdt_hdr h;
  int found = -1;
  if (r.revision >= 2 && r.xsdt && acpi_table(rd, ctx, r.xsdt, ACPI_SIG_XSDT, &h) == 0) {
    out->root_pa = r.xsdt;
    out->root_is_xsdt = true;
    found = acpi_find_fadt(rd, ctx, r.xsdt, h.length, 8, out);
  }
  if (found != 0 && r.rsdt && acpi_table(rd, ctx, r.rsdt, ACPI_SIG_RSDT, &h) == 0) {
    out->root_pa = r.rsdt;
    out->root_is_xsdt = false;
    found = acpi_find_fadt(rd, ctx, r.rsdt, h.length, 4, out);
  }
  if (!out->root_pa)
    return ACPI_E_ROOT;
  if (found != 0)
    return ACPI_E_NO_FADT;

  struct acpi_fadt f;
  int rc = acpi_use_fadt(rd, ctx, out, &f);
  if (rc != ACPI_OK)
    return rc;
  if (acpi_table(rd, ctx, out->dsdt_pa, ACPI_SIG_DSDT, &h) != 0)
    return ACPI_E_DSDT;
  out->dsdt_len = h.length;
  out->s5_found = acpi_dsdt_s5(rd, ctx, out->dsdt_pa, h.length, out);
  return out->s5_found ? ACPI_OK : ACPI_E_NO_S5;
}
