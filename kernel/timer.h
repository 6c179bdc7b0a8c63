/* kernel/timer.h: one-shot timers with callbacks, run from the event loop at
 * dispatch level. Deadlines are hw_now_ns() based. The kernel programs the
 * local APIC timer for the earliest deadline so hw_idle() wakes in time. */
#ifndef KERNEL_TIMER_H
#define KERNEL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct timer {
  uint64_t tm_deadline_ns;
  void (*tm_fn)(void *arg);
  void *tm_arg;
  struct timer *tm_next;
  bool tm_armed;
};

void timer_init(struct timer *t, void (*fn)(void *), void *arg);
/** Arm (or re-arm) to fire once, delay_ns from now. */
void timer_arm_ns(struct timer *t, uint64_t delay_ns);
static inline void timer_arm_ms(struct timer *t, uint64_t ms) { timer_arm_ns(t, ms * 1000000ull); }
/** Disarm; returns true if it was armed. */
bool timer_cancel(struct timer *t);

/** Run due timers; returns how many ran. Called by the event loop. */
unsigned timer_run_due(void);
/** Earliest armed deadline, or UINT64_MAX when none. */
uint64_t timer_next_deadline(void);

#endif
