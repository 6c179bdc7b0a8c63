/* kernel/page.h: the 4 KiB physical page allocator.
 *
 * A bitmap over guest physical memory (bit set = free). The kernel feeds it
 * the multiboot memory map minus the kernel image, the multiboot structures
 * and modules; host builds feed it the in-process guest-memory arena, so page
 * addresses mean the same thing to guest and host code (DESIGN.md).
 * Pages come back uninitialised: zeroing costs real time under kvm-pvm.
 */
#ifndef KERNEL_PAGE_H
#define KERNEL_PAGE_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096u

/** Highest physical address the allocator can manage (exclusive). */
#define PAGE_MAX_PHYS (4ull << 30)

/** Forget everything: all pages used, none free. */
void page_reset(void);
/** Mark [base, base+len) free; partial pages at the ends are ignored, and
 * anything at or above PAGE_MAX_PHYS is ignored. Returns pages added. */
uint64_t page_add_free(uint64_t base, uint64_t len);
/** Mark [base, base+len) used (rounded out to whole pages). Returns pages
 * that were free and are now reserved. */
uint64_t page_reserve(uint64_t base, uint64_t len);

/** Allocate n physically contiguous pages; NULL when no run is free.
 * The pointer is a kernel virtual address (hw_phys_to_virt of the page). */
void *page_alloc(size_t n);
/** Free n pages starting at p (as returned by page_alloc with the same n).
 * Freeing a page that is already free is a bug: it panics. */
void page_free(void *p, size_t n);

uint64_t page_free_count(void);
uint64_t page_total_count(void);

#endif
