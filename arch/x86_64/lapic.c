/* arch/x86_64/lapic.c: local APIC (xAPIC MMIO): enable, EOI, one-shot timer. */
#include <errno.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/timer.h"

#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_X2APIC (1ull << 10)

static uintptr_t lapic_base;
static uint64_t lapic_hz;   /* timer ticks per second after the divider */
static uint64_t lapic_mult; /* ticks = (ns * lapic_mult) >> 32 */
/* Longest one-shot we compute exactly; longer deadlines wake early, re-arm. */
#define LAPIC_MAX_NS (1ull << 36)

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic_base + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic_base + reg, v); }

static void lapic_timer_irq(uint8_t vector) {
  (void)vector; /* waking from hlt is the point: the loop runs the timers */
}

/* hw_timer_program: one-shot at the deadline (UINT64_MAX stops the timer). */
void lapic_timer_program(uint64_t deadline_ns) {
  if (!lapic_base || !lapic_hz)
    return;
  if (deadline_ns == UINT64_MAX) {
    lapic_write(LAPIC_TIMER_INIT, 0);
    return;
  }
  uint64_t now = hw_now_ns();
  uint64_t dns = deadline_ns > now ? deadline_ns - now : 0;
  if (dns > LAPIC_MAX_NS)
    dns = LAPIC_MAX_NS;
  /* Multiply-shift, no 128-bit division: the kernel links no libgcc. */
  uint64_t ticks = (uint64_t)(((unsigned __int128)dns * lapic_mult) >> 32);
  if (ticks == 0)
    ticks = 1;
  if (ticks > 0xffffffffu)
    ticks = 0xffffffffu; /* wakes early; the loop re-arms */
  lapic_write(LAPIC_TIMER_INIT, (uint32_t)ticks);
}

int lapic_init(void) {
  if (!(cpuid(1, 0).edx & (1u << 9))) {
    pr_warn("lapic: CPUID reports no local APIC; no timer interrupts\n");
    return -ENODEV;
  }
  uint64_t base;
  if (rdmsr_safe(MSR_IA32_APIC_BASE, &base) != 0) {
    pr_warn("lapic: IA32_APIC_BASE not readable\n");
    return -ENODEV;
  }
  if (base & APIC_BASE_X2APIC) {
    pr_warn("lapic: firmware left x2APIC mode on; xAPIC needed\n");
    return -ENODEV;
  }
  if (!(base & APIC_BASE_ENABLE))
    wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_ENABLE);
  lapic_base = (uintptr_t)(base & 0xfffff000u);
  lapic_write(LAPIC_SVR, 0x100 | IRQ_VECTOR_SPURIOUS); /* software enable */
  lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
  lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
  lapic_write(LAPIC_TIMER_DIV, 0x3);              /* divide by 16 */
  lapic_write(LAPIC_LVT_TIMER, IRQ_VECTOR_TIMER); /* one-shot */
  lapic_write(LAPIC_TIMER_INIT, 0);
  irq_register(IRQ_VECTOR_TIMER, lapic_timer_irq);
  return 0;
}

void lapic_eoi(void) {
  if (lapic_base)
    lapic_write(LAPIC_EOI, 0);
}

/* Count LAPIC ticks over about 2 ms of the (already calibrated) TSC clock.
 * Done with the timer interrupt masked so the count only runs down. */
int lapic_timer_calibrate(void) {
  if (!lapic_base)
    return -ENODEV;
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | IRQ_VECTOR_TIMER);
  lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
  uint64_t t0 = hw_now_ns();
  uint32_t c0 = lapic_read(LAPIC_TIMER_CUR);
  uint64_t t1;
  do {
    t1 = hw_now_ns();
  } while (t1 - t0 < 2000000);
  uint32_t c1 = lapic_read(LAPIC_TIMER_CUR);
  lapic_write(LAPIC_TIMER_INIT, 0);
  lapic_write(LAPIC_LVT_TIMER, IRQ_VECTOR_TIMER);
  if (c1 >= c0) {
    pr_warn("lapic: timer does not count down; no timer interrupts\n");
    return -EIO;
  }
  lapic_hz = (uint64_t)(c0 - c1) * 1000000000ull / (t1 - t0);
  lapic_mult = (lapic_hz << 32) / 1000000000ull;
  return 0;
}

uint64_t lapic_timer_hz(void) { return lapic_hz; }
