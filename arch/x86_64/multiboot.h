/* arch/x86_64/multiboot.h: multiboot (version 1) information structures, as
 * the loader hands them to the kernel (multiboot spec 0.6.96, section 3.3).
 * Wire format: written by GRUB, QEMU or hvhost; read once and validated. */
#ifndef ARCH_X86_64_MULTIBOOT_H
#define ARCH_X86_64_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MB_BOOTLOADER_MAGIC 0x2BADB002u

#define MB_INFO_MEMORY (1u << 0)  /* mem_lower, mem_upper */
#define MB_INFO_CMDLINE (1u << 2) /* cmdline */
#define MB_INFO_MODS (1u << 3)    /* mods_count, mods_addr */
#define MB_INFO_MEM_MAP (1u << 6) /* mmap_length, mmap_addr */
#define MB_INFO_LOADER (1u << 9)  /* boot_loader_name */

struct mb_info {
  uint32_t flags;
  uint32_t mem_lower; /* KiB below 1 MiB */
  uint32_t mem_upper; /* KiB above 1 MiB */
  uint32_t boot_device;
  uint32_t cmdline; /* physical address of a NUL-terminated string */
  uint32_t mods_count;
  uint32_t mods_addr; /* physical address of struct mb_module[mods_count] */
  uint32_t syms[4];
  uint32_t mmap_length; /* bytes */
  uint32_t mmap_addr;
  uint32_t drives_length;
  uint32_t drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
} __attribute__((packed));
_Static_assert(offsetof(struct mb_info, cmdline) == 16, "multiboot info: cmdline");
_Static_assert(offsetof(struct mb_info, mods_addr) == 24, "multiboot info: mods_addr");
_Static_assert(offsetof(struct mb_info, mmap_length) == 44, "multiboot info: mmap_length");
_Static_assert(offsetof(struct mb_info, boot_loader_name) == 64, "multiboot info: loader name");
_Static_assert(sizeof(struct mb_info) == 72, "multiboot info size up to apm_table");

/* One memory-map entry. `size` counts the bytes after itself (so the next
 * entry is at entry + size + 4); it may exceed 20. */
struct mb_mmap_entry {
  uint32_t size;
  uint64_t addr;
  uint64_t len;
  uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry");

#define MB_MEMORY_AVAILABLE 1
#define MB_MEMORY_RESERVED 2
#define MB_MEMORY_ACPI_RECLAIMABLE 3
#define MB_MEMORY_NVS 4
#define MB_MEMORY_BADRAM 5

struct mb_module {
  uint32_t mod_start;
  uint32_t mod_end;
  uint32_t string;
  uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_module) == 16, "multiboot module entry");

#endif
