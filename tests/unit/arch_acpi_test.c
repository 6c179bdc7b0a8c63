/* tests/unit/arch_acpi_test.c: the ACPI parser (arch/x86_64/acpi.c) on
 * hvhost's tables (host/acpi_fw.c, checked byte by byte against offsets
 * written from the ACPI 6.4 tables), on the tables of QEMU's `pc` machine
 * dumped from a real QEMU boot (tools/qemu-acpi-dump.sh: SeaBIOS's tables,
 * which nobody here wrote), and on corrupted copies. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arch/x86_64/acpi.h"
#include "host/acpi_fw.h"
#include "tests/unit/unit.h"
#include "tests/unit/lib/le_bytes.h"

#define MEM_BYTES (1u << 20)

struct mem {
  uint8_t *m;
  size_t n;
  uint64_t bytes_read;
  unsigned reads;
};

static int mem_read(void *ctx, uint64_t pa, void *buf, size_t len) {
  struct mem *m = ctx;
  if (pa > m->n || len > m->n - pa)
    return -1;
  memcpy(buf, m->m + pa, len);
  m->bytes_read += len;
  m->reads++;
  return 0;
}

/* A fresh copy of hvhost's tables in 1 MiB of zeroed memory. */
static struct mem fresh(struct acpifw_layout *l) {
  struct mem m = {calloc(1, MEM_BYTES), MEM_BYTES, 0, 0};
  assert_non_null(m.m);
  assert_int_equal(acpifw_build(m.m, MEM_BYTES, l), 0);
  return m;
}

/* The fixture of the parser tests: a fresh copy of hvhost's tables (l, m;
 * qemu_tables puts QEMU's RAM in m instead) and the
 * parser's answer (ai); freed after the test. */
struct afx {
  struct acpifw_layout l;
  struct mem m;
  struct acpi_info ai;
};
static int afx_setup(void **state) {
  struct afx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  x->m = fresh(&x->l);
  *state = x;
  return 0;
}
static int afx_teardown(void **state) {
  struct afx *x = *state;
  free(x->m.m);
  free(x);
  return 0;
}
/* Start again from a fresh copy of the tables. */
static void afx_renew(struct afx *x) {
  free(x->m.m);
  x->m = fresh(&x->l);
}
#define ACPI_TEST(f) cmocka_unit_test_setup_teardown(f, afx_setup, afx_teardown)

/* Recompute an SDT's checksum after a deliberate change, so the parser
 * judges the change and not the checksum. */
static void refix(uint8_t *t) {
  t[9] = 0;
  t[9] = acpi_checksum(t, get32(t + 4));
}

/* Write a 32- or 64-bit field at off in the table at table, then fix that
 * table's checksum. */
static void set32(struct afx *x, uint64_t table, size_t off, uint32_t v) {
  put32(x->m.m + table + off, v);
  refix(x->m.m + table);
}
static void set64(struct afx *x, uint64_t table, size_t off, uint64_t v) {
  put64(x->m.m + table + off, v);
  refix(x->m.m + table);
}

static int parse(struct mem *m, struct acpi_info *ai) {
  m->bytes_read = 0;
  m->reads = 0;
  return acpi_parse(mem_read, m, ai);
}

/* Parse the fixture's memory into its ai. */
static int xparse(struct afx *x) { return parse(&x->m, &x->ai); }

static bool contains(const uint8_t *p, size_t n, const void *needle, size_t k) {
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0)
      return true;
  return false;
}

/* ACPI_FUZZ_SEEDS=DIR: write a seed for tests/fuzz/fuzz_acpi.c (its input
 * format: u32 hi_base, u32 lo_off, u32 lo_len, u16 ebda_seg, low bytes at
 * 0xE0000 + lo_off, high bytes at hi_base). */
static void seed(const char *name, const uint8_t *lo, uint32_t lo_off, uint32_t lo_len,
                 const uint8_t *hi, uint32_t hi_base, uint32_t hi_len) {
  const char *dir = getenv("ACPI_FUZZ_SEEDS");
  if (!dir)
    return;
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  uint16_t ebda = 0;
  fwrite(&hi_base, 4, 1, f);
  fwrite(&lo_off, 4, 1, f);
  fwrite(&lo_len, 4, 1, f);
  fwrite(&ebda, 2, 1, f);
  fwrite(lo, 1, lo_len, f);
  if (hi_len)
    fwrite(hi, 1, hi_len, f);
  fclose(f);
}

/* ---- hvhost's tables --------------------------------------------------- */

static void test_hvhost_tables_bytes(void **state) {
  struct afx *x = *state;
  const uint8_t *r = x->m.m + x->l.al_rsdp;
  /* RSDP (5.2.5.3) */
  assert_int_equal(x->l.al_rsdp, 0xE0000);
  assert_memory_equal(r, "RSD PTR ", 8);
  assert_int_equal(r[15], 2);
  assert_int_equal(get32(r + 16), x->l.al_rsdt);
  assert_int_equal(get32(r + 20), 36);
  assert_int_equal(get64(r + 24), x->l.al_xsdt);
  assert_int_equal(acpi_sum(r, 20), 0);
  assert_int_equal(acpi_sum(r, 36), 0);
  /* RSDT/XSDT: FADT then MADT */
  assert_memory_equal(x->m.m + x->l.al_rsdt, "RSDT", 4);
  assert_int_equal(get32(x->m.m + x->l.al_rsdt + 36), x->l.al_fadt);
  assert_int_equal(get32(x->m.m + x->l.al_rsdt + 40), x->l.al_madt);
  assert_memory_equal(x->m.m + x->l.al_xsdt, "XSDT", 4);
  assert_int_equal(get64(x->m.m + x->l.al_xsdt + 36), x->l.al_fadt);
  assert_int_equal(get64(x->m.m + x->l.al_xsdt + 44), x->l.al_madt);
  /* FADT (5.2.9, table 5.9): offsets as the spec numbers them */
  const uint8_t *f = x->m.m + x->l.al_fadt;
  assert_memory_equal(f, "FACP", 4);
  assert_int_equal(get32(f + 4), 244);
  assert_int_equal(f[8], 4);
  assert_int_equal(get32(f + 36), x->l.al_facs);
  assert_int_equal(get32(f + 40), x->l.al_dsdt);
  assert_int_equal(f[46] | f[47] << 8, 9);  /* SCI_INT */
  assert_int_equal(get32(f + 56), 0x400);   /* PM1a_EVT_BLK */
  assert_int_equal(get32(f + 64), 0x404);   /* PM1a_CNT_BLK */
  assert_int_equal(get32(f + 68), 0);       /* PM1b_CNT_BLK */
  assert_int_equal(get32(f + 76), 0x408);   /* PM_TMR_BLK */
  assert_int_equal(get32(f + 80), 0x40C);   /* GPE0_BLK */
  assert_int_equal(f[88], 4);               /* PM1_EVT_LEN */
  assert_int_equal(f[89], 2);               /* PM1_CNT_LEN */
  assert_int_equal(f[91], 4);               /* PM_TMR_LEN */
  assert_true(get32(f + 112) & (1u << 10)); /* RESET_REG_SUP */
  assert_int_equal(f[116], 1);              /* RESET_REG: System I/O */
  assert_int_equal(f[117], 8);
  assert_int_equal(get64(f + 120), 0xCF9);
  assert_int_equal(f[128], 6); /* RESET_VALUE */
  assert_int_equal(get64(f + 140), x->l.al_dsdt);
  assert_int_equal(f[172], 1); /* X_PM1a_CNT_BLK: I/O, 16 bits, 0x404 */
  assert_int_equal(f[173], 16);
  assert_int_equal(get64(f + 176), 0x404);
  assert_int_equal(acpi_sum(f, 244), 0);
  /* FACS (5.2.10): 64-byte aligned, no checksum */
  assert_int_equal(x->l.al_facs % 64, 0);
  assert_memory_equal(x->m.m + x->l.al_facs, "FACS", 4);
  assert_int_equal(get32(x->m.m + x->l.al_facs + 4), 64);
  /* MADT (5.2.12): LAPIC, IOAPIC, SCI override */
  const uint8_t *a = x->m.m + x->l.al_madt;
  assert_memory_equal(a, "APIC", 4);
  assert_int_equal(get32(a + 36), 0xFEE00000u);
  assert_int_equal(get32(a + 40), 1); /* PCAT_COMPAT */
  assert_int_equal(a[44], 0);         /* Processor Local APIC */
  assert_int_equal(a[45], 8);
  assert_int_equal(get32(a + 48), 1); /* enabled */
  assert_int_equal(a[52], 1);         /* I/O APIC */
  assert_int_equal(a[53], 12);
  assert_int_equal(get32(a + 56), 0xFEC00000u);
  assert_int_equal(get32(a + 60), 0); /* GSI base */
  assert_int_equal(a[64], 2);         /* Interrupt Source Override */
  assert_int_equal(a[67], 9);
  assert_int_equal(get32(a + 68), 9);
  assert_int_equal(get32(a + 4), 74);
  assert_int_equal(acpi_sum(a, 74), 0);
  /* DSDT: iasl's output with _HID "VMBUS" (a String: 0x0D ... 0) and \_S5 */
  const uint8_t *d = x->m.m + x->l.al_dsdt;
  assert_memory_equal(d, "DSDT", 4);
  assert_int_equal(get32(d + 4), x->l.al_dsdt_len);
  assert_int_equal(acpi_sum(d, x->l.al_dsdt_len), 0);
  assert_true(contains(d, x->l.al_dsdt_len, "_HID\x0dVMBUS", 10));
  assert_true(contains(d, x->l.al_dsdt_len, "_S5_", 4));
  assert_true(x->l.al_end <= ACPIFW_AREA_END);
  printf("hvhost tables: RSDP 36, RSDT %u, XSDT %u, FADT %u, FACS %u, MADT %u, DSDT %u bytes; "
         "%#lx-%#lx\n",
         x->l.al_rsdt_len, x->l.al_xsdt_len, x->l.al_fadt_len, x->l.al_facs_len, x->l.al_madt_len,
         x->l.al_dsdt_len, (unsigned long)x->l.al_rsdp, (unsigned long)x->l.al_end);
}

static void test_parse_hvhost_tables(void **state) {
  struct afx *x = *state;
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.rsdp_pa, 0xE0000);
  assert_int_equal(x->ai.rsdp_revision, 2);
  assert_string_equal(x->ai.oem_id, "HVHOST");
  assert_true(x->ai.root_is_xsdt);
  assert_int_equal(x->ai.root_pa, x->l.al_xsdt);
  assert_int_equal(x->ai.fadt_pa, x->l.al_fadt);
  assert_int_equal(x->ai.pm1a_cnt, 0x404);
  assert_int_equal(x->ai.pm1b_cnt, 0);
  assert_true(x->ai.reset_ok);
  assert_int_equal(x->ai.reset_reg.space_id, ACPI_GAS_IO);
  assert_int_equal(x->ai.reset_reg.address, 0xCF9);
  assert_int_equal(x->ai.reset_value, 6);
  assert_int_equal(x->ai.dsdt_pa, x->l.al_dsdt);
  assert_true(x->ai.s5_found);
  assert_int_equal(x->ai.slp_typa, ACPIFW_S5_TYPE);
  assert_int_equal(x->ai.slp_typb, ACPIFW_S5_TYPE);
  assert_true(x->ai.iapc_boot_arch & ACPI_FADT_BOOT_NO_VGA);
  printf("hvhost tables: parsed with %u reads, %lu bytes\n", x->m.reads,
         (unsigned long)x->m.bytes_read);
  uint32_t n = (uint32_t)(x->l.al_end - x->l.al_rsdp);
  seed("seed-hvhost", x->m.m + x->l.al_rsdp, 0, n, NULL, 0, 0);
  x->m.m[x->l.al_xsdt + 9] ^= 1;
  seed("seed-hvhost-bad-xsdt", x->m.m + x->l.al_rsdp, 0, n, NULL, 0, 0);
  x->m.m[x->l.al_xsdt + 9] ^= 1;
  uint8_t *s5 = memmem(x->m.m + x->l.al_dsdt, x->l.al_dsdt_len, "_S5_", 4);
  assert_non_null(s5);
  s5[2] = '6';
  refix(x->m.m + x->l.al_dsdt);
  seed("seed-hvhost-no-s5", x->m.m + x->l.al_rsdp, 0, n, NULL, 0, 0);
}

/* iasl's disassembler (acpica-tools, a peer nobody here wrote) reads each
 * of hvhost's tables back: no checksum complaint, no error marker, and the
 * fields decoded as the FADT and MADT must have them. A corrupted copy is
 * flagged, so the check can fail. */
static int iasl_disasm(const char *dir, const char *name, const uint8_t *t, uint32_t len, char *dsl,
                       size_t dsl_len) {
  char path[256], cmd[600];
  snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(t, 1, len, f), len);
  fclose(f);
  snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >%s.log 2>&1", dir, name, name);
  int rc = system(cmd);
  snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
  f = fopen(path, "r");
  size_t n = f ? fread(dsl, 1, dsl_len - 1, f) : 0;
  dsl[n] = '\0';
  if (f)
    fclose(f);
  return rc;
}

static void test_hvhost_tables_iasl(void **state) {
  struct afx *x = *state;
  if (system("command -v iasl >/dev/null 2>&1") != 0) {
    unit_skip("iasl (acpica-tools) is not installed");
    return;
  }
  char dir[] = "/tmp/arch_acpi_iasl.XXXXXX";
  assert_non_null(mkdtemp(dir));
  static char dsl[64 * 1024];
  const struct {
    const char *name;
    uint64_t pa;
    uint32_t len;
    const char *want[3];
  } t[] = {
      {"facp",
       x->l.al_fadt,
       x->l.al_fadt_len,
       {"PM1A Control Block Address : 00000404", "Reset Register Supported (V2) : 1",
        "Value to cause reset : 06"}},
      {"apic",
       x->l.al_madt,
       x->l.al_madt_len,
       {"Local Apic Address : FEE00000", "Address : FEC00000", "Interrupt : 00000009"}},
      {"rsdt", x->l.al_rsdt, x->l.al_rsdt_len, {"ACPI Table Address   0 : ", NULL, NULL}},
      {"xsdt", x->l.al_xsdt, x->l.al_xsdt_len, {"ACPI Table Address   1 : ", NULL, NULL}},
      {"facs", x->l.al_facs, x->l.al_facs_len, {"Signature : \"FACS\"", NULL, NULL}},
      {"dsdt",
       x->l.al_dsdt,
       x->l.al_dsdt_len,
       {"Name (_HID, \"VMBUS\")", "Name (_S5, Package", NULL}},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    int rc = iasl_disasm(dir, t[i].name, x->m.m + t[i].pa, t[i].len, dsl, sizeof(dsl));
    if (rc != 0 || strstr(dsl, "Incorrect") || strstr(dsl, "****"))
      fail_msg("iasl -d %s: status %d; see %s", t[i].name, rc, dir);
    for (int k = 0; k < 3 && t[i].want[k]; k++)
      if (!strstr(dsl, t[i].want[k]))
        fail_msg("iasl -d %s: no '%s'", t[i].name, t[i].want[k]);
  }
  x->m.m[x->l.al_fadt + 9] ^= 1; /* the negative control */
  iasl_disasm(dir, "bad", x->m.m + x->l.al_fadt, x->l.al_fadt_len, dsl, sizeof(dsl));
  assert_non_null(strstr(dsl, "Incorrect checksum"));
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* The EBDA is searched before the BIOS area (5.2.5.1). */
static void test_rsdp_in_ebda_first(void **state) {
  struct afx *x = *state;
  uint8_t *e = x->m.m + 0x9FC00;
  memcpy(e, x->m.m + x->l.al_rsdp, 36);
  memcpy(e + 9, "EBDA01", 6);
  e[8] = 0;
  e[8] = acpi_checksum(e, 20);
  e[32] = 0;
  e[32] = acpi_checksum(e, 36);
  x->m.m[0x40E] = 0xC0; /* segment 0x9FC0 */
  x->m.m[0x40F] = 0x9F;
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.rsdp_pa, 0x9FC00);
  assert_string_equal(x->ai.oem_id, "EBDA01");
  /* An EBDA pointer into the BDA or past 640 KiB is ignored. */
  x->m.m[0x40E] = 0x10;
  x->m.m[0x40F] = 0x00;
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.rsdp_pa, 0xE0000);
  x->m.m[0x40E] = 0xFF;
  x->m.m[0x40F] = 0xFF;
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.rsdp_pa, 0xE0000);
}

/* ---- QEMU's `pc` machine: tables nobody here wrote ------------------------ */

/* Dump QEMU machine `machine`'s RAM after its firmware ran into the
 * fixture's memory (in place of hvhost's tables) and parse it; false (with
 * a skip) when QEMU cannot run here. Both machines carry SeaBIOS's tables
 * with the chipset's PM block at 0x600 and a \_S5, which must parse. */
static bool qemu_tables(const char *machine, struct afx *x) {
  struct mem *m = &x->m;
  struct acpi_info *ai = &x->ai;
  char dump[128], cmd[256], why[256] = "";
  snprintf(dump, sizeof(dump), "build/test-logs/qemu-%s-ram.bin", machine);
  mkdir("build/test-logs", 0755);
  snprintf(cmd, sizeof(cmd), "QEMU_MACHINE=%s tools/qemu-acpi-dump.sh %s 32", machine, dump);
  FILE *p = popen(cmd, "r");
  if (!p) {
    unit_skip("cannot run tools/qemu-acpi-dump.sh");
    return false;
  }
  if (!fgets(why, sizeof(why), p))
    why[0] = '\0';
  if (pclose(p) != 0) {
    why[strcspn(why, "\n")] = '\0';
    unit_skip(why[0] ? why : "QEMU's tables could not be dumped");
    return false;
  }
  FILE *f = fopen(dump, "rb");
  assert_non_null(f);
  free(m->m);
  *m = (struct mem){malloc(32u << 20), 32u << 20, 0, 0};
  assert_non_null(m->m);
  assert_int_equal(fread(m->m, 1, m->n, f), m->n);
  fclose(f);
  int prc = parse(m, ai);
  printf("QEMU %s: %s; RSDP %#lx rev %u OEM '%s', %s %#lx, FADT %#lx rev %u len %u, PM1a_CNT "
         "%#x, reset %s %#lx=%#x, DSDT %#lx %u bytes, \\_S5 %u/%u\n",
         machine, acpi_strerror(prc), (unsigned long)ai->rsdp_pa, ai->rsdp_revision, ai->oem_id,
         ai->root_is_xsdt ? "XSDT" : "RSDT", (unsigned long)ai->root_pa, (unsigned long)ai->fadt_pa,
         ai->fadt_revision, ai->fadt_len, ai->pm1a_cnt, ai->reset_ok ? "yes" : "no",
         (unsigned long)ai->reset_reg.address, ai->reset_value, (unsigned long)ai->dsdt_pa,
         ai->dsdt_len, ai->slp_typa, ai->slp_typb);
  assert_int_equal(prc, ACPI_OK);
  assert_string_equal(ai->oem_id, "BOCHS "); /* SeaBIOS's tables */
  assert_int_equal(ai->pm1a_cnt, 0x604);
  assert_true(ai->s5_found);
  /* The fuzz seed: the RSDP low, the tables (FADT, RSDT, DSDT) high. */
  uint64_t lo = ai->dsdt_pa < ai->root_pa ? ai->dsdt_pa : ai->root_pa;
  lo = lo < ai->fadt_pa ? lo : ai->fadt_pa;
  uint64_t hi = ai->dsdt_pa + ai->dsdt_len;
  if (ai->root_pa + 0x100 > hi)
    hi = ai->root_pa + 0x100;
  if (ai->fadt_pa + ai->fadt_len > hi)
    hi = ai->fadt_pa + ai->fadt_len;
  lo &= ~0xfffull;
  char name[64];
  snprintf(name, sizeof(name), "seed-qemu-%s", machine);
  if (hi <= m->n)
    seed(name, m->m + ai->rsdp_pa, (uint32_t)(ai->rsdp_pa - 0xE0000), 20, m->m + lo, (uint32_t)lo,
         (uint32_t)(hi - lo));
  return true;
}

/* QEMU's PIIX4 `pc` machine: SeaBIOS's RSDP (revision 0) in the BIOS area,
 * an ACPI 1.0 FADT (116 bytes, no RESET_REG), the PIIX4 PM block at 0x600
 * (PM1a_CNT 0x604), S5 type 0, tables at the top of RAM. */
static void test_parse_qemu_pc_tables(void **state) {
  struct afx *x = *state;
  if (!qemu_tables("pc", x))
    return;
  assert_true(x->ai.rsdp_pa >= 0xE0000 && x->ai.rsdp_pa < 0x100000);
  assert_int_equal(x->ai.pm1b_cnt, 0);
  assert_int_equal(x->ai.slp_typa, 0);
  assert_true(x->ai.dsdt_pa > 0x100000 && x->ai.dsdt_len > 1000);
}

/* QEMU's ICH9 `q35` machine: a revision 3 FADT with RESET_REG (I/O 0xCF9,
 * value 0xF), the ICH9 PM block at 0x600. */
static void test_parse_qemu_q35_tables(void **state) {
  struct afx *x = *state;
  if (!qemu_tables("q35", x))
    return;
  assert_int_equal(x->ai.fadt_revision, 3);
  assert_true(x->ai.reset_ok);
  assert_int_equal(x->ai.reset_reg.space_id, ACPI_GAS_IO);
  assert_int_equal(x->ai.reset_reg.address, 0xCF9);
  assert_int_equal(x->ai.reset_value, 0xF);
}

/* ---- hostile copies ---------------------------------------------------------- */

static void test_bad_rsdp(void **state) {
  struct afx *x = *state;
  x->m.m[x->l.al_rsdp + 8] ^= 1; /* v1 checksum */
  assert_int_equal(xparse(x), ACPI_E_NO_RSDP);
  x->m.m[x->l.al_rsdp + 8] ^= 1;
  x->m.m[x->l.al_rsdp + 32] ^= 1; /* extended checksum (revision 2) */
  assert_int_equal(xparse(x), ACPI_E_NO_RSDP);
  x->m.m[x->l.al_rsdp + 32] ^= 1;
  put32(x->m.m + x->l.al_rsdp + 20, 0xFFFFFFFFu); /* Length: refused before it is read */
  assert_int_equal(xparse(x), ACPI_E_NO_RSDP);
  /* The scan is bounded by the BIOS area: 8,192 candidates at most. */
  assert_true(x->m.reads < 9000);
  /* A signature in the last 16 bytes of the area: never read past 1 MiB. */
  struct mem t = {calloc(1, 0x100000), 0x100000, 0, 0};
  memcpy(t.m + 0xFFFF0, "RSD PTR ", 8);
  assert_int_equal(parse(&t, &x->ai), ACPI_E_NO_RSDP);
  free(t.m);
}

static void test_bad_roots(void **state) {
  struct afx *x = *state;
  x->m.m[x->l.al_xsdt + 9] ^= 1; /* XSDT checksum: the RSDT is used */
  assert_int_equal(xparse(x), ACPI_OK);
  assert_false(x->ai.root_is_xsdt);
  assert_int_equal(x->ai.root_pa, x->l.al_rsdt);
  x->m.m[x->l.al_rsdt + 9] ^= 1; /* and the RSDT's */
  assert_int_equal(xparse(x), ACPI_E_ROOT);

  afx_renew(x);
  put32(x->m.m + x->l.al_xsdt + 4, 0xFFFFFFFFu); /* XSDT length beyond any table */
  refix(x->m.m + x->l.al_rsdt);
  assert_int_equal(xparse(x), ACPI_OK);
  assert_false(x->ai.root_is_xsdt);
  put32(x->m.m + x->l.al_rsdt + 4, 35); /* shorter than its own header */
  assert_int_equal(xparse(x), ACPI_E_ROOT);
}

/* Root entries that point back at the roots, out of memory, or nowhere:
 * no FADT, a bounded number of reads, no crash. */
static void test_root_loops_and_wild_pointers(void **state) {
  struct afx *x = *state;
  put64(x->m.m + x->l.al_xsdt + 36, x->l.al_xsdt);
  set64(x, x->l.al_xsdt, 44, 0xFFFFFFFFFFFFFFF0ull);
  put32(x->m.m + x->l.al_rsdt + 36, (uint32_t)x->l.al_rsdt);
  set32(x, x->l.al_rsdt, 40, 0xFFFFFFF0u);
  assert_int_equal(xparse(x), ACPI_E_NO_FADT);

  /* A root as long as memory allows, every entry pointing at itself: the
   * entry count is capped (ACPI_MAX_ROOT_ENTRIES). */
  afx_renew(x);
  uint32_t big = 36 + 8 * 4000;
  uint8_t *root = x->m.m + 0x20000;
  memcpy(root, x->m.m + x->l.al_xsdt, 36);
  put32(root + 4, big);
  for (uint32_t i = 0; i < 4000; i++)
    put64(root + 36 + 8 * i, 0x20000);
  refix(root);
  put64(x->m.m + x->l.al_rsdp + 24, 0x20000);
  x->m.m[x->l.al_rsdp + 32] = 0;
  x->m.m[x->l.al_rsdp + 32] = acpi_checksum(x->m.m + x->l.al_rsdp, 36);
  set32(x, x->l.al_rsdt, 36, 0); /* and no way out through the RSDT */
  assert_int_equal(xparse(x), ACPI_E_NO_FADT);
  /* each of the 64 entries costs one header and one checksum pass */
  assert_true(x->m.bytes_read < (uint64_t)(ACPI_MAX_ROOT_ENTRIES + 2) * (big + 64) + 0x30000);
}

static void test_bad_fadt(void **state) {
  struct afx *x = *state;
  x->m.m[x->l.al_fadt + 9] ^= 1;
  assert_int_equal(xparse(x), ACPI_E_NO_FADT);

  afx_renew(x);
  set32(x, x->l.al_fadt, 4, 100); /* truncated before PM1a_CNT makes sense */
  assert_int_equal(xparse(x), ACPI_E_FADT);

  /* A 116-byte ACPI 1.0 FADT: no X_ fields, no RESET_REG; 32-bit DSDT. */
  afx_renew(x);
  set32(x, x->l.al_fadt, 4, 116);
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.pm1a_cnt, 0x404);
  assert_false(x->ai.reset_ok);
  assert_true(x->ai.s5_found);

  /* No PM1a block at all; an X_ block in memory space falls back to the
   * 32-bit port; a port above 0xFFFF is no port. */
  afx_renew(x);
  put32(x->m.m + x->l.al_fadt + 64, 0);
  memset(x->m.m + x->l.al_fadt + 172, 0, 12);
  refix(x->m.m + x->l.al_fadt);
  assert_int_equal(xparse(x), ACPI_E_FADT);
  x->m.m[x->l.al_fadt + 172] = ACPI_GAS_MEMORY;
  put64(x->m.m + x->l.al_fadt + 176, 0xFED00000);
  set32(x, x->l.al_fadt, 64, 0x10404);
  assert_int_equal(xparse(x), ACPI_E_FADT);
  set32(x, x->l.al_fadt, 64, 0x504);
  assert_int_equal(xparse(x), ACPI_OK);
  assert_int_equal(x->ai.pm1a_cnt, 0x504);

  /* RESET_REG_SUP clear: no reset register even though one is filled in. */
  afx_renew(x);
  set32(x, x->l.al_fadt, 112, get32(x->m.m + x->l.al_fadt + 112) & ~(1u << 10));
  assert_int_equal(xparse(x), ACPI_OK);
  assert_false(x->ai.reset_ok);
}

static void test_bad_dsdt(void **state) {
  struct afx *x = *state;
  uint8_t *d = x->m.m + x->l.al_dsdt;
  d[9] ^= 1;
  assert_int_equal(xparse(x), ACPI_E_DSDT);
  assert_int_equal(x->ai.pm1a_cnt, 0x404); /* what came before is kept */
  assert_true(x->ai.reset_ok);
  d[9] ^= 1;
  /* X_DSDT wins over DSDT when set: point it at the MADT. */
  set64(x, x->l.al_fadt, 140, x->l.al_madt);
  assert_int_equal(xparse(x), ACPI_E_DSDT);

  /* No \_S5: renamed to _S6_. */
  afx_renew(x);
  d = x->m.m + x->l.al_dsdt;
  uint8_t *s5 = memmem(d, x->l.al_dsdt_len, "_S5_", 4);
  assert_non_null(s5);
  s5[2] = '6';
  refix(d);
  assert_int_equal(xparse(x), ACPI_E_NO_S5);
  assert_false(x->ai.s5_found);
  s5[2] = '5';
  /* SLP_TYPa of 8 does not fit the 3-bit field. */
  size_t at = (size_t)(s5 - d);
  assert_int_equal(d[at + 4], 0x12); /* PackageOp */
  assert_int_equal(d[at + 7], 0x00); /* the first element: ZeroOp */
  d[at + 7] = 0x0A;                  /* BytePrefix 0x08 over Zero, Zero */
  d[at + 8] = 0x08;
  refix(d);
  assert_int_equal(xparse(x), ACPI_E_NO_S5);
  /* The table cut before the package ends. */
  d[at + 7] = 0;
  d[at + 8] = 0;
  put32(d + 4, (uint32_t)at + 7);
  refix(d);
  assert_int_equal(xparse(x), ACPI_E_NO_S5);
}

/* A large DSDT with \_S5 across the parser's 2 KiB read boundary. */
static void test_s5_across_chunks(void **state) {
  struct afx *x = *state;
  uint8_t *d = x->m.m + 0x30000;
  uint32_t len = 9000;
  memcpy(d, x->m.m + x->l.al_dsdt, 36);
  put32(d + 4, len);
  memset(d + 36, 0xA3, len - 36); /* NoopOp padding */
  static const uint8_t pkg[] = {0x08, '\\', '_',  'S',  '5',  '_',  0x12, 0x08,
                                0x04, 0x0A, 0x05, 0x0B, 0x06, 0x00, 0x00, 0x00};
  for (uint32_t where = 2030; where < 2060; where += 3) {
    memset(d + 36, 0xA3, len - 36);
    memcpy(d + where, pkg, sizeof(pkg));
    refix(d);
    set64(x, x->l.al_fadt, 140, 0x30000);
    assert_int_equal(xparse(x), ACPI_OK);
    assert_int_equal(x->ai.slp_typa, 5);
    assert_int_equal(x->ai.slp_typb, 6);
  }
}

/* The AML scan alone: every truncation of a good package, the forms it
 * must accept, and look-alikes it must not. */
static void test_find_s5_forms(void **state) {
  (void)state;
  uint8_t a, b;
  static const uint8_t good[] = {0x08, '_',  'S',  '5', '_', 0x12, 0x0A,
                                 0x04, 0x0C, 0x07, 0,   0,   0,    0x01};
  assert_true(acpi_find_s5(good, sizeof(good), &a, &b));
  assert_int_equal(a, 7);
  assert_int_equal(b, 1);
  for (size_t n = 0; n < sizeof(good); n++) {
    uint8_t *cut = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    memcpy(cut, good, n);
    assert_false(acpi_find_s5(cut, n, &a, &b));
    free(cut);
  }
  /* A two-byte PkgLength (bits 7:6 = 1). */
  static const uint8_t pk2[] = {0x08, '_', 'S', '5', '_', 0x12, 0x40, 0x01, 0x02, 0x01, 0x00};
  assert_true(acpi_find_s5(pk2, sizeof(pk2), &a, &b));
  assert_int_equal(a, 1);
  /* A reference, not a name; a method; one element only; a string. */
  static const uint8_t ref[] = {0x70, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x00, 0x00};
  static const uint8_t one[] = {0x08, '_', 'S', '5', '_', 0x12, 0x03, 0x01, 0x00};
  static const uint8_t str[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0D, 'x', 0};
  assert_false(acpi_find_s5(ref, sizeof(ref), &a, &b));
  assert_false(acpi_find_s5(one, sizeof(one), &a, &b));
  assert_false(acpi_find_s5(str, sizeof(str), &a, &b));
  /* A bad look-alike first, the real one after it. */
  uint8_t two[sizeof(ref) + sizeof(good)];
  memcpy(two, ref, sizeof(ref));
  memcpy(two + sizeof(ref), good, sizeof(good));
  assert_true(acpi_find_s5(two, sizeof(two), &a, &b));
  assert_int_equal(a, 7);
}

/* Memory that refuses every read beyond the BIOS area: tables pointing
 * outside it are absent, not a crash. */
static void test_unreadable_tables(void **state) {
  struct afx *x = *state;
  set64(x, x->l.al_fadt, 140, 0x7FFFFFFFFFFFull); /* X_DSDT far away */
  assert_int_equal(xparse(x), ACPI_E_DSDT);
}

static const struct CMUnitTest tests[] = {
    ACPI_TEST(test_hvhost_tables_bytes),
    ACPI_TEST(test_parse_hvhost_tables),
    ACPI_TEST(test_hvhost_tables_iasl),
    ACPI_TEST(test_rsdp_in_ebda_first),
    ACPI_TEST(test_parse_qemu_pc_tables),
    ACPI_TEST(test_parse_qemu_q35_tables),
    ACPI_TEST(test_bad_rsdp),
    ACPI_TEST(test_bad_roots),
    ACPI_TEST(test_root_loops_and_wild_pointers),
    ACPI_TEST(test_bad_fadt),
    ACPI_TEST(test_bad_dsdt),
    ACPI_TEST(test_s5_across_chunks),
    cmocka_unit_test(test_find_s5_forms),
    ACPI_TEST(test_unreadable_tables),
};

UNIT_MAIN("arch_acpi", tests)
