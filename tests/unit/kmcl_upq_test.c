/* tests/unit/kmcl_upq_test.c: the up-call queue (kmcl/upcall.c) when a
 * node cannot be allocated (docs/KMCL.md, kmcl/bus.h).
 *
 * The contract: a post without memory queues nothing, returns -ENOMEM and
 * is counted in uq_failed; the events around it are delivered in post
 * order; the bus that posted reports the loss (the guest's hv/vmbus.c
 * counts it in vs_msgs_bad and logs it; the host's vmbus_server.c logs
 * it). The channel whose event was lost waits in its state (there is no
 * retry) until its driver disables it, and that Disable frees everything:
 * the same channel class opens and works again. The failure is injected
 * with kmcl_test_upq_refuse_types (kmcl/kmcl_test.h).
 */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "hv/vmbus.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/kmcl_test.h"
#include "tests/unit/lib/hostile_env.h"

#define WAIT_MS 300 /* every control wait of the guest, shortened */

/* ---- the queue alone ---------------------------------------------------------- */

#define SEEN_MAX 8
static int32_t seen[SEEN_MAX];
static uint32_t nseen;

/** Gate that records each delivered status and vetoes the up-call (the
 * channels are fake). */
static bool record(void *ctx, const struct kmcl_up_event *e) {
  (void)ctx;
  if (nseen < SEEN_MAX)
    seen[nseen] = e->ue_type == KMCL_UP_OPEN_RESULT ? e->ue_u.status : -1;
  nseen++;
  return false;
}

/* A refused post queues nothing and is counted; the events posted before
 * and after it are delivered, in order, and posts succeed again once
 * memory is back. Only the refused type fails. */
static struct kmcl_upq q; /* not on the stack: a failed assertion leaves it queued */

static void test_refused_post_is_counted_and_order_kept(void **state) {
  (void)state;
  sim_settle();
  kmcl_upq_init(&q, record, NULL);
  VMBCHANNEL a = (VMBCHANNEL)(uintptr_t)0x1000;
  int32_t s1 = 1, s2 = 2, s3 = 3;
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OPEN_RESULT, a, &s1), 0);
  kmcl_test_upq_refuse_types = 1u << KMCL_UP_OPEN_RESULT;
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OPEN_RESULT, a, &s2), -ENOMEM);
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OPEN_RESULT, a, &s2), -ENOMEM);
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_RESCINDED, a, NULL), 0); /* another type */
  kmcl_test_upq_refuse_types = 0;
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OPEN_RESULT, a, &s3), 0);
  assert_int_equal(q.uq_failed, 2);
  assert_int_equal(q.uq_len, 3);
  assert_int_equal(q.uq_high, 3);
  nseen = 0;
  sim_settle(); /* the work item delivers */
  assert_int_equal(nseen, 3);
  assert_int_equal(seen[0], 1);
  assert_int_equal(seen[1], -1);
  assert_int_equal(seen[2], 3);
  assert_int_equal(q.uq_len, 0);
  assert_int_equal(q.uq_vetoed, 3);
  assert_int_equal(q.uq_failed, 2);
  kmcl_upq_fini(&q);
}

/* ---- the real buses: the guest's client, the in-process host's server --------- */

static struct sim fixture_sim;
static struct hclient lost; /* the channel whose event was lost */

static int setup(void **state) {
  memset(&lost, 0, sizeof(lost));
  henv_up(&fixture_sim, VMBUS_VERSION_WIN10_V5_3, 1);
  assert_int_equal(henv_connect(&fixture_sim, WAIT_MS), 0);
  *state = &fixture_sim;
  return 0;
}

/** The echo channel opens and round-trips again, then all goes down with
 * no leaks (henv_down). */
static int teardown(void **state) {
  kmcl_test_upq_refuse_types = 0;
  hclient_close(&lost); /* when a failed assertion left it open */
  struct hclient c;
  assert_true(hclient_open(&c, 2000));
  assert_int_equal(hclient_round_trip(&c, 20, 5000), 20);
  hclient_close(&c);
  henv_down(*state);
  return 0;
}

/** Open a client channel while posts of `types` are refused: the open
 * never completes, the guest's bus counts `counted` lost events, the channel
 * is left waiting in `waiting` (KMCL's client state). Then Disable: every
 * page comes back. */
static void open_with_lost_event(unsigned types, uint64_t counted, int waiting) {
  struct sim_counts before;
  sim_counts_take(&before);
  uint64_t bad0 = vmbus_stats()->vs_msgs_bad;
  kmcl_test_upq_refuse_types = types;
  assert_false(hclient_open(&lost, WAIT_MS));
  kmcl_test_upq_refuse_types = 0;
  assert_false(lost.opened);
  assert_false(lost.pnp_failed); /* nobody told the driver: it still waits */
  assert_int_equal(((struct kmcl_channel *)lost.ch)->ch_conn, waiting);
  assert_int_equal(vmbus_stats()->vs_msgs_bad, bad0 + counted);
  hclient_close(&lost);
  assert_int_equal(sim_counts_check(&before, true, false, "after the Disable"), 0);
}

/* The guest's offer up-call is lost: the channel keeps waiting for an
 * offer; its Disable gives the offer back for the next claim. */
static void test_lost_offer_counted_and_channel_recovers(void **state) {
  (void)state;
  open_with_lost_event(1u << KMCL_UP_OFFER, 1, KC_ENABLED);
}

/* The guest's OPENCHANNEL_RESULT up-call is lost: the channel stays
 * opening (rings shared, the host's channel open); Disable closes it with
 * the host and frees the rings. */
static void test_lost_open_result_counted_and_channel_recovers(void **state) {
  (void)state;
  open_with_lost_event(1u << KMCL_UP_OPEN_RESULT, 1, KC_OPENING);
}

/* The host's open-request up-call is lost (the server logs it): the
 * guest's OPENCHANNEL goes unanswered, as with a host that loses it, and
 * the guest counts nothing of its own. */
static void test_lost_open_request_on_the_host(void **state) {
  (void)state;
  open_with_lost_event(1u << KMCL_UP_OPEN_REQUEST, 0, KC_OPENING);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refused_post_is_counted_and_order_kept),
    UNIT_TEST_FIXTURE(test_lost_offer_counted_and_channel_recovers),
    UNIT_TEST_FIXTURE(test_lost_open_result_counted_and_channel_recovers),
    UNIT_TEST_FIXTURE(test_lost_open_request_on_the_host),
};

UNIT_MAIN("kmcl_upq", tests)
