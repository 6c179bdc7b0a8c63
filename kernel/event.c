/* kernel/event.c: the event loop: DPCs, timers, passive work, idle. */
#include "kernel/event.h"

#include <errno.h>
#include <stddef.h>

#include "kernel/hw.h"
#include "kernel/timer.h"

/* Two FIFO queues. DPCs may be queued from interrupt handlers, so every
 * queue manipulation runs with interrupts disabled. */
struct ev_queue {
  struct ev_item *q_head;
  struct ev_item *q_tail;
};

static struct ev_queue ev_dpcs;
static struct ev_queue ev_work;
static bool ev_passive_now;
static bool ev_stop;
static int ev_stop_status;

static void ev_push(struct ev_queue *q, struct ev_item *it) {
  unsigned long fl = hw_irq_save();
  if (!it->ev_queued) {
    it->ev_queued = true;
    it->ev_next = NULL;
    if (q->q_tail)
      q->q_tail->ev_next = it;
    else
      q->q_head = it;
    q->q_tail = it;
  }
  hw_irq_restore(fl);
}

static struct ev_item *ev_pop(struct ev_queue *q) {
  unsigned long fl = hw_irq_save();
  struct ev_item *it = q->q_head;
  if (it) {
    q->q_head = it->ev_next;
    if (!q->q_head)
      q->q_tail = NULL;
    it->ev_next = NULL;
    it->ev_queued = false;
  }
  hw_irq_restore(fl);
  return it;
}

static bool ev_unlink(struct ev_queue *q, struct ev_item *it) {
  struct ev_item *prev = NULL;
  for (struct ev_item *cur = q->q_head; cur; prev = cur, cur = cur->ev_next) {
    if (cur != it)
      continue;
    if (prev)
      prev->ev_next = cur->ev_next;
    else
      q->q_head = cur->ev_next;
    if (q->q_tail == cur)
      q->q_tail = prev;
    cur->ev_next = NULL;
    cur->ev_queued = false;
    return true;
  }
  return false;
}

void ev_dpc_queue(struct ev_item *it) { ev_push(&ev_dpcs, it); }
void ev_work_queue(struct ev_item *it) { ev_push(&ev_work, it); }

bool ev_cancel(struct ev_item *it) {
  unsigned long fl = hw_irq_save();
  bool was = it->ev_queued && (ev_unlink(&ev_dpcs, it) || ev_unlink(&ev_work, it));
  hw_irq_restore(fl);
  return was;
}

bool ev_at_passive(void) { return ev_passive_now; }

unsigned ev_run_pending(void) {
  unsigned ran = 0;
  struct ev_item *it;
  /* All DPCs first, including those queued by DPCs: dispatch level drains. */
  while ((it = ev_pop(&ev_dpcs)) != NULL) {
    it->ev_fn(it->ev_arg);
    ran++;
  }
  ran += timer_run_due();
  /* One passive item per turn, so DPCs queued by it run before the next. */
  if ((it = ev_pop(&ev_work)) != NULL) {
    bool outer = ev_passive_now;
    ev_passive_now = true;
    it->ev_fn(it->ev_arg);
    ev_passive_now = outer;
    ran++;
  }
  return ran;
}

void ev_loop_once(bool may_idle) {
  if (ev_run_pending())
    return;
  if (hw_poll())
    return;
  if (!may_idle)
    return;
  unsigned long fl = hw_irq_save();
  /* Re-check with interrupts off: a DPC queued after the run above must not
   * be slept on. hw_idle() enables interrupts only for the HLT itself. */
  if (!ev_dpcs.q_head && !ev_work.q_head) {
    hw_timer_program(timer_next_deadline());
    hw_idle();
  }
  hw_irq_restore(fl);
}

int ev_wait(bool (*done)(void *arg), void *arg, uint64_t timeout_ms) {
  uint64_t start = hw_now_ns();
  uint64_t limit = timeout_ms * 1000000ull;
  /* A timer guarantees the idle below wakes up by the deadline. It lives on
   * this stack frame, so every return path must disarm it. */
  struct timer wake;
  timer_init(&wake, NULL, NULL);
  int rc = 0;
  while (!done(arg)) {
    uint64_t now = hw_now_ns();
    if (now - start >= limit) {
      rc = done(arg) ? 0 : -ETIMEDOUT;
      break;
    }
    timer_arm_ns(&wake, limit - (now - start));
    ev_loop_once(true);
  }
  timer_cancel(&wake);
  return rc;
}

void ev_request_stop(int status) {
  if (!ev_stop) {
    ev_stop = true;
    ev_stop_status = status;
  }
}

bool ev_stop_requested(int *status) {
  if (ev_stop && status)
    *status = ev_stop_status;
  return ev_stop;
}
