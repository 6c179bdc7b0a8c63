/* host/linuxboot.h: load a Linux bzImage the way a 64-bit boot loader does
 * (prefix lxb_; the boot protocol's wire formats are in host/linux_boot.h).
 *
 * The loader checks the setup header against the file, copies the
 * protected-mode kernel to 1 MiB, writes the zero page (a copy of the setup
 * header, the e820 map, the command line, the initrd), an identity map of the
 * first 4 GiB and a GDT with the protocol's selectors into low guest memory,
 * and returns the state the vCPU must enter startup_64 with. Everything it
 * reads from the image is bounds-checked: the image is input, not trusted.
 */
#ifndef HOST_LINUXBOOT_H
#define HOST_LINUXBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the loader puts its structures (below the EBDA, which Linux keeps). */
#define LXB_GDT_ADDR 0x1000u
#define LXB_PML4_ADDR 0x2000u /* PML4, PDPT, then 4 page directories */
#define LXB_ZERO_PAGE_ADDR 0x8000u
#define LXB_CMDLINE_ADDR 0x9000u
#define LXB_CMDLINE_MAX 4096u /* bytes with the NUL, at most (cmdline_size rules) */
#define LXB_KERNEL_ADDR 0x100000u
#define LXB_LOW_RAM_END 0x9fc00u
#define LXB_BIOS_START 0xe0000u /* reserved to 1 MiB: firmware tables live here */

/** The entry state for the 64-bit boot protocol. */
struct lxb_entry {
  uint64_t le_rip;     /* startup_64: load address + 0x200 */
  uint64_t le_rsi;     /* the zero page */
  uint64_t le_cr3;     /* the identity map */
  uint64_t le_gdt;     /* GDT base; limit LXB_GDT_LIMIT */
  uint16_t le_version; /* the image's boot protocol version */
};
#define LXB_GDT_LIMIT 31u

/** True when `img` (len bytes) carries a Linux setup header ("HdrS" at
 * 0x202 and the boot flag): a bzImage. Says nothing about its validity. */
bool lxb_is_bzimage(const uint8_t *img, size_t len);

/** Load bzImage `img` into guest memory `mem` (mem_bytes from guest
 * physical 0) with `cmdline` (NUL-terminated, may be "") and an optional
 * initrd (NULL/0 for none), placed at the top of memory below the kernel's
 * initrd_addr_max. rsdp: the ACPI RSDP's address for boot_params (0: the
 * kernel scans the BIOS area itself). Fills *out and returns 0, or a
 * negative errno with the reason in err: not a bzImage, protocol older than
 * 2.12 or no 64-bit entry, fields that do not fit the file or memory, a
 * command line longer than the kernel accepts. */
int lxb_load(uint8_t *mem, uint64_t mem_bytes, const uint8_t *img, size_t len,
             const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint64_t rsdp,
             struct lxb_entry *out, char *err, size_t errlen);

/** True when `img` is an x86-64 ELF executable (a vmlinux when it carries
 * no multiboot header: the caller checks that first). */
bool lxb_is_vmlinux(const uint8_t *img, size_t len);

/** Load an uncompressed vmlinux ELF: each PT_LOAD segment at its physical
 * address, then the same zero page, tables and entry state as lxb_load,
 * with the setup header a protocol-2.15 bzImage would carry (a vmlinux has
 * none); entry is the ELF entry (startup_64's physical address). This skips
 * the bzImage decompressor, which runs for minutes where guest kernel mode
 * is emulated (kvm-pvm). Same errors as lxb_load, plus segments outside the
 * file or memory and an entry outside every segment. */
int lxb_load_vmlinux(uint8_t *mem, uint64_t mem_bytes, const uint8_t *img, size_t len,
                     const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint64_t rsdp,
                     struct lxb_entry *out, char *err, size_t errlen);

#endif
