/* host/linux_boot.h: the x86 Linux boot protocol's wire formats (prefix lxb_).
 *
 * What a boot loader reads from a bzImage and writes into the "zero page"
 * (struct boot_params) before it jumps to the kernel's 64-bit entry, written
 * from Linux's Documentation/x86/boot.rst and zero-page.rst (the layout of
 * arch/x86/include/uapi/asm/bootparam.h). Only the fields a loader uses are
 * named; the rest are padding at the offsets the protocol fixes, and every
 * named offset is asserted. The setup header sits at offset 0x1f1 both in
 * the bzImage file and in the zero page.
 */
#ifndef HOST_LINUX_BOOT_H
#define HOST_LINUX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define LXB_HDR_OFFSET 0x1f1u     /* the setup header, in file and zero page */
#define LXB_HDR_MAGIC 0x53726448u /* "HdrS" at 0x202 */
#define LXB_BOOT_FLAG 0xaa55u     /* at 0x1fe */
#define LXB_MIN_VERSION 0x020cu   /* 2.12: xloadflags, the 64-bit entry */
#define LXB_ENTRY64_OFFSET 0x200u /* startup_64 from the protected-mode start */
#define LXB_LOADED_HIGH 0x01u     /* loadflags: protected-mode code at 1 MiB */
#define LXB_XLF_KERNEL_64 0x0001u /* xloadflags: has the 64-bit entry */
#define LXB_TYPE_OF_LOADER_UNDEF 0xffu
#define LXB_E820_MAX 128u /* entries in the zero page */
#define LXB_E820_RAM 1u
#define LXB_E820_RESERVED 2u
#define LXB_E820_ACPI 3u
/* The 64-bit entry's GDT selectors (boot.rst, "64-bit boot protocol"). */
#define LXB_BOOT_CS 0x10u
#define LXB_BOOT_DS 0x18u

/** The setup header (boot.rst "The real-mode kernel header"), offsets as in
 * the zero page. */
struct lxb_setup_header {
  uint8_t setup_sects; /* 0x1f1: 512-byte setup sectors (0 means 4) */
  uint16_t root_flags;
  uint32_t syssize;
  uint16_t ram_size;
  uint16_t vid_mode;
  uint16_t root_dev;
  uint16_t boot_flag; /* 0x1fe: 0xaa55 */
  uint16_t jump;      /* 0x200: the header ends at 0x202 + (jump >> 8) */
  uint32_t header;    /* 0x202: "HdrS" */
  uint16_t version;   /* 0x206 */
  uint32_t realmode_swtch;
  uint16_t start_sys_seg;
  uint16_t kernel_version;
  uint8_t type_of_loader; /* 0x210: written */
  uint8_t loadflags;      /* 0x211: written */
  uint16_t setup_move_size;
  uint32_t code32_start;  /* 0x214: written */
  uint32_t ramdisk_image; /* 0x218: written */
  uint32_t ramdisk_size;  /* 0x21c: written */
  uint32_t bootsect_kludge;
  uint16_t heap_end_ptr;
  uint8_t ext_loader_ver;
  uint8_t ext_loader_type;
  uint32_t cmd_line_ptr;    /* 0x228: written */
  uint32_t initrd_addr_max; /* 0x22c */
  uint32_t kernel_alignment;
  uint8_t relocatable_kernel;
  uint8_t min_alignment;
  uint16_t xloadflags;   /* 0x236 */
  uint32_t cmdline_size; /* 0x238: longest command line without the NUL */
  uint32_t hardware_subarch;
  uint64_t hardware_subarch_data;
  uint32_t payload_offset;
  uint32_t payload_length;
  uint64_t setup_data;
  uint64_t pref_address; /* 0x258 */
  uint32_t init_size;    /* 0x260: memory the kernel needs from its load address */
  uint32_t handover_offset;
  uint32_t kernel_info_offset;
} __attribute__((packed));

#define LXB_HDR_AT(field) (offsetof(struct lxb_setup_header, field) + LXB_HDR_OFFSET)
_Static_assert(LXB_HDR_AT(boot_flag) == 0x1fe, "boot_flag");
_Static_assert(LXB_HDR_AT(header) == 0x202, "header");
_Static_assert(LXB_HDR_AT(version) == 0x206, "version");
_Static_assert(LXB_HDR_AT(type_of_loader) == 0x210, "type_of_loader");
_Static_assert(LXB_HDR_AT(code32_start) == 0x214, "code32_start");
_Static_assert(LXB_HDR_AT(ramdisk_image) == 0x218, "ramdisk_image");
_Static_assert(LXB_HDR_AT(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(LXB_HDR_AT(initrd_addr_max) == 0x22c, "initrd_addr_max");
_Static_assert(LXB_HDR_AT(xloadflags) == 0x236, "xloadflags");
_Static_assert(LXB_HDR_AT(cmdline_size) == 0x238, "cmdline_size");
_Static_assert(LXB_HDR_AT(pref_address) == 0x258, "pref_address");
_Static_assert(LXB_HDR_AT(init_size) == 0x260, "init_size");
_Static_assert(sizeof(struct lxb_setup_header) == 0x26c - LXB_HDR_OFFSET, "setup header");

/** One memory-map entry (boot_e820_entry). */
struct lxb_e820 {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct lxb_e820) == 20, "e820 entry");

/** The zero page (zero-page.rst); the loader zeroes it, then fills these. */
struct lxb_boot_params {
  uint8_t pad0[0x70];
  uint64_t acpi_rsdp_addr; /* 0x070 */
  uint8_t pad1[0xc0 - 0x78];
  uint32_t ext_ramdisk_image; /* 0x0c0 */
  uint32_t ext_ramdisk_size;  /* 0x0c4 */
  uint32_t ext_cmd_line_ptr;  /* 0x0c8 */
  uint8_t pad2[0x1e8 - 0xcc];
  uint8_t e820_entries; /* 0x1e8 */
  uint8_t pad3[0x1ef - 0x1e9];
  uint8_t sentinel; /* 0x1ef: stays 0 (the loader copied only the header) */
  uint8_t pad4;
  struct lxb_setup_header hdr; /* 0x1f1 */
  uint8_t pad5[0x2d0 - 0x26c];
  struct lxb_e820 e820_table[LXB_E820_MAX]; /* 0x2d0 */
  uint8_t pad6[0x1000 - 0xcd0];
} __attribute__((packed));
_Static_assert(offsetof(struct lxb_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct lxb_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk");
_Static_assert(offsetof(struct lxb_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct lxb_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct lxb_boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct lxb_boot_params, hdr) == 0x1f1, "hdr");
_Static_assert(offsetof(struct lxb_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct lxb_boot_params) == 4096, "zero page");

#endif
