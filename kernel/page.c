/* kernel/page.c: 4 KiB page allocator, a bitmap over [0, PAGE_MAX_PHYS).
 *
 * Bit set = page free. The bitmap lives in .bss (128 KiB for 4 GiB) and only
 * the words covering real memory are ever touched; ranges are marked a
 * 64-page word at a time, because every guest instruction is expensive under
 * kvm-pvm (KVM-NOTES.md). Allocation is first-fit with a rotating hint.
 */
#include "kernel/page.h"

#include <stdbool.h>

#include "kernel/hw.h"
#include "kernel/panic.h"

#define PAGE_NPAGES (PAGE_MAX_PHYS >> PAGE_SHIFT)
#define PAGE_NWORDS (PAGE_NPAGES / 64)

static uint64_t pg_bitmap[PAGE_NWORDS];
static uint64_t pg_free;
static uint64_t pg_total;
static uint64_t pg_hint;                  /* page index to start the next search at */
static uint64_t pg_lo_word = PAGE_NWORDS; /* bitmap words [lo, hi) may hold free bits */
static uint64_t pg_hi_word;

void page_reset(void) {
  for (uint64_t w = pg_lo_word; w < pg_hi_word; w++)
    pg_bitmap[w] = 0;
  pg_free = pg_total = pg_hint = 0;
  pg_lo_word = PAGE_NWORDS;
  pg_hi_word = 0;
}

/* Bits set in v. Not __builtin_popcountll: baseline x86-64 has no POPCNT
 * and the kernel links no libgcc. */
static unsigned pg_popcount(uint64_t v) {
  v = v - ((v >> 1) & 0x5555555555555555ull);
  v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
  v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

/* Set (free=true) or clear pages [first, last); returns bits changed. */
static uint64_t pg_mark(uint64_t first, uint64_t last, bool free) {
  uint64_t changed = 0;
  uint64_t i = first;
  while (i < last) {
    uint64_t w = i / 64, b = i % 64;
    uint64_t n = 64 - b;
    if (n > last - i)
      n = last - i;
    uint64_t mask = (n == 64) ? ~0ull : (((1ull << n) - 1) << b);
    uint64_t old = pg_bitmap[w];
    uint64_t neu = free ? (old | mask) : (old & ~mask);
    changed += pg_popcount(old ^ neu);
    pg_bitmap[w] = neu;
    i += n;
  }
  return changed;
}

/* The end of [base, base + len) clipped to PAGE_MAX_PHYS; 0 when the range
 * is empty or starts beyond it (base < end otherwise). */
static uint64_t pg_clip_end(uint64_t base, uint64_t len) {
  if (base >= PAGE_MAX_PHYS || len == 0)
    return 0;
  return (len > PAGE_MAX_PHYS - base) ? PAGE_MAX_PHYS : base + len;
}

uint64_t page_add_free(uint64_t base, uint64_t len) {
  uint64_t end = pg_clip_end(base, len);
  uint64_t first = (base + PAGE_SIZE - 1) >> PAGE_SHIFT;
  uint64_t last = end >> PAGE_SHIFT;
  if (end == 0 || first >= last)
    return 0;
  if (pg_lo_word > first / 64)
    pg_lo_word = first / 64;
  if (pg_hi_word < (last + 63) / 64)
    pg_hi_word = (last + 63) / 64;
  uint64_t added = pg_mark(first, last, true);
  pg_free += added;
  pg_total += added;
  return added;
}

uint64_t page_reserve(uint64_t base, uint64_t len) {
  uint64_t end = pg_clip_end(base, len);
  if (end == 0)
    return 0;
  uint64_t first = base >> PAGE_SHIFT;
  uint64_t last = (end + PAGE_SIZE - 1) >> PAGE_SHIFT;
  uint64_t taken = pg_mark(first, last, false);
  pg_free -= taken;
  pg_total -= taken;
  return taken;
}

static bool pg_is_free(uint64_t i) { return (pg_bitmap[i / 64] >> (i % 64)) & 1; }

/* First run of n free pages at or after `from` within [lo, hi); UINT64_MAX
 * when none. Whole zero words are skipped in one step. */
static uint64_t pg_find(uint64_t from, uint64_t hi, size_t n) {
  uint64_t run = 0, start = 0;
  for (uint64_t i = from; i < hi;) {
    if ((i % 64) == 0 && pg_bitmap[i / 64] == 0) {
      run = 0;
      i += 64;
      continue;
    }
    if (pg_is_free(i)) {
      if (run++ == 0)
        start = i;
      if (run == n)
        return start;
    } else {
      run = 0;
    }
    i++;
  }
  return UINT64_MAX;
}

void *page_alloc(size_t n) {
  if (n == 0 || n > pg_free)
    return NULL;
  uint64_t lo = pg_lo_word * 64, hi = pg_hi_word * 64;
  uint64_t from = (pg_hint >= lo && pg_hint < hi) ? pg_hint : lo;
  uint64_t at = pg_find(from, hi, n);
  if (at == UINT64_MAX && from != lo)
    at = pg_find(lo, hi, n);
  if (at == UINT64_MAX)
    return NULL;
  pg_mark(at, at + n, false);
  pg_free -= n;
  pg_hint = at + n;
  return hw_phys_to_virt(at << PAGE_SHIFT);
}

void page_free(void *p, size_t n) {
  if (!p || n == 0)
    return;
  uint64_t pa = hw_virt_to_phys(p);
  if ((pa & (PAGE_SIZE - 1)) || pa >= PAGE_MAX_PHYS || n > PAGE_NPAGES - (pa >> PAGE_SHIFT))
    panic("page_free: bad range %#lx+%lu", (unsigned long)pa, n);
  uint64_t first = pa >> PAGE_SHIFT;
  for (uint64_t i = first; i < first + n; i++)
    if (pg_is_free(i))
      panic("page_free: double free of page %#lx", (unsigned long)(i << PAGE_SHIFT));
  pg_mark(first, first + n, true);
  pg_free += n;
}

uint64_t page_free_count(void) { return pg_free; }
uint64_t page_total_count(void) { return pg_total; }
