/* tests/unit/host_vmbus_server_test.c: the VMBus server (host/vmbus_server.c)
 * driven by hand-built guest messages through the emulated SynIC: what the
 * guest posts goes through hw_hypercall (HvPostMessage), what the host sends
 * arrives in the SIMP slot and is taken out by a SINT handler written like
 * the guest's (copy, clear, EOM when pending). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/echo_dev.h"
#include "host/hvemu.h"
#include "host/vmbus_server.h"
#include "hv/vmbus_trace.h"
#include "hv/vmbus_proto.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "sim/sim.h"
#include "tests/unit/lib/kmcl_harness.h"
#include "tests/unit/unit.h"

#define VEC 0x60
#define RXQ 1024

static struct sim sys;
static struct hvemu *hv;
static struct vmbsrv *srv;
static uint8_t *simp, *siefp, *inpage, *intpage, *mon1, *mon2;

struct rxmsg {
  uint32_t size;
  uint8_t msg[240];
};
static struct rxmsg rxq[RXQ];
static unsigned rx_head, rx_n;
static unsigned sig_flags[VMBSRV_MAX_CHANNELS + 1]; /* SIEFP bit relid */
static unsigned sig_intpage[VMBSRV_MAX_CHANNELS + 1];

static void on_irq(uint8_t v) {
  (void)v;
  struct hv_message *s = &((struct hv_message_page *)simp)->sint_message[2];
  while (s->header.message_type != HVMSG_NONE) {
    if (rx_n < RXQ) {
      struct rxmsg *m = &rxq[(rx_head + rx_n++) % RXQ];
      m->size = s->header.payload_size;
      memcpy(m->msg, s->payload, m->size);
    }
    s->header.message_type = HVMSG_NONE;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (s->header.message_flags & HV_MESSAGE_FLAG_PENDING)
      hw_wrmsr_safe(HV_X64_MSR_EOM, 0);
  }
  uint64_t *flags = ((struct hv_event_flags_page *)siefp)->sint_flags[2];
  for (unsigned r = 0; r <= VMBSRV_MAX_CHANNELS; r++) {
    uint64_t bit = 1ull << (r % 64);
    if (!(__atomic_fetch_and(&flags[r / 64], ~bit, __ATOMIC_SEQ_CST) & bit))
      continue;
    if (r)
      sig_flags[r]++;
    else /* < 2.4: look at the receive half of the interrupt page */
      for (unsigned c = 1; c <= VMBSRV_MAX_CHANNELS; c++) {
        uint64_t *ib = (uint64_t *)intpage;
        uint64_t cb = 1ull << (c % 64);
        if (__atomic_fetch_and(&ib[c / 64], ~cb, __ATOMIC_SEQ_CST) & cb)
          sig_intpage[c]++;
      }
  }
}

static void pump(void) {
  for (int i = 0; i < 100000; i++)
    if (!ev_run_pending() && !(hv && hvemu_poll(hv)))
      break;
}

static void *zpage(unsigned n) {
  void *p = page_alloc(n);
  assert_non_null(p);
  memset(p, 0, (size_t)n * PAGE_SIZE);
  return p;
}

/** The host (emulator and server with `cfg`) and a fake guest whose SynIC
 * raises VEC, as hv/ would set it up. */
static void setup_cfg(const struct vmbsrv_config *cfg) {
  struct sim_config sc = {.sc_srv = *cfg};
  assert_int_equal(sim_start(&sys, &sc, SIM_HOST), 0);
  hv = sys.s_emu;
  srv = sys.s_srv;
  hw_irq_register(VEC, on_irq);
  rx_head = rx_n = 0;
  memset(sig_flags, 0, sizeof(sig_flags));
  memset(sig_intpage, 0, sizeof(sig_intpage));
  assert_int_equal(sim_fake_synic(&sys, VEC), 0);
  simp = sim_fake_simp(&sys);
  siefp = sim_fake_siefp(&sys);
  inpage = zpage(1);
  intpage = zpage(1);
  mon1 = zpage(1);
  mon2 = zpage(1);
}

static void setup_cap(uint32_t cap, bool monitored) {
  struct vmbsrv_config cfg = {.vc_max_version = cap, .vc_monitored_offers = monitored};
  setup_cfg(&cfg);
}

static int setup(void **state) {
  (void)state;
  setup_cap(VMBUS_VERSION_WIN10_V5_3, false);
  return 0;
}

/** Everything down; nothing leaked (pages, KMCL objects). */
static void teardown_all(void) {
  pump();
  uint8_t *pp[] = {inpage, intpage, mon1, mon2};
  for (unsigned i = 0; i < sizeof(pp) / sizeof(pp[0]); i++)
    page_free(pp[i], 1);
  hv = NULL;
  srv = NULL;
  assert_int_equal(sim_down(&sys, SIM_OFF), 0);
}

static int teardown(void **state) {
  (void)state;
  teardown_all();
  return 0;
}

/* ---- the guest's side ------------------------------------------------------------- */

static uint16_t post(uint32_t conn, const void *msg, uint32_t size) {
  struct hv_input_post_message *in = (void *)inpage;
  memset(in, 0, sizeof(*in));
  in->connection_id = conn;
  in->message_type = HVMSG_VMBUS;
  in->payload_size = size;
  memcpy(in->payload, msg, size);
  return (uint16_t)hw_hypercall(HVCALL_POST_MESSAGE, hw_virt_to_phys(in), 0);
}

static uint32_t msg_conn = VMBUS_MESSAGE_CONNECTION_ID;

static void send_ok(const void *msg, uint32_t size) {
  assert_int_equal(post(msg_conn, msg, size), HV_STATUS_SUCCESS);
}

/** Next message from the host, or size 0 when none arrived. */
static struct rxmsg next(void) {
  pump();
  struct rxmsg m = {0};
  if (rx_n) {
    m = rxq[rx_head];
    rx_head = (rx_head + 1) % RXQ;
    rx_n--;
  }
  return m;
}

static uint32_t type_of(const struct rxmsg *m) {
  uint32_t t = 0;
  if (m->size >= 4)
    memcpy(&t, m->msg, 4);
  return t;
}

static struct rxmsg expect(uint32_t type) {
  struct rxmsg m = next();
  if (type_of(&m) != type)
    fail_msg("expected message type %u, got %u (size %u)", type, type_of(&m), m.size);
  return m;
}

static void expect_none(void) {
  struct rxmsg m = next();
  if (m.size)
    fail_msg("unexpected message type %u", type_of(&m));
}

static uint16_t initiate(uint32_t v, uint32_t conn, uint32_t features) {
  struct vmbus_msg_initiate_contact ic;
  memset(&ic, 0, sizeof(ic));
  ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
  ic.vmbus_version_requested = v;
  if (v >= VMBUS_VERSION_WIN10_V5) {
    ic.u.v5.msg_sint = 2;
    ic.u.v5.feature_flags = features;
  } else {
    ic.u.interrupt_page = hw_virt_to_phys(intpage);
  }
  ic.monitor_page1 = hw_virt_to_phys(mon1);
  ic.monitor_page2 = hw_virt_to_phys(mon2);
  return post(conn, &ic, VMBUS_INITIATE_CONTACT_SIZE);
}

static const uint32_t versions[] = {
    VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2,
    VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V4_1,
    VMBUS_VERSION_WIN10,      VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8,
    VMBUS_VERSION_WIN7,       VMBUS_VERSION_WS2008,
};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

/** The guest's loop: newest first; INVALID_CONNECTION_ID skips to 4.x.
 * Returns the version accepted, 0 when none. */
static uint32_t negotiate(uint32_t *conn_out) {
  for (unsigned i = 0; i < NVERSIONS; i++) {
    uint32_t v = versions[i];
    uint32_t conn =
        v >= VMBUS_VERSION_WIN10_V5 ? VMBUS_MESSAGE_CONNECTION_ID_4 : VMBUS_MESSAGE_CONNECTION_ID;
    uint16_t st = initiate(v, conn, 0);
    if (st == HV_STATUS_INVALID_CONNECTION_ID) {
      assert_true(v >= VMBUS_VERSION_WIN10_V5);
      while (i + 1 < NVERSIONS && versions[i + 1] >= VMBUS_VERSION_WIN10_V5)
        i++;
      continue;
    }
    assert_int_equal(st, HV_STATUS_SUCCESS);
    struct rxmsg m = expect(VMBUS_MSG_VERSION_RESPONSE);
    struct vmbus_msg_version_response r;
    memset(&r, 0, sizeof(r));
    memcpy(&r, m.msg, m.size);
    assert_int_equal(m.size, v == VMBUS_VERSION_WIN10_V6_0 ? 20 : 16);
    if (!r.version_supported)
      continue;
    if (v >= VMBUS_VERSION_WIN10_V5) {
      assert_int_equal(r.msg_conn_id, VMBUS_MESSAGE_CONNECTION_ID_4);
      msg_conn = r.msg_conn_id;
    } else {
      msg_conn = VMBUS_MESSAGE_CONNECTION_ID;
    }
    if (conn_out)
      *conn_out = conn;
    return v;
  }
  return 0;
}

static void request_offers(unsigned n, struct vmbus_msg_offer *out) {
  struct vmbus_msg_header h = {VMBUS_MSG_REQUESTOFFERS, 0};
  send_ok(&h, sizeof(h));
  for (unsigned i = 0; i < n; i++) {
    struct rxmsg m = expect(VMBUS_MSG_OFFERCHANNEL);
    assert_int_equal(m.size, sizeof(struct vmbus_msg_offer));
    if (out)
      memcpy(&out[i], m.msg, sizeof(out[i]));
  }
  expect(VMBUS_MSG_ALLOFFERS_DELIVERED);
}

/** Post a raw GPADL_HEADER with one range and `npfn` PFNs in it. */
static void raw_header(uint32_t relid, uint32_t handle, uint16_t buflen, uint16_t rangecount,
                       uint32_t byte_count, uint32_t byte_offset, const uint64_t *pfns,
                       uint32_t npfn) {
  uint8_t buf[240];
  struct vmbus_msg_gpadl_header h = {
      {VMBUS_MSG_GPADL_HEADER, 0}, relid, handle, buflen, rangecount};
  struct vmbus_gpa_range_hdr r = {byte_count, byte_offset};
  memcpy(buf, &h, sizeof(h));
  memcpy(buf + sizeof(h), &r, sizeof(r));
  memcpy(buf + sizeof(h) + sizeof(r), pfns, 8 * npfn);
  send_ok(buf, (uint32_t)(sizeof(h) + sizeof(r) + 8 * npfn));
}

/** Post a raw GPADL_BODY for `handle` carrying `npfn` PFNs. */
static void raw_body(uint32_t handle, const uint64_t *pfns, uint32_t npfn) {
  uint8_t buf[240];
  struct vmbus_msg_gpadl_body b = {{VMBUS_MSG_GPADL_BODY, 0}, 0, handle};
  memcpy(buf, &b, sizeof(b));
  memcpy(buf + sizeof(b), pfns, 8 * npfn);
  send_ok(buf, (uint32_t)(sizeof(b) + 8 * npfn));
}

/** Linux's GPADL split (PROTOCOL-REFERENCE.md 2.5): header with up to 26
 * PFNs, bodies with 28. Returns the number of body messages. */
static unsigned send_gpadl(uint32_t relid, uint32_t handle, const uint64_t *pfns, uint32_t n) {
  uint32_t first = n < 26 ? n : 26;
  raw_header(relid, handle, (uint16_t)(8 + 8 * n), 1, n * PAGE_SIZE, 0, pfns, first);
  unsigned bodies = 0;
  for (uint32_t done = first; done < n;) {
    uint32_t k = n - done < 28 ? n - done : 28;
    raw_body(handle, pfns + done, k);
    done += k;
    bodies++;
  }
  return bodies;
}

static uint32_t created_status(uint32_t handle) {
  struct rxmsg m = expect(VMBUS_MSG_GPADL_CREATED);
  struct vmbus_msg_gpadl_created c;
  memcpy(&c, m.msg, sizeof(c));
  assert_int_equal(c.gpadl, handle);
  return c.creation_status;
}

static void pfns_of(void *p, uint32_t n, uint64_t *out) {
  for (uint32_t i = 0; i < n; i++)
    out[i] = (hw_virt_to_phys(p) >> PAGE_SHIFT) + i;
}

static const struct kmcl_bus_ops *ops(void) { return vmbsrv_bus(srv)->kb_ops; }

static void teardown_gpadl(uint32_t relid, uint32_t handle, bool expect_torndown) {
  struct vmbus_msg_gpadl_teardown t = {{VMBUS_MSG_GPADL_TEARDOWN, 0}, relid, handle};
  send_ok(&t, sizeof(t));
  if (expect_torndown) {
    struct rxmsg m = expect(VMBUS_MSG_GPADL_TORNDOWN);
    struct vmbus_msg_gpadl_torndown td;
    memcpy(&td, m.msg, sizeof(td));
    assert_int_equal(td.gpadl, handle);
  }
}

/** The ring (`ring`, 2 pages per direction) shared as GPADL `handle` on
 * `relid`; created. */
static void *ring;
static void ring_gpadl(uint32_t relid, uint32_t handle) {
  ring = zpage(4);
  uint64_t pf[4];
  pfns_of(ring, 4, pf);
  send_gpadl(relid, handle, pf, 4);
  assert_int_equal(created_status(handle), 0);
}

/** Post OPENCHANNEL for `relid` with `openid` over ring GPADL `handle`
 * (the guest-to-host half first: downstream offset 2 pages). */
static void post_open(uint32_t relid, uint32_t openid, uint32_t handle) {
  struct vmbus_msg_open_channel o;
  memset(&o, 0, sizeof(o));
  o.hdr.msgtype = VMBUS_MSG_OPENCHANNEL;
  o.child_relid = relid;
  o.openid = openid;
  o.ringbuffer_gpadlhandle = handle;
  o.downstream_ringbuffer_pageoffset = 2;
  send_ok(&o, VMBUS_OPEN_CHANNEL_SIZE);
}

/** Ring GPADL and OPENCHANNEL; returns the status. */
static uint32_t open_channel(uint32_t relid, uint32_t handle) {
  ring_gpadl(relid, handle);
  post_open(relid, relid, handle);
  struct rxmsg m = expect(VMBUS_MSG_OPENCHANNEL_RESULT);
  struct vmbus_msg_open_result r;
  memcpy(&r, m.msg, sizeof(r));
  assert_int_equal(r.child_relid, relid);
  assert_int_equal(r.openid, relid);
  return r.status;
}

static void close_channel(uint32_t relid) {
  struct vmbus_msg_relid c = {{VMBUS_MSG_CLOSECHANNEL, 0}, relid};
  send_ok(&c, sizeof(c));
  pump();
}

/** Open `relid` over ring GPADL `handle`, close it, tear the GPADL down
 * and free the ring. */
static void open_close(uint32_t relid, uint32_t handle) {
  assert_int_equal(open_channel(relid, handle), 0);
  close_channel(relid);
  teardown_gpadl(relid, handle, true);
  page_free(ring, 4);
}

/* ---- negotiation ------------------------------------------------------------------ */

static void test_negotiate_each_cap(void **state) {
  (void)state;
  teardown_all();
  for (unsigned i = 0; i < NVERSIONS; i++) {
    setup_cap(versions[i], false);
    uint32_t conn = 0;
    uint32_t v = negotiate(&conn);
    if (v != versions[i])
      fail_msg("cap %x: landed on %x", versions[i], v);
    assert_int_equal(vmbsrv_version(srv), versions[i]);
    assert_int_equal(conn, versions[i] >= VMBUS_VERSION_WIN10_V5 ? 4 : 1);
    /* Below 5.0 the host does not listen on connection id 4 at all. */
    if (versions[i] < VMBUS_VERSION_WIN10_V5)
      assert_int_equal(initiate(VMBUS_VERSION_WIN10_V5_3, 4, 0), HV_STATUS_INVALID_CONNECTION_ID);
    assert_true(vmbsrv_connected_ns(srv) != 0);
    teardown_all();
  }
  setup_cap(VMBUS_VERSION_WIN10_V5_3, false);
}

static void test_negotiate_rules(void **state) {
  (void)state;
  teardown_all();
  setup_cap(VMBUS_VERSION_WIN10_V6_0, false);
  struct vmbus_msg_version_response r;
  /* 6.0 grants no feature flags: none are implemented. */
  assert_int_equal(initiate(VMBUS_VERSION_WIN10_V6_0, 4, 0xff), 0);
  struct rxmsg m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.size, 20);
  memcpy(&r, m.msg, sizeof(r));
  assert_int_equal(r.version_supported, 1);
  assert_int_equal(r.supported_features, 0);
  /* >= 5.0 on connection id 1, < 5.0 on 4: refused. */
  assert_int_equal(initiate(VMBUS_VERSION_WIN10_V5_3, 1, 0), 0);
  m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.msg[8], 0);
  assert_int_equal(vmbsrv_version(srv), 0);
  assert_int_equal(initiate(VMBUS_VERSION_WIN10, 4, 0), 0);
  m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.msg[8], 0);
  /* Unknown version. */
  assert_int_equal(initiate(VMBUS_VERSION(7, 0), 4, 0), 0);
  m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.msg[8], 0);
  /* Below 5.0 the response does not carry a version (QEMU leaves 0). */
  assert_int_equal(initiate(VMBUS_VERSION_WIN10, 1, 0), 0);
  m = expect(VMBUS_MSG_VERSION_RESPONSE);
  memcpy(&r, m.msg, 16);
  assert_int_equal(r.version_supported, 1);
  assert_int_equal(r.msg_conn_id, 0);
  /* Refused versions are skipped by the guest loop. */
  vmbsrv_refuse_version(srv, VMBUS_VERSION_WIN10_V6_0);
  vmbsrv_refuse_version(srv, VMBUS_VERSION_WIN10_V5_3);
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_2);
  /* Before INITIATE_CONTACT nothing else is accepted. */
  vmbsrv_destroy(srv);
  srv = sys.s_srv = vmbsrv_create(hv, NULL);
  struct vmbus_msg_header h = {VMBUS_MSG_REQUESTOFFERS, 0};
  assert_int_equal(post(1, &h, sizeof(h)), 0);
  expect_none();
  assert_int_equal(vmbsrv_stats(srv)->vs_rx_bad, 1);
  /* A bad cap is refused at creation. */
  struct vmbsrv_config bad = {.vc_max_version = VMBUS_VERSION(4, 2)};
  assert_null(vmbsrv_create(hv, &bad));
  uint32_t v;
  assert_int_equal(vmbus_version_parse("5.3", &v), 0);
  assert_true(vmbus_version_known(v) && v == VMBUS_VERSION_WIN10_V5_3);
  assert_int_equal(vmbus_version_parse("0.13", &v), 0);
  assert_true(vmbus_version_known(v) && v == VMBUS_VERSION_WS2008);
  assert_int_equal(vmbus_version_parse("4.2", &v), 0);
  assert_false(vmbus_version_known(v));
  assert_int_equal(vmbus_version_parse("5.3x", &v), -EINVAL);
}

static void test_pre_v5_interrupt_page_checked(void **state) {
  (void)state;
  struct vmbus_msg_initiate_contact ic;
  memset(&ic, 0, sizeof(ic));
  ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
  ic.vmbus_version_requested = VMBUS_VERSION_WIN10;
  ic.u.interrupt_page = 1ull << 50;
  assert_int_equal(post(1, &ic, VMBUS_INITIATE_CONTACT_SIZE), 0);
  struct rxmsg m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.msg[8], 0);
  /* Short message: dropped. */
  assert_int_equal(post(1, &ic, 20), 0);
  expect_none();
}

/* ---- offers ------------------------------------------------------------------------ */

static void test_offers(void **state) {
  (void)state;
  teardown_all();
  setup_cap(VMBUS_VERSION_WIN10_V5_3, true);
  struct echo_dev *e1 = echo_dev_create(vmbsrv_device(srv), 1);
  struct echo_dev *e2 = echo_dev_create(vmbsrv_device(srv), 2);
  assert_non_null(e1);
  assert_non_null(e2);
  assert_null(echo_dev_create(vmbsrv_device(srv), 1)); /* same instance: -EEXIST */
  expect_none();                                       /* nothing before REQUESTOFFERS */
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
  struct vmbus_msg_offer o[2];
  request_offers(2, o);
  assert_true(vmbsrv_offers_delivered(srv));
  for (unsigned i = 0; i < 2; i++) {
    assert_memory_equal(&o[i].if_type, &echo_dev_type, 16);
    assert_int_equal(o[i].child_relid, i + 1);
    assert_int_equal(o[i].if_instance.data1, i + 1);
    assert_int_equal(o[i].connection_id, VMBSRV_CHANNEL_CONN_BASE + i + 1);
    assert_int_equal(o[i].monitor_allocated, 1);
    assert_int_equal(o[i].monitorid, i);
    assert_int_equal(o[i].is_dedicated_interrupt, 1);
    assert_int_equal(o[i].sub_channel_index, 0);
  }
  assert_int_equal(vmbsrv_relid_of(srv, echo_dev_channel(e2)), 2);
  /* Hot-add after ALLOFFERS_DELIVERED: offered at once. */
  struct echo_dev *e3 = echo_dev_create(vmbsrv_device(srv), 3);
  struct rxmsg m = expect(VMBUS_MSG_OFFERCHANNEL);
  struct vmbus_msg_offer o3;
  memcpy(&o3, m.msg, sizeof(o3));
  assert_int_equal(o3.child_relid, 3);
  /* Removing a device that was offered: RESCIND, relid held until released. */
  echo_dev_destroy(e3);
  m = expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  struct vmbus_msg_relid rr;
  memcpy(&rr, m.msg, sizeof(rr));
  assert_int_equal(rr.child_relid, 3);
  struct echo_dev *e4 = echo_dev_create(vmbsrv_device(srv), 4);
  m = expect(VMBUS_MSG_OFFERCHANNEL);
  memcpy(&o3, m.msg, sizeof(o3));
  assert_int_equal(o3.child_relid, 4); /* 3 is not free yet */
  struct vmbus_msg_relid rel = {{VMBUS_MSG_RELID_RELEASED, 0}, 3};
  send_ok(&rel, sizeof(rel));
  pump();
  /* A second release of the same relid is a guest error: dropped. */
  uint32_t bad0 = vmbsrv_stats(srv)->vs_rx_bad;
  send_ok(&rel, sizeof(rel));
  pump();
  assert_int_equal(vmbsrv_stats(srv)->vs_rx_bad, bad0 + 1);
  echo_dev_destroy(e4);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  echo_dev_destroy(e1);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  echo_dev_destroy(e2);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
}

/* KMCL audit D5: a channel for VTL 2 is not offered to the VTL-0 guest; the
 * VTL-0 echo device beside it is. */
static void test_d5_vtl2_channel_not_offered(void **state) {
  (void)state;
  teardown_all();
  setup_cap(VMBUS_VERSION_WIN10_V5_3, true);
  VMBCHANNEL ch = kh_server_channel(vmbsrv_device(srv), echo_dev_type, 77);
  assert_int_equal(VmbServerChannelInitSetTargetVtl(ch, 2), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(ch), STATUS_SUCCESS);
  struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 1);
  assert_non_null(e);
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
  struct vmbus_msg_offer o;
  request_offers(1, &o); /* only the echo device, then ALLOFFERS_DELIVERED */
  assert_int_equal(o.if_instance.data1, 1);
  VmbChannelDisable(ch); /* never offered: nothing to rescind */
  VmbChannelCleanup(ch);
  expect_none();
  echo_dev_destroy(e);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
}

static void test_offers_old_versions(void **state) {
  (void)state;
  teardown_all();
  const uint32_t caps[] = {VMBUS_VERSION_WIN7, VMBUS_VERSION_WS2008, VMBUS_VERSION_WIN8};
  for (unsigned i = 0; i < 3; i++) {
    setup_cap(caps[i], true);
    struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 9);
    assert_int_equal(negotiate(NULL), caps[i]);
    struct vmbus_msg_offer o;
    request_offers(1, &o);
    bool win8 = caps[i] >= VMBUS_VERSION_WIN8;
    assert_int_equal(o.connection_id,
                     win8 ? VMBSRV_CHANNEL_CONN_BASE + 1 : VMBUS_EVENT_CONNECTION_ID);
    assert_int_equal(o.is_dedicated_interrupt, win8 ? 1 : 0);
    assert_int_equal(o.monitor_allocated, caps[i] >= VMBUS_VERSION_WIN7 ? 1 : 0);
    echo_dev_destroy(e);
    expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
    teardown_all();
  }
  setup_cap(VMBUS_VERSION_WIN10_V5_3, false);
}

/* ---- GPADLs -------------------------------------------------------------------------- */

static void check_gpadl(struct echo_dev *e, uint32_t relid, uint32_t handle, uint32_t n) {
  uint8_t *buf = zpage(n);
  uint64_t *pf = malloc(8ull * n);
  pfns_of(buf, n, pf);
  unsigned bodies = send_gpadl(relid, handle, pf, n);
  unsigned expect_bodies = n <= 26 ? 0 : (n - 26 + 27) / 28;
  assert_int_equal(bodies, expect_bodies);
  assert_int_equal(created_status(handle), 0);
  const uint64_t *got;
  uint32_t gn, off, cnt;
  assert_int_equal(
      ops()->gpadl_map(vmbsrv_bus(srv), echo_dev_channel(e), handle, false, &got, &gn, &off, &cnt),
      0);
  assert_int_equal(gn, n);
  assert_int_equal(off, 0);
  assert_int_equal(cnt, n * PAGE_SIZE);
  assert_memory_equal(got, pf, 8ull * n); /* byte for byte */
  assert_int_equal(
      ops()->gpadl_map(vmbsrv_bus(srv), echo_dev_channel(e), handle, false, &got, &gn, &off, &cnt),
      -EBUSY);
  ops()->gpadl_unmap(vmbsrv_bus(srv), echo_dev_channel(e), handle);
  teardown_gpadl(relid, handle, true);
  free(pf);
  page_free(buf, n);
}

static struct echo_dev *connect_one(void) {
  struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 7);
  assert_non_null(e);
  assert_int_not_equal(negotiate(NULL), 0);
  request_offers(1, NULL);
  return e;
}

static void destroy_one(struct echo_dev *e) {
  echo_dev_destroy(e);
  pump();
  if (vmbsrv_version(srv)) {
    struct rxmsg m = next();
    if (type_of(&m) == VMBUS_MSG_RESCIND_CHANNELOFFER) {
      struct vmbus_msg_relid rel = {{VMBUS_MSG_RELID_RELEASED, 0}, 1};
      send_ok(&rel, sizeof(rel));
      pump();
    }
  }
}

static void test_gpadl_sizes(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  const uint32_t sizes[] = {1, 2, 25, 26, 27, 54, 55, 56, 257, 1024, 2048};
  uint32_t bodies0 = vmbsrv_stats(srv)->vs_rx[VMBUS_MSG_GPADL_BODY];
  uint32_t want = 0;
  for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    check_gpadl(e, 1, 0xe1e10 + i, sizes[i]);
    want += sizes[i] <= 26 ? 0 : (sizes[i] - 26 + 27) / 28;
  }
  assert_int_equal(vmbsrv_stats(srv)->vs_rx[VMBUS_MSG_GPADL_BODY] - bodies0, want);
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  destroy_one(e);
}

/* A GPADL_HEADER the server must refuse (GPADL_CREATED with a nonzero
 * status): one range over the two good PFNs, the second replaced by `pfn1`
 * when that is nonzero. */
struct bad_header {
  uint32_t relid, handle;
  uint16_t buflen, rangecount;
  uint32_t count, offset;
  uint64_t pfn1;
  uint32_t npfn;
};

static const struct bad_header bad_headers[] = {
    /* PFN outside guest memory. */
    {1, 0x100, 24, 1, 8192, 0, 0x7ffffffff, 2},
    /* PFN so large that pfn << 12 overflows. */
    {1, 0x101, 24, 1, 8192, 0, 1ull << 60, 2},
    /* range_buflen not a multiple of 8, or too small. */
    {1, 0x102, 23, 1, 8192, 0, 0, 2},
    {1, 0x103, 8, 1, 8192, 0, 0, 0},
    /* rangecount 0, and more ranges than range_buflen can hold. */
    {1, 0x104, 24, 0, 8192, 0, 0, 2},
    {1, 0x105, 24, 2, 8192, 0, 0, 2},
    /* byte_offset beyond the first page, byte_count 0. */
    {1, 0x106, 24, 1, 100, 4096, 0, 2},
    {1, 0x107, 24, 1, 0, 0, 0, 2},
    /* Byte count needs 3 pages, the list has 2. */
    {1, 0x108, 24, 1, 8193, 0, 0, 2},
};

/* Once GPADL 0x10b exists: its handle again, handle 0, an unknown relid. */
static const struct bad_header bad_headers_after[] = {
    {1, 0x10b, 24, 1, 8192, 0, 0, 2},
    {1, 0, 24, 1, 8192, 0, 0, 2},
    {9, 0x10c, 24, 1, 8192, 0, 0, 2},
};

static void run_bad_headers(const struct bad_header *c, size_t n, const uint64_t good[2]) {
  for (size_t i = 0; i < n; i++) {
    uint64_t pf[2] = {good[0], c[i].pfn1 ? c[i].pfn1 : good[1]};
    raw_header(c[i].relid, c[i].handle, c[i].buflen, c[i].rangecount, c[i].count, c[i].offset, pf,
               c[i].npfn);
    if (created_status(c[i].handle) == 0)
      fail_msg("GPADL header %zu (handle %#x) accepted", i, c[i].handle);
  }
}

static void test_gpadl_hostile(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  void *p = zpage(2);
  uint64_t good[2];
  pfns_of(p, 2, good);
  run_bad_headers(bad_headers, sizeof(bad_headers) / sizeof(bad_headers[0]), good);
  /* range_buflen promises more than the range uses: waits for a body, which
   * then carries a PFN too many. */
  raw_header(1, 0x109, 32, 1, 8192, 0, good, 2);
  expect_none();
  raw_body(0x109, good, 1);
  assert_int_not_equal(created_status(0x109), 0);
  /* Body data beyond range_buflen. */
  raw_header(1, 0x10a, 24, 1, 8192, 0, good, 1);
  raw_body(0x10a, good, 2);
  assert_int_not_equal(created_status(0x10a), 0);
  /* A good one. */
  raw_header(1, 0x10b, 24, 1, 8192, 0, good, 2);
  assert_int_equal(created_status(0x10b), 0);
  run_bad_headers(bad_headers_after, sizeof(bad_headers_after) / sizeof(bad_headers_after[0]),
                  good);
  /* Body for an unknown GPADL: dropped and counted. */
  uint32_t bad0 = vmbsrv_stats(srv)->vs_rx_bad;
  raw_body(0x999, good, 1);
  expect_none();
  assert_int_equal(vmbsrv_stats(srv)->vs_rx_bad, bad0 + 1);
  /* Two ranges: accepted, but the KMCL seam maps one range only. */
  uint8_t two[240];
  struct vmbus_msg_gpadl_header h2 = {{VMBUS_MSG_GPADL_HEADER, 0}, 1, 0x10d, 32, 2};
  struct vmbus_gpa_range_hdr r1 = {100, 8}, r2 = {4096, 0};
  size_t o = 0;
  memcpy(two + o, &h2, sizeof(h2));
  o += sizeof(h2);
  memcpy(two + o, &r1, 8);
  o += 8;
  memcpy(two + o, &good[0], 8);
  o += 8;
  memcpy(two + o, &r2, 8);
  o += 8;
  memcpy(two + o, &good[1], 8);
  o += 8;
  send_ok(two, (uint32_t)o);
  assert_int_equal(created_status(0x10d), 0);
  const uint64_t *got;
  uint32_t gn, off, cnt;
  assert_int_equal(
      ops()->gpadl_map(vmbsrv_bus(srv), echo_dev_channel(e), 0x10d, false, &got, &gn, &off, &cnt),
      -EINVAL);
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 2);
  teardown_gpadl(1, 0x10b, true);
  teardown_gpadl(1, 0x10d, true);
  /* Teardown of an unknown GPADL: dropped. */
  teardown_gpadl(1, 0x10d, false);
  expect_none();
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  page_free(p, 2);
  destroy_one(e);
}

/* ---- open / close / rescind / unload --------------------------------------------------- */

static bool echo_open(void *arg) { return echo_dev_is_open(arg); }

static void test_open_close(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  assert_int_equal(open_channel(1, 0x200), 0);
  assert_true(echo_dev_is_open(e));
  assert_true(vmbsrv_channel_open(srv, 1));
  /* Second open: refused, the first stays. */
  post_open(1, 0, 0x200);
  struct rxmsg m = expect(VMBUS_MSG_OPENCHANNEL_RESULT);
  assert_int_not_equal(m.msg[16], 0);
  assert_true(echo_dev_is_open(e));
  /* MODIFYCHANNEL (5.3: with a response). */
  struct vmbus_msg_modify_channel mc = {{VMBUS_MSG_MODIFYCHANNEL, 0}, 1, 0};
  send_ok(&mc, sizeof(mc));
  m = expect(VMBUS_MSG_MODIFYCHANNEL_RESPONSE);
  memcpy(&mc, m.msg, sizeof(mc));
  assert_int_equal(mc.target_vp, 0);
  mc = (struct vmbus_msg_modify_channel){{VMBUS_MSG_MODIFYCHANNEL, 0}, 1, 5};
  send_ok(&mc, sizeof(mc));
  m = expect(VMBUS_MSG_MODIFYCHANNEL_RESPONSE);
  memcpy(&mc, m.msg, sizeof(mc));
  assert_int_not_equal(mc.target_vp, 0); /* no VP 5 */
  /* Tearing down the ring GPADL while open: TORNDOWN waits for the close. */
  teardown_gpadl(1, 0x200, false);
  expect_none();
  close_channel(1);
  assert_false(echo_dev_is_open(e));
  assert_false(vmbsrv_channel_open(srv, 1));
  expect(VMBUS_MSG_GPADL_TORNDOWN);
  page_free(ring, 4);
  /* Open with a GPADL that does not exist, or a bad page offset. */
  post_open(1, 0, 0x201);
  m = expect(VMBUS_MSG_OPENCHANNEL_RESULT);
  assert_int_not_equal(m.msg[16], 0);
  /* Reopen works. */
  assert_int_equal(open_channel(1, 0x202), 0);
  assert_true(echo_dev_is_open(e));
  close_channel(1);
  teardown_gpadl(1, 0x202, true);
  page_free(ring, 4);
  /* Open for an unknown relid: dropped. */
  post_open(30, 0, 0x201);
  expect_none();
  destroy_one(e);
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
}

static void test_rescind_while_open(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  assert_int_equal(open_channel(1, 0x300), 0);
  /* Host-side hot-remove. */
  assert_int_equal(vmbsrv_rescind(srv, 1), 0);
  assert_int_equal(vmbsrv_rescind(srv, 1), -ENOENT);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  pump();
  assert_false(echo_dev_is_open(e));
  /* Requests for a rescinded relid are ignored, silently (Linux skips them). */
  close_channel(1);
  teardown_gpadl(1, 0x300, false);
  expect_none();
  struct vmbus_msg_relid rel = {{VMBUS_MSG_RELID_RELEASED, 0}, 1};
  send_ok(&rel, sizeof(rel));
  pump();
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  page_free(ring, 4);
  echo_dev_destroy(e); /* nothing more to tell the guest */
  expect_none();
}

/* hvhost after the run: the VM has stopped, so the teardown's rescinds are
 * neither posted nor traced (nothing follows the summary line). */
static void test_guest_gone_posts_nothing(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  assert_int_equal(open_channel(1, 0x300), 0);
  uint32_t rescinds0 = vmbsrv_stats(srv)->vs_tx[VMBUS_MSG_RESCIND_CHANNELOFFER];
  vmbsrv_guest_gone(srv);
  assert_int_equal(vmbsrv_rescind(srv, 1), 0);
  expect_none();
  assert_int_equal(vmbsrv_stats(srv)->vs_tx[VMBUS_MSG_RESCIND_CHANNELOFFER], rescinds0);
  assert_int_equal(vmbsrv_stats(srv)->vs_tx_after_end, 1);
  assert_false(echo_dev_is_open(e));
  echo_dev_destroy(e);
  page_free(ring, 4);
}

static void test_rescind_while_opening(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  struct vmbsrv_fault f = {.fa_to_guest = false,
                           .fa_msgtype = VMBUS_MSG_OPENCHANNEL,
                           .fa_nth = 1,
                           .fa_action = VMBSRV_FAULT_RESCIND,
                           .fa_arg = 1};
  assert_int_equal(vmbsrv_add_fault(srv, &f), 0);
  ring_gpadl(1, 0x400);
  post_open(1, 0, 0x400);
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  expect_none(); /* no OPENCHANNEL_RESULT for a rescinded relid */
  assert_false(echo_dev_is_open(e));
  struct vmbus_msg_relid rel = {{VMBUS_MSG_RELID_RELEASED, 0}, 1};
  send_ok(&rel, sizeof(rel));
  pump();
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  page_free(ring, 4);
  echo_dev_destroy(e);
}

static void test_device_rescind_while_open(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  assert_int_equal(open_channel(1, 0x500), 0);
  echo_dev_destroy(e); /* the device goes away: Disable unmaps, rescinds */
  expect(VMBUS_MSG_RESCIND_CHANNELOFFER);
  struct vmbus_msg_relid rel = {{VMBUS_MSG_RELID_RELEASED, 0}, 1};
  send_ok(&rel, sizeof(rel));
  pump();
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  page_free(ring, 4);
}

static void test_unload_reconnect(void **state) {
  (void)state;
  struct echo_dev *e = connect_one();
  assert_int_equal(open_channel(1, 0x600), 0);
  ev_wait(echo_open, e, 100);
  struct vmbus_msg_header u = {VMBUS_MSG_UNLOAD, 0};
  send_ok(&u, sizeof(u));
  expect(VMBUS_MSG_UNLOAD_RESPONSE);
  pump();
  assert_false(echo_dev_is_open(e));
  assert_int_equal(vmbsrv_version(srv), 0);
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
  page_free(ring, 4);
  /* Reconnect: the same device is offered again, with the same relid. */
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
  struct vmbus_msg_offer o;
  request_offers(1, &o);
  assert_int_equal(o.child_relid, 1);
  assert_int_equal(open_channel(1, 0x601), 0);
  /* INITIATE_CONTACT resets too (an earlier owner's state). */
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
  pump();
  assert_false(echo_dev_is_open(e));
  page_free(ring, 4);
  /* UNLOAD before any contact is answered as well. */
  send_ok(&u, sizeof(u));
  expect(VMBUS_MSG_UNLOAD_RESPONSE);
  destroy_one(e);
}

/* ---- signalling --------------------------------------------------------------------- */

static void signal_paths(uint32_t cap, bool monitored) {
  teardown_all();
  setup_cap(cap, monitored);
  struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 7);
  assert_int_equal(negotiate(NULL), cap);
  struct vmbus_msg_offer o;
  request_offers(1, &o);
  assert_int_equal(open_channel(1, 0x700), 0);
  const struct vmbsrv_stats *st = vmbsrv_stats(srv);
  /* Host -> guest. */
  ops()->signal(vmbsrv_bus(srv), echo_dev_channel(e));
  pump();
  if (cap < VMBUS_VERSION_WIN8) {
    assert_int_equal(st->vs_sig_tx_int_page, 1);
    assert_int_equal(sig_intpage[1], 1);
    assert_int_equal(sig_flags[1], 0);
  } else {
    assert_int_equal(st->vs_sig_tx_event_flags, 1);
    assert_int_equal(sig_flags[1], 1);
  }
  /* Guest -> host. */
  if (o.monitor_allocated) {
    struct vmbus_monitor_page *mp = (void *)mon2;
    if (!o.is_dedicated_interrupt)
      ((uint64_t *)(intpage + VMBUS_INT_PAGE_SEND_OFFSET))[0] |= 1ull << 1;
    mp->trigger_group[o.monitorid / 32].pending |= 1u << (o.monitorid % 32);
    pump();
    assert_int_equal(st->vs_sig_rx_monitor, 1);
    assert_int_equal(mp->trigger_group[0].pending, 0);
  } else {
    if (!o.is_dedicated_interrupt)
      ((uint64_t *)(intpage + VMBUS_INT_PAGE_SEND_OFFSET))[0] |= 1ull << 1;
    uint64_t r = hw_hypercall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, o.connection_id, 0);
    assert_int_equal(r & 0xffff, 0);
    pump();
    if (cap < VMBUS_VERSION_WIN8)
      assert_int_equal(st->vs_sig_rx_int_page, 1);
    else
      assert_int_equal(st->vs_sig_rx_hypercall, 1);
  }
  close_channel(1);
  /* Closed: a signal on the channel's id is refused. */
  if (cap >= VMBUS_VERSION_WIN8)
    assert_int_equal(hw_hypercall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, o.connection_id, 0) &
                         0xffff,
                     HV_STATUS_INVALID_CONNECTION_ID);
  teardown_gpadl(1, 0x700, true);
  page_free(ring, 4);
  destroy_one(e);
}

static void test_signalling(void **state) {
  (void)state;
  for (unsigned i = 0; i < NVERSIONS; i++) {
    signal_paths(versions[i], false);
    signal_paths(versions[i], true);
  }
}

/* ---- faults --------------------------------------------------------------------------- */

/** Only one fault, on the host's VERSION_RESPONSE (`nth`, `action`, `arg`),
 * then INITIATE_CONTACT for 5.3. */
static void version_fault(uint32_t nth, enum vmbsrv_fault_action action, uint32_t arg) {
  vmbsrv_clear_faults(srv);
  struct vmbsrv_fault f = {.fa_to_guest = true,
                           .fa_msgtype = VMBUS_MSG_VERSION_RESPONSE,
                           .fa_nth = nth,
                           .fa_action = action,
                           .fa_arg = arg};
  assert_int_equal(vmbsrv_add_fault(srv, &f), 0);
  assert_int_equal(initiate(VMBUS_VERSION_WIN10_V5_3, 4, 0), 0);
}

static void test_faults(void **state) {
  (void)state;
  version_fault(1, VMBSRV_FAULT_DROP, 0);
  expect_none();
  /* nth = 2: the first passes, the second duplicates. */
  version_fault(2, VMBSRV_FAULT_DUPLICATE, 0);
  expect(VMBUS_MSG_VERSION_RESPONSE);
  expect_none();
  assert_int_equal(initiate(VMBUS_VERSION_WIN10_V5_3, 4, 0), 0);
  expect(VMBUS_MSG_VERSION_RESPONSE);
  expect(VMBUS_MSG_VERSION_RESPONSE);
  /* Corrupt byte 8 (version_supported) of the next response. */
  version_fault(0, VMBSRV_FAULT_CORRUPT, 8);
  struct rxmsg m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.msg[8], 0xfe);
  /* Truncate. */
  version_fault(0, VMBSRV_FAULT_TRUNCATE, 9);
  m = expect(VMBUS_MSG_VERSION_RESPONSE);
  assert_int_equal(m.size, 9);
  /* Delay by 30 ms. */
  version_fault(0, VMBSRV_FAULT_DELAY, 30);
  expect_none();
  uint64_t t0 = hw_now_ns();
  while (!rx_n && hw_now_ns() - t0 < 1000000000ull)
    ev_loop_once(true);
  assert_true(hw_now_ns() - t0 >= 20000000ull);
  expect(VMBUS_MSG_VERSION_RESPONSE);
  /* Guest -> host drop: the host never sees the REQUESTOFFERS. */
  vmbsrv_clear_faults(srv);
  struct vmbsrv_fault gd = {
      .fa_to_guest = false, .fa_msgtype = VMBUS_MSG_REQUESTOFFERS, .fa_action = VMBSRV_FAULT_DROP};
  assert_int_equal(vmbsrv_add_fault(srv, &gd), 0);
  struct vmbus_msg_header h = {VMBUS_MSG_REQUESTOFFERS, 0};
  send_ok(&h, sizeof(h));
  expect_none();
  send_ok(&h, sizeof(h));
  expect(VMBUS_MSG_ALLOFFERS_DELIVERED);
  /* Trace output does not disturb anything. */
  vmbsrv_clear_faults(srv);
}

static void test_trace(void **state) {
  (void)state;
  teardown_all();
  struct vmbsrv_config cfg = {.vc_max_version = VMBUS_VERSION_WIN10_V5_3, .vc_trace = true};
  setup_cfg(&cfg);
  struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 7);
  assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
  request_offers(1, NULL);
  open_close(1, 0x800);
  destroy_one(e);
}

/* ---- leaks ---------------------------------------------------------------------------- */

static void test_no_leaks(void **state) {
  (void)state;
  uint32_t ch0 = kmcl_live_channels, gp0 = kmcl_live_gpadls;
  for (int round = 0; round < 3; round++) {
    struct echo_dev *e = echo_dev_create(vmbsrv_device(srv), 7);
    assert_int_equal(negotiate(NULL), VMBUS_VERSION_WIN10_V5_3);
    request_offers(1, NULL);
    open_close(1, 0x900);
    struct vmbus_msg_header u = {VMBUS_MSG_UNLOAD, 0};
    send_ok(&u, sizeof(u));
    expect(VMBUS_MSG_UNLOAD_RESPONSE);
    echo_dev_destroy(e);
    pump();
  }
  assert_int_equal(kmcl_live_channels, ch0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  assert_int_equal(vmbsrv_stats(srv)->vs_gpadls_live, 0);
}

static const struct CMUnitTest tests[] = {
    UNIT_TEST_FIXTURE(test_negotiate_each_cap),
    UNIT_TEST_FIXTURE(test_negotiate_rules),
    UNIT_TEST_FIXTURE(test_pre_v5_interrupt_page_checked),
    UNIT_TEST_FIXTURE(test_offers),
    UNIT_TEST_FIXTURE(test_d5_vtl2_channel_not_offered),
    UNIT_TEST_FIXTURE(test_offers_old_versions),
    UNIT_TEST_FIXTURE(test_gpadl_sizes),
    UNIT_TEST_FIXTURE(test_gpadl_hostile),
    UNIT_TEST_FIXTURE(test_open_close),
    UNIT_TEST_FIXTURE(test_rescind_while_open),
    UNIT_TEST_FIXTURE(test_guest_gone_posts_nothing),
    UNIT_TEST_FIXTURE(test_rescind_while_opening),
    UNIT_TEST_FIXTURE(test_device_rescind_while_open),
    UNIT_TEST_FIXTURE(test_unload_reconnect),
    UNIT_TEST_FIXTURE(test_signalling),
    UNIT_TEST_FIXTURE(test_faults),
    UNIT_TEST_FIXTURE(test_trace),
    UNIT_TEST_FIXTURE(test_no_leaks),
};

UNIT_MAIN("host_vmbus_server", tests)
