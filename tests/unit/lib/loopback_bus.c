/* tests/unit/lib/loopback_bus.c: both sides of kmcl/bus.h in one process. */
#include "tests/unit/lib/loopback_bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/inproc_hw.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"

struct lb_offer {
  bool o_used;
  VMBCHANNEL o_server; /* NULL once rescinded, or while kept for a restore */
  VMBCHANNEL o_client; /* the client that claimed it */
  struct kmcl_bus_offer o_offer;
  bool o_open_sent; /* client sent OPENCHANNEL */
  bool o_open;      /* server accepted: traffic flows */
  bool o_handover;  /* restored server re-handshaking an open connection */
  bool o_kept;      /* server saved and gone; connection kept */
  bool o_rescinded;
  struct kmcl_bus_open o_req;
  uint16_t o_latency;
};

struct lb_gpadl {
  bool g_used;
  uint32_t g_handle;
  VMBCHANNEL g_owner; /* client channel */
  uint64_t *g_pfns;
  uint32_t g_npfn, g_off, g_count;
  bool g_ro, g_mapped;
};

struct lb_bus {
  struct kmcl_bus lb_kb;
  DEVICE_OBJECT lb_dev;
  struct lb_offer lb_offers[LB_MAX_OFFERS];
  struct lb_gpadl lb_gpadls[LB_MAX_GPADLS];
  VMBCHANNEL lb_waiting[LB_MAX_WAITERS];
  const GUID *lb_wait_type[LB_MAX_WAITERS];
  GUID lb_wait_t[LB_MAX_WAITERS], lb_wait_i[LB_MAX_WAITERS];
  bool lb_wait_has_i[LB_MAX_WAITERS];
  struct kmcl_upq lb_upq; /* up-calls, from its work item */
  uint32_t lb_next_handle, lb_next_relid;
  struct lb_stats lb_st;
  int32_t lb_refuse_open;
  int lb_fail_gpadl;
  bool lb_monitored, lb_drop_signals;
};

static struct lb_bus *lb_of(struct kmcl_bus *b) { return (struct lb_bus *)b; }

/* ---- events (up-calls from kmcl/upcall.c's queue) ---------------------------- */

/** Queue an up-call; a harness out of memory is a test failure. */
static void lb_post(struct lb_bus *lb, enum kmcl_up_type t, VMBCHANNEL ch, const void *arg) {
  if (kmcl_upq_post(&lb->lb_upq, t, ch, arg))
    abort(); /* calloc failed in a test process */
}

/** Forget queued events naming ch (bus.h: no up-call after detach). */
static void lb_drop_events(struct lb_bus *lb, VMBCHANNEL ch) {
  kmcl_upq_forget(&lb->lb_upq, ch, KMCL_UP_ALL);
}

/** Counts open results as they are delivered (lb_stats). */
static bool lb_gate(void *ctx, const struct kmcl_up_event *e) {
  struct lb_bus *lb = ctx;
  if (e->ue_type == KMCL_UP_OPEN_RESULT)
    lb->lb_st.st_open_results++;
  return true;
}

/* ---- lookups ----------------------------------------------------------------- */

static struct lb_offer *lb_offer_of(struct lb_bus *lb, VMBCHANNEL ch) {
  for (int i = 0; i < LB_MAX_OFFERS; i++) {
    struct lb_offer *o = &lb->lb_offers[i];
    if (o->o_used && (o->o_server == ch || o->o_client == ch))
      return o;
  }
  return NULL;
}

static struct lb_gpadl *lb_gpadl_find(struct lb_bus *lb, uint32_t h) {
  for (int i = 0; i < LB_MAX_GPADLS; i++)
    if (lb->lb_gpadls[i].g_used && lb->lb_gpadls[i].g_handle == h)
      return &lb->lb_gpadls[i];
  return NULL;
}

static void lb_offer_maybe_free(struct lb_offer *o) {
  if (!o->o_server && !o->o_client && !o->o_kept)
    memset(o, 0, sizeof(*o));
}

/** Give unclaimed offers to waiting clients. */
static void lb_match(struct lb_bus *lb) {
  for (int w = 0; w < LB_MAX_WAITERS; w++) {
    VMBCHANNEL c = lb->lb_waiting[w];
    if (!c)
      continue;
    for (int i = 0; i < LB_MAX_OFFERS; i++) {
      struct lb_offer *o = &lb->lb_offers[i];
      if (!o->o_used || !o->o_server || o->o_client || o->o_rescinded)
        continue;
      /* The clients here run at VTL 0: an offer for another VTL is not
       * theirs to see (VmbServerChannelInitSetTargetVtl). */
      if (o->o_offer.bo_target_vtl != 0)
        continue;
      if (memcmp(&o->o_offer.bo_type, &lb->lb_wait_t[w], sizeof(GUID)))
        continue;
      if (lb->lb_wait_has_i[w] && memcmp(&o->o_offer.bo_instance, &lb->lb_wait_i[w], sizeof(GUID)))
        continue;
      o->o_client = c;
      lb->lb_waiting[w] = NULL;
      lb_post(lb, KMCL_UP_OFFER, c, &o->o_offer);
      break;
    }
  }
}

/* ---- client-side ops --------------------------------------------------------- */

static int lb_attach(struct kmcl_bus *b, VMBCHANNEL ch, const GUID *type, const GUID *inst) {
  struct lb_bus *lb = lb_of(b);
  if (!type)
    return -EINVAL;
  for (int w = 0; w < LB_MAX_WAITERS; w++)
    if (!lb->lb_waiting[w]) {
      lb->lb_waiting[w] = ch;
      lb->lb_wait_t[w] = *type;
      lb->lb_wait_has_i[w] = inst != NULL;
      if (inst)
        lb->lb_wait_i[w] = *inst;
      lb_match(lb);
      return 0;
    }
  return -ENOMEM;
}

static void lb_detach(struct kmcl_bus *b, VMBCHANNEL ch) {
  struct lb_bus *lb = lb_of(b);
  for (int w = 0; w < LB_MAX_WAITERS; w++)
    if (lb->lb_waiting[w] == ch)
      lb->lb_waiting[w] = NULL;
  struct lb_offer *o = lb_offer_of(lb, ch);
  if (o && o->o_client == ch) {
    o->o_client = NULL;
    o->o_open = o->o_open_sent = false;
    lb_offer_maybe_free(o);
  }
  lb_drop_events(lb, ch);
}

static int lb_gpadl_create(struct kmcl_bus *b, VMBCHANNEL ch, const uint64_t *pfns, uint32_t n,
                           uint32_t off, uint32_t count, bool ro, uint32_t *handle) {
  struct lb_bus *lb = lb_of(b);
  if (lb->lb_fail_gpadl)
    return lb->lb_fail_gpadl;
  if (!n || !pfns || off >= PAGE_SIZE || (uint64_t)off + count > (uint64_t)n * PAGE_SIZE)
    return -EINVAL;
  /* Validate the PFNs like a host: every page must be guest memory. */
  for (uint32_t i = 0; i < n; i++)
    if (!hw_phys_to_virt(pfns[i] << PAGE_SHIFT))
      return -EIO;
  for (int i = 0; i < LB_MAX_GPADLS; i++) {
    struct lb_gpadl *g = &lb->lb_gpadls[i];
    if (g->g_used)
      continue;
    g->g_pfns = malloc(8ull * n);
    if (!g->g_pfns)
      return -ENOMEM;
    memcpy(g->g_pfns, pfns, 8ull * n);
    g->g_used = true;
    g->g_handle = lb->lb_next_handle++;
    g->g_owner = ch;
    g->g_npfn = n;
    g->g_off = off;
    g->g_count = count;
    g->g_ro = ro;
    g->g_mapped = false;
    lb->lb_st.st_gpadls_live++;
    lb->lb_st.st_gpadls_created++;
    *handle = g->g_handle;
    return 0;
  }
  return -ENOMEM;
}

static bool lb_unmapped(void *arg) { return !((struct lb_gpadl *)arg)->g_mapped; }

static int lb_gpadl_teardown(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t h) {
  struct lb_bus *lb = lb_of(b);
  struct lb_gpadl *g = lb_gpadl_find(lb, h);
  if (!g || g->g_owner != ch)
    return -ENOENT;
  int rc = chan_wait(lb_unmapped, g, KMCL_BUS_GPADL_WAIT_MS);
  free(g->g_pfns);
  memset(g, 0, sizeof(*g));
  lb->lb_st.st_gpadls_live--;
  return rc;
}

static int lb_open(struct kmcl_bus *b, VMBCHANNEL ch, const struct kmcl_bus_open *req) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  if (!o || o->o_client != ch)
    return -ENODEV;
  lb->lb_st.st_opens++;
  o->o_req = *req;
  o->o_open_sent = true;
  if (lb->lb_refuse_open || !o->o_server) {
    int32_t st = lb->lb_refuse_open ? lb->lb_refuse_open : -1;
    lb_post(lb, KMCL_UP_OPEN_RESULT, ch, &st);
    return 0;
  }
  lb_post(lb, KMCL_UP_OPEN_REQUEST, o->o_server, &o->o_req);
  return 0;
}

static void lb_close(struct kmcl_bus *b, VMBCHANNEL ch) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  lb->lb_st.st_closes++;
  if (!o || o->o_client != ch)
    return;
  bool was = o->o_open || o->o_open_sent;
  o->o_open = o->o_open_sent = false;
  if (was && o->o_server)
    lb_post(lb, KMCL_UP_CLOSE_REQUEST, o->o_server, NULL);
  if (o->o_kept) { /* nobody left to hand over to */
    o->o_kept = false;
  }
}

static int lb_set_latency(struct kmcl_bus *b, VMBCHANNEL ch, uint16_t lat, uint16_t *old) {
  struct lb_offer *o = lb_offer_of(lb_of(b), ch);
  if (!o || !o->o_offer.bo_monitored)
    return -ENOTSUP;
  *old = o->o_latency;
  o->o_latency = lat;
  return 0;
}

static void lb_signal(struct kmcl_bus *b, VMBCHANNEL ch) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  VMBCHANNEL peer = NULL;
  if (o && o->o_open)
    peer = (o->o_server == ch) ? o->o_client : o->o_server;
  if (!peer || lb->lb_drop_signals) {
    lb->lb_st.st_sig_dropped++;
    return;
  }
  if (peer == o->o_server)
    lb->lb_st.st_sig_to_server++;
  else
    lb->lb_st.st_sig_to_client++;
  kmcl_bus_interrupt(peer); /* queues the peer's DPC */
}

/* ---- server-side ops ----------------------------------------------------------- */

/* The first offer kept across a save for instance `inst`, or NULL. */
static struct lb_offer *lb_kept_offer(struct lb_bus *lb, const GUID *inst) {
  for (int i = 0; i < LB_MAX_OFFERS; i++) {
    struct lb_offer *o = &lb->lb_offers[i];
    if (o->o_used && o->o_kept && !memcmp(&o->o_offer.bo_instance, inst, sizeof(GUID)))
      return o;
  }
  return NULL;
}

static int lb_offer_op(struct kmcl_bus *b, VMBCHANNEL ch, const struct kmcl_bus_offer *offer) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *k = lb_kept_offer(lb, &offer->bo_instance);
  if (offer->bo_restore && k) {
    k->o_server = ch;
    k->o_kept = false;
    if (k->o_open) {
      k->o_handover = true;
      lb_post(lb, KMCL_UP_OPEN_REQUEST, ch, &k->o_req);
    }
    return 0;
  }
  /* A new offer for the instance of a kept connection (FORCE_NEW_CHANNEL):
   * the old connection is rescinded first. */
  for (; k; k = lb_kept_offer(lb, &offer->bo_instance)) {
    k->o_kept = false;
    k->o_rescinded = true;
    k->o_open = false;
    lb->lb_st.st_rescinds++;
    if (k->o_client)
      lb_post(lb, KMCL_UP_RESCINDED, k->o_client, NULL);
    lb_offer_maybe_free(k);
  }
  for (int i = 0; i < LB_MAX_OFFERS; i++) {
    struct lb_offer *o = &lb->lb_offers[i];
    if (o->o_used && (o->o_server || o->o_kept) &&
        !memcmp(&o->o_offer.bo_instance, &offer->bo_instance, sizeof(GUID)))
      return -EEXIST;
  }
  for (int i = 0; i < LB_MAX_OFFERS; i++) {
    struct lb_offer *o = &lb->lb_offers[i];
    if (o->o_used)
      continue;
    memset(o, 0, sizeof(*o));
    o->o_used = true;
    o->o_server = ch;
    o->o_offer = *offer;
    o->o_offer.bo_restore = false;
    o->o_offer.bo_relid = lb->lb_next_relid++;
    o->o_offer.bo_monitored = lb->lb_monitored;
    if (offer->bo_mmio_mb || offer->bo_mmio_mb_optional) {
      o->o_offer.bo_mmio_base = 0xf8000000ull + (uint64_t)i * 0x1000000ull;
      o->o_offer.bo_mmio_size = ((uint64_t)offer->bo_mmio_mb + offer->bo_mmio_mb_optional) << 20;
    }
    lb->lb_st.st_offers++;
    lb_match(lb);
    return 0;
  }
  return -ENOMEM;
}

static void lb_rescind(struct kmcl_bus *b, VMBCHANNEL ch, bool keep) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  lb_drop_events(lb, ch);
  if (!o || o->o_server != ch)
    return;
  o->o_server = NULL;
  o->o_handover = false;
  if (keep && o->o_client && o->o_open) {
    o->o_kept = true; /* the client is not told (save/restore) */
    return;
  }
  lb->lb_st.st_rescinds++;
  o->o_rescinded = true;
  o->o_open = false;
  if (o->o_client)
    lb_post(lb, KMCL_UP_RESCINDED, o->o_client, NULL);
  lb_offer_maybe_free(o);
}

static void lb_open_complete(struct kmcl_bus *b, VMBCHANNEL ch, int32_t status) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  if (!o || o->o_server != ch)
    return;
  if (o->o_handover) {
    o->o_handover = false;
    if (status != 0 && o->o_client) { /* the restored server gave up */
      o->o_open = false;
      lb_post(lb, KMCL_UP_RESCINDED, o->o_client, NULL);
    }
    return;
  }
  if (!o->o_client || !o->o_open_sent)
    return;
  o->o_open = status == 0;
  lb_post(lb, KMCL_UP_OPEN_RESULT, o->o_client, &status);
}

static int lb_gpadl_map(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t h, bool ro,
                        const uint64_t **pfns, uint32_t *n, uint32_t *off, uint32_t *count) {
  struct lb_bus *lb = lb_of(b);
  struct lb_offer *o = lb_offer_of(lb, ch);
  struct lb_gpadl *g = lb_gpadl_find(lb, h);
  if (!o || !g || g->g_owner != o->o_client)
    return -ENOENT;
  if (g->g_mapped)
    return -EBUSY;
  if (!ro && g->g_ro)
    return -EACCES;
  g->g_mapped = true;
  lb->lb_st.st_maps_live++;
  *pfns = g->g_pfns;
  *n = g->g_npfn;
  *off = g->g_off;
  *count = g->g_count;
  return 0;
}

static void lb_gpadl_unmap(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t h) {
  struct lb_bus *lb = lb_of(b);
  (void)ch;
  struct lb_gpadl *g = lb_gpadl_find(lb, h);
  if (g && g->g_mapped) {
    g->g_mapped = false;
    lb->lb_st.st_maps_live--;
  }
}

static void *lb_gpa_ptr(struct kmcl_bus *b, uint64_t gpa, uint64_t len) {
  (void)b;
  uint64_t size = inproc_mem_size();
  if (gpa < INPROC_GPA_BASE || len > size || gpa - INPROC_GPA_BASE > size - len)
    return NULL;
  return (uint8_t *)inproc_mem_base() + (gpa - INPROC_GPA_BASE);
}

static const struct kmcl_bus_ops lb_ops = {
    .attach = lb_attach,
    .detach = lb_detach,
    .gpadl_create = lb_gpadl_create,
    .gpadl_teardown = lb_gpadl_teardown,
    .open = lb_open,
    .close = lb_close,
    .set_latency = lb_set_latency,
    .signal = lb_signal,
    .offer = lb_offer_op,
    .rescind = lb_rescind,
    .open_complete = lb_open_complete,
    .gpadl_map = lb_gpadl_map,
    .gpadl_unmap = lb_gpadl_unmap,
    .gpa_ptr = lb_gpa_ptr,
};

/* ---- public ------------------------------------------------------------------- */

struct lb_bus *lb_create(uint32_t instance_id) {
  struct lb_bus *lb = calloc(1, sizeof(*lb));
  if (!lb)
    abort();
  lb->lb_kb.kb_ops = &lb_ops;
  lb->lb_kb.kb_instance_id = instance_id;
  lb->lb_dev.do_bus = &lb->lb_kb;
  lb->lb_dev.do_context = lb;
  lb->lb_next_handle = 0xe1e10;
  lb->lb_next_relid = 1;
  kmcl_upq_init(&lb->lb_upq, lb_gate, lb);
  kmcl_bus_register(&lb->lb_kb);
  return lb;
}

void lb_destroy(struct lb_bus *lb) {
  if (!lb)
    return;
  kmcl_upq_fini(&lb->lb_upq);
  kmcl_bus_unregister(&lb->lb_kb);
  for (int i = 0; i < LB_MAX_GPADLS; i++)
    free(lb->lb_gpadls[i].g_pfns);
  free(lb);
}

PDEVICE_OBJECT lb_device(struct lb_bus *lb) { return &lb->lb_dev; }
struct kmcl_bus *lb_kbus(struct lb_bus *lb) {
  return &lb->lb_kb;
}
const struct lb_stats *lb_stats(const struct lb_bus *lb) { return &lb->lb_st; }
void lb_set_refuse_open(struct lb_bus *lb, int32_t status) { lb->lb_refuse_open = status; }
void lb_set_fail_gpadl(struct lb_bus *lb, int err) { lb->lb_fail_gpadl = err; }
void lb_set_monitored(struct lb_bus *lb, bool on) { lb->lb_monitored = on; }
void lb_set_drop_signals(struct lb_bus *lb, bool on) { lb->lb_drop_signals = on; }

void lb_host_rescind(struct lb_bus *lb, VMBCHANNEL client) {
  struct lb_offer *o = lb_offer_of(lb, client);
  if (!o || o->o_client != client)
    return;
  lb->lb_st.st_rescinds++;
  o->o_rescinded = true;
  if (o->o_open && o->o_server)
    lb_post(lb, KMCL_UP_CLOSE_REQUEST, o->o_server, NULL); /* the device side sees the close */
  o->o_open = false;
  lb_post(lb, KMCL_UP_RESCINDED, client, NULL);
}

void lb_pump(void) {
  for (int i = 0; i < 100000 && ev_run_pending(); i++)
    ;
}

bool lb_run_until(bool (*cond)(void *), void *arg, uint64_t timeout_ms) {
  return chan_wait(cond, arg, timeout_ms) == 0;
}
