/* host/inproc_hw.c: hardware primitives for host builds over a memory arena. */
#include "host/inproc_hw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "kernel/hw.h"
#include "kernel/page.h"
#include "kernel/timer.h"

static uint8_t *ip_arena;
static size_t ip_arena_size;
void (*inproc_exit_hook)(int status);

int inproc_mem_setup(size_t bytes) {
  inproc_mem_teardown();
  bytes = (bytes + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
  if (bytes == 0 || bytes > PAGE_MAX_PHYS - INPROC_GPA_BASE)
    return -EINVAL;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return -ENOMEM;
  ip_arena = p;
  ip_arena_size = bytes;
  page_reset();
  page_add_free(INPROC_GPA_BASE, bytes);
  return 0;
}

void inproc_mem_teardown(void) {
  if (ip_arena)
    munmap(ip_arena, ip_arena_size);
  ip_arena = NULL;
  ip_arena_size = 0;
  page_reset();
}

void *inproc_mem_base(void) { return ip_arena; }
size_t inproc_mem_size(void) { return ip_arena_size; }

uint64_t hw_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One thread runs the guest stack and the in-process host: there are no
 * interrupts to mask. */
unsigned long hw_irq_save(void) { return 0; }
void hw_irq_restore(unsigned long flags) { (void)flags; }

/* Nothing can interrupt us: sleep until the next timer is due, at most 1 ms
 * (ev_wait() always arms a timer, so waits still end on time). */
void hw_idle(void) {
  uint64_t now = hw_now_ns(), next = timer_next_deadline();
  uint64_t ns = (next > now) ? next - now : 0;
  if (ns > 1000000)
    ns = 1000000;
  if (ns) {
    struct timespec ts = {0, (long)ns};
    nanosleep(&ts, NULL);
  }
}

uint64_t hw_virt_to_phys(const void *p) {
  const uint8_t *b = p;
  if (!ip_arena || b < ip_arena || (size_t)(b - ip_arena) >= ip_arena_size)
    return UINT64_MAX; /* not guest memory: no guest physical address */
  return INPROC_GPA_BASE + (uint64_t)(b - ip_arena);
}

void *hw_phys_to_virt(uint64_t pa) {
  if (!ip_arena || pa < INPROC_GPA_BASE || pa - INPROC_GPA_BASE >= ip_arena_size)
    return NULL;
  return ip_arena + (pa - INPROC_GPA_BASE);
}

void hw_exit(int status) {
  fflush(stdout);
  if (inproc_exit_hook)
    inproc_exit_hook(status);
  exit(status);
}
