/* host/linuxboot.c: the bzImage loader (64-bit boot protocol). */
#include "host/linuxboot.h"

#include <errno.h>
#include <stdio.h>
#include <elf.h>
#include <string.h>

#include "host/linux_boot.h"

/* Copy a bzImage's setup header out of img into *h: true when img is one
 * (long enough, "HdrS" and the boot flag where boot.rst puts them). */
static bool lxb_read_setup_header(const uint8_t *img, size_t len, struct lxb_setup_header *h) {
  if (len < LXB_HDR_OFFSET + sizeof(*h))
    return false;
  memcpy(h, img + LXB_HDR_OFFSET, sizeof(*h));
  return h->header == LXB_HDR_MAGIC && h->boot_flag == LXB_BOOT_FLAG;
}

bool lxb_is_bzimage(const uint8_t *img, size_t len) {
  struct lxb_setup_header h;
  return lxb_read_setup_header(img, len, &h);
}

/* The identity map of 0-4 GiB with 2 MiB pages: PML4 -> PDPT -> 4 PDs. */
static void lxb_page_tables(uint8_t *mem) {
  uint64_t *pml4 = (uint64_t *)(mem + LXB_PML4_ADDR);
  uint64_t *pdpt = pml4 + 512;
  uint64_t *pd = pdpt + 512;
  memset(pml4, 0, 6 * 4096);
  pml4[0] = (LXB_PML4_ADDR + 0x1000) | 0x3; /* present, writable */
  for (uint64_t i = 0; i < 4; i++)
    pdpt[i] = (LXB_PML4_ADDR + 0x2000 + i * 0x1000) | 0x3;
  for (uint64_t i = 0; i < 4 * 512; i++)
    pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
}

/* GDT: null, null, __BOOT_CS (64-bit code), __BOOT_DS (flat data). */
static void lxb_gdt(uint8_t *mem) {
  const uint64_t gdt[4] = {0, 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull};
  memcpy(mem + LXB_GDT_ADDR, gdt, sizeof(gdt));
}

/* What both image kinds share once the kernel is in memory: the command
 * line, the initrd (above `need`), the zero page from header `h` (its first
 * hdr_len bytes, as the image carries them), the e820 map, page tables, GDT
 * and the entry state. */
static int lxb_finish(uint8_t *mem, uint64_t mem_bytes, const struct lxb_setup_header *h,
                      size_t hdr_len, uint64_t need, uint64_t entry, const uint8_t *initrd,
                      size_t initrd_len, const char *cmdline, uint64_t rsdp, struct lxb_entry *out,
                      char *err, size_t errlen) {
  size_t cl_len = strlen(cmdline);
  uint32_t cl_max = h->cmdline_size ? h->cmdline_size : 255;
  if (cl_len > cl_max || cl_len + 1 > LXB_CMDLINE_MAX) {
    snprintf(err, errlen, "kernel command line of %zu bytes; this kernel takes %u", cl_len,
             cl_max < LXB_CMDLINE_MAX - 1 ? cl_max : LXB_CMDLINE_MAX - 1);
    return -E2BIG;
  }
  uint64_t initrd_addr = 0;
  if (initrd_len) {
    uint64_t top = mem_bytes;
    if (h->initrd_addr_max && (uint64_t)h->initrd_addr_max + 1 < top)
      top = (uint64_t)h->initrd_addr_max + 1;
    if (initrd_len > top || ((top - initrd_len) & ~0xfffull) < need) {
      snprintf(err, errlen, "initrd of %zu bytes does not fit above the kernel", initrd_len);
      return -ENOMEM;
    }
    initrd_addr = (top - initrd_len) & ~0xfffull;
    memcpy(mem + initrd_addr, initrd, initrd_len);
  }
  memcpy(mem + LXB_CMDLINE_ADDR, cmdline, cl_len + 1);
  struct lxb_boot_params *bp = (struct lxb_boot_params *)(mem + LXB_ZERO_PAGE_ADDR);
  memset(bp, 0, sizeof(*bp));
  memcpy(&bp->hdr, h, hdr_len);
  bp->hdr.type_of_loader = LXB_TYPE_OF_LOADER_UNDEF;
  bp->hdr.loadflags = (uint8_t)((bp->hdr.loadflags | LXB_LOADED_HIGH) & ~0x80u); /* no heap */
  bp->hdr.code32_start = LXB_KERNEL_ADDR;
  bp->hdr.cmd_line_ptr = LXB_CMDLINE_ADDR;
  bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
  bp->hdr.ramdisk_size = (uint32_t)initrd_len;
  bp->acpi_rsdp_addr = rsdp;
  const struct lxb_e820 map[] = {
      {0, LXB_LOW_RAM_END, LXB_E820_RAM},
      {LXB_LOW_RAM_END, 0xa0000 - LXB_LOW_RAM_END, LXB_E820_RESERVED},
      {LXB_BIOS_START, LXB_KERNEL_ADDR - LXB_BIOS_START, LXB_E820_RESERVED},
      {LXB_KERNEL_ADDR, mem_bytes - LXB_KERNEL_ADDR, LXB_E820_RAM},
  };
  memcpy(bp->e820_table, map, sizeof(map));
  bp->e820_entries = (uint8_t)(sizeof(map) / sizeof(map[0]));
  lxb_page_tables(mem);
  lxb_gdt(mem);
  out->le_rip = entry;
  out->le_rsi = LXB_ZERO_PAGE_ADDR;
  out->le_cr3 = LXB_PML4_ADDR;
  out->le_gdt = LXB_GDT_ADDR;
  out->le_version = h->version;
  return 0;
}

int lxb_load(uint8_t *mem, uint64_t mem_bytes, const uint8_t *img, size_t len,
             const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint64_t rsdp,
             struct lxb_entry *out, char *err, size_t errlen) {
  struct lxb_setup_header h;
  if (!lxb_read_setup_header(img, len, &h)) {
    snprintf(err, errlen, "not a bzImage (no \"HdrS\" setup header)");
    return -ENOEXEC;
  }
  if (h.version < LXB_MIN_VERSION || !(h.xloadflags & LXB_XLF_KERNEL_64)) {
    snprintf(err, errlen,
             "bzImage boot protocol %u.%02u without the 64-bit entry (need 2.12 and "
             "XLF_KERNEL_64)",
             (unsigned)(h.version >> 8), (unsigned)(h.version & 0xff));
    return -ENOEXEC;
  }
  /* The header's own length: 0x202 + the jump's displacement byte. */
  size_t hdr_end = 0x202u + (h.jump >> 8);
  if (hdr_end > len || hdr_end > LXB_HDR_OFFSET + sizeof(h))
    hdr_end = LXB_HDR_OFFSET + sizeof(h); /* newer than we know: copy ours */
  size_t setup = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
  if (setup >= len) {
    snprintf(err, errlen, "bzImage: %zu setup bytes but the file has %zu", setup, len);
    return -ENOEXEC;
  }
  size_t kernel_len = len - setup;
  uint64_t need = (uint64_t)LXB_KERNEL_ADDR + (h.init_size > kernel_len ? h.init_size : kernel_len);
  /* Non-relocatable kernels decompress to pref_address; they need memory
   * up to pref_address + init_size. */
  if (!h.relocatable_kernel && h.pref_address + h.init_size > need)
    need = h.pref_address + h.init_size;
  if (need > mem_bytes) {
    snprintf(err, errlen, "bzImage needs %llu MiB of memory (init_size %u), the VM has %llu MiB",
             (unsigned long long)((need + 0xfffff) >> 20), h.init_size,
             (unsigned long long)(mem_bytes >> 20));
    return -ENOMEM;
  }
  memcpy(mem + LXB_KERNEL_ADDR, img + setup, kernel_len);
  return lxb_finish(mem, mem_bytes, &h, hdr_end - LXB_HDR_OFFSET, need,
                    LXB_KERNEL_ADDR + LXB_ENTRY64_OFFSET, initrd, initrd_len, cmdline, rsdp, out,
                    err, errlen);
}

/* ---- vmlinux ---------------------------------------------------------------- */

/* Copy a vmlinux's ELF header out of img into *eh: true when img is one
 * (an x86-64 ELF executable). */
static bool lxb_read_elf_header(const uint8_t *img, size_t len, Elf64_Ehdr *eh) {
  if (len < sizeof(*eh))
    return false;
  memcpy(eh, img, sizeof(*eh));
  return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
         eh->e_machine == EM_X86_64 && eh->e_type == ET_EXEC;
}

bool lxb_is_vmlinux(const uint8_t *img, size_t len) {
  Elf64_Ehdr eh;
  return lxb_read_elf_header(img, len, &eh);
}

int lxb_load_vmlinux(uint8_t *mem, uint64_t mem_bytes, const uint8_t *img, size_t len,
                     const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint64_t rsdp,
                     struct lxb_entry *out, char *err, size_t errlen) {
  Elf64_Ehdr eh;
  if (!lxb_read_elf_header(img, len, &eh)) {
    snprintf(err, errlen, "not an x86-64 ELF executable");
    return -ENOEXEC;
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
      (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
    snprintf(err, errlen, "vmlinux: program headers outside the file");
    return -ENOEXEC;
  }
  uint64_t need = 0;
  bool entry_ok = false;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, img + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
    if (ph.p_type != PT_LOAD)
      continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset ||
        ph.p_paddr < LXB_KERNEL_ADDR || ph.p_memsz > mem_bytes ||
        ph.p_paddr > mem_bytes - ph.p_memsz) {
      snprintf(err, errlen,
               "vmlinux: segment %u (physical %#llx, %llu bytes) outside the file or the VM's "
               "%llu MiB",
               i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
               (unsigned long long)(mem_bytes >> 20));
      return -ENOMEM;
    }
    memcpy(mem + ph.p_paddr, img + ph.p_offset, ph.p_filesz);
    memset(mem + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    if (ph.p_paddr + ph.p_memsz > need)
      need = ph.p_paddr + ph.p_memsz;
    if (eh.e_entry >= ph.p_paddr && eh.e_entry < ph.p_paddr + ph.p_filesz)
      entry_ok = true;
  }
  if (!entry_ok) {
    snprintf(err, errlen, "vmlinux: entry %#llx is in no loaded segment (physical addresses)",
             (unsigned long long)eh.e_entry);
    return -ENOEXEC;
  }
  /* No setup header in a vmlinux: the loader writes the one a bzImage of
   * protocol 2.15 would carry (boot.rst), the fields the kernel reads. */
  struct lxb_setup_header h;
  memset(&h, 0, sizeof(h));
  h.boot_flag = LXB_BOOT_FLAG;
  h.header = LXB_HDR_MAGIC;
  h.version = 0x020f;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.xloadflags = LXB_XLF_KERNEL_64;
  h.cmdline_size = LXB_CMDLINE_MAX - 1;
  return lxb_finish(mem, mem_bytes, &h, sizeof(h), need, eh.e_entry, initrd, initrd_len, cmdline,
                    rsdp, out, err, errlen);
}
