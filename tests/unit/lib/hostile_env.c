/* tests/unit/lib/hostile_env.c: see hostile_env.h. */
#include "tests/unit/lib/hostile_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/inproc_hw.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "tests/unit/unit.h"

void henv_up(struct sim *h, uint32_t cap, unsigned necho) {
  assert_true(necho <= SIM_MAX_ECHO);
  struct sim_config cfg = {
      .sc_srv = {.vc_max_version = cap, .vc_trace = getenv("HOSTILE_TRACE") != NULL},
      .sc_echo = necho,
      .sc_echo_tag = 0x5000};
  assert_int_equal(sim_start(h, &cfg, SIM_HV), 0);
}

int henv_connect(struct sim *h, uint32_t wait_ms) {
  struct vmbus_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.vo_wait_ms = wait_ms;
  return sim_connect(h, &opt);
}

void henv_down(struct sim *h) { assert_int_equal(sim_down(h, SIM_OFF), 0); }

void henv_fault(struct sim *h, bool to_guest, uint32_t msgtype, uint32_t nth,
                enum vmbsrv_fault_action action, uint32_t arg) {
  struct vmbsrv_fault f = {.fa_to_guest = to_guest,
                           .fa_msgtype = msgtype,
                           .fa_nth = nth,
                           .fa_action = action,
                           .fa_arg = arg};
  assert_int_equal(vmbsrv_add_fault(h->s_srv, &f), 0);
}

/* ---- SynIC ------------------------------------------------------------------ */

void henv_slot_raw(struct sim *h, uint32_t message_type, uint32_t payload_size, uint8_t flags,
                   const void *payload, uint32_t len) {
  sim_settle(); /* the emulator's own message, if any, is taken first */
  struct hv_vcpu *v = hv_vcpu_self();
  struct hv_message *slot = &v->hv_simp->sint_message[HV_VMBUS_SINT];
  memset(slot, 0, sizeof(*slot));
  if (len > sizeof(slot->payload))
    len = sizeof(slot->payload);
  if (len)
    memcpy(slot->payload, payload, len);
  slot->header.payload_size = (uint8_t)payload_size;
  slot->header.message_flags = flags;
  slot->header.message_type = message_type;
  part_inject(&h->s_part, 0, HV_SINT_VECTOR);
  sim_settle();
}

void henv_slot_msg(struct sim *h, const void *msg, uint32_t size) {
  henv_slot_raw(h, HVMSG_VMBUS, size, 0, msg, size);
}

void henv_event_bit(struct sim *h, uint32_t bit) {
  struct hv_vcpu *v = hv_vcpu_self();
  volatile uint64_t *flags = v->hv_siefp->sint_flags[HV_VMBUS_SINT];
  flags[(bit / 64) % (HV_EVENT_FLAGS_COUNT / 64)] |= 1ull << (bit % 64);
  part_inject(&h->s_part, 0, HV_SINT_VECTOR);
  sim_settle();
}

/* ---- client channel ------------------------------------------------------------ */

static NTSTATUS hc_opened(VMBCHANNEL ch) {
  ((struct hclient *)VmbChannelGetPointer(ch))->opened = true;
  return STATUS_SUCCESS;
}
static VOID hc_closed(VMBCHANNEL ch) {
  ((struct hclient *)VmbChannelGetPointer(ch))->closed = true;
}
static VOID hc_started(VMBCHANNEL ch) {
  ((struct hclient *)VmbChannelGetPointer(ch))->started = true;
}
static VOID hc_pnp_failure(VMBCHANNEL ch, NTSTATUS st) {
  (void)st;
  ((struct hclient *)VmbChannelGetPointer(ch))->pnp_failed = true;
}
static VOID hc_process(VMBCHANNEL ch, VMBPACKETCOMPLETION p, PVOID buf, UINT32 len, UINT32 fl) {
  (void)fl;
  struct hclient *c = VmbChannelGetPointer(ch);
  uint32_t i = c->rx % HCL_MAX_SEEN;
  c->rx_len[i] = len;
  c->rx_buf[i] = buf;
  memset(c->rx_first[i], 0, 8);
  memcpy(c->rx_first[i], buf, len < 8 ? len : 8);
  c->rx++;
  if (c->on_rx)
    c->on_rx(c, buf, len);
  VmbChannelPacketComplete(p, NULL, 0);
}

struct hc_sent {
  struct hclient *c;
  uint8_t payload[64];
  uint32_t len;
};

static VOID hc_done(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  struct hc_sent *s = VmbPacketGetPointer(pkt);
  if (st == STATUS_SUCCESS) {
    s->c->completions++;
    if (len < s->len || len - s->len >= 8 || memcmp(buf, s->payload, s->len))
      s->c->mismatches++;
  }
  VmbPacketFree(pkt);
  free(s);
}

/* Started, or failed for good (PnpFailure): either ends the wait. */
static bool hc_is_started(void *arg) {
  const struct hclient *c = arg;
  return c->started || c->pnp_failed;
}

uint32_t hclient_next_max_incoming;

static bool hclient_open_inst(struct hclient *c, const GUID *inst, uint32_t timeout_ms) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(VmbChannelAllocate(vmbus_device(), FALSE, &c->ch), STATUS_SUCCESS);
  VmbChannelSetPointer(c->ch, c);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = hc_opened;
  cb.EvtChannelClosed = hc_closed;
  cb.EvtChannelPostStarted = hc_started;
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c->ch, &cb), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(c->ch, hc_process, NULL),
                   STATUS_SUCCESS);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(c->ch, &echo_dev_type, inst, hc_pnp_failure),
                   STATUS_SUCCESS);
  if (hclient_next_max_incoming)
    assert_int_equal(kmcl_channel_init_set_max_incoming(c->ch, hclient_next_max_incoming),
                     STATUS_SUCCESS);
  hclient_next_max_incoming = 0;
  assert_int_equal(VmbChannelEnable(c->ch), STATUS_SUCCESS);
  ev_wait(hc_is_started, c, timeout_ms);
  return c->started;
}

bool hclient_open(struct hclient *c, uint32_t timeout_ms) {
  return hclient_open_inst(c, NULL, timeout_ms);
}

bool hclient_open_echo(struct hclient *c, struct sim *h, unsigned echo, uint32_t timeout_ms) {
  assert_true(echo < h->s_cfg.sc_echo);
  const struct kmcl_channel *sch = (const struct kmcl_channel *)echo_dev_channel(h->s_echo[echo]);
  return hclient_open_inst(c, &sch->ch_instance, timeout_ms);
}

struct hc_want {
  struct hclient *c;
  uint32_t n;
};
static bool hc_enough(void *arg) {
  const struct hc_want *w = arg;
  return w->c->completions >= w->n;
}

uint32_t hclient_round_trip(struct hclient *c, uint32_t n, uint32_t timeout_ms) {
  uint32_t base = c->completions;
  for (uint32_t i = 0; i < n; i++) {
    struct hc_sent *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->c = c;
    s->len = 8 + i % 56;
    for (uint32_t b = 0; b < s->len; b++)
      s->payload[b] = (uint8_t)(i * 7 + b);
    VMBPACKET pkt = VmbPacketAllocate(c->ch);
    assert_non_null(pkt);
    VmbPacketSetPointer(pkt, s);
    VmbPacketSetCompletionRoutine(pkt, hc_done);
    NTSTATUS st =
        VmbPacketSend(pkt, s->payload, s->len, NULL, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
    if (st != STATUS_SUCCESS) {
      VmbPacketFree(pkt);
      free(s);
      break;
    }
    if (i % 32 == 31) {
      struct hc_want w = {c, base + i + 1};
      ev_wait(hc_enough, &w, 1);
    }
  }
  struct hc_want w = {c, base + n};
  ev_wait(hc_enough, &w, timeout_ms);
  return c->completions - base;
}

void hclient_close(struct hclient *c) {
  if (!c->ch)
    return;
  VmbChannelDisable(c->ch);
  VmbChannelCleanup(c->ch);
  c->ch = NULL;
  sim_settle();
}

uint32_t hclient_relid(struct sim *h, const struct hclient *c) {
  (void)c;
  for (unsigned i = 0; i < h->s_cfg.sc_echo; i++) {
    uint32_t relid = vmbsrv_relid_of(h->s_srv, echo_dev_channel(h->s_echo[i]));
    if (relid && vmbsrv_channel_open(h->s_srv, relid) && echo_dev_is_open(h->s_echo[i]))
      return relid; /* the first open one: tests open one at a time */
  }
  return 0;
}

/* ---- raw ring bytes ------------------------------------------------------------- */

static struct ring *hring_in(struct hclient *c) { return &((struct kmcl_channel *)c->ch)->ch_in; }

void hring_signal(struct sim *h, struct hclient *c) {
  /* The relid the host gave this channel: the offer record knows it. */
  uint32_t relid = ((struct kmcl_channel *)c->ch)->ch_offer.bo_relid;
  hvemu_signal_event(h->s_emu, HV_VMBUS_SINT, relid);
  sim_settle();
}

void hring_inject(struct sim *h, struct hclient *c, const void *pkt, uint32_t len,
                  uint64_t trailer) {
  struct ring *r = hring_in(c);
  uint32_t size = r->r_size;
  uint32_t wr = r->r_ctl->write_index;
  assert_true(wr < size && len % 8 == 0 && len + 8 < size);
  const uint8_t *src = pkt;
  for (uint32_t i = 0; i < len; i++)
    r->r_data[(wr + i) % size] = src[i];
  for (uint32_t i = 0; i < 8; i++)
    r->r_data[(wr + len + i) % size] = (uint8_t)(trailer >> (8 * i));
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  r->r_ctl->write_index = (wr + len + 8) % size;
  hring_signal(h, c);
}

void hring_set_write_index(struct sim *h, struct hclient *c, uint32_t wr) {
  hring_in(c)->r_ctl->write_index = wr;
  hring_signal(h, c);
}

uint32_t hring_pkt(uint8_t *buf, uint16_t type, uint16_t offset8, uint16_t len8, uint16_t flags,
                   uint64_t tid) {
  struct vmpacket_descriptor d = {type, offset8, len8, flags, tid};
  memcpy(buf, &d, sizeof(d));
  return (uint32_t)len8 * 8u;
}

/* ---- log capture ------------------------------------------------------------------ */

static int log_saved_fd = -1;
static char log_path[64];

void henv_log_begin(void) {
  fflush(stdout);
  snprintf(log_path, sizeof(log_path), "/tmp/hostile-log-%d.txt", (int)getpid());
  int fd = open(log_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  assert_true(fd >= 0);
  log_saved_fd = dup(1);
  dup2(fd, 1);
  close(fd);
}

unsigned henv_log_end(const char *needle) {
  fflush(stdout);
  dup2(log_saved_fd, 1);
  close(log_saved_fd);
  log_saved_fd = -1;
  FILE *f = fopen(log_path, "r");
  assert_non_null(f);
  char line[512];
  unsigned n = 0;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  unlink(log_path);
  return n;
}
