/* host/vmbus_server.c: the VMBus server (channel management, GPADLs, signalling). */
#include "host/vmbus_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vmbus_trace.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "kernel/timer.h"

#define VS_MAX_DELAYED 8
#define VS_MAX_REFUSED 16
#define VS_PAGE 4096u

/** Feature flags of 6.0 this server implements: none yet (DESIGN.md). */
#define VS_FEATURES_IMPLEMENTED 0u

enum vs_phase { VS_CLOSED, VS_OPENING, VS_OPEN };

struct vs_chan {
  bool c_used;
  uint32_t c_relid;
  VMBCHANNEL c_ch; /* the device's server channel; NULL once it went away */
  struct kmcl_bus_offer c_offer;
  enum vs_phase c_phase;
  bool c_sent;      /* OFFERCHANNEL sent on this connection; relid held until released */
  bool c_rescinded; /* RESCIND sent (by the device or the host) */
  bool c_kept;      /* device saved and gone; connection kept for a restore */
  bool c_handover;  /* restored device re-handshaking an open connection */
  bool c_monitored;
  uint8_t c_monitor_id;
  uint32_t c_conn_id; /* guest -> host HvSignalEvent connection id */
  bool c_event_reg;
  uint32_t c_openid;
  uint32_t c_target_vp;
  struct kmcl_bus_open c_open;
};

struct vs_gpadl {
  bool g_used;
  uint32_t g_relid, g_handle;
  uint16_t g_buflen, g_rangecount;
  uint8_t *g_data; /* the flat range data, g_buflen bytes */
  uint32_t g_filled;
  bool g_complete;   /* GPADL_CREATED sent */
  const char *g_why; /* non-NULL: refused */
  uint64_t *g_pfns;  /* every PFN of every range */
  uint32_t g_npfn;
  uint32_t g_off, g_count; /* first range */
  bool g_mapped, g_teardown, g_orphan;
};

struct vs_delayed {
  bool d_used;
  struct vmbsrv *d_srv;
  struct timer d_timer;
  uint32_t d_size;
  uint8_t d_msg[VMBUS_MAX_CHANNEL_MESSAGE];
};

struct vmbsrv {
  struct kmcl_bus s_kb;
  DEVICE_OBJECT s_dev;
  struct hvemu *s_hv;
  struct partition *s_part;
  struct vmbsrv_config s_cfg;
  /* connection */
  bool s_connected;
  bool s_guest_gone; /* vmbsrv_guest_gone: post nothing more */
  uint32_t s_version;
  uint32_t s_target_vcpu;
  uint8_t s_sint;
  uint64_t s_int_page, s_mon1, s_mon2;
  bool s_mon_ok;
  bool s_offers_requested, s_alloffers_sent;
  uint64_t s_connected_ns;
  uint64_t s_alloffers_ns;
  uint32_t s_last_version;
  bool s_conn2_reg;
  struct vs_chan s_chans[VMBSRV_MAX_CHANNELS];
  struct vs_gpadl s_gpadls[VMBSRV_MAX_GPADLS];
  /* up-calls to KMCL, from the queue's work item (kmcl/upcall.c) */
  struct kmcl_upq s_upq;
  /* tests */
  uint32_t s_refused[VS_MAX_REFUSED];
  unsigned s_nrefused;
  struct vmbsrv_fault s_faults[VMBSRV_MAX_FAULTS];
  struct vs_delayed s_delayed[VS_MAX_DELAYED];
  struct vmbsrv_stats s_st;
  struct log_ratelimit s_rl;
};

static struct vmbsrv *vs_of(struct kmcl_bus *b) {
  return (struct vmbsrv *)((char *)b - offsetof(struct vmbsrv, s_kb));
}

#define vs_bad(srv, ...)                                                                           \
  do {                                                                                             \
    (srv)->s_st.vs_rx_bad++;                                                                       \
    if (log_ratelimit_ok(&(srv)->s_rl))                                                            \
      pr_warn("hvhost: vmbus: " __VA_ARGS__);                                                      \
  } while (0)

/* ---- lookups ---------------------------------------------------------------- */

static struct vs_chan *vs_chan_relid(struct vmbsrv *srv, uint32_t relid) {
  if (relid == 0 || relid > VMBSRV_MAX_CHANNELS)
    return NULL;
  struct vs_chan *c = &srv->s_chans[relid - 1];
  return c->c_used ? c : NULL;
}

static struct vs_chan *vs_chan_of(struct vmbsrv *srv, VMBCHANNEL ch) {
  if (!ch)
    return NULL;
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++)
    if (srv->s_chans[i].c_used && srv->s_chans[i].c_ch == ch)
      return &srv->s_chans[i];
  return NULL;
}

static struct vs_gpadl *vs_gpadl_find(struct vmbsrv *srv, uint32_t relid, uint32_t handle) {
  for (unsigned i = 0; i < VMBSRV_MAX_GPADLS; i++) {
    struct vs_gpadl *g = &srv->s_gpadls[i];
    if (g->g_used && g->g_handle == handle && (relid == 0 || g->g_relid == relid))
      return g;
  }
  return NULL;
}

static void vs_gpadl_free(struct vmbsrv *srv, struct vs_gpadl *g) {
  if (g->g_complete && !g->g_why)
    srv->s_st.vs_gpadls_live--;
  free(g->g_data);
  free(g->g_pfns);
  memset(g, 0, sizeof(*g));
}

/** Forget the GPADLs of relid (0: all): mapped ones live on until unmapped. */
static void vs_gpadls_drop(struct vmbsrv *srv, uint32_t relid) {
  for (unsigned i = 0; i < VMBSRV_MAX_GPADLS; i++) {
    struct vs_gpadl *g = &srv->s_gpadls[i];
    if (!g->g_used || (relid && g->g_relid != relid))
      continue;
    if (g->g_mapped)
      g->g_orphan = true;
    else
      vs_gpadl_free(srv, g);
  }
}

/* ---- seed recorder (docs/SECURITY.md, tools/fuzz-seeds.sh) ----------------------
 * VMBSRV_RECORD_RX=FILE appends every guest message as the server got it,
 * as a record of tests/fuzz/fuzz_vmbus_server's input: [sel][size][bytes]
 * (sel 0: connection id 1, 1: id 4 or the 5.0+ message id). VMBSRV_RECORD_TX=FILE
 * appends every message to the guest as a 256-byte SynIC slot, the input
 * unit of tests/fuzz/fuzz_vmbus_client. Test runs only; off by default. */
static void vs_record(bool to_guest, uint32_t conn_id, const void *msg, uint32_t size) {
  static int enabled = -1;
  static FILE *rx, *tx;
  if (enabled < 0) {
    const char *r = getenv("VMBSRV_RECORD_RX"), *t = getenv("VMBSRV_RECORD_TX");
    rx = r ? fopen(r, "ab") : NULL;
    tx = t ? fopen(t, "ab") : NULL;
    enabled = rx || tx;
  }
  if (!enabled || size > HV_MESSAGE_PAYLOAD_MAX)
    return;
  if (!to_guest && rx) {
    uint8_t head[2] = {conn_id == VMBUS_MESSAGE_CONNECTION_ID ? 0 : 1, (uint8_t)size};
    fwrite(head, 1, 2, rx);
    fwrite(msg, 1, size, rx);
    fflush(rx);
  } else if (to_guest && tx) {
    struct hv_message m;
    memset(&m, 0, sizeof(m));
    m.header.message_type = HVMSG_VMBUS;
    m.header.payload_size = (uint8_t)size;
    memcpy(m.payload, msg, size);
    fwrite(&m, 1, sizeof(m), tx);
    fflush(tx);
  }
}

/* ---- sending ------------------------------------------------------------------ */

static void vs_trace(struct vmbsrv *srv, bool to_host, const void *msg, uint32_t size) {
  if (!srv->s_cfg.vc_trace)
    return;
  char line[320];
  vmbus_trace_format(line, sizeof(line), to_host, msg, size);
  printf("%s\n", line);
  fflush(stdout);
}

static void vs_post(struct vmbsrv *srv, const void *msg, uint32_t size) {
  uint32_t type = ((const struct vmbus_msg_header *)msg)->msgtype;
  if (srv->s_guest_gone) {
    srv->s_st.vs_tx_after_end++;
    return;
  }
  vs_trace(srv, false, msg, size);
  vs_record(true, 0, msg, size);
  if (type < VMBUS_MSG_COUNT)
    srv->s_st.vs_tx[type]++;
  if (hvemu_post_message(srv->s_hv, srv->s_sint, HVMSG_VMBUS, 0, msg, size)) {
    srv->s_st.vs_tx_lost++;
    pr_warn("hvhost: vmbus: SynIC queue full, %s lost\n", vmbus_msg_name(type));
    return;
  }
  if (type == VMBUS_MSG_ALLOFFERS_DELIVERED && srv->s_connected) {
    srv->s_alloffers_sent = true; /* as the guest sees it: not when a fault ate it */
    if (!srv->s_alloffers_ns)
      srv->s_alloffers_ns = hw_now_ns();
  }
}

static void vs_delayed_fire(void *arg) {
  struct vs_delayed *d = arg;
  d->d_used = false;
  vs_post(d->d_srv, d->d_msg, d->d_size);
}

/** The fault matching this message, counted; NULL when none fires. */
static struct vmbsrv_fault *vs_fault(struct vmbsrv *srv, bool to_guest, uint32_t type) {
  for (unsigned i = 0; i < VMBSRV_MAX_FAULTS; i++) {
    struct vmbsrv_fault *f = &srv->s_faults[i];
    if (f->fa_action == VMBSRV_FAULT_NONE || f->fa_fired || f->fa_to_guest != to_guest ||
        f->fa_msgtype != type)
      continue;
    if (++f->fa_seen < f->fa_nth)
      continue;
    f->fa_fired = true;
    return f;
  }
  return NULL;
}

/** Apply a corrupt/truncate fault to a copy; false when the message is gone. */
static void vs_mangle(const struct vmbsrv_fault *f, uint8_t *msg, uint32_t *size) {
  if (f->fa_action == VMBSRV_FAULT_CORRUPT && f->fa_arg < *size)
    msg[f->fa_arg] ^= 0xff;
  if (f->fa_action == VMBSRV_FAULT_TRUNCATE && f->fa_arg < *size)
    *size = f->fa_arg;
}

/** Send one message to the guest, through the fault hooks. */
static void vs_send(struct vmbsrv *srv, const void *msg, uint32_t size) {
  uint8_t copy[VMBUS_MAX_CHANNEL_MESSAGE];
  if (size > sizeof(copy))
    return;
  memcpy(copy, msg, size);
  struct vmbsrv_fault *f = vs_fault(srv, true, ((const struct vmbus_msg_header *)msg)->msgtype);
  if (!f) {
    vs_post(srv, copy, size);
    return;
  }
  switch (f->fa_action) {
  case VMBSRV_FAULT_DROP:
    pr_info("hvhost: vmbus: fault: dropping %s\n", vmbus_msg_name(f->fa_msgtype));
    return;
  case VMBSRV_FAULT_DELAY:
    for (unsigned i = 0; i < VS_MAX_DELAYED; i++) {
      struct vs_delayed *d = &srv->s_delayed[i];
      if (d->d_used)
        continue;
      d->d_used = true;
      d->d_srv = srv;
      d->d_size = size;
      memcpy(d->d_msg, copy, size);
      timer_init(&d->d_timer, vs_delayed_fire, d);
      timer_arm_ms(&d->d_timer, f->fa_arg);
      return;
    }
    vs_post(srv, copy, size);
    return;
  case VMBSRV_FAULT_DUPLICATE:
    vs_post(srv, copy, size);
    vs_post(srv, copy, size);
    return;
  case VMBSRV_FAULT_RESCIND:
    vmbsrv_rescind(srv, f->fa_arg);
    vs_post(srv, copy, size);
    return;
  default:
    vs_mangle(f, copy, &size);
    vs_post(srv, copy, size);
    return;
  }
}

/* ---- up-calls (passive level, from a work item) --------------------------------- */

/** Queue an open or close request for c's device channel. A post that
 * fails (no memory) is logged: the guest's request then goes unanswered
 * until it closes or the device goes, as with a host that loses it. */
static void vs_upcall(struct vmbsrv *srv, enum kmcl_up_type t, struct vs_chan *c) {
  if (!c->c_ch)
    return;
  if (kmcl_upq_post(&srv->s_upq, t, c->c_ch, t == KMCL_UP_OPEN_REQUEST ? &c->c_open : NULL))
    pr_err("hvhost: vmbus: relid %u: no memory for the %s up-call; request lost\n", c->c_relid,
           t == KMCL_UP_OPEN_REQUEST ? "open" : "close");
}

/** At delivery: the channel is still ours, and an open request still
 * awaited (the guest may have closed meanwhile). */
static bool vs_upcall_gate(void *ctx, const struct kmcl_up_event *e) {
  struct vmbsrv *srv = ctx;
  struct vs_chan *c = vs_chan_of(srv, e->ue_ch);
  if (!c)
    return false;
  if (e->ue_type == KMCL_UP_OPEN_REQUEST)
    return c->c_phase == VS_OPENING || c->c_handover;
  return true;
}

/* ---- signalling ------------------------------------------------------------------ */

static void vs_chan_event(void *ctx, uint32_t conn_id, uint16_t flag) {
  struct vmbsrv *srv = ctx;
  (void)flag;
  uint32_t relid = conn_id - srv->s_cfg.vc_conn_base;
  struct vs_chan *c = vs_chan_relid(srv, relid);
  if (!c || c->c_phase != VS_OPEN || !c->c_ch)
    return;
  srv->s_st.vs_sig_rx_hypercall++;
  kmcl_bus_interrupt(c->c_ch);
}

/** Below 2.4 every channel signals on connection id 2: scan the send half of
 * the interrupt page, test-and-clear each bit of an open channel. */
static void vs_shared_event(void *ctx, uint32_t conn_id, uint16_t flag) {
  struct vmbsrv *srv = ctx;
  (void)conn_id;
  (void)flag;
  uint64_t *bits = part_gpa_ptr(srv->s_part, srv->s_int_page + VMBUS_INT_PAGE_SEND_OFFSET,
                                VS_PAGE - VMBUS_INT_PAGE_SEND_OFFSET);
  if (!bits)
    return;
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (!c->c_used || c->c_phase != VS_OPEN || !c->c_ch)
      continue;
    uint64_t bit = 1ull << (c->c_relid % 64);
    if (__atomic_fetch_and(&bits[c->c_relid / 64], ~bit, __ATOMIC_SEQ_CST) & bit) {
      srv->s_st.vs_sig_rx_int_page++;
      kmcl_bus_interrupt(c->c_ch);
    }
  }
}

bool vmbsrv_poll(struct vmbsrv *srv) {
  if (!srv->s_connected || !srv->s_mon_ok)
    return false;
  struct vmbus_monitor_page *mp = part_gpa_ptr(srv->s_part, srv->s_mon2, VS_PAGE);
  if (!mp)
    return false;
  bool did = false;
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (!c->c_used || !c->c_monitored || c->c_phase != VS_OPEN || !c->c_ch)
      continue;
    uint32_t *pending = &mp->trigger_group[c->c_monitor_id / 32].pending;
    uint32_t bit = 1u << (c->c_monitor_id % 32);
    if (!(__atomic_load_n(pending, __ATOMIC_ACQUIRE) & bit))
      continue;
    if (!(__atomic_fetch_and(pending, ~bit, __ATOMIC_SEQ_CST) & bit))
      continue;
    srv->s_st.vs_sig_rx_monitor++;
    kmcl_bus_interrupt(c->c_ch);
    did = true;
  }
  return did;
}

static bool vs_poll_hook(void *ctx) { return vmbsrv_poll(ctx); }

/** Host -> guest: interrupt page + SIEFP bit 0 below 2.4, SIEFP bit relid from 2.4. */
static void vs_signal_guest(struct vmbsrv *srv, struct vs_chan *c) {
  if (!srv->s_connected)
    return;
  if (srv->s_version < VMBUS_VERSION_WIN8) {
    uint64_t *bits = part_gpa_ptr(srv->s_part, srv->s_int_page + VMBUS_INT_PAGE_RECV_OFFSET,
                                  VMBUS_INT_PAGE_SEND_OFFSET);
    if (!bits)
      return;
    __atomic_fetch_or(&bits[c->c_relid / 64], 1ull << (c->c_relid % 64), __ATOMIC_SEQ_CST);
    srv->s_st.vs_sig_tx_int_page++;
    hvemu_signal_event(srv->s_hv, srv->s_sint, 0);
  } else {
    srv->s_st.vs_sig_tx_event_flags++;
    hvemu_signal_event(srv->s_hv, srv->s_sint, c->c_relid);
  }
}

static void vs_event_unreg(struct vmbsrv *srv, struct vs_chan *c) {
  if (c->c_event_reg)
    hvemu_unregister_event(srv->s_hv, c->c_conn_id);
  c->c_event_reg = false;
}

/* ---- channels --------------------------------------------------------------------- */

static void vs_chan_maybe_free(struct vmbsrv *srv, struct vs_chan *c) {
  if (c->c_ch || c->c_kept || c->c_sent)
    return;
  vs_event_unreg(srv, c);
  vs_gpadls_drop(srv, c->c_relid);
  uint32_t relid = c->c_relid;
  memset(c, 0, sizeof(*c));
  c->c_relid = relid;
}

static void vs_send_offer(struct vmbsrv *srv, struct vs_chan *c) {
  if (c->c_offer.bo_target_vtl != 0)
    return; /* VmbServerChannelInitSetTargetVtl: the guest here runs at VTL 0 */
  struct vmbus_msg_offer m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_OFFERCHANNEL;
  memcpy(&m.if_type, &c->c_offer.bo_type, sizeof(m.if_type));
  memcpy(&m.if_instance, &c->c_offer.bo_instance, sizeof(m.if_instance));
  uint32_t sf = c->c_offer.bo_server_flags;
  if (sf & VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE)
    m.chn_flags |= VMBUS_OFFER_ENUMERATE_DEVICE_INTERFACE;
  if (sf & VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE)
    m.chn_flags |= VMBUS_OFFER_NAMED_PIPE_MODE;
  if (sf & VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER)
    m.chn_flags |= VMBUS_OFFER_LOOPBACK;
  m.mmio_megabytes = c->c_offer.bo_mmio_mb;
  m.reserved3 = c->c_offer.bo_mmio_mb_optional;
  m.child_relid = c->c_relid;
  bool win8 = srv->s_version >= VMBUS_VERSION_WIN8;
  c->c_monitored = srv->s_cfg.vc_monitored_offers && srv->s_mon_ok &&
                   srv->s_version >= VMBUS_VERSION_WIN7 &&
                   (!srv->s_cfg.vc_monitored_type ||
                    memcmp(srv->s_cfg.vc_monitored_type, &c->c_offer.bo_type, sizeof(GUID)) == 0);
  c->c_monitor_id = (uint8_t)(c->c_relid - 1);
  c->c_conn_id = win8 ? srv->s_cfg.vc_conn_base + c->c_relid : VMBUS_EVENT_CONNECTION_ID;
  m.monitorid = c->c_monitored ? c->c_monitor_id : 0xff;
  m.monitor_allocated = c->c_monitored ? 1 : 0;
  m.is_dedicated_interrupt = win8 ? 1 : 0;
  m.connection_id = c->c_conn_id;
  c->c_sent = true;
  srv->s_st.vs_offers_sent++;
  vs_send(srv, &m, sizeof(m));
}

/** Close the channel on the server side (CLOSECHANNEL, unload, rescind). */
static void vs_chan_close(struct vmbsrv *srv, struct vs_chan *c) {
  if (c->c_phase == VS_CLOSED)
    return;
  c->c_phase = VS_CLOSED;
  vs_event_unreg(srv, c);
  vs_upcall(srv, KMCL_UP_CLOSE_REQUEST, c);
}

int vmbsrv_rescind(struct vmbsrv *srv, uint32_t relid) {
  struct vs_chan *c = vs_chan_relid(srv, relid);
  if (!c || c->c_rescinded)
    return -ENOENT;
  vs_chan_close(srv, c);
  c->c_rescinded = true;
  if (c->c_sent && srv->s_connected) {
    struct vmbus_msg_relid m = {{VMBUS_MSG_RESCIND_CHANNELOFFER, 0}, relid};
    vs_send(srv, &m, sizeof(m));
  } else {
    c->c_sent = false;
  }
  return 0;
}

/** INITIATE_CONTACT and UNLOAD: forget the connection (QEMU: reset
 * regardless of the previous state). Devices see their channels close. */
static void vs_reset(struct vmbsrv *srv) {
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (!c->c_used)
      continue;
    vs_chan_close(srv, c);
    c->c_sent = false;
    c->c_rescinded = false;
    c->c_kept = false;
    vs_chan_maybe_free(srv, c);
  }
  vs_gpadls_drop(srv, 0);
  for (unsigned i = 0; i < VS_MAX_DELAYED; i++)
    if (srv->s_delayed[i].d_used) {
      timer_cancel(&srv->s_delayed[i].d_timer);
      srv->s_delayed[i].d_used = false;
    }
  if (srv->s_conn2_reg)
    hvemu_unregister_event(srv->s_hv, VMBUS_EVENT_CONNECTION_ID);
  srv->s_conn2_reg = false;
  srv->s_connected = false;
  srv->s_version = 0;
  srv->s_offers_requested = srv->s_alloffers_sent = false;
  srv->s_mon_ok = false;
}

/* ---- message handlers ---------------------------------------------------------------- */

static bool vs_refused(const struct vmbsrv *srv, uint32_t v) {
  for (unsigned i = 0; i < srv->s_nrefused; i++)
    if (srv->s_refused[i] == v)
      return true;
  return false;
}

static void vs_initiate_contact(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                                uint32_t size) {
  struct vmbus_msg_initiate_contact ic;
  memset(&ic, 0, sizeof(ic));
  memcpy(&ic, msg, size < sizeof(ic) ? size : sizeof(ic));
  uint32_t v = ic.vmbus_version_requested;
  bool v5 = v >= VMBUS_VERSION_WIN10_V5;
  vs_reset(srv);
  /* Messages go to the SINT the guest names from 5.0, SINT 2 below. */
  srv->s_sint = VMBUS_MESSAGE_SINT;
  if (v5 && ic.u.v5.msg_sint < HV_SINT_COUNT)
    srv->s_sint = ic.u.v5.msg_sint;
  bool ok = vmbus_version_known(v) && v <= srv->s_cfg.vc_max_version && !vs_refused(srv, v);
  /* Connection id 4 takes >= 5.0 requests only, id 1 the older ones. */
  if (ok && (conn_id == VMBUS_MESSAGE_CONNECTION_ID_4) != v5) {
    vs_bad(srv, "INITIATE_CONTACT version %u.%u on connection id %u refused\n",
           (unsigned)VMBUS_VERSION_MAJOR(v), (unsigned)VMBUS_VERSION_MINOR(v), conn_id);
    ok = false;
  }
  if (ok && v5 && ic.u.v5.msg_sint >= HV_SINT_COUNT) {
    vs_bad(srv, "INITIATE_CONTACT msg_sint %u out of range\n", ic.u.v5.msg_sint);
    ok = false;
  }
  if (ok && !v5 && !PART_CHECKED_GPA_P(srv->s_part, ic.u.interrupt_page, VS_PAGE)) {
    vs_bad(srv, "INITIATE_CONTACT interrupt page 0x%llx outside guest memory\n",
           (unsigned long long)ic.u.interrupt_page);
    ok = false;
  }
  uint32_t features = 0;
  if (ok) {
    srv->s_connected = true;
    srv->s_version = v;
    srv->s_target_vcpu = ic.target_vcpu;
    srv->s_int_page = v5 ? 0 : ic.u.interrupt_page;
    srv->s_mon1 = ic.monitor_page1;
    srv->s_mon2 = ic.monitor_page2;
    srv->s_mon_ok = (ic.monitor_page1 & 0xfff) == 0 && (ic.monitor_page2 & 0xfff) == 0 &&
                    part_gpa_ptr(srv->s_part, ic.monitor_page1, VS_PAGE) &&
                    part_gpa_ptr(srv->s_part, ic.monitor_page2, VS_PAGE);
    if (!srv->s_mon_ok && srv->s_cfg.vc_monitored_offers)
      pr_info("hvhost: vmbus: monitor pages 0x%llx/0x%llx unusable: offers not monitored\n",
              (unsigned long long)ic.monitor_page1, (unsigned long long)ic.monitor_page2);
    if (v < VMBUS_VERSION_WIN8 &&
        hvemu_register_event(srv->s_hv, VMBUS_EVENT_CONNECTION_ID, vs_shared_event, srv) == 0)
      srv->s_conn2_reg = true;
    if (v >= VMBUS_VERSION_WIN10_V6_0)
      features = ic.u.v5.feature_flags & VS_FEATURES_IMPLEMENTED;
    srv->s_last_version = v;
    if (!srv->s_connected_ns)
      srv->s_connected_ns = hw_now_ns();
    srv->s_st.vs_connects++;
  }
  struct vmbus_msg_version_response r;
  memset(&r, 0, sizeof(r));
  r.hdr.msgtype = VMBUS_MSG_VERSION_RESPONSE;
  r.version_supported = ok ? 1 : 0;
  r.connection_state = 0;
  r.msg_conn_id = (ok && v5) ? srv->s_cfg.vc_msg_conn_id : 0;
  r.supported_features = features;
  vs_send(srv, &r,
          v >= VMBUS_VERSION_WIN10_V6_0 ? VMBUS_VERSION_RESPONSE_V6_SIZE
                                        : VMBUS_VERSION_RESPONSE_SIZE);
}

static void vs_request_offers(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                              uint32_t size) {
  (void)conn_id, (void)msg, (void)size;
  srv->s_offers_requested = true;
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (c->c_used && c->c_ch && !c->c_sent && !c->c_rescinded && !c->c_kept)
      vs_send_offer(srv, c);
  }
  struct vmbus_msg_header h = {VMBUS_MSG_ALLOFFERS_DELIVERED, 0};
  vs_send(srv, &h, sizeof(h));
}

static void vs_gpadl_created(struct vmbsrv *srv, struct vs_gpadl *g, uint32_t relid,
                             uint32_t handle, const char *why) {
  struct vmbus_msg_gpadl_created m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_GPADL_CREATED;
  m.child_relid = relid;
  m.gpadl = handle;
  m.creation_status = why ? VMBSRV_STATUS_FAILED : 0;
  if (why) {
    srv->s_st.vs_gpadls_refused++;
    pr_warn("hvhost: vmbus: GPADL 0x%x of relid %u refused: %s\n", handle, relid, why);
  }
  if (g) {
    g->g_complete = true;
    g->g_why = why;
    if (!why)
      srv->s_st.vs_gpadls_live++;
  }
  vs_send(srv, &m, sizeof(m));
  if (g && why)
    vs_gpadl_free(srv, g);
}

/** Parse the assembled range data; NULL when valid, else the reason. */
static const char *vs_gpadl_parse(struct vmbsrv *srv, struct vs_gpadl *g) {
  uint32_t off = 0, total = 0;
  g->g_pfns = malloc(g->g_buflen); /* at most buflen / 8 PFNs */
  if (!g->g_pfns)
    return "out of memory";
  for (uint32_t r = 0; r < g->g_rangecount; r++) {
    struct vmbus_gpa_range_hdr rh;
    if (g->g_buflen - off < sizeof(rh))
      return "range header beyond range_buflen";
    memcpy(&rh, g->g_data + off, sizeof(rh));
    off += sizeof(rh);
    if (rh.byte_offset >= VS_PAGE)
      return "range byte_offset not below 4096";
    if (rh.byte_count == 0)
      return "empty range";
    uint64_t npages = ((uint64_t)rh.byte_offset + rh.byte_count + VS_PAGE - 1) / VS_PAGE;
    if (npages > (uint64_t)(g->g_buflen - off) / 8)
      return "range PFN count beyond range_buflen";
    if (r == 0) {
      g->g_off = rh.byte_offset;
      g->g_count = rh.byte_count;
    }
    for (uint64_t i = 0; i < npages; i++) {
      uint64_t pfn;
      memcpy(&pfn, g->g_data + off, 8);
      off += 8;
      if (!part_pfn_valid(srv->s_part, pfn))
        return "PFN outside guest memory";
      g->g_pfns[total++] = pfn;
    }
  }
  if (off != g->g_buflen)
    return "range_buflen larger than its ranges";
  g->g_npfn = total;
  return NULL;
}

static void vs_gpadl_progress(struct vmbsrv *srv, struct vs_gpadl *g) {
  if (g->g_filled < g->g_buflen)
    return;
  const char *why = vs_gpadl_parse(srv, g);
  vs_gpadl_created(srv, g, g->g_relid, g->g_handle, why);
}

static void vs_gpadl_header(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                            uint32_t size) {
  (void)conn_id;
  struct vmbus_msg_gpadl_header h;
  memcpy(&h, msg, sizeof(h));
  uint32_t data = size - (uint32_t)sizeof(h);
  struct vs_chan *c = vs_chan_relid(srv, h.child_relid);
  const char *why = NULL;
  if (!c || !c->c_sent)
    why = "unknown relid";
  else if (h.gpadl == 0 || vs_gpadl_find(srv, 0, h.gpadl))
    why = "handle 0 or already in use";
  else if (h.rangecount == 0)
    why = "rangecount 0";
  else if (h.range_buflen < 16 || (h.range_buflen % 8))
    why = "range_buflen not a multiple of 8 of at least 16";
  else if ((data % 8) || data > h.range_buflen)
    why = "header data not whole PFNs within range_buflen";
  else if ((uint32_t)h.rangecount * 16 > h.range_buflen)
    why = "rangecount too large for range_buflen";
  if (why) {
    vs_gpadl_created(srv, NULL, h.child_relid, h.gpadl, why);
    return;
  }
  struct vs_gpadl *g = NULL;
  for (unsigned i = 0; i < VMBSRV_MAX_GPADLS && !g; i++)
    if (!srv->s_gpadls[i].g_used)
      g = &srv->s_gpadls[i];
  uint8_t *buf = g ? malloc(h.range_buflen) : NULL;
  if (!buf) {
    vs_gpadl_created(srv, NULL, h.child_relid, h.gpadl, "too many GPADLs");
    return;
  }
  memset(g, 0, sizeof(*g));
  g->g_used = true;
  g->g_relid = h.child_relid;
  g->g_handle = h.gpadl;
  g->g_buflen = h.range_buflen;
  g->g_rangecount = h.rangecount;
  g->g_data = buf;
  memcpy(buf, msg + sizeof(h), data);
  g->g_filled = data;
  vs_gpadl_progress(srv, g);
}

static void vs_gpadl_body(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg, uint32_t size) {
  (void)conn_id;
  struct vmbus_msg_gpadl_body b;
  memcpy(&b, msg, sizeof(b));
  uint32_t data = size - (uint32_t)sizeof(b);
  struct vs_gpadl *g = vs_gpadl_find(srv, 0, b.gpadl);
  if (!g || g->g_complete) {
    vs_bad(srv, "GPADL_BODY for %s GPADL 0x%x dropped\n", g ? "complete" : "unknown", b.gpadl);
    return;
  }
  const char *why = NULL;
  if (data % 8)
    why = "body data not whole PFNs";
  else if (data > (uint32_t)g->g_buflen - g->g_filled)
    why = "body data beyond range_buflen";
  if (why) {
    vs_gpadl_created(srv, g, g->g_relid, g->g_handle, why);
    return;
  }
  memcpy(g->g_data + g->g_filled, msg + sizeof(b), data);
  g->g_filled += data;
  vs_gpadl_progress(srv, g);
}

static void vs_gpadl_teardown(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                              uint32_t size) {
  (void)conn_id, (void)size;
  struct vmbus_msg_gpadl_teardown t;
  memcpy(&t, msg, sizeof(t));
  struct vs_gpadl *g = vs_gpadl_find(srv, t.child_relid, t.gpadl);
  if (!g || !g->g_complete || g->g_teardown) {
    vs_bad(srv, "GPADL_TEARDOWN of unknown GPADL 0x%x (relid %u)\n", t.gpadl, t.child_relid);
    return;
  }
  if (g->g_mapped) {
    g->g_teardown = true; /* TORNDOWN once the device unmaps it */
    return;
  }
  vs_gpadl_free(srv, g);
  struct vmbus_msg_gpadl_torndown m = {{VMBUS_MSG_GPADL_TORNDOWN, 0}, t.gpadl};
  vs_send(srv, &m, sizeof(m));
}

static void vs_open_result(struct vmbsrv *srv, uint32_t relid, uint32_t openid, uint32_t st) {
  struct vmbus_msg_open_result r;
  memset(&r, 0, sizeof(r));
  r.hdr.msgtype = VMBUS_MSG_OPENCHANNEL_RESULT;
  r.child_relid = relid;
  r.openid = openid;
  r.status = st;
  vs_send(srv, &r, sizeof(r));
}

static void vs_open_channel(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                            uint32_t size) {
  (void)conn_id, (void)size;
  struct vmbus_msg_open_channel o;
  memcpy(&o, msg, VMBUS_OPEN_CHANNEL_SIZE);
  struct vs_chan *c = vs_chan_relid(srv, o.child_relid);
  if (!c || !c->c_sent) {
    vs_bad(srv, "OPENCHANNEL for unknown relid %u dropped\n", o.child_relid);
    return;
  }
  const char *why = NULL;
  struct vs_gpadl *g = vs_gpadl_find(srv, o.child_relid, o.ringbuffer_gpadlhandle);
  if (c->c_phase != VS_CLOSED)
    why = "already open";
  else if (!c->c_ch)
    why = "no device";
  else if (!g || !g->g_complete)
    why = "unknown ring GPADL";
  else if (g->g_npfn < 4 || o.downstream_ringbuffer_pageoffset < 2 ||
           o.downstream_ringbuffer_pageoffset > g->g_npfn - 2)
    why = "downstream page offset outside the ring GPADL";
  if (why) {
    pr_warn("hvhost: vmbus: OPENCHANNEL relid %u refused: %s\n", o.child_relid, why);
    vs_open_result(srv, o.child_relid, o.openid, VMBSRV_STATUS_FAILED);
    return;
  }
  c->c_openid = o.openid;
  c->c_target_vp = o.target_vp;
  c->c_open = (struct kmcl_bus_open){o.ringbuffer_gpadlhandle, o.downstream_ringbuffer_pageoffset,
                                     o.target_vp};
  c->c_phase = VS_OPENING;
  if (srv->s_version >= VMBUS_VERSION_WIN8 && !c->c_event_reg &&
      hvemu_register_event(srv->s_hv, c->c_conn_id, vs_chan_event, srv) == 0)
    c->c_event_reg = true;
  vs_upcall(srv, KMCL_UP_OPEN_REQUEST, c);
}

static void vs_close_channel(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                             uint32_t size) {
  (void)conn_id, (void)size;
  struct vmbus_msg_relid m;
  memcpy(&m, msg, sizeof(m));
  struct vs_chan *c = vs_chan_relid(srv, m.child_relid);
  if (!c || c->c_phase == VS_CLOSED) {
    vs_bad(srv, "CLOSECHANNEL for relid %u that is not open\n", m.child_relid);
    return;
  }
  vs_chan_close(srv, c);
}

static void vs_relid_released(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                              uint32_t size) {
  (void)conn_id, (void)size;
  struct vmbus_msg_relid m;
  memcpy(&m, msg, sizeof(m));
  struct vs_chan *c = vs_chan_relid(srv, m.child_relid);
  if (!c || !c->c_rescinded || !c->c_sent) {
    vs_bad(srv, "RELID_RELEASED for relid %u that was not rescinded\n", m.child_relid);
    return;
  }
  c->c_sent = false;
  vs_gpadls_drop(srv, c->c_relid);
  vs_chan_maybe_free(srv, c); /* a device still enabled keeps its slot, unoffered */
}

static void vs_modify_channel(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg,
                              uint32_t size) {
  (void)conn_id, (void)size;
  struct vmbus_msg_modify_channel m;
  memcpy(&m, msg, sizeof(m));
  if (srv->s_version < VMBUS_VERSION_WIN10_V4_1) {
    vs_bad(srv, "MODIFYCHANNEL before 4.1 dropped\n");
    return;
  }
  struct vs_chan *c = vs_chan_relid(srv, m.child_relid);
  uint32_t st = VMBSRV_STATUS_FAILED;
  if (c && !c->c_rescinded && c->c_phase == VS_OPEN &&
      m.target_vp < hvemu_partition(srv->s_hv)->p_vp_count) {
    c->c_target_vp = m.target_vp;
    st = 0;
  }
  if (srv->s_version >= VMBUS_VERSION_WIN10_V5_3) {
    struct vmbus_msg_modify_channel r = {{VMBUS_MSG_MODIFYCHANNEL_RESPONSE, 0}, m.child_relid, st};
    vs_send(srv, &r, sizeof(r));
  }
}

static void vs_unload(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg, uint32_t size) {
  (void)conn_id, (void)msg, (void)size;
  uint32_t v = srv->s_version;
  vs_reset(srv);
  if (v == VMBUS_VERSION_WS2008)
    return; /* 0.13 has no UNLOAD_RESPONSE */
  struct vmbus_msg_header h = {VMBUS_MSG_UNLOAD_RESPONSE, 0};
  vs_send(srv, &h, sizeof(h));
}

/* One handler per type the guest sends (the message table's
 * VMBUS_MSG_BY_GUEST rows); any_time: also before a connection exists;
 * live_relid: a message for a rescinded relid (its child_relid, right after
 * the header) is ignored, as Hyper-V does (PROTOCOL-REFERENCE.md 2.6). */
typedef void (*vs_handler)(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg, uint32_t size);
static const struct {
  vs_handler h;
  bool any_time, live_relid;
} vs_handlers[VMBUS_MSG_COUNT] = {
    [VMBUS_MSG_REQUESTOFFERS] = {vs_request_offers, false, false},
    [VMBUS_MSG_OPENCHANNEL] = {vs_open_channel, false, true},
    [VMBUS_MSG_CLOSECHANNEL] = {vs_close_channel, false, true},
    [VMBUS_MSG_GPADL_HEADER] = {vs_gpadl_header, false, true},
    [VMBUS_MSG_GPADL_BODY] = {vs_gpadl_body, false, false},
    [VMBUS_MSG_GPADL_TEARDOWN] = {vs_gpadl_teardown, false, true},
    [VMBUS_MSG_RELID_RELEASED] = {vs_relid_released, false, false},
    [VMBUS_MSG_INITIATE_CONTACT] = {vs_initiate_contact, true, false},
    [VMBUS_MSG_UNLOAD] = {vs_unload, true, false},
    [VMBUS_MSG_MODIFYCHANNEL] = {vs_modify_channel, false, false},
};
_Static_assert(offsetof(struct vmbus_msg_open_channel, child_relid) == 8, "relid after the header");
_Static_assert(offsetof(struct vmbus_msg_relid, child_relid) == 8, "relid after the header");
_Static_assert(offsetof(struct vmbus_msg_gpadl_header, child_relid) == 8, "relid after the header");
_Static_assert(offsetof(struct vmbus_msg_gpadl_teardown, child_relid) == 8,
               "relid after the header");

/* One guest message (a private copy of `size` bytes): checked against the
 * message table, then its type's handler. */
static void vs_dispatch(struct vmbsrv *srv, uint32_t conn_id, const uint8_t *msg, uint32_t size) {
  uint32_t type;
  const char *why = vmbus_msg_check(VMBUS_DIR_TO_HOST, msg, size, &type);
  if (type < VMBUS_MSG_COUNT)
    srv->s_st.vs_rx[type]++;
  if (why || !vs_handlers[type].h) {
    vs_bad(srv, "%s of %u bytes (%s) dropped\n", vmbus_msg_name(type), size,
           why ? why : "no handler");
    return;
  }
  if (!srv->s_connected && !vs_handlers[type].any_time) {
    vs_bad(srv, "%s before INITIATE_CONTACT dropped\n", vmbus_msg_name(type));
    return;
  }
  if (vs_handlers[type].live_relid) {
    uint32_t relid;
    memcpy(&relid, msg + sizeof(struct vmbus_msg_header), sizeof(relid));
    struct vs_chan *c = vs_chan_relid(srv, relid);
    if (c && c->c_rescinded)
      return;
  }
  vs_handlers[type].h(srv, conn_id, msg, size);
}

/** hvemu port handler: one guest post, at passive level. */
static void vs_port(void *ctx, uint32_t conn_id, uint32_t msg_type, const void *payload,
                    uint32_t size) {
  struct vmbsrv *srv = ctx;
  uint8_t msg[VMBUS_MAX_CHANNEL_MESSAGE];
  if (msg_type != HVMSG_VMBUS || size < sizeof(struct vmbus_msg_header) || size > sizeof(msg)) {
    vs_bad(srv, "post of type %u, %u bytes, dropped\n", msg_type, size);
    return;
  }
  memcpy(msg, payload, size);
  vs_trace(srv, true, msg, size);
  vs_record(false, conn_id, msg, size);
  uint32_t type;
  memcpy(&type, msg, sizeof(type));
  struct vmbsrv_fault *f = vs_fault(srv, false, type);
  if (f) {
    switch (f->fa_action) {
    case VMBSRV_FAULT_DROP:
      pr_info("hvhost: vmbus: fault: ignoring %s\n", vmbus_msg_name(type));
      return;
    case VMBSRV_FAULT_DUPLICATE:
      vs_dispatch(srv, conn_id, msg, size);
      break;
    case VMBSRV_FAULT_RESCIND:
      vmbsrv_rescind(srv, f->fa_arg);
      break;
    default:
      vs_mangle(f, msg, &size);
      if (size < sizeof(struct vmbus_msg_header))
        return;
      break;
    }
  }
  vs_dispatch(srv, conn_id, msg, size);
}

/* ---- KMCL bus: server-side ops ------------------------------------------------------- */

static int vs_offer_op(struct kmcl_bus *b, VMBCHANNEL ch, const struct kmcl_bus_offer *offer) {
  struct vmbsrv *srv = vs_of(b);
  if (offer->bo_restore) {
    for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
      struct vs_chan *c = &srv->s_chans[i];
      if (!c->c_used || !c->c_kept ||
          memcmp(&c->c_offer.bo_instance, &offer->bo_instance, sizeof(GUID)))
        continue;
      c->c_ch = ch;
      c->c_kept = false;
      if (c->c_phase == VS_OPEN) {
        c->c_handover = true;
        vs_upcall(srv, KMCL_UP_OPEN_REQUEST, c);
      }
      return 0;
    }
  }
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (c->c_used && (c->c_ch || c->c_kept) &&
        !memcmp(&c->c_offer.bo_instance, &offer->bo_instance, sizeof(GUID)))
      return -EEXIST;
  }
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++) {
    struct vs_chan *c = &srv->s_chans[i];
    if (c->c_used)
      continue;
    memset(c, 0, sizeof(*c));
    c->c_used = true;
    c->c_relid = i + 1;
    c->c_ch = ch;
    c->c_offer = *offer;
    c->c_offer.bo_restore = false;
    c->c_offer.bo_relid = c->c_relid;
    if (srv->s_connected && srv->s_offers_requested)
      vs_send_offer(srv, c); /* hot-add */
    return 0;
  }
  return -ENOMEM;
}

static void vs_rescind_op(struct kmcl_bus *b, VMBCHANNEL ch, bool keep) {
  struct vmbsrv *srv = vs_of(b);
  kmcl_upq_forget(&srv->s_upq, ch, KMCL_UP_ALL);
  struct vs_chan *c = vs_chan_of(srv, ch);
  if (!c)
    return;
  c->c_ch = NULL;
  c->c_handover = false;
  if (keep && c->c_phase == VS_OPEN && srv->s_connected) {
    c->c_kept = true; /* the guest is not told (save/restore) */
    return;
  }
  if (!c->c_rescinded) {
    c->c_phase = VS_CLOSED;
    vs_event_unreg(srv, c);
    c->c_rescinded = true;
    if (c->c_sent && srv->s_connected) {
      struct vmbus_msg_relid m = {{VMBUS_MSG_RESCIND_CHANNELOFFER, 0}, c->c_relid};
      vs_send(srv, &m, sizeof(m));
    } else {
      c->c_sent = false;
    }
  }
  vs_chan_maybe_free(srv, c);
}

static void vs_open_complete(struct kmcl_bus *b, VMBCHANNEL ch, int32_t status) {
  struct vmbsrv *srv = vs_of(b);
  struct vs_chan *c = vs_chan_of(srv, ch);
  if (!c)
    return;
  if (c->c_handover) {
    c->c_handover = false;
    if (status != 0)
      vmbsrv_rescind(srv, c->c_relid); /* the restored device gave up */
    return;
  }
  if (c->c_phase != VS_OPENING)
    return; /* closed or rescinded meanwhile: the guest is not told */
  if (status == 0) {
    c->c_phase = VS_OPEN;
  } else {
    c->c_phase = VS_CLOSED;
    vs_event_unreg(srv, c);
  }
  vs_open_result(srv, c->c_relid, c->c_openid, (uint32_t)status);
}

static int vs_gpadl_map(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t handle, bool read_only,
                        const uint64_t **pfns, uint32_t *npfn, uint32_t *byte_offset,
                        uint32_t *byte_count) {
  struct vmbsrv *srv = vs_of(b);
  (void)read_only; /* VMBus GPADLs carry no read-only bit */
  struct vs_chan *c = vs_chan_of(srv, ch);
  struct vs_gpadl *g = c ? vs_gpadl_find(srv, c->c_relid, handle) : NULL;
  if (!g || !g->g_complete || g->g_teardown || g->g_orphan)
    return -ENOENT;
  if (g->g_mapped)
    return -EBUSY;
  if (g->g_rangecount != 1)
    return -EINVAL; /* the seam maps one range */
  g->g_mapped = true;
  *pfns = g->g_pfns;
  *npfn = g->g_npfn;
  *byte_offset = g->g_off;
  *byte_count = g->g_count;
  return 0;
}

static void vs_gpadl_unmap(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t handle) {
  struct vmbsrv *srv = vs_of(b);
  for (unsigned i = 0; i < VMBSRV_MAX_GPADLS; i++) {
    struct vs_gpadl *g = &srv->s_gpadls[i];
    if (!g->g_used || g->g_handle != handle || !g->g_mapped)
      continue;
    struct vs_chan *c = vs_chan_relid(srv, g->g_relid);
    if (c && c->c_ch && c->c_ch != ch)
      continue;
    g->g_mapped = false;
    if (g->g_orphan) {
      vs_gpadl_free(srv, g);
    } else if (g->g_teardown) {
      vs_gpadl_free(srv, g);
      struct vmbus_msg_gpadl_torndown m = {{VMBUS_MSG_GPADL_TORNDOWN, 0}, handle};
      vs_send(srv, &m, sizeof(m));
    }
    return;
  }
}

static void *vs_gpa_ptr(struct kmcl_bus *b, uint64_t gpa, uint64_t len) {
  return part_gpa_ptr(vs_of(b)->s_part, gpa, len);
}

static void vs_signal_op(struct kmcl_bus *b, VMBCHANNEL ch) {
  struct vmbsrv *srv = vs_of(b);
  struct vs_chan *c = vs_chan_of(srv, ch);
  if (c && c->c_phase == VS_OPEN && !c->c_rescinded)
    vs_signal_guest(srv, c);
}

/* Client-side ops: this bus has no client channels. */
static int vs_attach(struct kmcl_bus *b, VMBCHANNEL ch, const GUID *t, const GUID *i) {
  (void)b, (void)ch, (void)t, (void)i;
  return -ENOTSUP;
}
static void vs_detach(struct kmcl_bus *b, VMBCHANNEL ch) { (void)b, (void)ch; }
static int vs_gpadl_create(struct kmcl_bus *b, VMBCHANNEL ch, const uint64_t *pfns, uint32_t n,
                           uint32_t off, uint32_t count, bool ro, uint32_t *h) {
  (void)b, (void)ch, (void)pfns, (void)n, (void)off, (void)count, (void)ro, (void)h;
  return -ENOTSUP;
}
static int vs_gpadl_teardown_op(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t h) {
  (void)b, (void)ch, (void)h;
  return -ENOTSUP;
}
static int vs_open_op(struct kmcl_bus *b, VMBCHANNEL ch, const struct kmcl_bus_open *r) {
  (void)b, (void)ch, (void)r;
  return -ENOTSUP;
}
static void vs_close_op(struct kmcl_bus *b, VMBCHANNEL ch) { (void)b, (void)ch; }

static const struct kmcl_bus_ops vs_ops = {
    .attach = vs_attach,
    .detach = vs_detach,
    .gpadl_create = vs_gpadl_create,
    .gpadl_teardown = vs_gpadl_teardown_op,
    .open = vs_open_op,
    .close = vs_close_op,
    .set_latency = NULL,
    .signal = vs_signal_op,
    .offer = vs_offer_op,
    .rescind = vs_rescind_op,
    .open_complete = vs_open_complete,
    .gpadl_map = vs_gpadl_map,
    .gpadl_unmap = vs_gpadl_unmap,
    .gpa_ptr = vs_gpa_ptr,
};

/* ---- public ---------------------------------------------------------------------------- */

struct vmbsrv *vmbsrv_create(struct hvemu *hv, const struct vmbsrv_config *cfg) {
  struct vmbsrv_config c = {0};
  if (cfg)
    c = *cfg;
  if (!c.vc_max_version)
    c.vc_max_version = VMBUS_VERSION_WIN10_V6_0;
  if (!c.vc_msg_conn_id)
    c.vc_msg_conn_id = VMBUS_MESSAGE_CONNECTION_ID_4;
  if (!c.vc_conn_base)
    c.vc_conn_base = VMBSRV_CHANNEL_CONN_BASE;
  if (!c.vc_instance_id)
    c.vc_instance_id = 1;
  if (!vmbus_version_known(c.vc_max_version))
    return NULL;
  struct vmbsrv *srv = calloc(1, sizeof(*srv));
  if (!srv)
    return NULL;
  srv->s_hv = hv;
  srv->s_part = hvemu_partition(hv);
  srv->s_cfg = c;
  srv->s_sint = VMBUS_MESSAGE_SINT;
  srv->s_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 20);
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++)
    srv->s_chans[i].c_relid = i + 1;
  kmcl_upq_init(&srv->s_upq, vs_upcall_gate, srv);
  srv->s_kb.kb_ops = &vs_ops;
  srv->s_kb.kb_instance_id = c.vc_instance_id;
  srv->s_dev.do_bus = &srv->s_kb;
  srv->s_dev.do_context = srv;
  int rc = hvemu_register_port(hv, VMBUS_MESSAGE_CONNECTION_ID, vs_port, srv);
  if (!rc && c.vc_max_version >= VMBUS_VERSION_WIN10_V5)
    rc = hvemu_register_port(hv, VMBUS_MESSAGE_CONNECTION_ID_4, vs_port, srv);
  if (!rc && c.vc_max_version >= VMBUS_VERSION_WIN10_V5 &&
      c.vc_msg_conn_id != VMBUS_MESSAGE_CONNECTION_ID &&
      c.vc_msg_conn_id != VMBUS_MESSAGE_CONNECTION_ID_4)
    rc = hvemu_register_port(hv, c.vc_msg_conn_id, vs_port, srv);
  if (!rc)
    rc = hvemu_add_poller(hv, vs_poll_hook, srv);
  if (rc) {
    vmbsrv_destroy(srv);
    return NULL;
  }
  kmcl_bus_register(&srv->s_kb);
  return srv;
}

void vmbsrv_destroy(struct vmbsrv *srv) {
  if (!srv)
    return;
  vs_reset(srv);
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++)
    vs_event_unreg(srv, &srv->s_chans[i]);
  for (unsigned i = 0; i < VMBSRV_MAX_GPADLS; i++)
    if (srv->s_gpadls[i].g_used)
      vs_gpadl_free(srv, &srv->s_gpadls[i]);
  kmcl_upq_fini(&srv->s_upq);
  hvemu_unregister_port(srv->s_hv, VMBUS_MESSAGE_CONNECTION_ID);
  if (srv->s_cfg.vc_max_version >= VMBUS_VERSION_WIN10_V5) {
    hvemu_unregister_port(srv->s_hv, VMBUS_MESSAGE_CONNECTION_ID_4);
    if (srv->s_cfg.vc_msg_conn_id != VMBUS_MESSAGE_CONNECTION_ID)
      hvemu_unregister_port(srv->s_hv, srv->s_cfg.vc_msg_conn_id);
  }
  hvemu_remove_poller(srv->s_hv, vs_poll_hook, srv);
  kmcl_bus_unregister(&srv->s_kb);
  free(srv);
}

PDEVICE_OBJECT vmbsrv_device(struct vmbsrv *srv) { return &srv->s_dev; }
struct kmcl_bus *vmbsrv_bus(struct vmbsrv *srv) {
  return &srv->s_kb;
}
const struct vmbsrv_stats *vmbsrv_stats(const struct vmbsrv *srv) { return &srv->s_st; }
uint32_t vmbsrv_version(const struct vmbsrv *srv) { return srv->s_connected ? srv->s_version : 0; }
uint64_t vmbsrv_connected_ns(const struct vmbsrv *srv) { return srv->s_connected_ns; }
bool vmbsrv_offers_delivered(const struct vmbsrv *srv) { return srv->s_alloffers_sent; }
uint32_t vmbsrv_last_version(const struct vmbsrv *srv) { return srv->s_last_version; }
uint64_t vmbsrv_alloffers_ns(const struct vmbsrv *srv) { return srv->s_alloffers_ns; }

uint32_t vmbsrv_relid_of(const struct vmbsrv *srv, VMBCHANNEL ch) {
  for (unsigned i = 0; i < VMBSRV_MAX_CHANNELS; i++)
    if (srv->s_chans[i].c_used && srv->s_chans[i].c_ch == ch)
      return srv->s_chans[i].c_relid;
  return 0;
}

bool vmbsrv_channel_open(const struct vmbsrv *srv, uint32_t relid) {
  if (relid == 0 || relid > VMBSRV_MAX_CHANNELS)
    return false;
  const struct vs_chan *c = &srv->s_chans[relid - 1];
  return c->c_used && c->c_phase == VS_OPEN;
}

void vmbsrv_refuse_version(struct vmbsrv *srv, uint32_t version) {
  if (srv->s_nrefused < VS_MAX_REFUSED)
    srv->s_refused[srv->s_nrefused++] = version;
}

int vmbsrv_add_fault(struct vmbsrv *srv, const struct vmbsrv_fault *f) {
  for (unsigned i = 0; i < VMBSRV_MAX_FAULTS; i++)
    if (srv->s_faults[i].fa_action == VMBSRV_FAULT_NONE) {
      srv->s_faults[i] = *f;
      srv->s_faults[i].fa_seen = 0;
      srv->s_faults[i].fa_fired = false;
      if (!srv->s_faults[i].fa_nth)
        srv->s_faults[i].fa_nth = 1;
      return 0;
    }
  return -ENOSPC;
}

void vmbsrv_clear_faults(struct vmbsrv *srv) { memset(srv->s_faults, 0, sizeof(srv->s_faults)); }

void vmbsrv_guest_gone(struct vmbsrv *srv) {
  if (srv)
    srv->s_guest_gone = true;
}
