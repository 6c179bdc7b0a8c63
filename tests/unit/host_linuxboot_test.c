/* tests/unit/host_linuxboot_test.c: hvhost's Linux loader and the small
 * devices Linux probes. host/linuxboot.c against synthetic images laid out
 * from Linux's Documentation/x86/boot.rst (setup header at 0x1f1, "HdrS",
 * protected-mode code after the setup sectors, the 64-bit entry 0x200 in)
 * and from the ELF spec (vmlinux); host/kvm_pvm.c's classification of the
 * instructions kvm-pvm refuses; host/pcio.c's UART probe answers (Linux's
 * 8250 autoconfig: IER read-back, loopback MSR 0x90) and the CMOS RTC. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/kvm_pvm.h"
#include "host/linux_boot.h"
#include "host/linuxboot.h"
#include "host/pcio.h"
#include "tests/unit/unit.h"

#define MEM (64u << 20)
#define SETUP_SECTS 4u
#define PM_LEN 8192u /* the synthetic protected-mode part */

static uint8_t *mem;

static int setup(void **state) {
  (void)state;
  mem = calloc(1, MEM);
  return mem ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  free(mem);
  return 0;
}

/* A bzImage as boot.rst lays one out, protocol `version`. */
static uint8_t *make_bzimage(size_t *len, uint16_t version, uint16_t xloadflags) {
  *len = (SETUP_SECTS + 1) * 512 + PM_LEN;
  uint8_t *img = calloc(1, *len);
  struct lxb_setup_header h;
  memset(&h, 0, sizeof(h));
  h.setup_sects = SETUP_SECTS;
  h.boot_flag = LXB_BOOT_FLAG;
  h.jump = (uint16_t)(0xeb | ((0x26c - 0x202) << 8)); /* jmp over the header */
  h.header = LXB_HDR_MAGIC;
  h.version = version;
  h.loadflags = LXB_LOADED_HIGH;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.relocatable_kernel = 1;
  h.xloadflags = xloadflags;
  h.cmdline_size = 2047;
  h.init_size = 4u << 20;
  memcpy(img + LXB_HDR_OFFSET, &h, sizeof(h));
  for (size_t i = 0; i < PM_LEN; i++)
    img[(SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 1);
  return img;
}

static void test_bzimage_zero_page(void **state) {
  (void)state;
  size_t len;
  uint8_t *img = make_bzimage(&len, 0x020f, LXB_XLF_KERNEL_64);
  static const uint8_t initrd[5000] = {1, 2, 3};
  char err[256];
  struct lxb_entry e;
  assert_true(lxb_is_bzimage(img, len));
  assert_int_equal(lxb_load(mem, MEM, img, len, initrd, sizeof(initrd), "console=ttyS0", 0xe0000,
                            &e, err, sizeof(err)),
                   0);
  /* The protected-mode code at 1 MiB, the 64-bit entry 0x200 in. */
  assert_memory_equal(mem + LXB_KERNEL_ADDR, img + (SETUP_SECTS + 1) * 512, PM_LEN);
  assert_int_equal(e.le_rip, LXB_KERNEL_ADDR + 0x200);
  assert_int_equal(e.le_rsi, LXB_ZERO_PAGE_ADDR);
  const struct lxb_boot_params *bp = (const void *)(mem + LXB_ZERO_PAGE_ADDR);
  assert_int_equal(bp->hdr.header, LXB_HDR_MAGIC);
  assert_int_equal(bp->hdr.type_of_loader, 0xff);
  assert_true(bp->hdr.loadflags & LXB_LOADED_HIGH);
  assert_int_equal(bp->sentinel, 0);
  assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);
  assert_string_equal((const char *)mem + bp->hdr.cmd_line_ptr, "console=ttyS0");
  /* The initrd: page aligned, at the top of memory, its bytes intact. */
  assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
  assert_int_equal(bp->hdr.ramdisk_image & 0xfff, 0);
  assert_true(bp->hdr.ramdisk_image + sizeof(initrd) <= MEM);
  assert_true(bp->hdr.ramdisk_image >= MEM - 8192);
  assert_memory_equal(mem + bp->hdr.ramdisk_image, initrd, sizeof(initrd));
  /* e820: low RAM, the EBDA and BIOS area reserved, RAM from 1 MiB. */
  assert_int_equal(bp->e820_entries, 4);
  assert_int_equal(bp->e820_table[0].type, LXB_E820_RAM);
  assert_int_equal(bp->e820_table[0].size, LXB_LOW_RAM_END);
  assert_int_equal(bp->e820_table[2].addr, 0xe0000);
  assert_int_equal(bp->e820_table[2].type, LXB_E820_RESERVED);
  assert_int_equal(bp->e820_table[3].addr + bp->e820_table[3].size, MEM);
  /* Identity map: 2 MiB pages from 0, and the GDT's __BOOT_CS is 64-bit code. */
  const uint64_t *pd = (const uint64_t *)(mem + LXB_PML4_ADDR + 2 * 4096);
  assert_int_equal(pd[0], 0x83);
  assert_int_equal(pd[8], (8ull << 21) | 0x83);
  uint64_t cs;
  memcpy(&cs, mem + e.le_gdt + LXB_BOOT_CS, 8);
  assert_int_equal((cs >> 53) & 1, 1); /* L */
  free(img);
}

static void test_bzimage_refused(void **state) {
  (void)state;
  size_t len;
  char err[256];
  struct lxb_entry e;
  uint8_t *old = make_bzimage(&len, 0x020b, LXB_XLF_KERNEL_64);
  assert_int_equal(lxb_load(mem, MEM, old, len, NULL, 0, "", 0, &e, err, sizeof(err)), -ENOEXEC);
  assert_non_null(strstr(err, "2.11"));
  free(old);
  uint8_t *no64 = make_bzimage(&len, 0x020f, 0);
  assert_int_equal(lxb_load(mem, MEM, no64, len, NULL, 0, "", 0, &e, err, sizeof(err)), -ENOEXEC);
  free(no64);
  uint8_t *img = make_bzimage(&len, 0x020f, LXB_XLF_KERNEL_64);
  char big[2100];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(lxb_load(mem, MEM, img, len, NULL, 0, big, 0, &e, err, sizeof(err)), -E2BIG);
  /* More memory than the VM has (init_size). */
  assert_int_equal(lxb_load(mem, 4u << 20, img, len, NULL, 0, "", 0, &e, err, sizeof(err)),
                   -ENOMEM);
  /* Truncated to the setup sectors. */
  assert_int_equal(
      lxb_load(mem, MEM, img, (SETUP_SECTS + 1) * 512, NULL, 0, "", 0, &e, err, sizeof(err)),
      -ENOEXEC);
  assert_false(lxb_is_bzimage(img, 0x200));
  free(img);
}

/* A vmlinux: one PT_LOAD at physical 16 MiB with a .bss tail. */
static uint8_t *make_vmlinux(size_t *len, uint64_t paddr, uint64_t entry) {
  *len = 4096 + PM_LEN;
  uint8_t *img = calloc(1, *len);
  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof(eh));
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(eh);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph;
  memset(&ph, 0, sizeof(ph));
  ph.p_type = PT_LOAD;
  ph.p_offset = 4096;
  ph.p_paddr = paddr;
  ph.p_vaddr = 0xffffffff80000000ull + paddr;
  ph.p_filesz = PM_LEN;
  ph.p_memsz = PM_LEN + 4096;
  memcpy(img, &eh, sizeof(eh));
  memcpy(img + sizeof(eh), &ph, sizeof(ph));
  for (size_t i = 0; i < PM_LEN; i++)
    img[4096 + i] = (uint8_t)(i * 3 + 5);
  return img;
}

static void test_vmlinux(void **state) {
  (void)state;
  size_t len;
  char err[256];
  struct lxb_entry e;
  uint8_t *img = make_vmlinux(&len, 0x1000000, 0x1000000);
  assert_true(lxb_is_vmlinux(img, len));
  assert_false(lxb_is_bzimage(img, len));
  memset(mem + 0x1000000 + PM_LEN, 0xee, 4096); /* the .bss must come back zero */
  assert_int_equal(
      lxb_load_vmlinux(mem, MEM, img, len, NULL, 0, "root=none", 0, &e, err, sizeof(err)), 0);
  assert_int_equal(e.le_rip, 0x1000000);
  assert_memory_equal(mem + 0x1000000, img + 4096, PM_LEN);
  assert_int_equal(mem[0x1000000 + PM_LEN + 100], 0);
  const struct lxb_boot_params *bp = (const void *)(mem + LXB_ZERO_PAGE_ADDR);
  assert_int_equal(bp->hdr.boot_flag, LXB_BOOT_FLAG);
  assert_int_equal(bp->hdr.header, LXB_HDR_MAGIC);
  assert_true(bp->hdr.version >= LXB_MIN_VERSION);
  assert_string_equal((const char *)mem + bp->hdr.cmd_line_ptr, "root=none");
  free(img);
  /* The entry outside every segment, a segment beyond memory or below 1 MiB. */
  img = make_vmlinux(&len, 0x1000000, 0x2000000);
  assert_int_equal(lxb_load_vmlinux(mem, MEM, img, len, NULL, 0, "", 0, &e, err, sizeof(err)),
                   -ENOEXEC);
  free(img);
  img = make_vmlinux(&len, MEM - 4096, MEM - 4096);
  assert_int_equal(lxb_load_vmlinux(mem, MEM, img, len, NULL, 0, "", 0, &e, err, sizeof(err)),
                   -ENOMEM);
  free(img);
  img = make_vmlinux(&len, 0x1000, 0x1000);
  assert_int_equal(lxb_load_vmlinux(mem, MEM, img, len, NULL, 0, "", 0, &e, err, sizeof(err)),
                   -ENOMEM);
  free(img);
}

static void test_pvm_classify(void **state) {
  (void)state;
  static const uint8_t selftest[] = {0xcc, 0x90, 0x90, 0x90, 0x90};
  static const uint8_t bp[] = {0xcc, 0x0f, 0x1f, 0x44, 0x00};
  static const uint8_t fwait[] = {0x9b};
  static const uint8_t clac[] = {0x0f, 0x01, 0xca};
  assert_int_equal(pvm_classify(selftest, sizeof(selftest)), PVM_INT3_SELFTEST);
  assert_int_equal(pvm_classify(selftest, 1), PVM_INJECT_BP); /* bytes unreadable past it */
  assert_int_equal(pvm_classify(bp, sizeof(bp)), PVM_INJECT_BP);
  assert_int_equal(pvm_classify(fwait, sizeof(fwait)), PVM_SKIP_FWAIT);
  assert_int_equal(pvm_classify(clac, sizeof(clac)), PVM_UNKNOWN);
  assert_int_equal(pvm_classify(clac, 0), PVM_UNKNOWN);
  assert_non_null(strstr(pvm_linux_words(), "noxsave"));
  assert_non_null(strstr(pvm_linux_words(), "clearcpuid=129,"));
}

static void test_pcio(void **state) {
  (void)state;
  struct pcio_uart u;
  memset(&u, 0, sizeof(u));
  /* 8250 autoconfig: IER reads back its low nibble. */
  assert_false(pcio_uart_write(&u, 1, 0x0f));
  assert_int_equal(pcio_uart_read(&u, 1), 0x0f);
  /* Loopback: MCR RTS|OUT2 shows as CTS|DCD in MSR. */
  pcio_uart_write(&u, 4, 0x10 | 0x0a);
  assert_int_equal(pcio_uart_read(&u, 6) & 0xf0, 0x90);
  /* DLAB: offset 0 is the divisor, not a byte to send. */
  pcio_uart_write(&u, 3, 0x83);
  assert_false(pcio_uart_write(&u, 0, 1));
  assert_int_equal(pcio_uart_read(&u, 0), 1);
  pcio_uart_write(&u, 3, 0x03);
  assert_true(pcio_uart_write(&u, 0, 'A'));
  assert_int_equal(pcio_uart_read(&u, 5), 0x60);
  assert_int_equal(pcio_uart_read(&u, 2) & 1, 1); /* no interrupt pending */
  /* RTC: 2026-12-07 14:11:03 UTC in BCD, never updating, valid. */
  struct pcio_rtc r = {0};
  const time_t t = 1796652663;
  pcio_rtc_write(&r, PCIO_RTC_INDEX, 0x80 | 0x00); /* NMI-disable bit ignored */
  assert_int_equal(pcio_rtc_read(&r, PCIO_RTC_DATA, t), 0x03);
  pcio_rtc_write(&r, PCIO_RTC_INDEX, 0x04);
  assert_int_equal(pcio_rtc_read(&r, PCIO_RTC_DATA, t), 0x14);
  pcio_rtc_write(&r, PCIO_RTC_INDEX, 0x09);
  assert_int_equal(pcio_rtc_read(&r, PCIO_RTC_DATA, t), 0x26);
  pcio_rtc_write(&r, PCIO_RTC_INDEX, 0x0a);
  assert_int_equal(pcio_rtc_read(&r, PCIO_RTC_DATA, t) & 0x80, 0);
  pcio_rtc_write(&r, PCIO_RTC_INDEX, 0x0d);
  assert_int_equal(pcio_rtc_read(&r, PCIO_RTC_DATA, t), 0x80);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bzimage_zero_page),
    cmocka_unit_test(test_bzimage_refused),
    cmocka_unit_test(test_vmlinux),
    cmocka_unit_test(test_pvm_classify),
    cmocka_unit_test(test_pcio),
};

UNIT_MAIN_GROUP("host_linuxboot", tests, setup, teardown)
