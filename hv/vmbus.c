/* hv/vmbus.c: the VMBus bus client (guest side of VMBus).
 *
 * Host messages arrive as copies made by the SINT handler (hv/synic.c) and
 * are dispatched here from a DPC: every message is checked against the
 * minimum size of its type before any field is used, and everything we keep
 * is copied into our own records. Up-calls into KMCL go through the
 * kmcl_upq of kmcl/bus.h (passive level, in arrival order). Every wait on the host is bounded
 * and gives up when the channel it waits for is rescinded. */
#include "hv/vmbus.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/hv.h"
#include "hv/vmbus_trace.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kmcl/kmcl_types.h"

const uint32_t vmbus_versions[] = VMBUS_ALL_VERSIONS;
const unsigned vmbus_nversions = sizeof(vmbus_versions) / sizeof(vmbus_versions[0]);

struct vmbus_offer_rec {
  bool or_used;
  struct vmbus_msg_offer or_msg; /* validated copy */
  uint32_t or_relid;
  VMBCHANNEL or_ch; /* the client channel that claimed it */
  bool or_rescinded;
  bool or_open_sent;
  struct kmcl_bus_offer or_kmcl;
};

struct vmbus_claim {
  VMBCHANNEL cl_ch;
  GUID cl_type, cl_instance;
  bool cl_has_instance;
};

struct vmbus_gpadl_wait {
  bool gw_used;
  uint32_t gw_handle;
  uint32_t gw_relid; /* the channel it belongs to (GPADLs outlive a detach) */
  struct vmbus_offer_rec *gw_offer;
  /* What we wait for now: an answer to anything else is unsolicited. */
  bool gw_creating, gw_tearing;
  bool gw_created, gw_torn;
  uint32_t gw_status;
};

static struct {
  struct kmcl_bus vc_bus;
  struct _DEVICE_OBJECT vc_dev;
  struct vmbus_options vc_opt;
  bool vc_connected;
  uint32_t vc_version;
  uint32_t vc_msg_conn_id; /* where PostMessage goes after contact */
  uint8_t *vc_int_page;    /* < 5.0 signalling */
  struct vmbus_monitor_page *vc_monitor1, *vc_monitor2;
  /* waits on control messages; each answer is taken only while its
   * request is outstanding (the *_wait flags), else dropped as unsolicited */
  bool vc_version_wait, vc_unload_wait, vc_modify_wait;
  bool vc_version_reply;
  uint8_t vc_version_supported;
  uint32_t vc_version_conn_id;
  bool vc_all_offers;
  bool vc_unload_done;
  bool vc_modify_done;
  uint32_t vc_modify_status;
  struct vmbus_offer_rec vc_offers[VMBUS_MAX_OFFERS];
  struct vmbus_claim vc_claims[VMBUS_MAX_CLAIMS];
  struct vmbus_gpadl_wait vc_gpadls[VMBUS_MAX_GPADL_WAITS];
  uint32_t vc_next_gpadl;
  struct vmbus_stats vc_stats;
  struct kmcl_upq vc_upq; /* up-calls to KMCL, from its work item */
} vc;

static struct log_ratelimit vc_rl = LOG_RATELIMIT_INIT(1000, 5);

bool vmbus_connected(void) { return vc.vc_connected; }
uint32_t vmbus_version(void) { return vc.vc_version; }
const struct vmbus_stats *vmbus_stats(void) { return &vc.vc_stats; }
struct _DEVICE_OBJECT *vmbus_device(void) {
  return &vc.vc_dev;
}

unsigned vmbus_offer_count(void) {
  unsigned n = 0;
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS; i++)
    n += vc.vc_offers[i].or_used;
  return n;
}

/* ---- sending ----------------------------------------------------------------- */

static void vc_trace(enum vmbus_dir dir, const void *msg, size_t len) {
  if (!vc.vc_opt.vo_trace)
    return;
  char line[200];
  vmbus_msg_describe(line, sizeof(line), dir, msg, len);
  printf("%s\n", line);
}

/* Post one channel message to `conn_id`. Logs failures once, here. */
static int vc_post_to(uint32_t conn_id, const void *msg, size_t len) {
  vc_trace(VMBUS_DIR_TO_HOST, msg, len);
  int rc = hv_post_message(conn_id, HVMSG_VMBUS, msg, len);
  vc.vc_stats.vs_msgs_out++;
  if (rc && !(HV_IS_STATUS_ERR(rc) && HV_STATUS_OF(rc) == HV_STATUS_INVALID_CONNECTION_ID))
    pr_err("vmbus: posting %s failed: %s\n", vmbus_msg_name(*(const uint32_t *)msg),
           hv_strerror(rc));
  return rc;
}
static int vc_post(const void *msg, size_t len) { return vc_post_to(vc.vc_msg_conn_id, msg, len); }

static bool vc_flag(void *arg) { return *(volatile bool *)arg; }

/** A named wait, or vo_wait_ms when the caller set one (tests). */
static uint32_t vc_wait_ms(uint32_t named) {
  return vc.vc_opt.vo_wait_ms ? vc.vc_opt.vo_wait_ms : named;
}

/** Count and (rate-limited) report a well-formed message that answers no
 * request of ours: dropped, state untouched (docs/SECURITY.md, B). */
static void vc_unsolicited(uint32_t type) {
  vc.vc_stats.vs_msgs_unsolicited++;
  if (log_ratelimit_ok(&vc_rl))
    pr_warn("vmbus: unsolicited %s from the host: dropped\n", vmbus_msg_name(type));
}

/* ---- offers and claims ------------------------------------------------------- */

static struct vmbus_offer_rec *vc_offer_by_relid(uint32_t relid) {
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS; i++)
    if (vc.vc_offers[i].or_used && vc.vc_offers[i].or_relid == relid)
      return &vc.vc_offers[i];
  return NULL;
}

static struct vmbus_offer_rec *vc_offer_of(VMBCHANNEL ch) {
  return (struct vmbus_offer_rec *)kmcl_bus_get_context(ch);
}

/** Queue an up-call for the offer's channel (kmcl/upcall.c delivers it at
 * passive level, in arrival order). A post without memory is counted as a
 * refused message and logged: the channel then sees what a host that lost
 * the message would cause (it waits for the offer or the open result until
 * its driver disables it; tests/unit/kmcl_upq_test.c). */
static void vc_offer_event(struct vmbus_offer_rec *o, enum kmcl_up_type t, const void *arg) {
  if (kmcl_upq_post(&vc.vc_upq, t, o->or_ch, arg) == 0)
    return;
  vc.vc_stats.vs_msgs_bad++;
  if (log_ratelimit_ok(&vc_rl))
    pr_err("vmbus: relid %u: no memory for an up-call; event lost\n", o->or_relid);
}

static bool vc_claim_matches(const struct vmbus_claim *c, const struct vmbus_offer_rec *o) {
  if (memcmp(&c->cl_type, &o->or_msg.if_type, sizeof(GUID)) != 0)
    return false;
  return !c->cl_has_instance || memcmp(&c->cl_instance, &o->or_msg.if_instance, sizeof(GUID)) == 0;
}

/* Hand an unclaimed, live offer to the first channel waiting for its class. */
static void vc_try_claim(struct vmbus_offer_rec *o) {
  if (o->or_ch || o->or_rescinded)
    return;
  for (unsigned i = 0; i < VMBUS_MAX_CLAIMS; i++) {
    struct vmbus_claim *c = &vc.vc_claims[i];
    if (!c->cl_ch || !vc_claim_matches(c, o))
      continue;
    o->or_ch = c->cl_ch;
    memset(c, 0, sizeof(*c));
    kmcl_bus_set_context(o->or_ch, o);
    vc_offer_event(o, KMCL_UP_OFFER, &o->or_kmcl);
    return;
  }
}

static void vc_release_relid(struct vmbus_offer_rec *o) {
  struct vmbus_msg_relid m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_RELID_RELEASED;
  m.child_relid = o->or_relid;
  vc_post(&m, sizeof(m));
  memset(o, 0, sizeof(*o));
}

static void vc_on_offer(const struct vmbus_msg_offer *in) {
  uint32_t relid = in->child_relid;
  if (relid == 0 || relid >= VMBUS_MAX_RELID) {
    vc.vc_stats.vs_offers_refused++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: offer with relid %u out of range (1..%u): ignored\n", relid,
              VMBUS_MAX_RELID - 1);
    return;
  }
  if (vc_offer_by_relid(relid)) {
    vc.vc_stats.vs_offers_refused++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: second offer for relid %u: ignored\n", relid);
    return;
  }
  /* Fields we would use later as indices or hypercall arguments are
   * checked now, once, on our copy (PERF-RELIABILITY 2.4 B2): a monitor id
   * beyond the 4 x 32 trigger bits, a signalling connection id beyond 24
   * bits, and sub-channels, which this client never requests. */
  bool v11 = vc.vc_version >= VMBUS_VERSION_WIN7;
  const char *bad = NULL;
  if (in->sub_channel_index != 0)
    bad = "a sub-channel, never requested";
  else if (v11 && (in->monitor_allocated & 1) && in->monitorid >= 128)
    bad = "monitor id beyond 127";
  else if (v11 && in->connection_id > 0xffffffu)
    bad = "connection id beyond 24 bits";
  if (bad) {
    vc.vc_stats.vs_offers_refused++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: offer for relid %u refused: %s\n", relid, bad);
    return;
  }
  struct vmbus_offer_rec *o = NULL;
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS && !o; i++)
    if (!vc.vc_offers[i].or_used)
      o = &vc.vc_offers[i];
  if (!o) {
    vc.vc_stats.vs_offers_refused++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: more than %d offers: relid %u ignored\n", VMBUS_MAX_OFFERS, relid);
    return;
  }
  memset(o, 0, sizeof(*o));
  o->or_used = true;
  o->or_msg = *in;
  o->or_relid = relid;
  /* Fields from 1.1 on; on 0.13 signal through the shared event connection. */
  if (!v11) {
    o->or_msg.monitor_allocated = 0;
    o->or_msg.is_dedicated_interrupt = 0;
    o->or_msg.connection_id = VMBUS_EVENT_CONNECTION_ID;
  }
  memcpy(&o->or_kmcl.bo_type, &in->if_type, sizeof(GUID));
  memcpy(&o->or_kmcl.bo_instance, &in->if_instance, sizeof(GUID));
  o->or_kmcl.bo_relid = relid;
  o->or_kmcl.bo_monitored = (o->or_msg.monitor_allocated & 1) != 0;
  o->or_kmcl.bo_mmio_mb = in->mmio_megabytes;
  /* VmbChannelGetMmioSpace: the offer carries the size only; the address
   * is the guest's to allocate (Linux: from the VMBus ACPI device's _CRS),
   * and this guest allocates none, so it stays 0 (docs/KMCL.md, D6). */
  o->or_kmcl.bo_mmio_size = (uint64_t)in->mmio_megabytes << 20;
  o->or_kmcl.bo_mmio_base = 0;

  char type[37], inst[37];
  vmbus_guid_format(&in->if_type, type);
  vmbus_guid_format(&in->if_instance, inst);
  const char *name = vmbus_guid_name(&in->if_type);
  pr_info("vmbus: offer relid %u: %s {%s} instance {%s}%s%s\n", relid, name ? name : "unknown",
          type, inst, in->sub_channel_index ? " (sub-channel)" : "",
          o->or_kmcl.bo_monitored ? " monitored" : "");
  vc_try_claim(o);
}

static void vc_on_rescind(uint32_t relid) {
  struct vmbus_offer_rec *o = vc_offer_by_relid(relid);
  if (!o || o->or_rescinded) {
    vc.vc_stats.vs_msgs_unsolicited++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: rescind of unknown relid %u: ignored\n", relid);
    return;
  }
  pr_info("vmbus: relid %u rescinded by the host\n", relid);
  /* Waiters (GPADL, open) see or_rescinded and stop waiting: the host
   * ignores requests for a rescinded relid (PROTOCOL-REFERENCE 2.6). */
  o->or_rescinded = true;
  if (o->or_ch)
    vc_offer_event(o, KMCL_UP_RESCINDED, NULL); /* RELID_RELEASED once it detaches */
  else
    vc_release_relid(o);
}

/* ---- incoming messages (DPC): one handler per type -------------------------- */
/* Each gets the private, aligned copy of a message vmbus_msg_check passed
 * (a type the host sends, at least its minimum size; bytes past `size`
 * read as zero). */

static void vc_msg_version_response(const void *m, uint32_t size) {
  (void)size;
  const struct vmbus_msg_version_response *r = m;
  /* Only the first answer to the INITIATE_CONTACT in flight counts: a
   * late or duplicated one must not answer the next attempt. */
  if (!vc.vc_version_wait || vc.vc_version_reply) {
    vc_unsolicited(VMBUS_MSG_VERSION_RESPONSE);
    return;
  }
  vc.vc_version_supported = r->version_supported;
  vc.vc_version_conn_id = r->msg_conn_id;
  vc.vc_version_reply = true;
}

static void vc_msg_offer(const void *m, uint32_t size) {
  (void)size;
  if (vc.vc_connected)
    vc_on_offer(m);
}

static void vc_msg_alloffers(const void *m, uint32_t size) {
  (void)m, (void)size;
  vc.vc_all_offers = true;
}

static void vc_msg_rescind(const void *m, uint32_t size) {
  (void)size;
  vc_on_rescind(((const struct vmbus_msg_relid *)m)->child_relid);
}

static void vc_msg_open_result(const void *m, uint32_t size) {
  (void)size;
  const struct vmbus_msg_open_result *r = m;
  struct vmbus_offer_rec *o = vc_offer_by_relid(r->child_relid);
  if (!o || !o->or_open_sent || r->openid != o->or_relid) {
    vc.vc_stats.vs_msgs_unsolicited++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: OPENCHANNEL_RESULT for relid %u openid %u not awaited: ignored\n",
              r->child_relid, r->openid);
    return;
  }
  o->or_open_sent = false;
  int32_t status = (int32_t)r->status;
  vc_offer_event(o, KMCL_UP_OPEN_RESULT, &status);
}

/* The GPADL wait slot in use for `handle`; NULL when none. */
static struct vmbus_gpadl_wait *vc_gpadl_by_handle(uint32_t handle) {
  for (unsigned i = 0; i < VMBUS_MAX_GPADL_WAITS; i++)
    if (vc.vc_gpadls[i].gw_used && vc.vc_gpadls[i].gw_handle == handle)
      return &vc.vc_gpadls[i];
  return NULL;
}

/* GPADL_CREATED and GPADL_TORNDOWN: taken only for the handle, the channel
 * and the step we wait for: an unknown handle, another relid's answer, a
 * duplicate or a CREATED during teardown changes nothing (2.4 B6). */
static void vc_gpadl_answer(uint32_t type, uint32_t handle, uint32_t relid, uint32_t status) {
  bool created = type == VMBUS_MSG_GPADL_CREATED;
  struct vmbus_gpadl_wait *w = vc_gpadl_by_handle(handle);
  if (!w || (created ? !w->gw_creating || w->gw_relid != relid : !w->gw_tearing)) {
    vc.vc_stats.vs_msgs_unsolicited++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: %s for gpadl %#x not awaited: ignored\n", vmbus_msg_name(type), handle);
    return;
  }
  if (created) {
    w->gw_status = status;
    w->gw_created = true;
    w->gw_creating = false;
  } else {
    w->gw_torn = true;
    w->gw_tearing = false;
  }
}

static void vc_msg_gpadl_created(const void *m, uint32_t size) {
  (void)size;
  const struct vmbus_msg_gpadl_created *c = m;
  vc_gpadl_answer(VMBUS_MSG_GPADL_CREATED, c->gpadl, c->child_relid, c->creation_status);
}

static void vc_msg_gpadl_torndown(const void *m, uint32_t size) {
  (void)size;
  vc_gpadl_answer(VMBUS_MSG_GPADL_TORNDOWN, ((const struct vmbus_msg_gpadl_torndown *)m)->gpadl, 0,
                  0);
}

static void vc_msg_unload_response(const void *m, uint32_t size) {
  (void)m, (void)size;
  if (!vc.vc_unload_wait) {
    vc_unsolicited(VMBUS_MSG_UNLOAD_RESPONSE);
    return;
  }
  vc.vc_unload_done = true;
}

static void vc_msg_modify_response(const void *m, uint32_t size) {
  (void)size;
  if (!vc.vc_modify_wait) {
    vc_unsolicited(VMBUS_MSG_MODIFYCHANNEL_RESPONSE);
    return;
  }
  vc.vc_modify_status = ((const struct vmbus_msg_modify_channel *)m)->target_vp;
  vc.vc_modify_done = true;
}

/* Every type the table says the host sends has its handler here. */
static void (*const vc_handlers[VMBUS_MSG_COUNT])(const void *m, uint32_t size) = {
    [VMBUS_MSG_OFFERCHANNEL] = vc_msg_offer,
    [VMBUS_MSG_RESCIND_CHANNELOFFER] = vc_msg_rescind,
    [VMBUS_MSG_ALLOFFERS_DELIVERED] = vc_msg_alloffers,
    [VMBUS_MSG_OPENCHANNEL_RESULT] = vc_msg_open_result,
    [VMBUS_MSG_GPADL_CREATED] = vc_msg_gpadl_created,
    [VMBUS_MSG_GPADL_TORNDOWN] = vc_msg_gpadl_torndown,
    [VMBUS_MSG_VERSION_RESPONSE] = vc_msg_version_response,
    [VMBUS_MSG_UNLOAD_RESPONSE] = vc_msg_unload_response,
    [VMBUS_MSG_MODIFYCHANNEL_RESPONSE] = vc_msg_modify_response,
};

/* One SynIC message from the VMBus slot: check the SynIC header, copy the
 * payload, check it against the message table, then its type's handler. */
static void vc_on_message(const struct hv_message *hm) {
  uint32_t mtype = hm->header.message_type;
  uint32_t size = hm->header.payload_size;
  if (mtype != HVMSG_VMBUS) {
    vc.vc_stats.vs_msgs_bad++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: SynIC message type %#x in the VMBus slot: ignored\n", mtype);
    return;
  }
  if (size > HV_MESSAGE_PAYLOAD_MAX || size < sizeof(struct vmbus_msg_header)) {
    vc.vc_stats.vs_msgs_bad++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: message with payload size %u: dropped\n", size);
    return;
  }
  /* Aligned private copy; fields past `size` read as zero. */
  union {
    uint8_t b[HV_MESSAGE_PAYLOAD_MAX];
    uint64_t align;
  } u;
  memset(&u, 0, sizeof(u));
  memcpy(u.b, hm->payload, size);
  vc_trace(VMBUS_DIR_TO_GUEST, u.b, size);
  uint32_t type;
  const char *why = vmbus_msg_check(VMBUS_DIR_TO_GUEST, u.b, size, &type);
  if (why || !vc_handlers[type]) {
    vc.vc_stats.vs_msgs_bad++;
    if (log_ratelimit_ok(&vc_rl))
      pr_warn("vmbus: %s with %u bytes (%s): dropped\n", vmbus_msg_name(type), size,
              why ? why : "no handler");
    return;
  }
  vc.vc_stats.vs_msgs_in++;
  vc_handlers[type](u.b, size);
}

/* Signal the channel with this relid, if one claimed it and is live. */
static void vc_event_relid(uint32_t relid) {
  struct vmbus_offer_rec *o = vc_offer_by_relid(relid);
  if (o && o->or_ch && !o->or_rescinded) {
    vc.vc_stats.vs_events++;
    kmcl_bus_interrupt(o->or_ch);
  } else {
    /* Never offered, unclaimed or rescinded: the bit is cleared, nothing
     * runs (2.4 A6). Not logged: also a benign race after a close. */
    vc.vc_stats.vs_events_stray++;
  }
}

/* Event flags (DPC, after the messages). From 2.4 bit N of our SIEFP slot
 * means relid N; before, bit 0 says "look at the interrupt page", whose
 * first half holds the relid bits (PROTOCOL-REFERENCE 1.5, 2.7). Each word
 * is read once and only its set bits are test-and-cleared. */
static void vc_on_events(void) {
  if (!vc.vc_connected)
    return;
  struct hv_vcpu *v = hv_vcpu_self();
  volatile uint64_t *flags = v->hv_siefp->sint_flags[HV_VMBUS_SINT];
  if (vc.vc_version >= VMBUS_VERSION_WIN8) {
    for (unsigned w = 0; w < VMBUS_MAX_RELID / 64; w++) {
      uint64_t word = flags[w];
      if (w == 0)
        word &= ~1ull; /* bit 0: channel protocol message, not a relid */
      while (word) {
        unsigned b = (unsigned)__builtin_ctzll(word);
        word &= word - 1;
        if (hv_test_and_clear_bit(flags, w * 64 + b))
          vc_event_relid(w * 64 + b);
      }
    }
  } else if (hv_test_and_clear_bit(flags, 0)) {
    volatile uint64_t *recv = (volatile uint64_t *)(vc.vc_int_page + VMBUS_INT_PAGE_RECV_OFFSET);
    for (unsigned w = 0; w < VMBUS_MAX_RELID_INT_PAGE / 64; w++) {
      uint64_t word = recv[w];
      while (word) {
        unsigned b = (unsigned)__builtin_ctzll(word);
        word &= word - 1;
        if (hv_test_and_clear_bit(recv, w * 64 + b))
          vc_event_relid(w * 64 + b);
      }
    }
  }
}

/* ---- connection ----------------------------------------------------------------- */

static int vc_alloc_pages(void) {
  if (!vc.vc_int_page) {
    vc.vc_int_page = page_alloc(1);
    vc.vc_monitor1 = page_alloc(1);
    vc.vc_monitor2 = page_alloc(1);
    if (!vc.vc_int_page || !vc.vc_monitor1 || !vc.vc_monitor2)
      return -ENOMEM;
  }
  memset(vc.vc_int_page, 0, PAGE_SIZE);
  memset(vc.vc_monitor1, 0, PAGE_SIZE);
  memset(vc.vc_monitor2, 0, PAGE_SIZE);
  return 0;
}

/* UNLOAD and wait for the response: to end, or to take over a connection an
 * earlier owner of the VM left behind. */
static int vc_unload(uint32_t conn_id) {
  struct vmbus_msg_header m = {VMBUS_MSG_UNLOAD, 0};
  vc.vc_unload_done = false;
  vc.vc_unload_wait = true;
  int rc = vc_post_to(conn_id, &m, sizeof(m));
  if (rc == 0)
    rc = ev_wait(vc_flag, &vc.vc_unload_done, vc_wait_ms(VMBUS_UNLOAD_WAIT_MS));
  vc.vc_unload_wait = false;
  if (rc == -ETIMEDOUT)
    pr_warn("vmbus: no UNLOAD_RESPONSE within %u ms\n", vc_wait_ms(VMBUS_UNLOAD_WAIT_MS));
  return rc;
}

/* One INITIATE_CONTACT at version v. 0 accepted, 1 refused, or -errno
 * (HV_ERR(INVALID_CONNECTION_ID): this host predates 5.0's connection id 4). */
static int vc_contact(uint32_t v) {
  struct vmbus_msg_initiate_contact m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
  m.vmbus_version_requested = v;
  m.target_vcpu = hv_vcpu_self()->hv_vp_index;
  uint32_t conn_id;
  if (v >= VMBUS_VERSION_WIN10_V5) {
    m.u.v5.msg_sint = HV_VMBUS_SINT;
    m.u.v5.msg_vtl = 0;
    m.u.v5.feature_flags = 0; /* DESIGN.md: no 6.0 feature requested yet */
    conn_id = VMBUS_MESSAGE_CONNECTION_ID_4;
  } else {
    m.u.interrupt_page = hw_virt_to_phys(vc.vc_int_page);
    conn_id = VMBUS_MESSAGE_CONNECTION_ID;
  }
  m.monitor_page1 = hw_virt_to_phys(vc.vc_monitor1);
  m.monitor_page2 = hw_virt_to_phys(vc.vc_monitor2);
  vc.vc_version_reply = false;
  vc.vc_version_wait = true;
  int rc = vc_post_to(conn_id, &m, VMBUS_INITIATE_CONTACT_SIZE);
  if (rc == 0)
    rc = ev_wait(vc_flag, &vc.vc_version_reply, vc_wait_ms(VMBUS_CONTACT_WAIT_MS));
  vc.vc_version_wait = false;
  if (rc)
    return rc;
  if (!vc.vc_version_supported)
    return 1;
  /* From 5.0 the response names the message connection id; below 5.0 its
   * field is not a trustworthy version (QEMU leaves it 0): ignore it. */
  if (v >= VMBUS_VERSION_WIN10_V5) {
    uint32_t id = vc.vc_version_conn_id;
    if (id == 0 || id > 0xffffff) {
      pr_err("vmbus: host accepted %u.%u with message connection id %u: refusing it\n",
             VMBUS_VERSION_MAJOR(v), VMBUS_VERSION_MINOR(v), id);
      return -EPROTO;
    }
    vc.vc_msg_conn_id = id;
  } else {
    vc.vc_msg_conn_id = VMBUS_MESSAGE_CONNECTION_ID;
  }
  return 0;
}

static int vc_negotiate(void) {
  bool skip_v5 = false;
  for (unsigned i = 0; i < vmbus_nversions; i++) {
    uint32_t v = vmbus_versions[i];
    if (vc.vc_opt.vo_max_version && v > vc.vc_opt.vo_max_version)
      continue;
    if (skip_v5 && v >= VMBUS_VERSION_WIN10_V5)
      continue;
    int rc = vc_contact(v);
    if (rc == 0) {
      vc.vc_version = v;
      return 0;
    }
    if (rc == 1)
      continue; /* refused: next lower version */
    if (HV_IS_STATUS_ERR(rc) && HV_STATUS_OF(rc) == HV_STATUS_INVALID_CONNECTION_ID &&
        v >= VMBUS_VERSION_WIN10_V5) {
      /* A host older than 5.0 (QEMU's) does not listen on id 4: go
       * straight to 4.x on id 1. */
      skip_v5 = true;
      continue;
    }
    if (rc == -ETIMEDOUT)
      pr_err("vmbus: no VERSION_RESPONSE to INITIATE_CONTACT %u.%u within %u ms\n",
             VMBUS_VERSION_MAJOR(v), VMBUS_VERSION_MINOR(v), vc_wait_ms(VMBUS_CONTACT_WAIT_MS));
    return rc;
  }
  pr_err("vmbus: the host accepted none of the versions tried\n");
  return -EPROTONOSUPPORT;
}

static const struct kmcl_bus_ops vc_ops;

int vmbus_connect(const struct vmbus_options *opt) {
  memset(&vc.vc_stats, 0, sizeof(vc.vc_stats));
  vc.vc_opt = *opt;
  vc.vc_connected = false;
  vc.vc_next_gpadl = VMBUS_FIRST_GPADL_HANDLE;
  int rc = vc_alloc_pages();
  if (rc)
    return rc;
  kmcl_upq_init(&vc.vc_upq, NULL, NULL);
  hv_synic_set_handlers(vc_on_message, vc_on_events);

  uint64_t t0 = hw_now_ns();
  if (vc.vc_opt.vo_unload_first) {
    /* GUEST_OS_ID was set before us: firmware or an earlier kernel may have
     * left a connection. UNLOAD resets it (a host with nothing to unload
     * answers too, or stays silent: either way we go on). */
    pr_info("vmbus: an earlier owner used this VM; sending UNLOAD first\n");
    vc_unload(VMBUS_MESSAGE_CONNECTION_ID);
  }
  if ((rc = vc_negotiate()) != 0)
    return rc;
  char ver[12];
  vmbus_version_format(vc.vc_version, ver);
  vc.vc_connected = true;

  struct vmbus_msg_header req = {VMBUS_MSG_REQUESTOFFERS, 0};
  vc.vc_all_offers = false;
  if ((rc = vc_post(&req, sizeof(req))) != 0)
    return rc;
  if (ev_wait(vc_flag, &vc.vc_all_offers, vc_wait_ms(VMBUS_OFFERS_WAIT_MS)) != 0) {
    pr_err("vmbus: no ALLOFFERS_DELIVERED within %u ms (%u offers so far)\n",
           vc_wait_ms(VMBUS_OFFERS_WAIT_MS), vmbus_offer_count());
    return -ETIMEDOUT;
  }
  vc.vc_bus.kb_ops = &vc_ops;
  vc.vc_bus.kb_instance_id = 0;
  vc.vc_dev.do_bus = &vc.vc_bus;
  kmcl_bus_register(&vc.vc_bus);
  printf("vmbus: connected, version %s, message connection id %u, %u offers, %lu ms\n", ver,
         vc.vc_msg_conn_id, vmbus_offer_count(), (unsigned long)((hw_now_ns() - t0) / 1000000));
  return 0;
}

int vmbus_disconnect(void) {
  if (!vc.vc_connected)
    return 0;
  int rc = 0;
  /* Pre-3.0 hosts do not support UNLOAD-and-reconnect (Linux, iPXE). */
  if (vc.vc_version >= VMBUS_VERSION_WIN8_1)
    rc = vc_unload(vc.vc_msg_conn_id);
  kmcl_bus_unregister(&vc.vc_bus);
  kmcl_upq_fini(&vc.vc_upq);
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS; i++)
    memset(&vc.vc_offers[i], 0, sizeof(vc.vc_offers[i]));
  vc.vc_connected = false;
  /* After an acknowledged UNLOAD the host has let go of the interrupt and
   * monitor pages; without one (pre-3.0, or no answer) it may still write
   * them (iPXE's note), so they stay allocated and are reused next time. */
  if (rc == 0 && vc.vc_version >= VMBUS_VERSION_WIN8_1) {
    page_free(vc.vc_int_page, 1);
    page_free(vc.vc_monitor1, 1);
    page_free(vc.vc_monitor2, 1);
    vc.vc_int_page = NULL;
    vc.vc_monitor1 = vc.vc_monitor2 = NULL;
  }
  pr_info("vmbus: disconnected%s\n", rc ? " (no unload response)" : "");
  return rc;
}

bool vmbus_has_offer(const void *if_type) {
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS; i++)
    if (vc.vc_offers[i].or_used && !vc.vc_offers[i].or_rescinded &&
        memcmp(&vc.vc_offers[i].or_msg.if_type, if_type, sizeof(struct vmbus_guid)) == 0)
      return true;
  return false;
}

void vmbus_offers_dump(void) {
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS; i++) {
    const struct vmbus_offer_rec *o = &vc.vc_offers[i];
    if (!o->or_used)
      continue;
    const char *name = vmbus_guid_name(&o->or_msg.if_type);
    printf("  relid %-4u %-16s %s%s\n", o->or_relid, name ? name : "unknown",
           o->or_ch ? "claimed" : "unclaimed", o->or_rescinded ? ", rescinded" : "");
  }
}

int vmbus_modify_channel(uint32_t relid, uint32_t target_vp) {
  if (vc.vc_version < VMBUS_VERSION_WIN10_V4_1)
    return -ENOTSUP;
  if (!vc_offer_by_relid(relid))
    return -ENOENT;
  struct vmbus_msg_modify_channel m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_MODIFYCHANNEL;
  m.child_relid = relid;
  m.target_vp = target_vp;
  vc.vc_modify_done = false;
  bool acked = vc.vc_version >= VMBUS_VERSION_WIN10_V5_3; /* no response before 5.3 */
  vc.vc_modify_wait = acked;
  int rc = vc_post(&m, sizeof(m));
  if (rc == 0 && acked)
    rc = ev_wait(vc_flag, &vc.vc_modify_done, vc_wait_ms(VMBUS_MODIFY_WAIT_MS));
  vc.vc_modify_wait = false;
  if (rc || !acked)
    return rc;
  return vc.vc_modify_status ? -EIO : 0;
}

/* ---- kmcl/bus.h client side ------------------------------------------------------ */

static int vc_attach(struct kmcl_bus *bus, VMBCHANNEL ch, const GUID *type, const GUID *instance) {
  (void)bus;
  struct vmbus_claim *c = NULL;
  for (unsigned i = 0; i < VMBUS_MAX_CLAIMS && !c; i++)
    if (!vc.vc_claims[i].cl_ch)
      c = &vc.vc_claims[i];
  if (!c)
    return -ENOMEM;
  c->cl_ch = ch;
  c->cl_type = *type;
  c->cl_has_instance = instance != NULL;
  if (instance)
    c->cl_instance = *instance;
  for (unsigned i = 0; i < VMBUS_MAX_OFFERS && c->cl_ch; i++)
    if (vc.vc_offers[i].or_used)
      vc_try_claim(&vc.vc_offers[i]);
  return 0;
}

static void vc_detach(struct kmcl_bus *bus, VMBCHANNEL ch) {
  (void)bus;
  for (unsigned i = 0; i < VMBUS_MAX_CLAIMS; i++)
    if (vc.vc_claims[i].cl_ch == ch)
      memset(&vc.vc_claims[i], 0, sizeof(vc.vc_claims[i]));
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o || o->or_ch != ch)
    return;
  kmcl_upq_forget(&vc.vc_upq, ch, KMCL_UP_ALL);
  o->or_ch = NULL;
  o->or_open_sent = false;
  kmcl_bus_set_context(ch, NULL);
  if (o->or_rescinded)
    vc_release_relid(o); /* the host may now reuse the relid */
  else
    vc_try_claim(o); /* another channel may be waiting for it */
}

/* The offer a GPADL belongs to, or NULL when that relid is gone (rescinded
 * and released: the record may hold another channel by now). */
static struct vmbus_offer_rec *vc_gpadl_offer(const struct vmbus_gpadl_wait *w) {
  struct vmbus_offer_rec *o = w->gw_offer;
  return o->or_used && o->or_relid == w->gw_relid ? o : NULL;
}

struct vc_gpadl_cond {
  struct vmbus_gpadl_wait *w;
  bool teardown;
};
static bool vc_gpadl_done(void *arg) {
  const struct vc_gpadl_cond *c = arg;
  const struct vmbus_offer_rec *o = vc_gpadl_offer(c->w);
  if (!o || o->or_rescinded)
    return true;
  return c->teardown ? c->w->gw_torn : c->w->gw_created;
}

/** Send a GPADL as GPADL_HEADER + GPADL_BODY messages. The range data is a
 * stream of 8-byte slots ({byte_count, byte_offset} per range, then its
 * PFNs): 27 slots fit the header (26 PFNs after one range header) and 28 a
 * body (PROTOCOL-REFERENCE 2.2, 2.5). *header_sent says whether the host
 * got the GPADL_HEADER (and so holds PFNs) when a later post failed. */
static int vc_gpadl_send(uint32_t relid, uint32_t handle, const uint64_t *pfns, uint32_t npfn,
                         uint32_t byte_offset, uint32_t byte_count, bool *header_sent) {
  uint64_t slot0 = (uint64_t)byte_count | ((uint64_t)byte_offset << 32);
  uint32_t nslots = 1 + npfn;
  union {
    uint8_t b[VMBUS_MAX_CHANNEL_MESSAGE];
    uint64_t align;
  } u;
  memset(&u, 0, sizeof(u));
  struct vmbus_msg_gpadl_header *h = (void *)u.b;
  h->hdr.msgtype = VMBUS_MSG_GPADL_HEADER;
  h->child_relid = relid;
  h->gpadl = handle;
  h->range_buflen = (uint16_t)(nslots * 8);
  h->rangecount = 1;
  const uint32_t head_slots = (VMBUS_MAX_CHANNEL_MESSAGE - sizeof(*h)) / 8;
  uint32_t n = nslots < head_slots ? nslots : head_slots;
  memcpy(u.b + sizeof(*h), &slot0, 8);
  memcpy(u.b + sizeof(*h) + 8, pfns, (size_t)(n - 1) * 8);
  int rc = vc_post(u.b, sizeof(*h) + (size_t)n * 8);
  *header_sent = rc == 0;
  uint32_t done = n - 1; /* PFNs sent */
  while (rc == 0 && done < npfn) {
    memset(&u, 0, sizeof(u));
    struct vmbus_msg_gpadl_body *b = (void *)u.b;
    b->hdr.msgtype = VMBUS_MSG_GPADL_BODY;
    b->msgnumber = 0; /* as Linux: hosts do not use it */
    b->gpadl = handle;
    uint32_t k = npfn - done;
    if (k > VMBUS_GPADL_BODY_MAX_PFNS)
      k = VMBUS_GPADL_BODY_MAX_PFNS;
    memcpy(u.b + sizeof(*b), pfns + done, (size_t)k * 8);
    rc = vc_post(u.b, sizeof(*b) + (size_t)k * 8);
    done += k;
    vc.vc_stats.vs_gpadl_bodies++;
  }
  return rc;
}

static int vc_gpadl_create(struct kmcl_bus *bus, VMBCHANNEL ch, const uint64_t *pfns, uint32_t npfn,
                           uint32_t byte_offset, uint32_t byte_count, bool read_only,
                           uint32_t *handle) {
  (void)bus;
  (void)read_only; /* VMBus GPADLs carry no access mode: the host maps them */
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o)
    return -EINVAL;
  if (o->or_rescinded)
    return -ENODEV;
  /* range_buflen is 16 bits: 8 + 8 * npfn <= 65535. */
  if (npfn == 0 || npfn > (0xffffu - 8) / 8)
    return -E2BIG;
  struct vmbus_gpadl_wait *w = NULL;
  for (unsigned i = 0; i < VMBUS_MAX_GPADL_WAITS && !w; i++)
    if (!vc.vc_gpadls[i].gw_used)
      w = &vc.vc_gpadls[i];
  if (!w)
    return -ENOMEM;
  memset(w, 0, sizeof(*w));
  w->gw_used = true;
  w->gw_handle = vc.vc_next_gpadl++;
  if (vc.vc_next_gpadl == 0)
    vc.vc_next_gpadl = VMBUS_FIRST_GPADL_HANDLE;
  w->gw_offer = o;
  w->gw_relid = o->or_relid;
  w->gw_creating = true;
  bool header_sent = false;
  int rc =
      vc_gpadl_send(o->or_relid, w->gw_handle, pfns, npfn, byte_offset, byte_count, &header_sent);
  struct vc_gpadl_cond cond = {w, false};
  if (rc != 0 && header_sent) {
    /* A GPADL_BODY never left: the host holds the header's PFNs, and no
     * teardown can name a GPADL it never completed. As below: leak them. */
    pr_err("vmbus: gpadl %#x cut short after its header: its pages stay with the host\n",
           w->gw_handle);
    vc.vc_stats.vs_gpadls_unanswered++;
    rc = -ETIMEDOUT;
  } else if (rc == 0 && ev_wait(vc_gpadl_done, &cond, vc_wait_ms(KMCL_BUS_GPADL_WAIT_MS)) != 0) {
    /* The host holds the PFNs and may have mapped them: -ETIMEDOUT tells
     * KMCL the pages must be leaked, never reused (kmcl/bus.h, 2.4 F1). */
    pr_err("vmbus: no GPADL_CREATED for gpadl %#x within %u ms: its pages stay with the host\n",
           w->gw_handle, vc_wait_ms(KMCL_BUS_GPADL_WAIT_MS));
    vc.vc_stats.vs_gpadls_unanswered++;
    rc = -ETIMEDOUT;
  } else if (rc == 0 && o->or_rescinded) {
    rc = -ENODEV;
  } else if (rc == 0 && w->gw_status != 0) {
    pr_err("vmbus: host refused gpadl %#x (%u pages): status %#x\n", w->gw_handle, npfn,
           w->gw_status);
    rc = -EIO;
  }
  if (rc == 0) {
    *handle = w->gw_handle;
    vc.vc_stats.vs_gpadls++;
    w->gw_created = false; /* keep the slot for the teardown wait */
    w->gw_creating = false;
    return 0;
  }
  memset(w, 0, sizeof(*w));
  return rc;
}

static int vc_gpadl_teardown(struct kmcl_bus *bus, VMBCHANNEL ch, uint32_t handle) {
  (void)bus;
  (void)ch; /* may be detached already: the GPADL names its relid itself */
  struct vmbus_gpadl_wait *w = vc_gpadl_by_handle(handle);
  if (!w)
    return -ENOENT;
  const struct vmbus_offer_rec *o = vc_gpadl_offer(w);
  int rc = 0;
  /* A rescinded relid gets no teardown: the host ignores it (Linux skips). */
  if (o && !o->or_rescinded) {
    struct vmbus_msg_gpadl_teardown m;
    memset(&m, 0, sizeof(m));
    m.hdr.msgtype = VMBUS_MSG_GPADL_TEARDOWN;
    m.child_relid = w->gw_relid;
    m.gpadl = handle;
    w->gw_torn = false;
    w->gw_tearing = true;
    rc = vc_post(&m, sizeof(m));
    struct vc_gpadl_cond cond = {w, true};
    if (rc == 0 && ev_wait(vc_gpadl_done, &cond, vc_wait_ms(KMCL_BUS_GPADL_WAIT_MS)) != 0) {
      pr_err("vmbus: no GPADL_TORNDOWN for gpadl %#x within %u ms: its pages stay with the "
             "host\n",
             handle, vc_wait_ms(KMCL_BUS_GPADL_WAIT_MS));
      rc = -ETIMEDOUT;
    } else if (rc) {
      rc = -ETIMEDOUT; /* the request never left: the host still maps the pages */
    }
    if (rc)
      vc.vc_stats.vs_gpadls_unanswered++;
  }
  memset(w, 0, sizeof(*w));
  return rc;
}

static int vc_open(struct kmcl_bus *bus, VMBCHANNEL ch, const struct kmcl_bus_open *req) {
  (void)bus;
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o)
    return -EINVAL;
  if (o->or_rescinded)
    return -ENODEV;
  struct vmbus_msg_open_channel m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_OPENCHANNEL;
  m.child_relid = o->or_relid;
  m.openid = o->or_relid; /* as Linux */
  m.ringbuffer_gpadlhandle = req->bp_ring_gpadl;
  m.target_vp = hv_vcpu_self()->hv_vp_index;
  m.downstream_ringbuffer_pageoffset = req->bp_downstream_offset;
  o->or_open_sent = true;
  int rc = vc_post(&m, VMBUS_OPEN_CHANNEL_SIZE);
  if (rc)
    o->or_open_sent = false;
  return rc;
}

static void vc_close(struct kmcl_bus *bus, VMBCHANNEL ch) {
  (void)bus;
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o)
    return;
  o->or_open_sent = false;
  kmcl_upq_forget(&vc.vc_upq, ch, 1u << KMCL_UP_OPEN_RESULT);
  if (o->or_rescinded)
    return;
  struct vmbus_msg_relid m;
  memset(&m, 0, sizeof(m));
  m.hdr.msgtype = VMBUS_MSG_CLOSECHANNEL;
  m.child_relid = o->or_relid;
  vc_post(&m, sizeof(m));
}

static int vc_set_latency(struct kmcl_bus *bus, VMBCHANNEL ch, uint16_t latency, uint16_t *old) {
  (void)bus;
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o || !(o->or_msg.monitor_allocated & 1))
    return -ENOTSUP;
  unsigned id = o->or_msg.monitorid;
  if (id >= 128)
    return -EINVAL;
  volatile uint16_t *lat = &vc.vc_monitor2->latency[id / 32][id % 32];
  *old = *lat;
  *lat = latency;
  return 0;
}

/* Kick the host for this channel (PROTOCOL-REFERENCE 2.7). Monitored: the
 * interrupt-page bit and the monitor pending bit, no hypercall (the host
 * polls). Otherwise the interrupt-page bit unless the offer has a dedicated
 * interrupt, then HvSignalEvent on the offer's connection id. */
static void vc_signal(struct kmcl_bus *bus, VMBCHANNEL ch) {
  (void)bus;
  struct vmbus_offer_rec *o = vc_offer_of(ch);
  if (!o || o->or_rescinded)
    return;
  uint32_t relid = o->or_relid;
  volatile uint64_t *send = (volatile uint64_t *)(vc.vc_int_page + VMBUS_INT_PAGE_SEND_OFFSET);
  bool int_page = vc.vc_version < VMBUS_VERSION_WIN10_V5 && relid < VMBUS_MAX_RELID_INT_PAGE;
  if ((o->or_msg.monitor_allocated & 1) && o->or_msg.monitorid < 128) {
    unsigned id = o->or_msg.monitorid;
    if (int_page)
      __atomic_fetch_or(&send[relid / 64], 1ull << (relid % 64), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&vc.vc_monitor2->trigger_group[id / 32].pending, 1u << (id % 32),
                      __ATOMIC_SEQ_CST);
    vc.vc_stats.vs_signal_monitor++;
    return;
  }
  if (int_page && !(o->or_msg.is_dedicated_interrupt & 1))
    __atomic_fetch_or(&send[relid / 64], 1ull << (relid % 64), __ATOMIC_SEQ_CST);
  int rc = hv_signal_event(o->or_msg.connection_id, 0);
  vc.vc_stats.vs_signal_hypercall++;
  if (rc && log_ratelimit_ok(&vc_rl))
    pr_warn("vmbus: HvSignalEvent(%u) for relid %u: %s\n", o->or_msg.connection_id, relid,
            hv_strerror(rc));
}

static const struct kmcl_bus_ops vc_ops = {
    .attach = vc_attach,
    .detach = vc_detach,
    .gpadl_create = vc_gpadl_create,
    .gpadl_teardown = vc_gpadl_teardown,
    .open = vc_open,
    .close = vc_close,
    .set_latency = vc_set_latency,
    .signal = vc_signal,
};
