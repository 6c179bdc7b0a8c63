/* kernel/timer.c: one-shot timers, a list sorted by deadline. */
#include "kernel/timer.h"

#include <stddef.h>

#include "kernel/hw.h"

static struct timer *tm_list; /* sorted, earliest first */

void timer_init(struct timer *t, void (*fn)(void *), void *arg) {
  t->tm_deadline_ns = 0;
  t->tm_fn = fn;
  t->tm_arg = arg;
  t->tm_next = NULL;
  t->tm_armed = false;
}

bool timer_cancel(struct timer *t) {
  if (!t->tm_armed)
    return false;
  for (struct timer **pp = &tm_list; *pp; pp = &(*pp)->tm_next) {
    if (*pp == t) {
      *pp = t->tm_next;
      break;
    }
  }
  t->tm_next = NULL;
  t->tm_armed = false;
  return true;
}

void timer_arm_ns(struct timer *t, uint64_t delay_ns) {
  timer_cancel(t);
  uint64_t now = hw_now_ns();
  /* Saturate instead of wrapping for "practically never" delays. */
  t->tm_deadline_ns = (delay_ns > UINT64_MAX - now) ? UINT64_MAX : now + delay_ns;
  struct timer **pp = &tm_list;
  while (*pp && (*pp)->tm_deadline_ns <= t->tm_deadline_ns)
    pp = &(*pp)->tm_next;
  t->tm_next = *pp;
  *pp = t;
  t->tm_armed = true;
}

uint64_t timer_next_deadline(void) { return tm_list ? tm_list->tm_deadline_ns : UINT64_MAX; }

unsigned timer_run_due(void) {
  unsigned ran = 0;
  uint64_t now = hw_now_ns();
  /* Each pass removes the head before calling it, so a callback that re-arms
   * itself for "now" runs again only on a later turn (now is fixed here). */
  while (tm_list && tm_list->tm_deadline_ns <= now) {
    struct timer *t = tm_list;
    tm_list = t->tm_next;
    t->tm_next = NULL;
    t->tm_armed = false;
    if (t->tm_fn)
      t->tm_fn(t->tm_arg);
    ran++;
  }
  return ran;
}
