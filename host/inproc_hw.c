/* host/inproc_hw.c: hardware primitives for host builds over a memory arena. */
#include "host/inproc_hw.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "host/hvemu.h"
#include "host/partition.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kernel/timer.h"

static uint8_t *ip_arena;
static size_t ip_arena_size;
static void (*ip_exit_fn)(int status);

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

/* The kernel's ends, recorded for hvsim's power= (the kernel writes port
 * 0xf4 and then the ACPI ports; here the outcome is what it asks for). */
static int ip_power;

int inproc_power(void) { return ip_power; }
void inproc_power_reset(void) { ip_power = INPROC_POWER_NONE; }

static _Noreturn void ip_end(int status, int power) {
  ip_power = power;
  fflush(stdout);
  if (ip_exit_fn)
    ip_exit_fn(status);
  exit(status);
}

void hw_exit(int status) { ip_end(status, INPROC_POWER_OFF); }
void hw_reset(int status) { ip_end(status, INPROC_POWER_RESET); }

/* ---- the in-process partition backend ---------------------------------------
 * Interrupts: part_inject() marks the vector pending and queues a DPC; the
 * DPC calls the guest's handler (hw_irq_register) from the event loop, never
 * from inside the hypercall or MSR access that caused the injection. */

static struct hvemu *ip_hv;
static void *ip_hcall_page;
static void (*ip_irq_fn[256])(uint8_t vector);
static uint64_t ip_irq_pending[4];
static struct ev_item ip_irq_dpc;
static struct inproc_irq_stats ip_irq_st;

static void ip_irq_run(void *arg) {
  (void)arg;
  /* One pass over a snapshot; vectors raised meanwhile requeue the DPC. */
  for (int w = 3; w >= 0; w--) {
    uint64_t bits = ip_irq_pending[w];
    ip_irq_pending[w] = 0;
    while (bits) {
      int b = 63 - __builtin_clzll(bits);
      bits &= ~(1ull << b);
      uint8_t vec = (uint8_t)(w * 64 + b);
      if (ip_irq_fn[vec]) {
        ip_irq_st.is_delivered++;
        ip_irq_fn[vec](vec);
      } else {
        ip_irq_st.is_unhandled++;
      }
    }
  }
}

static int ip_inject(struct partition *p, uint32_t vp, uint8_t vector) {
  (void)p;
  (void)vp;
  if (vector < 16)
    return -EINVAL;
  ip_irq_pending[vector / 64] |= 1ull << (vector % 64);
  ip_irq_st.is_injected++;
  if (!ip_irq_dpc.ev_fn)
    ev_item_init(&ip_irq_dpc, ip_irq_run, NULL);
  ev_dpc_queue(&ip_irq_dpc);
  return 0;
}

static const struct part_ops ip_part_ops = {
    .po_name = "inproc",
    .po_inject = ip_inject,
    .po_write_hypercall_page = NULL, /* the generic code: never executed here */
    .po_destroy = NULL,
};

int inproc_part_init(struct partition *p) {
  if (!ip_arena)
    return -ENODEV;
  part_init(p, &ip_part_ops, NULL);
  return part_add_region(p, INPROC_GPA_BASE, ip_arena_size, ip_arena);
}

bool hw_poll(void) { return ip_hv ? hvemu_poll(ip_hv) : false; }

void hw_timer_program(uint64_t deadline_ns) { (void)deadline_ns; }

void inproc_set_exit(void (*fn)(int status)) { ip_exit_fn = fn; }

void inproc_attach(struct hvemu *hv) {
  ip_hv = hv;
  ip_hcall_page = NULL;
  memset(ip_irq_pending, 0, sizeof(ip_irq_pending));
  if (!ip_irq_dpc.ev_fn)
    ev_item_init(&ip_irq_dpc, ip_irq_run, NULL);
}

void inproc_detach(void) {
  ev_cancel(&ip_irq_dpc);
  memset(ip_irq_pending, 0, sizeof(ip_irq_pending));
  memset(ip_irq_fn, 0, sizeof(ip_irq_fn));
  ip_hv = NULL;
  ip_hcall_page = NULL;
}

const struct inproc_irq_stats *inproc_irq_stats(void) { return &ip_irq_st; }

/* ---- hypervisor primitives of kernel/hw.h --------------------------------------- */

void hw_cpuid(uint32_t leaf, uint32_t subleaf, struct hw_cpuid_regs *out) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (leaf < 0x40000000u || leaf > 0x4fffffffu)
    __cpuid_count(leaf, subleaf, a, b, c, d);
  *out = (struct hw_cpuid_regs){a, b, c, d};
  if (ip_hv) {
    hvemu_cpuid(ip_hv, leaf, subleaf, out);
  } else if (leaf == 1) {
    out->ecx &= ~(1u << 31); /* no hypervisor in this process */
  }
}

int hw_rdmsr_safe(uint32_t msr, uint64_t *val) {
  if (!ip_hv) {
    *val = 0;
    return -EIO;
  }
  return hvemu_rdmsr(ip_hv, msr, val);
}

int hw_wrmsr_safe(uint32_t msr, uint64_t val) {
  return ip_hv ? hvemu_wrmsr(ip_hv, msr, val) : -EIO;
}

void hw_hypercall_set_page(void *page) { ip_hcall_page = page; }

uint64_t hw_hypercall(uint64_t control, uint64_t input, uint64_t output) {
  if (!ip_hcall_page || !ip_hv)
    return 2; /* HV_STATUS_INVALID_HYPERCALL_CODE, as the kernel's */
  return hvemu_hypercall(ip_hv, control, input, output);
}

void hw_irq_register(uint8_t vector, void (*fn)(uint8_t vector)) { ip_irq_fn[vector] = fn; }
