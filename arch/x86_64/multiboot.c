/* arch/x86_64/multiboot.c: memory map and command line from the loader.
 *
 * The loader is trusted to boot us but its tables are still read defensively:
 * every walk is bounded by the lengths it states, entries too short to hold
 * their fields end the walk, and addresses are checked for overflow. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/multiboot.h"
#include "kernel/log.h"
#include "kernel/page.h"

#define MB_MAX_MMAP_ENTRIES 128
#define MB_MAX_MODULES 64
#define LOW_MEMORY_END 0x100000ull /* BIOS, VGA, option ROMs: never allocated */

/* A memory-map entry's type as the boot log names it. */
static const char *mb_type_name(uint32_t t) {
  static const char *const names[] = {
      [MB_MEMORY_AVAILABLE] = "available",
      [MB_MEMORY_RESERVED] = "reserved",
      [MB_MEMORY_ACPI_RECLAIMABLE] = "ACPI",
      [MB_MEMORY_NVS] = "ACPI NVS",
      [MB_MEMORY_BADRAM] = "bad",
  };
  return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "unknown";
}

const char *mb_cmdline(const struct mb_info *mbi) {
  if (!(mbi->flags & MB_INFO_CMDLINE) || mbi->cmdline == 0)
    return NULL;
  return (const char *)(uintptr_t)mbi->cmdline;
}

int mb_memory_init(const struct mb_info *mbi) {
  uint32_t flags = mbi->flags;
  if (!(flags & MB_INFO_MEM_MAP)) {
    pr_err("memory: the loader passed no memory map (multiboot flags %#x)\n", flags);
    return -EINVAL;
  }
  uint32_t mlen = mbi->mmap_length, maddr = mbi->mmap_addr;
  page_reset();
  pr_info("memory map (from the loader):\n");
  uint32_t off = 0;
  for (unsigned n = 0; n < MB_MAX_MMAP_ENTRIES && off < mlen; n++) {
    if (mlen - off < sizeof(struct mb_mmap_entry))
      break;
    const struct mb_mmap_entry *e = (const void *)(uintptr_t)(maddr + off);
    uint32_t size = e->size;
    uint64_t addr = e->addr, len = e->len;
    uint32_t type = e->type;
    if (size < 20 || size > mlen - off - 4)
      break; /* malformed: stop rather than walk off the table */
    off += size + 4;
    if (len == 0)
      continue; /* padding entries some loaders emit */
    uint64_t end = (len > UINT64_MAX - addr) ? UINT64_MAX : addr + len;
    pr_info("  %016lx-%016lx %s\n", (unsigned long)addr, (unsigned long)end, mb_type_name(type));
    if (type == MB_MEMORY_AVAILABLE && end > LOW_MEMORY_END) {
      uint64_t lo = addr < LOW_MEMORY_END ? LOW_MEMORY_END : addr;
      page_add_free(lo, end - lo);
    }
  }
  /* Take back what is in use: the kernel image and its .bss, and every
   * structure the loader handed over (we keep reading them). */
  page_reserve((uintptr_t)_load_start, (uintptr_t)_end - (uintptr_t)_load_start);
  page_reserve((uintptr_t)mbi, sizeof(*mbi));
  page_reserve(maddr, mlen);
  const char *cl = mb_cmdline(mbi);
  if (cl)
    page_reserve((uintptr_t)cl, strlen(cl) + 1);
  if (flags & MB_INFO_MODS) {
    uint32_t count = mbi->mods_count, mods = mbi->mods_addr;
    if (count > MB_MAX_MODULES)
      count = MB_MAX_MODULES;
    page_reserve(mods, (uint64_t)count * sizeof(struct mb_module));
    for (uint32_t i = 0; i < count; i++) {
      const struct mb_module *m = (const void *)(uintptr_t)(mods + i * sizeof(*m));
      uint32_t s = m->mod_start, e = m->mod_end;
      if (e > s)
        page_reserve(s, e - s);
    }
  }
  if (flags & MB_INFO_LOADER && mbi->boot_loader_name) {
    const char *name = (const char *)(uintptr_t)mbi->boot_loader_name;
    page_reserve((uintptr_t)name, strlen(name) + 1);
  }
  uint64_t fp = page_free_count();
  pr_info("memory: %lu free pages (%lu MiB), kernel image %#lx-%#lx\n", (unsigned long)fp,
          (unsigned long)(fp >> 8), (unsigned long)(uintptr_t)_load_start,
          (unsigned long)(uintptr_t)_end);
  return fp ? 0 : -ENOMEM;
}
