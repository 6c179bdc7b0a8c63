/* tests/unit/kernel_event_test.c: event loop order, timers, bounded waits. */
#include <errno.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/timer.h"
#include "tests/unit/unit.h"

/* Callbacks record a one-character tag carried in their argument. */
#define TAG(c) ((void *)(uintptr_t)(c))

static char trace[64];
static size_t ntrace;
static void rec(void *arg) {
  if (ntrace < sizeof(trace) - 1)
    trace[ntrace++] = (char)(uintptr_t)arg;
}
static void reset_trace(void) {
  memset(trace, 0, sizeof(trace));
  ntrace = 0;
  while (ev_run_pending())
    ;
}

static struct ev_item dpc_from_work;
static void work_queues_dpc(void *arg) {
  rec(arg);
  ev_dpc_queue(&dpc_from_work);
}

static void test_dpcs_before_passive_one_passive_per_turn(void **state) {
  (void)state;
  reset_trace();
  struct ev_item w1, w2, d1, d2;
  ev_item_init(&w1, work_queues_dpc, TAG('W'));
  ev_item_init(&w2, rec, TAG('w'));
  ev_item_init(&d1, rec, TAG('D'));
  ev_item_init(&d2, rec, TAG('d'));
  ev_item_init(&dpc_from_work, rec, TAG('x'));
  ev_work_queue(&w1);
  ev_work_queue(&w2);
  ev_dpc_queue(&d1);
  ev_dpc_queue(&d2);
  ev_dpc_queue(&d1);                     /* already queued: runs once */
  assert_int_equal(ev_run_pending(), 3); /* D d W */
  assert_int_equal(ev_run_pending(), 2); /* x (queued by W) then w */
  assert_int_equal(ev_run_pending(), 0);
  assert_string_equal(trace, "DdWxw");
}

/* A DPC that re-queues itself on every run, like a channel whose ring the
 * peer refills each time we read it. Before each of its runs it notes how
 * often the timer and the passive item have run. */
static struct ev_item flood;
static unsigned flood_runs, flood_timer_ran, flood_work_ran;
static unsigned flood_runs_at_timer, flood_runs_at_work;
static void flood_dpc(void *arg) {
  (void)arg;
  if (++flood_runs < 1000)
    ev_dpc_queue(&flood);
}
static void flood_timer(void *arg) {
  (void)arg;
  flood_timer_ran++;
  flood_runs_at_timer = flood_runs;
}
static void flood_work(void *arg) {
  (void)arg;
  flood_work_ran++;
  flood_runs_at_work = flood_runs;
}

static void test_requeueing_dpc_does_not_starve_timers_or_work(void **state) {
  (void)state;
  reset_trace();
  flood_runs = flood_timer_ran = flood_work_ran = 0;
  struct timer t;
  struct ev_item w;
  ev_item_init(&flood, flood_dpc, NULL);
  ev_item_init(&w, flood_work, NULL);
  timer_init(&t, flood_timer, NULL);
  ev_dpc_queue(&flood);
  ev_work_queue(&w);
  timer_arm_ns(&t, 0); /* due now */
  /* One turn: the DPC once (its re-queue waits for the next turn), then
   * the due timer and the passive item. Draining DPCs until the queue is
   * empty ran it 1000 times first. */
  assert_int_equal(ev_run_pending(), 3);
  assert_int_equal(flood_runs, 1);
  assert_int_equal(flood_timer_ran, 1);
  assert_int_equal(flood_runs_at_timer, 1);
  assert_int_equal(flood_work_ran, 1);
  assert_int_equal(flood_runs_at_work, 1);
  assert_true(ev_cancel(&flood)); /* still queued for the next turn */
  assert_false(ev_timer_due());
  timer_arm_ns(&t, 0);
  assert_true(ev_timer_due());
  assert_true(timer_cancel(&t));
}

static void test_cancel(void **state) {
  (void)state;
  reset_trace();
  struct ev_item a, b;
  ev_item_init(&a, rec, TAG('a'));
  ev_item_init(&b, rec, TAG('b'));
  ev_work_queue(&a);
  ev_work_queue(&b);
  assert_true(ev_cancel(&a));
  assert_false(ev_cancel(&a));
  while (ev_run_pending())
    ;
  assert_string_equal(trace, "b");
}

static bool passive_seen;
static void check_passive(void *arg) {
  (void)arg;
  passive_seen = ev_at_passive();
}

static void test_passive_flag(void **state) {
  (void)state;
  struct ev_item w, d;
  ev_item_init(&w, check_passive, NULL);
  ev_item_init(&d, check_passive, NULL);
  ev_work_queue(&w);
  ev_run_pending();
  assert_true(passive_seen);
  ev_dpc_queue(&d);
  ev_run_pending();
  assert_false(passive_seen);
}

static void test_timers_fire_in_deadline_order(void **state) {
  (void)state;
  reset_trace();
  struct timer t1, t2, t3;
  timer_init(&t1, rec, TAG('1'));
  timer_init(&t2, rec, TAG('2'));
  timer_init(&t3, rec, TAG('3'));
  timer_arm_ms(&t3, 30);
  timer_arm_ms(&t1, 10);
  timer_arm_ms(&t2, 20);
  assert_true(timer_next_deadline() <= hw_now_ns() + 10000000ull);
  uint64_t t0 = hw_now_ns();
  while (ntrace < 3 && hw_now_ns() - t0 < 2000000000ull)
    ev_loop_once(true);
  assert_string_equal(trace, "123");
  assert_true(hw_now_ns() - t0 >= 30000000ull);
  assert_true(timer_next_deadline() == UINT64_MAX);
}

static void test_timer_cancel_and_rearm(void **state) {
  (void)state;
  reset_trace();
  struct timer t;
  timer_init(&t, rec, TAG('t'));
  timer_arm_ms(&t, 5);
  assert_true(timer_cancel(&t));
  assert_false(timer_cancel(&t));
  timer_arm_ms(&t, 1000);
  timer_arm_ns(&t, 0); /* re-arm replaces: fires once, now */
  assert_int_equal(timer_run_due(), 1);
  assert_int_equal(timer_run_due(), 0);
  assert_string_equal(trace, "t");
  timer_arm_ns(&t, UINT64_MAX); /* saturates, never wraps into the past */
  assert_int_equal(timer_run_due(), 0);
  assert_true(timer_cancel(&t));
}

static bool flag;
static bool flag_set(void *arg) {
  (void)arg;
  return flag;
}
static void set_flag(void *arg) {
  (void)arg;
  flag = true;
}

static void test_wait_until_condition_and_timeout(void **state) {
  (void)state;
  flag = false;
  struct timer t;
  timer_init(&t, set_flag, NULL);
  timer_arm_ms(&t, 20);
  uint64_t t0 = hw_now_ns();
  assert_int_equal(ev_wait(flag_set, NULL, 2000), 0);
  assert_true(hw_now_ns() - t0 >= 20000000ull);
  flag = false;
  t0 = hw_now_ns();
  assert_int_equal(ev_wait(flag_set, NULL, 50), -ETIMEDOUT);
  uint64_t took = hw_now_ns() - t0;
  assert_true(took >= 50000000ull);
  assert_true(took < 1000000000ull);
  assert_true(timer_next_deadline() == UINT64_MAX); /* the wait's timer is gone */
}

static void test_stop_request_first_wins(void **state) {
  (void)state;
  int st = -1;
  assert_false(ev_stop_requested(&st));
  ev_request_stop(3);
  ev_request_stop(5);
  assert_true(ev_stop_requested(&st));
  assert_int_equal(st, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dpcs_before_passive_one_passive_per_turn),
    cmocka_unit_test(test_requeueing_dpc_does_not_starve_timers_or_work),
    cmocka_unit_test(test_cancel),
    cmocka_unit_test(test_passive_flag),
    cmocka_unit_test(test_timers_fire_in_deadline_order),
    cmocka_unit_test(test_timer_cancel_and_rearm),
    cmocka_unit_test(test_wait_until_condition_and_timeout),
    cmocka_unit_test(test_stop_request_first_wins),
};
UNIT_MAIN("kernel_event", tests)
