/* tests/unit/lib/kmcl_harness.c: recording KMCL endpoints over the loopback bus. */
#include "tests/unit/lib/kmcl_harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/inproc_hw.h"
#include "kernel/event.h"
#include "kernel/page.h"
#include "tests/unit/unit.h"

const GUID kh_type = {0x12345678, 0x1111, 0x2222, {1, 2, 3, 4, 5, 6, 7, 8}};
const GUID kh_instance = {0xabcdef01, 0x3333, 0x4444, {8, 7, 6, 5, 4, 3, 2, 1}};

static char kh_logv[KH_LOG_MAX][32];
static unsigned kh_logn;
static char kh_logs[KH_LOG_MAX * 33];
static struct sim_counts kh_base;
static bool kh_arena;

void kh_log_reset(void) { kh_logn = 0; }

void kh_log(const char *fmt, ...) {
  if (kh_logn >= KH_LOG_MAX)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(kh_logv[kh_logn++], sizeof(kh_logv[0]), fmt, ap);
  va_end(ap);
}

unsigned kh_log_len(void) { return kh_logn; }

const char *kh_log_tag(char tag, unsigned from) {
  kh_logs[0] = '\0';
  for (unsigned i = from; i < kh_logn; i++) {
    if (kh_logv[i][0] != tag)
      continue;
    if (kh_logs[0])
      strcat(kh_logs, " ");
    strcat(kh_logs, kh_logv[i]);
  }
  return kh_logs;
}

const char *kh_log_str(unsigned from) {
  kh_logs[0] = '\0';
  for (unsigned i = from; i < kh_logn; i++) {
    if (i > from)
      strcat(kh_logs, " ");
    strcat(kh_logs, kh_logv[i]);
  }
  return kh_logs;
}

void kh_setup(void) {
  if (!kh_arena) {
    if (inproc_mem_setup(64u << 20))
      abort();
    kh_arena = true;
  }
  lb_pump();
  kh_log_reset();
  sim_counts_take(&kh_base);
}

bool kh_no_leaks(void) {
  lb_pump();
  return sim_counts_check(&kh_base, true, true, "kmcl harness") == 0;
}

/* ---- callbacks ---------------------------------------------------------------- */

static struct kh_end *kh_end_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static NTSTATUS kh_opened(VMBCHANNEL ch) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:Opened", e->tag);
  if (NT_SUCCESS(e->opened_status))
    e->open = true;
  return e->opened_status;
}

static void kh_closed(VMBCHANNEL ch) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:Closed", e->tag);
  e->open = false;
}

static void kh_suspend(VMBCHANNEL ch) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:Suspend", e->tag);
  e->started = false;
  /* Suspend obliges us to complete what we hold (reference 2.8). */
  if (e->hold)
    kh_log("%c:holding%u", e->tag, e->nheld);
}

static void kh_started(VMBCHANNEL ch) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:Started", e->tag);
}

static void kh_post_started(VMBCHANNEL ch) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:PostStarted", e->tag);
  e->started = true;
}

static void kh_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                       UINT32 flags) {
  struct kh_end *e = kh_end_of(ch);
  if (e->defer_once && !ev_at_passive()) {
    e->defer_once = false;
    VmbChannelPacketDeferToPassive(pkt);
    return;
  }
  if (e->fail_next) {
    e->fail_next = false;
    VmbChannelPacketFail(pkt);
    return;
  }
  e->rx_at_passive = ev_at_passive();
  if (e->rx_at_passive)
    e->rx_passive_seen = true;
  if (e->rx_count < KH_ORDER_MAX)
    e->rx_order[e->rx_count] = len ? *(const uint8_t *)buf : 0;
  e->rx_count++;
  e->rx_last_len = len;
  e->rx_last_flags = flags;
  memcpy(e->rx_last, buf, len < KH_BUF ? len : KH_BUF);
  for (uint32_t i = 0; i < len; i++)
    e->rx_sum += ((const uint8_t *)buf)[i];
  if (e->get_ext && (flags & VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA)) {
    PMDL m = NULL;
    if (VmbChannelPacketGetExternalData(pkt, 0, &m) == STATUS_SUCCESS && m) {
      e->rx_ext_bytes = 0;
      e->rx_ext_nmdl = 0;
      for (PMDL x = m; x; x = x->Next) {
        e->rx_ext_bytes += x->ByteCount;
        e->rx_ext_nmdl++;
      }
      e->rx_ext_off0 = m->ByteOffset;
      e->rx_ext_pages0 = kmcl_mdl_page_count(m);
      e->rx_ext_cnt1 = m->Next ? m->Next->ByteCount : 0;
      const uint8_t *p = kmcl_mdl_map(ch, m, 0, 1);
      e->rx_ext_first = p ? *p : 0;
    }
  }
  if (e->hold) {
    if (e->nheld < KH_MAX_HELD)
      e->held[e->nheld++] = pkt;
    return;
  }
  VmbChannelPacketComplete(pkt, buf, len); /* echo */
}

static void kh_proc_done(VMBCHANNEL ch, UINT32 n) {
  struct kh_end *e = kh_end_of(ch);
  e->proc_done_calls++;
  e->proc_done_total += n;
}

static void kh_pnp_fail(VMBCHANNEL ch, NTSTATUS st) {
  struct kh_end *e = kh_end_of(ch);
  kh_log("%c:PnpFailure", e->tag);
  e->pnp_status = st;
  e->pnp_calls++;
}

/* Process-packet callback that completes every packet at once with no
 * response (kh_server_channel). */
static void kh_complete_at_once(VMBCHANNEL ch, VMBPACKETCOMPLETION t, PVOID buf, UINT32 len,
                                UINT32 flags) {
  (void)ch;
  (void)buf;
  (void)len;
  (void)flags;
  VmbChannelPacketComplete(t, NULL, 0);
}

VMBCHANNEL kh_server_channel(PDEVICE_OBJECT dev, GUID type, uint32_t data1) {
  VMBCHANNEL ch = NULL;
  assert_int_equal(VmbChannelAllocate(dev, TRUE, &ch), STATUS_SUCCESS);
  GUID inst = type;
  inst.Data1 = data1;
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(ch, kh_complete_at_once, NULL),
                   STATUS_SUCCESS);
  assert_int_equal(VmbServerChannelInitSetTargetInterfaceId(ch, type, inst), STATUS_SUCCESS);
  return ch;
}

void kh_comp_free(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  struct kh_end *e = VmbPacketGetPointer(pkt);
  e->comp_count++;
  e->comp_status = st;
  if (st == STATUS_CANCELLED)
    e->comp_cancelled++;
  e->comp_len = len;
  if (buf && len)
    memcpy(e->comp_buf, buf, len < KH_BUF ? len : KH_BUF);
  VmbPacketFree(pkt);
}

/* ---- pairs -------------------------------------------------------------------- */

VMBCHANNEL kh_alloc(struct kh_pair *p, struct kh_end *e, bool server) {
  VMBCHANNEL ch = NULL;
  memset(e, 0, sizeof(*e));
  e->server = server;
  e->tag = server ? 'S' : 'C';
  if (VmbChannelAllocate(lb_device(p->lb), server, &ch) != STATUS_SUCCESS)
    return NULL;
  e->ch = ch;
  VmbChannelSetPointer(ch, e);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = kh_opened;
  cb.EvtChannelClosed = kh_closed;
  cb.EvtChannelSuspend = kh_suspend;
  cb.EvtChannelStarted = kh_started;
  cb.EvtChannelPostStarted = kh_post_started;
  VmbChannelInitSetStateChangeCallbacks(ch, &cb);
  VmbChannelInitSetProcessPacketCallbacks(ch, kh_process, kh_proc_done);
  if (server)
    VmbServerChannelInitSetTargetInterfaceId(ch, kh_type, kh_instance);
  else
    VmbClientChannelInitSetTargetPnp(ch, &kh_type, NULL, kh_pnp_fail);
  return ch;
}

void kh_pair_alloc(struct kh_pair *p) {
  memset(p, 0, sizeof(*p));
  p->lb = lb_create(7);
  kh_alloc(p, &p->s, true);
  kh_alloc(p, &p->c, false);
}

bool kh_pair_started(void *arg) {
  struct kh_pair *p = arg;
  return p->s.started && p->c.started;
}

bool kh_pair_start(struct kh_pair *p) {
  if (VmbChannelEnable(p->s.ch) != STATUS_SUCCESS)
    return false;
  VmbChannelStart(p->s.ch);
  if (VmbChannelEnable(p->c.ch) != STATUS_SUCCESS)
    return false;
  return kh_wait(kh_pair_started, p, 2000);
}

bool kh_pair_open(struct kh_pair *p) {
  kh_pair_alloc(p);
  return kh_pair_start(p);
}

void kh_pair_close(struct kh_pair *p) {
  if (p->c.ch) {
    kh_complete_held(&p->c);
    VmbChannelDisable(p->c.ch);
  }
  lb_pump();
  if (p->s.ch) {
    kh_complete_held(&p->s);
    VmbChannelDisable(p->s.ch);
  }
  lb_pump();
  if (p->c.ch)
    VmbChannelCleanup(p->c.ch);
  if (p->s.ch)
    VmbChannelCleanup(p->s.ch);
  p->c.ch = p->s.ch = NULL;
  lb_pump();
  lb_destroy(p->lb);
  p->lb = NULL;
}

void kh_pair_done(struct kh_pair *p) {
  kh_pair_close(p);
  assert_true(kh_no_leaks());
}

void kh_pair_small_rings(struct kh_pair *p, uint32_t client_max, uint32_t pages,
                         uint32_t server_max) {
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(p->c.ch, client_max), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(p->c.ch, 4096, 1), STATUS_SUCCESS);
  assert_int_equal(VmbClientChannelInitSetRingBufferPageCount(p->c.ch, pages, pages),
                   STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(p->s.ch, server_max), STATUS_SUCCESS);
}

void kh_pair_enable(struct kh_pair *p, bool start_server) {
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  if (start_server)
    VmbChannelStart(p->s.ch);
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  lb_pump();
}

static struct kh_pair kh_fixture_pair;

int kh_fixture_open(void **state) {
  kh_setup();
  *state = &kh_fixture_pair;
  return kh_pair_open(&kh_fixture_pair) ? 0 : -1;
}

int kh_fixture_alloc(void **state) {
  kh_setup();
  kh_pair_alloc(&kh_fixture_pair);
  *state = &kh_fixture_pair;
  return 0;
}

int kh_fixture_done(void **state) {
  kh_pair_done(*state);
  return 0;
}

NTSTATUS kh_send(struct kh_end *e, const void *buf, uint32_t len, uint32_t flags) {
  VMBPACKET pkt = VmbPacketAllocate(e->ch);
  if (!pkt)
    return STATUS_INSUFFICIENT_RESOURCES;
  VmbPacketSetPointer(pkt, e);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  NTSTATUS st = VmbPacketSend(pkt, (void *)(uintptr_t)buf, len, NULL, flags);
  if (!NT_SUCCESS(st))
    VmbPacketFree(pkt);
  return st;
}

void kh_held_requests(struct kh_pair *p, const void *buf, uint32_t len, uint32_t n) {
  uint32_t rx = p->s.rx_count;
  p->s.hold = true;
  for (uint32_t i = 0; i < n; i++)
    assert_int_equal(kh_send(&p->c, buf, len, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                     STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, rx + n));
}

void kh_complete_held(struct kh_end *e) {
  uint32_t n = e->nheld;
  e->nheld = 0;
  static const uint8_t resp[16] = {0xc0, 0xc1, 0xc2, 0xc3};
  for (uint32_t i = 0; i < n; i++)
    VmbChannelPacketComplete(e->held[i], (void *)(uintptr_t)resp, sizeof(resp));
}

bool kh_wait(bool (*cond)(void *), void *arg, uint64_t ms) { return lb_run_until(cond, arg, ms); }

struct kh_cnt {
  const uint32_t *v;
  uint32_t n;
};
static bool kh_cnt_ok(void *arg) {
  struct kh_cnt *c = arg;
  return *c->v >= c->n;
}

bool kh_wait_rx(struct kh_end *e, uint32_t n) {
  struct kh_cnt c = {&e->rx_count, n};
  return kh_wait(kh_cnt_ok, &c, 2000);
}

bool kh_wait_comp(struct kh_end *e, uint32_t n) {
  struct kh_cnt c = {&e->comp_count, n};
  return kh_wait(kh_cnt_ok, &c, 2000);
}

/* ---- the NIC over the loopback bus ---------------------------------------------- */

void kh_nic_host(struct kh_nic *k, uint32_t id, const struct netvsp_config *hc,
                 const struct netvsp_backend *be) {
  kh_setup();
  k->lb = lb_create(id);
  assert_non_null(k->lb);
  assert_int_equal(sim_nic_host(&k->n, lb_device(k->lb), hc, be), 0);
}

void kh_nic_guest(struct kh_nic *k, const struct netvsc_config *gc, bool net) {
  assert_int_equal(sim_nic_guest(&k->n, lb_device(k->lb), gc), 0);
  if (net)
    assert_int_equal(sim_nic_net(&k->n, NULL), 0);
  lb_pump();
}

void kh_nic_up(struct kh_nic *k, uint32_t id, const struct netvsp_config *hc) {
  kh_nic_host(k, id, hc, NULL);
  kh_nic_guest(k, NULL, true);
}

void kh_nic_down(struct kh_nic *k) {
  sim_nic_down(&k->n);
  lb_pump();
  lb_destroy(k->lb);
  assert_true(kh_no_leaks());
}
