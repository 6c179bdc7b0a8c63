/* tests/unit/ic_test.c: the guest's integration services (drivers/ic/)
 * against the host emulator's IC devices (host/icdev.c) over the loopback
 * bus: every framework/service version pair the peers use, heartbeat,
 * shutdown (power-off, restart, hibernate refused), timesync's wall clock,
 * KVP's IP info and auto pool, rescind and re-offer, a placeholder that
 * refuses its open; and a scripted hostile host sending raw messages, each
 * case with its defined outcome. Wire layouts checked against the sizes
 * and offsets of Linux's include/linux/hyperv.h (in drivers/ic/ic_proto.h's
 * static asserts and again here on built messages). */
#include "tests/unit/unit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/ic/ic.h"
#include "drivers/ic/ic_proto.h"
#include "host/icdev.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kmcl/kmcl_test.h"
#include "kmcl/vmbus_ring_proto.h"
#include "tests/unit/lib/kmcl_harness.h"

/* ---- fixture ---------------------------------------------------------------- */

struct fx {
  struct lb_bus *lb;
  struct icdev *dev[ICDEV_NKINDS];
  struct ic *ic;
  int shutdowns, restarts;
  bool have_ip;
};

static struct fx *g_fx;

static void on_shutdown(void *arg, bool restart) {
  struct fx *f = arg;
  if (restart)
    f->restarts++;
  else
    f->shutdowns++;
}

static bool on_ipv4(void *arg, struct ic_ipv4 *out) {
  struct fx *f = arg;
  if (!f->have_ip)
    return false;
  static const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  memcpy(out->mac, mac, 6);
  out->addr[0] = 192, out->addr[1] = 0, out->addr[2] = 2, out->addr[3] = 2;
  out->prefix = 24;
  out->gw[0] = 192, out->gw[1] = 0, out->gw[2] = 2, out->gw[3] = 1;
  out->dhcp = true;
  return true;
}

static void fx_up(struct fx *f, const struct icdev_config *hc, const struct ic_config *gc) {
  kh_setup();
  memset(f, 0, sizeof(*f));
  g_fx = f;
  f->have_ip = true;
  f->lb = lb_create(31);
  struct icdev_config c;
  memset(&c, 0, sizeof(c));
  if (hc)
    c = *hc;
  static const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  memcpy(c.cf_mac, mac, 6);
  for (unsigned k = 0; k < ICDEV_NKINDS; k++) {
    f->dev[k] = icdev_create(lb_device(f->lb), (enum icdev_kind)k, &c);
    assert_non_null(f->dev[k]);
  }
  struct ic_config g;
  memset(&g, 0, sizeof(g));
  if (gc)
    g = *gc;
  g.icc_shutdown = on_shutdown;
  g.icc_ipv4 = on_ipv4;
  g.icc_arg = f;
  assert_int_equal(ic_start(lb_device(f->lb), &g, &f->ic), 0);
}

static void fx_down(struct fx *f) {
  ic_stop(f->ic);
  lb_pump();
  for (unsigned k = 0; k < ICDEV_NKINDS; k++)
    icdev_destroy(f->dev[k]);
  lb_pump();
  lb_destroy(f->lb);
  assert_true(kh_no_leaks());
}

static bool all_open(void *arg) {
  struct fx *f = arg;
  for (unsigned k = 0; k < ICDEV_NKINDS; k++)
    if (!icdev_is_open(f->dev[k]) || !ic_stats(f->ic, (enum ic_service)k)->open)
      return false;
  return true;
}

static bool negotiated(void *arg) {
  struct fx *f = arg;
  for (unsigned k = 0; k < ICDEV_NKINDS; k++)
    if (!icdev_srv_version(f->dev[k]))
      return false;
  return true;
}

static enum icdev_kind g_kind;
static bool dev_negotiated(void *arg) {
  struct fx *f = arg;
  return icdev_srv_version(f->dev[g_kind]) != 0 || icdev_stats(f->dev[g_kind])->answers > 0;
}

/* ---- versions ----------------------------------------------------------------- */

/* The pairs the peers use: framework 3.0 and 1.0, each service version
 * Linux lists (heartbeat 3.0 1.0; KVP 4.0 3.0 1.0; shutdown 3.2 3.1 3.0
 * 1.0; timesync 4.0 3.0 1.0). The host lists exactly one pair; the guest
 * must choose it, and when the host lists everything, the highest. */
static void test_every_version_pair(void **state) {
  (void)state;
  static const uint32_t srv[ICDEV_NKINDS][4] = {
      [ICDEV_HEARTBEAT] = {IC_VER(3, 0), IC_VER(1, 0)},
      [ICDEV_KVP] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)},
      [ICDEV_SHUTDOWN] = {IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0)},
      [ICDEV_TIMESYNC] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)},
  };
  static const uint32_t fw[2] = {IC_FW_VERSION_3, IC_FW_VERSION_1};
  unsigned pairs = 0;
  for (unsigned f_i = 0; f_i < 2; f_i++) {
    for (unsigned s_i = 0; s_i < 4; s_i++) {
      struct icdev_config hc;
      memset(&hc, 0, sizeof(hc));
      hc.cf_min_fw = hc.cf_max_fw = fw[f_i];
      /* one service version per kind: pin it per device below */
      struct fx f;
      kh_setup();
      memset(&f, 0, sizeof(f));
      f.lb = lb_create(31);
      bool any = false;
      for (unsigned k = 0; k < ICDEV_NKINDS; k++) {
        if (!srv[k][s_i])
          continue;
        struct icdev_config c = hc;
        c.cf_min_srv = c.cf_max_srv = srv[k][s_i];
        c.cf_kvp_ready = NULL;
        f.dev[k] = icdev_create(lb_device(f.lb), (enum icdev_kind)k, &c);
        assert_non_null(f.dev[k]);
        any = true;
      }
      if (!any) {
        lb_destroy(f.lb);
        continue;
      }
      struct ic_config g;
      memset(&g, 0, sizeof(g));
      assert_int_equal(ic_start(lb_device(f.lb), &g, &f.ic), 0);
      for (unsigned k = 0; k < ICDEV_NKINDS; k++) {
        if (!f.dev[k])
          continue;
        g_kind = (enum icdev_kind)k;
        assert_true(lb_run_until(dev_negotiated, &f, 2000));
        assert_int_equal(icdev_fw_version(f.dev[k]), fw[f_i]);
        assert_int_equal(icdev_srv_version(f.dev[k]), srv[k][s_i]);
        assert_int_equal(ic_stats(f.ic, (enum ic_service)k)->fw_version, fw[f_i]);
        assert_int_equal(ic_stats(f.ic, (enum ic_service)k)->srv_version, srv[k][s_i]);
        pairs++;
      }
      ic_stop(f.ic);
      lb_pump();
      for (unsigned k = 0; k < ICDEV_NKINDS; k++)
        icdev_destroy(f.dev[k]);
      lb_pump();
      lb_destroy(f.lb);
      assert_true(kh_no_leaks());
    }
  }
  assert_int_equal(pairs, 24); /* 2 x (2 + 3 + 4 + 3) */
}

static void test_highest_common(void **state) {
  (void)state;
  struct fx f;
  fx_up(&f, NULL, NULL);
  assert_true(lb_run_until(negotiated, &f, 2000));
  assert_true(all_open(&f));
  assert_int_equal(icdev_fw_version(f.dev[ICDEV_HEARTBEAT]), IC_FW_VERSION_3);
  assert_int_equal(icdev_srv_version(f.dev[ICDEV_HEARTBEAT]), IC_VER(3, 0));
  assert_int_equal(icdev_srv_version(f.dev[ICDEV_KVP]), IC_VER(4, 0));
  assert_int_equal(icdev_srv_version(f.dev[ICDEV_SHUTDOWN]), IC_VER(3, 2));
  assert_int_equal(icdev_srv_version(f.dev[ICDEV_TIMESYNC]), IC_VER(4, 0));
  fx_down(&f);
  /* The guest capped below the host (a WS2008-era guest): 1.0/1.0. */
  struct ic_config g;
  memset(&g, 0, sizeof(g));
  g.icc_max_fw = IC_FW_VERSION_1;
  for (unsigned k = 0; k < IC_NSERVICES; k++)
    g.icc_max_srv[k] = IC_VER(1, 0);
  fx_up(&f, NULL, &g);
  assert_true(lb_run_until(negotiated, &f, 2000));
  for (unsigned k = 0; k < ICDEV_NKINDS; k++) {
    assert_int_equal(icdev_fw_version(f.dev[k]), IC_FW_VERSION_1);
    assert_int_equal(icdev_srv_version(f.dev[k]), IC_VER(1, 0));
  }
  fx_down(&f);
}

/* ---- services ------------------------------------------------------------------ */

static bool hb_at_least3(void *arg) {
  return icdev_stats(((struct fx *)arg)->dev[ICDEV_HEARTBEAT])->heartbeats >= 3;
}

static void test_heartbeat(void **state) {
  (void)state;
  struct icdev_config hc;
  memset(&hc, 0, sizeof(hc));
  hc.cf_heartbeat_ms = 20;
  struct fx f;
  fx_up(&f, &hc, NULL);
  assert_true(lb_run_until(hb_at_least3, &f, 3000));
  const struct icdev_stats *s = icdev_stats(f.dev[ICDEV_HEARTBEAT]);
  assert_int_equal(s->bad_answers, 0);
  assert_int_equal(s->failed_answers, 0);
  assert_true(ic_stats(f.ic, IC_HEARTBEAT)->answered >= 4); /* NEGOTIATE + 3 */
  fx_down(&f);
}

static bool sd_answered(void *arg) {
  return icdev_shutdown_answered(((struct fx *)arg)->dev[ICDEV_SHUTDOWN], NULL);
}

static void shutdown_case(uint32_t flags, uint32_t want_status, int want_sd, int want_rs) {
  struct fx f;
  fx_up(&f, NULL, NULL);
  assert_true(lb_run_until(negotiated, &f, 2000));
  assert_int_equal(icdev_shutdown(f.dev[ICDEV_SHUTDOWN], flags), 0);
  assert_true(lb_run_until(sd_answered, &f, 2000));
  uint32_t st = 1;
  assert_true(icdev_shutdown_answered(f.dev[ICDEV_SHUTDOWN], &st));
  assert_int_equal(st, want_status);
  assert_int_equal(f.shutdowns, want_sd);
  assert_int_equal(f.restarts, want_rs);
  /* A second request after the first accepted one: answered, no second stop. */
  if (want_sd || want_rs) {
    uint64_t n = icdev_answers_seen(f.dev[ICDEV_SHUTDOWN]);
    assert_int_equal(icdev_shutdown(f.dev[ICDEV_SHUTDOWN], flags), 0);
    lb_pump();
    assert_true(icdev_answers_seen(f.dev[ICDEV_SHUTDOWN]) > n);
    assert_int_equal(f.shutdowns + f.restarts, 1);
  }
  fx_down(&f);
}

static void test_shutdown(void **state) {
  (void)state;
  shutdown_case(0, IC_S_OK, 1, 0);
  shutdown_case(IC_SHUTDOWN_FLAG_FORCE, IC_S_OK, 1, 0);
  shutdown_case(IC_SHUTDOWN_FLAG_RESTART, IC_S_OK, 0, 1);
  shutdown_case(IC_SHUTDOWN_FLAG_HIBERNATE, IC_E_FAIL, 0, 0);
  shutdown_case(0x80, IC_E_FAIL, 0, 0);
}

static bool ts_synced(void *arg) {
  return icdev_stats(((struct fx *)arg)->dev[ICDEV_TIMESYNC])->samples >= 2;
}

static void test_timesync(void **state) {
  (void)state;
  char s[24];
  ic_time_format(IC_WLTIMEDELTA, s);
  assert_string_equal(s, "1970-01-01 00:00:00 UTC");
  /* 2026-12-07 14:00:00 UTC = 1796652000 s after 1970 */
  ic_time_format(IC_WLTIMEDELTA + 1796652000ull * 10000000u, s);
  assert_string_equal(s, "2026-12-07 14:00:00 UTC");
  ic_time_format(IC_WLTIMEDELTA + (951782400ull + 86399) * 10000000u, s); /* a leap day */
  assert_string_equal(s, "2000-02-29 23:59:59 UTC");
  for (unsigned v = 0; v < 3; v++) {
    static const uint32_t vers[3] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)};
    struct icdev_config hc;
    memset(&hc, 0, sizeof(hc));
    hc.cf_timesync_ms = 20;
    hc.cf_max_srv = hc.cf_min_srv = vers[v];
    struct fx f;
    kh_setup();
    memset(&f, 0, sizeof(f));
    f.lb = lb_create(31);
    f.dev[ICDEV_TIMESYNC] = icdev_create(lb_device(f.lb), ICDEV_TIMESYNC, &hc);
    struct ic_config g;
    memset(&g, 0, sizeof(g));
    assert_int_equal(ic_start(lb_device(f.lb), &g, &f.ic), 0);
    uint64_t t;
    assert_false(ic_time_now(f.ic, &t));
    assert_true(lb_run_until(ts_synced, &f, 3000));
    assert_true(ic_time_now(f.ic, &t));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t host = IC_WLTIMEDELTA + (uint64_t)now.tv_sec * 10000000u;
    uint64_t d = t > host ? t - host : host - t;
    assert_true(d < 5ull * 10000000u); /* within 5 s of the host's clock */
    ic_stop(f.ic);
    lb_pump();
    icdev_destroy(f.dev[ICDEV_TIMESYNC]);
    lb_pump();
    lb_destroy(f.lb);
    assert_true(kh_no_leaks());
  }
}

static bool kvp_done(void *arg) {
  const struct icdev *k = ((struct fx *)arg)->dev[ICDEV_KVP];
  return icdev_kvp_item(k, "ProcessorArchitecture")[0] != 0;
}

static void test_kvp(void **state) {
  (void)state;
  struct fx f;
  fx_up(&f, NULL, NULL);
  assert_true(lb_run_until(kvp_done, &f, 3000));
  const struct icdev *k = f.dev[ICDEV_KVP];
  assert_string_equal(icdev_kvp_ip(k), "192.0.2.2");
  assert_string_equal(icdev_kvp_item(k, "NetworkAddressIPv4"), "192.0.2.2");
  assert_string_equal(icdev_kvp_item(k, "OSName"), "hvkernel");
  assert_string_equal(icdev_kvp_item(k, "FullyQualifiedDomainName"), "hvkernel");
  assert_string_equal(icdev_kvp_item(k, "IntegrationServicesVersion"), "3.1");
  assert_string_equal(icdev_kvp_item(k, "ProcessorArchitecture"), "x86_64");
  assert_string_equal(icdev_kvp_item(k, "OSVersion"), VERSION_STRING);
  assert_int_equal(icdev_stats(k)->failed_answers, 0);
  assert_int_equal(icdev_stats(k)->bad_answers, 0);
  /* The whole GET_IP_INFO answer, field by field at Linux's offsets. */
  static uint8_t m[IC_MSG_MAX];
  memset(m, 0, sizeof(m));
  struct ic_msg_hdr h = {{3, 0},
                         IC_MSGTYPE_KVPEXCHANGE,
                         {4, 0},
                         sizeof(struct ic_kvp_ip_msg),
                         0,
                         9,
                         IC_FLAG_TRANSACTION | IC_FLAG_REQUEST,
                         {0, 0}};
  memcpy(m, &h, sizeof(h));
  uint8_t *b = m + sizeof(h);
  b[0] = IC_KVP_OP_GET_IP_INFO;
  const char *id = "00-15-5d-00-00-02"; /* other separator and case: still ours */
  for (unsigned i = 0; id[i]; i++)
    b[2 + 2 * i] = (uint8_t)id[i];
  assert_int_equal(icdev_send_raw(f.dev[ICDEV_KVP], m, sizeof(h) + sizeof(struct ic_kvp_ip_msg)),
                   0);
  lb_pump();
  static uint8_t a[IC_MSG_MAX];
  uint32_t n = icdev_last_answer(f.dev[ICDEV_KVP], a, sizeof(a), NULL);
  assert_int_equal(n, sizeof(h) + 7428);
  struct ic_msg_hdr ah;
  memcpy(&ah, a, sizeof(ah));
  assert_int_equal(ah.status, IC_S_OK);
  assert_int_equal(ah.icflags, IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE);
  assert_int_equal(ah.ictransaction_id, 9);
  const uint8_t *ab = a + sizeof(ah);
  assert_int_equal(ab[258], IC_KVP_ADDR_FAMILY_IPV4);
  assert_int_equal(ab[259], 1); /* dhcp_enabled */
  assert_int_equal(ab[260], '1');
  assert_int_equal(ab[2308], '2'); /* "255.255.255.0" */
  assert_int_equal(ab[2308 + 2 * 12], '0');
  assert_int_equal(ab[4356], '1'); /* "192.0.2.1" */
  assert_int_equal(ab[4356 + 2 * 8], '1');
  /* Another adapter: E_FAIL. No address yet: E_FAIL. */
  b[2] = 'F';
  assert_int_equal(icdev_send_raw(f.dev[ICDEV_KVP], m, sizeof(h) + 7428), 0);
  lb_pump();
  icdev_last_answer(f.dev[ICDEV_KVP], a, sizeof(a), NULL);
  memcpy(&ah, a, sizeof(ah));
  assert_int_equal(ah.status, IC_E_FAIL);
  b[2] = '0';
  f.have_ip = false;
  assert_int_equal(icdev_send_raw(f.dev[ICDEV_KVP], m, sizeof(h) + 7428), 0);
  lb_pump();
  icdev_last_answer(f.dev[ICDEV_KVP], a, sizeof(a), NULL);
  memcpy(&ah, a, sizeof(ah));
  assert_int_equal(ah.status, IC_E_FAIL);
  fx_down(&f);
}

/* ---- offers at any time ---------------------------------------------------------- */

static bool hb_open(void *arg) {
  struct fx *f = arg;
  return icdev_is_open(f->dev[ICDEV_HEARTBEAT]) && ic_stats(f->ic, IC_HEARTBEAT)->srv_version;
}

static void test_rescind_and_reoffer(void **state) {
  (void)state;
  struct fx f;
  fx_up(&f, NULL, NULL);
  assert_true(lb_run_until(negotiated, &f, 2000));
  icdev_destroy(f.dev[ICDEV_HEARTBEAT]); /* the host rescinds it */
  f.dev[ICDEV_HEARTBEAT] = NULL;
  lb_pump();
  assert_false(ic_stats(f.ic, IC_HEARTBEAT)->open);
  assert_int_equal(ic_stats(f.ic, IC_HEARTBEAT)->srv_version, 0);
  f.dev[ICDEV_HEARTBEAT] = icdev_create(lb_device(f.lb), ICDEV_HEARTBEAT, NULL);
  assert_true(lb_run_until(hb_open, &f, 2000));
  assert_int_equal(ic_stats(f.ic, IC_HEARTBEAT)->opens, 2);
  fx_down(&f);
}

static bool late_open(void *arg) { return hb_open(arg); }

static void test_offer_after_start(void **state) {
  (void)state;
  /* The guest waits before any offer exists (an offer after
   * ALLOFFERS_DELIVERED); the channel opens when it comes. */
  kh_setup();
  struct fx f;
  memset(&f, 0, sizeof(f));
  f.lb = lb_create(31);
  struct ic_config g;
  memset(&g, 0, sizeof(g));
  assert_int_equal(ic_start(lb_device(f.lb), &g, &f.ic), 0);
  lb_pump();
  assert_false(ic_stats(f.ic, IC_HEARTBEAT)->open);
  f.dev[ICDEV_HEARTBEAT] = icdev_create(lb_device(f.lb), ICDEV_HEARTBEAT, NULL);
  assert_true(lb_run_until(late_open, &f, 2000));
  fx_down(&f);
}

static VOID ph_pnp(VMBCHANNEL ch, NTSTATUS st) {
  int *n = VmbChannelGetPointer(ch);
  (void)st;
  (*n)++;
}
static VOID ph_process(VMBCHANNEL ch, VMBPACKETCOMPLETION p, PVOID b, UINT32 l, UINT32 fl) {
  (void)ch, (void)b, (void)l, (void)fl;
  VmbChannelPacketComplete(p, NULL, 0);
}
static int g_pnp;
static bool pnp_seen(void *arg) {
  (void)arg;
  return g_pnp > 0;
}

static void test_placeholder_refuses_open(void **state) {
  (void)state;
  kh_setup();
  struct lb_bus *lb = lb_create(31);
  static const GUID type = VMBUS_GUID_VIDEO;
  static const GUID inst =
      VMBUS_GUID(0x5620e0c7, 0x8062, 0x4dce, 0xae, 0xb7, 0x52, 0x0c, 0x7e, 0xf7, 0x61, 0x71);
  struct icdev_placeholder *p = icdev_placeholder_create(lb_device(lb), &type, &inst);
  assert_non_null(p);
  VMBCHANNEL ch;
  assert_true(NT_SUCCESS(VmbChannelAllocate(lb_device(lb), FALSE, &ch)));
  g_pnp = 0;
  VmbChannelSetPointer(ch, &g_pnp);
  assert_true(NT_SUCCESS(VmbChannelInitSetProcessPacketCallbacks(ch, ph_process, NULL)));
  assert_true(NT_SUCCESS(VmbClientChannelInitSetTargetPnp(ch, &type, NULL, ph_pnp)));
  assert_true(NT_SUCCESS(VmbChannelEnable(ch)));
  assert_true(lb_run_until(pnp_seen, NULL, 2000));
  assert_int_equal(icdev_placeholder_opens(p), 1);
  VmbChannelDisable(ch);
  VmbChannelCleanup(ch);
  icdev_placeholder_destroy(p);
  lb_pump();
  lb_destroy(lb);
  assert_true(kh_no_leaks());
}

/* ---- hostile host ------------------------------------------------------------------ */

struct ans {
  uint32_t len;
  struct ic_msg_hdr h;
  uint8_t body[64];
  uint64_t tid;
};

/* Send message m (len bytes) on d's channel in a hand-built in-band packet
 * carrying transaction id `tid` (no completion requested), as a Hyper-V
 * host sends its IC requests: descriptor, pipe header, the message,
 * padding to 8 bytes. */
static void send_with_tid(struct icdev *d, const void *m, uint32_t len, uint64_t tid) {
  static uint8_t pkt[sizeof(struct vmpacket_descriptor) + IC_MSG_MAX + 8];
  uint32_t hdr = (uint32_t)(sizeof(struct vmpacket_descriptor) + sizeof(struct ic_pipe_hdr));
  assert_true(icdev_is_open(d));
  assert_true(len <= IC_MSG_MAX - sizeof(struct ic_pipe_hdr));
  uint32_t total = (hdr + len + 7u) & ~7u;
  memset(pkt, 0, total);
  struct vmpacket_descriptor desc = {VM_PKT_DATA_INBAND, sizeof(desc) / 8u, (uint16_t)(total / 8u),
                                     0, tid};
  struct ic_pipe_hdr ph = {IC_PIPE_FLAG_DATA, len};
  memcpy(pkt, &desc, sizeof(desc));
  memcpy(pkt + sizeof(desc), &ph, sizeof(ph));
  memcpy(pkt + hdr, m, len);
  assert_int_equal(kmcl_test_send_raw(icdev_channel(d), pkt, total), 0);
}

/* Send raw bytes to service k (tid 0: KMCL's own send, else in a packet
 * carrying tid); the answer (if any) in *a; true if one came. */
static bool raw(struct fx *f, enum icdev_kind k, const void *m, uint32_t len, uint64_t tid,
                struct ans *a) {
  uint64_t before = icdev_answers_seen(f->dev[k]);
  if (tid)
    send_with_tid(f->dev[k], m, len, tid);
  else
    assert_int_equal(icdev_send_raw(f->dev[k], m, len), 0);
  lb_pump();
  if (icdev_answers_seen(f->dev[k]) == before)
    return false;
  static uint8_t buf[IC_MSG_MAX];
  memset(a, 0, sizeof(*a));
  a->len = icdev_last_answer(f->dev[k], buf, sizeof(buf), &a->tid);
  memcpy(&a->h, buf, sizeof(a->h));
  memcpy(a->body, buf + sizeof(a->h), sizeof(a->body));
  return true;
}

static uint32_t msg(uint8_t *m, uint16_t type, uint16_t size, uint8_t tid) {
  struct ic_msg_hdr h = {{3, 0}, type, {3, 0}, size, 0, tid, IC_FLAG_TRANSACTION | IC_FLAG_REQUEST,
                         {0, 0}};
  memcpy(m, &h, sizeof(h));
  return sizeof(h);
}

/* A NEGOTIATE offering one framework and one service version to service k;
 * the answer in *a; true if one came. */
static bool negotiate1(struct fx *f, enum icdev_kind k, struct ic_version fw, struct ic_version srv,
                       struct ans *a) {
  static uint8_t m[IC_MSG_MAX];
  uint32_t n = msg(m, IC_MSGTYPE_NEGOTIATE, 16, 1);
  struct ic_negotiate neg = {1, 1, 0};
  struct ic_version v[2] = {fw, srv};
  memcpy(m + n, &neg, sizeof(neg));
  memcpy(m + n + 8, v, sizeof(v));
  return raw(f, k, m, n + 16, 0, a);
}

static void test_hostile(void **state) {
  (void)state;
  struct icdev_config hc;
  memset(&hc, 0, sizeof(hc));
  hc.cf_scripted = true; /* the test is the host */
  struct fx f;
  fx_up(&f, &hc, NULL);
  assert_true(lb_run_until(all_open, &f, 2000));
  static uint8_t m[IC_MSG_MAX];
  struct ans a;
  const struct ic_svc_stats *hb = ic_stats(f.ic, IC_HEARTBEAT);

  /* 1. Shorter than the icmsg header: dropped, no answer. */
  memset(m, 0, sizeof(m));
  assert_false(raw(&f, ICDEV_HEARTBEAT, m, 4, 0, &a));
  assert_int_equal(hb->dropped, 1);

  /* 2. A heartbeat before NEGOTIATE: E_FAIL, flags and transaction id kept. */
  uint32_t n = msg(m, IC_MSGTYPE_HEARTBEAT, sizeof(struct ic_heartbeat), 7);
  memset(m + n, 0, sizeof(struct ic_heartbeat));
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + sizeof(struct ic_heartbeat), 0x1234567890ull, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  assert_int_equal(a.h.icflags, IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE);
  assert_int_equal(a.h.ictransaction_id, 7);
  assert_int_equal(a.tid, 0x1234567890ull);                 /* the same request id */
  assert_int_equal(a.len, n + sizeof(struct ic_heartbeat)); /* same length */

  /* 3. NEGOTIATE with no versions (0/0): refused 0/0. */
  n = msg(m, IC_MSGTYPE_NEGOTIATE, 8, 1);
  struct ic_negotiate neg = {0, 0, 0};
  memcpy(m + n, &neg, sizeof(neg));
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 8 + 8, 0, &a));
  assert_int_equal(a.body[0] | a.body[1] | a.body[2] | a.body[3], 0);
  assert_int_equal(a.h.icmsgsize, IC_NEGOTIATE_RESP_SIZE);

  /* 4. Thousands of versions claimed (5000/5000): refused 0/0, no overrun. */
  neg.icframe_vercnt = 5000;
  neg.icmsg_vercnt = 5000;
  memcpy(m + n, &neg, sizeof(neg));
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 8 + 16, 0, &a));
  assert_int_equal(a.body[0] | a.body[2], 0);

  /* 5. 100 + 100 versions listed, all present, none ours but the last:
   *    the list is walked to its end (Linux's maximum) and 3.0/3.0 chosen. */
  neg.icframe_vercnt = 100;
  neg.icmsg_vercnt = 100;
  memcpy(m + n, &neg, sizeof(neg));
  for (unsigned i = 0; i < 200; i++) {
    struct ic_version v = {9, (uint16_t)i};
    if (i == 99 || i == 199)
      v = (struct ic_version){3, 0};
    memcpy(m + n + 8 + 4 * i, &v, 4);
  }
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 8 + 800, 0, &a));
  assert_int_equal(a.body[0], 1);
  assert_int_equal(a.body[2], 1);
  assert_int_equal(a.body[8], 3);
  assert_int_equal(hb->srv_version, IC_VER(3, 0));

  /* 6. A list claimed longer than the packet (10/10, 2 versions sent): refused. */
  neg.icframe_vercnt = 10;
  neg.icmsg_vercnt = 10;
  memcpy(m + n, &neg, sizeof(neg));
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 8 + 8, 0, &a));
  assert_int_equal(a.body[0] | a.body[2], 0);
  assert_int_equal(hb->srv_version, 0); /* refused: not negotiated any more */

  /* 7. A second (valid) NEGOTIATE renegotiates. */
  assert_true(
      negotiate1(&f, ICDEV_HEARTBEAT, (struct ic_version){1, 0}, (struct ic_version){1, 0}, &a));
  assert_int_equal(a.body[0], 1);
  assert_int_equal(hb->fw_version, IC_VER(1, 0));
  assert_int_equal(hb->srv_version, IC_VER(1, 0));
  assert_true(hb->negotiations >= 5);

  /* 8. icmsgsize beyond the packet: E_FAIL. */
  n = msg(m, IC_MSGTYPE_HEARTBEAT, 4000, 3);
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 40, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);

  /* 9. A heartbeat body too short for seq_num and its reserved words. */
  n = msg(m, IC_MSGTYPE_HEARTBEAT, 8, 4);
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 8, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);

  /* 10. An unknown type, and a type of another service. */
  n = msg(m, 77, 0, 5);
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  n = msg(m, IC_MSGTYPE_SHUTDOWN, 12, 6);
  memset(m + n, 0, 12);
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 12, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  assert_int_equal(f.shutdowns, 0);

  /* 11. A valid heartbeat afterwards: seq + 1, the service still works. */
  n = msg(m, IC_MSGTYPE_HEARTBEAT, 40, 8);
  struct ic_heartbeat hbm;
  memset(&hbm, 0, sizeof(hbm));
  hbm.seq_num = 41;
  memcpy(m + n, &hbm, sizeof(hbm));
  assert_true(raw(&f, ICDEV_HEARTBEAT, m, n + 40, 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  uint64_t seq;
  memcpy(&seq, a.body, 8);
  assert_int_equal(seq, 42);

  /* 12. A flood of 2,000 bad messages: each answered or dropped, counted,
   *     the log rate-limited, the channel healthy. */
  uint64_t failed0 = hb->failed;
  for (unsigned i = 0; i < 2000; i++) {
    n = msg(m, (uint16_t)(100 + i % 50), 0, (uint8_t)i);
    assert_int_equal(icdev_send_raw(f.dev[ICDEV_HEARTBEAT], m, n), 0);
    if (i % 16 == 15)
      lb_pump();
  }
  lb_pump();
  assert_int_equal(hb->failed - failed0, 2000);
  assert_true(ic_stats(f.ic, IC_HEARTBEAT)->open);

  /* 13. KVP: ENUMERATE past the end (S_CONT), of another pool (S_CONT),
   *     SET (E_FAIL), GET_IP_INFO short (E_FAIL) -- after a NEGOTIATE. */
  assert_true(negotiate1(&f, ICDEV_KVP, (struct ic_version){3, 0}, (struct ic_version){4, 0}, &a));
  assert_int_equal(ic_stats(f.ic, IC_KVP)->srv_version, IC_VER(4, 0));
  n = msg(m, IC_MSGTYPE_KVPEXCHANGE, sizeof(struct ic_kvp_enumerate), 2);
  struct ic_kvp_enumerate e;
  memset(&e, 0, sizeof(e));
  e.hdr.operation = IC_KVP_OP_ENUMERATE;
  e.hdr.pool = IC_KVP_POOL_AUTO;
  e.index = 0xfffffff0u;
  memcpy(m + n, &e, sizeof(e));
  assert_true(raw(&f, ICDEV_KVP, m, n + sizeof(e), 0, &a));
  assert_int_equal(a.h.status, IC_S_CONT);
  e.hdr.pool = IC_KVP_POOL_EXTERNAL;
  e.index = 0;
  memcpy(m + n, &e, sizeof(e));
  assert_true(raw(&f, ICDEV_KVP, m, n + sizeof(e), 0, &a));
  assert_int_equal(a.h.status, IC_S_CONT);
  e.hdr.operation = IC_KVP_OP_SET;
  memcpy(m + n, &e, sizeof(e));
  assert_true(raw(&f, ICDEV_KVP, m, n + sizeof(e), 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  n = msg(m, IC_MSGTYPE_KVPEXCHANGE, 100, 3);
  m[n] = IC_KVP_OP_GET_IP_INFO;
  assert_true(raw(&f, ICDEV_KVP, m, n + 100, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  n = msg(m, IC_MSGTYPE_KVPEXCHANGE, 2, 3); /* shorter than the KVP header */
  assert_true(raw(&f, ICDEV_KVP, m, n + 2, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);

  /* 14. Timesync and shutdown bodies too short (after NEGOTIATE). */
  const struct ic_version v30 = {3, 0};
  assert_true(negotiate1(&f, ICDEV_TIMESYNC, v30, v30, &a));
  assert_true(negotiate1(&f, ICDEV_SHUTDOWN, v30, v30, &a));
  n = msg(m, IC_MSGTYPE_TIMESYNC, 10, 2);
  assert_true(raw(&f, ICDEV_TIMESYNC, m, n + 10, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  uint64_t t;
  assert_false(ic_time_now(f.ic, &t));
  n = msg(m, IC_MSGTYPE_SHUTDOWN, 8, 2);
  assert_true(raw(&f, ICDEV_SHUTDOWN, m, n + 8, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  assert_int_equal(f.shutdowns + f.restarts, 0);
  fx_down(&f);
}

/* ---- KVP pools the host writes ------------------------------------------------------ */

static uint32_t kvp_msg(uint8_t *m, uint8_t op, uint8_t pool, const char *key, uint32_t key_size,
                        const char *val) {
  uint32_t n = msg(m, IC_MSGTYPE_KVPEXCHANGE, sizeof(struct ic_kvp_get_set), 9);
  uint8_t *b = m + n;
  memset(b, 0, sizeof(struct ic_kvp_get_set));
  b[0] = op;
  b[1] = pool;
  uint8_t *d = b + offsetof(struct ic_kvp_get_set, data);
  uint32_t klen = 0;
  for (; key[klen] && klen < IC_KVP_MAX_KEY_SIZE / 2; klen++)
    d[offsetof(struct ic_kvp_value, key) + 2 * klen] = (uint8_t)key[klen];
  uint32_t vlen = 0;
  for (; val && val[vlen]; vlen++)
    d[offsetof(struct ic_kvp_value, value) + 2 * vlen] = (uint8_t)val[vlen];
  uint32_t hdr[3] = {IC_KVP_REG_SZ, key_size ? key_size : 2 * (klen + 1), 2 * (vlen + 1)};
  memcpy(d, hdr, sizeof(hdr));
  return n + (uint32_t)sizeof(struct ic_kvp_get_set);
}

static void value_of(const struct fx *f, char *out, size_t cap) {
  static uint8_t buf[IC_MSG_MAX];
  icdev_last_answer(f->dev[ICDEV_KVP], buf, sizeof(buf), NULL);
  const uint8_t *v = buf + sizeof(struct ic_msg_hdr) + offsetof(struct ic_kvp_get_set, data) +
                     offsetof(struct ic_kvp_value, value);
  size_t i = 0;
  for (; i + 1 < cap && v[2 * i]; i++)
    out[i] = (char)v[2 * i];
  out[i] = 0;
}

static void test_kvp_pools(void **state) {
  (void)state;
  struct icdev_config hc;
  memset(&hc, 0, sizeof(hc));
  hc.cf_scripted = true;
  struct fx f;
  fx_up(&f, &hc, NULL);
  assert_true(lb_run_until(all_open, &f, 2000));
  static uint8_t m[IC_MSG_MAX];
  struct ans a;
  assert_true(negotiate1(&f, ICDEV_KVP, (struct ic_version){3, 0}, (struct ic_version){4, 0}, &a));
  uint32_t n;
  char v[300];
  /* The host's own items (auto-external, as Hyper-V pushes HostName). */
  n = kvp_msg(m, IC_KVP_OP_SET, IC_KVP_POOL_AUTO_EXTERNAL, "HostName", 0, "hyperv-host");
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  n = kvp_msg(m, IC_KVP_OP_SET, IC_KVP_POOL_AUTO_EXTERNAL, "HostName", 0, "renamed");
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_S_OK); /* replaced, not added */
  n = kvp_msg(m, IC_KVP_OP_GET, IC_KVP_POOL_AUTO_EXTERNAL, "HostName", 0, NULL);
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  value_of(&f, v, sizeof(v));
  assert_string_equal(v, "renamed");
  /* ENUMERATE of that pool: one item, then S_CONT. */
  uint32_t e = msg(m, IC_MSGTYPE_KVPEXCHANGE, sizeof(struct ic_kvp_enumerate), 2);
  memset(m + e, 0, sizeof(struct ic_kvp_enumerate));
  m[e] = IC_KVP_OP_ENUMERATE;
  m[e + 1] = IC_KVP_POOL_AUTO_EXTERNAL;
  assert_true(raw(&f, ICDEV_KVP, m, e + sizeof(struct ic_kvp_enumerate), 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  m[e + 4] = 1;
  assert_true(raw(&f, ICDEV_KVP, m, e + sizeof(struct ic_kvp_enumerate), 0, &a));
  assert_int_equal(a.h.status, IC_S_CONT);
  /* GET of an auto-pool item by its key. */
  n = kvp_msg(m, IC_KVP_OP_GET, IC_KVP_POOL_AUTO, "OSName", 0, NULL);
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  value_of(&f, v, sizeof(v));
  assert_string_equal(v, "hvkernel");
  /* DELETE, then GET fails; DELETE again fails. */
  n = msg(m, IC_MSGTYPE_KVPEXCHANGE, sizeof(struct ic_kvp_delete), 3);
  memset(m + n, 0, sizeof(struct ic_kvp_delete));
  m[n] = IC_KVP_OP_DELETE;
  m[n + 1] = IC_KVP_POOL_AUTO_EXTERNAL;
  uint32_t ks = 18;
  memcpy(m + n + 4, &ks, 4);
  for (unsigned i = 0; i < 8; i++)
    m[n + 8 + 2 * i] = (uint8_t) "HostName"[i];
  assert_true(raw(&f, ICDEV_KVP, m, n + sizeof(struct ic_kvp_delete), 0, &a));
  assert_int_equal(a.h.status, IC_S_OK);
  assert_true(raw(&f, ICDEV_KVP, m, n + sizeof(struct ic_kvp_delete), 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  n = kvp_msg(m, IC_KVP_OP_GET, IC_KVP_POOL_AUTO_EXTERNAL, "HostName", 0, NULL);
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  /* Hostile: SET into the guest's auto pool; a key longer than stored; a
   * key_size of 4 GiB with a key that fills its whole field without a NUL;
   * an unknown pool; a full pool. Each E_FAIL, nothing overrun. */
  n = kvp_msg(m, IC_KVP_OP_SET, IC_KVP_POOL_AUTO, "OSName", 0, "evil");
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  char longkey[300];
  memset(longkey, 'k', sizeof(longkey) - 1);
  longkey[sizeof(longkey) - 1] = 0;
  n = kvp_msg(m, IC_KVP_OP_SET, IC_KVP_POOL_EXTERNAL, longkey, 0xffffffffu, "x");
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  n = kvp_msg(m, IC_KVP_OP_SET, 7, "k", 0, "x");
  assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
  assert_int_equal(a.h.status, IC_E_FAIL);
  for (unsigned i = 0; i <= IC_KVP_STORE_ITEMS; i++) {
    char k[8];
    snprintf(k, sizeof(k), "k%u", i);
    n = kvp_msg(m, IC_KVP_OP_SET, IC_KVP_POOL_EXTERNAL, k, 0, "v");
    assert_true(raw(&f, ICDEV_KVP, m, n, 0, &a));
    assert_int_equal(a.h.status, i < IC_KVP_STORE_ITEMS ? IC_S_OK : IC_E_FAIL);
  }
  fx_down(&f);
}

/* The framework on its own (no channel): every length from 0 to 64 of
 * every kind of byte pattern gives an answer no longer than the request. */
static void test_handle_message_lengths(void **state) {
  (void)state;
  kh_setup();
  struct ic *ic;
  assert_int_equal(ic_start(NULL, NULL, &ic), 0);
  static uint8_t buf[IC_MSG_MAX];
  for (unsigned s = 0; s < IC_NSERVICES; s++)
    for (uint32_t len = 0; len <= 64; len++)
      for (unsigned pat = 0; pat < 4; pat++) {
        memset(buf, pat == 0 ? 0 : pat == 1 ? 0xff : 0x5a, IC_MSG_MAX);
        if (pat == 3 && len >= 14)
          buf[12] = IC_MSGTYPE_NEGOTIATE, buf[13] = 0;
        uint32_t r = ic_handle_message(ic, (enum ic_service)s, buf, len);
        assert_true(r == 0 || r == len);
        assert_true(len >= IC_HDR_SIZE || r == 0);
      }
  ic_stop(ic);
  assert_true(kh_no_leaks());
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_version_pair),
    cmocka_unit_test(test_highest_common),
    cmocka_unit_test(test_heartbeat),
    cmocka_unit_test(test_shutdown),
    cmocka_unit_test(test_timesync),
    cmocka_unit_test(test_kvp),
    cmocka_unit_test(test_rescind_and_reoffer),
    cmocka_unit_test(test_offer_after_start),
    cmocka_unit_test(test_placeholder_refuses_open),
    cmocka_unit_test(test_hostile),
    cmocka_unit_test(test_kvp_pools),
    cmocka_unit_test(test_handle_message_lengths),
};

UNIT_MAIN("ic", tests)
