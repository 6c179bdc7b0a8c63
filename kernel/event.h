/* kernel/event.h: the event loop (DESIGN.md, interrupt model).
 *
 * One vCPU, one loop. Interrupt handlers do the minimum and queue a DPC
 * (deferred procedure call). The loop runs, in order: all queued DPCs
 * ("dispatch" level), expired timers (also dispatch level), then at most
 * one passive work item, then, with nothing left, idles until the next
 * interrupt (hw_idle). Blocking calls run the loop through ev_wait() until
 * their condition holds or a timeout expires; nothing waits forever.
 *
 * An ev_item is embedded by its owner; queueing an item that is already
 * queued is a no-op (it will run once). Items may be queued from interrupt
 * handlers; all other calls run from the loop only.
 */
#ifndef KERNEL_EVENT_H
#define KERNEL_EVENT_H

#include <stdbool.h>
#include <stdint.h>

struct ev_item {
  void (*ev_fn)(void *arg);
  void *ev_arg;
  struct ev_item *ev_next;
  bool ev_queued;
};

static inline void ev_item_init(struct ev_item *it, void (*fn)(void *), void *arg) {
  it->ev_fn = fn;
  it->ev_arg = arg;
  it->ev_next = 0;
  it->ev_queued = false;
}

/** Queue at dispatch level (safe from interrupt handlers). */
void ev_dpc_queue(struct ev_item *it);
/** Queue at passive level. */
void ev_work_queue(struct ev_item *it);
/** Remove a queued item; returns true if it was queued. */
bool ev_cancel(struct ev_item *it);

/** Run queued DPCs, due timers and one passive item. Returns the number of
 * callbacks run. Never idles. */
unsigned ev_run_pending(void);

/** One loop turn: ev_run_pending(), then hw_poll() (the platform's own
 * work), and idle until an interrupt (hw_timer_program, hw_idle) when
 * neither did anything and `may_idle` is set. */
void ev_loop_once(bool may_idle);

/** Run the loop until done(arg) is true or timeout_ms passes.
 * Returns 0, or -ETIMEDOUT (done() still false). */
int ev_wait(bool (*done)(void *arg), void *arg, uint64_t timeout_ms);

/** True while a callback runs at passive level (work item). */
bool ev_at_passive(void);

/** Stop request for the loop's owner (kernel_main's idle loop). */
void ev_request_stop(int status);
bool ev_stop_requested(int *status);

#endif
