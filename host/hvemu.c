/* host/hvemu.c: CPUID, synthetic MSRs, hypercalls and the SynIC, emulated. */
#include "host/hvemu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/log.h"

#define HVEMU_MAX_POLLERS 4
#define HVEMU_PAGE 4096u
#define HVEMU_GPA_MASK (~0xfffull)

/* Hypervisor version reported in 0x40000002: build 20348 (WS2022), 10.0. */
#define HVEMU_BUILD 20348u
#define HVEMU_VERSION_MAJOR 10u
#define HVEMU_VERSION_MINOR 0u

/* A connection the host listens on (the TLFS's message and event ports):
 * c_post takes the guest's HvPostMessage on a message connection,
 * c_signal its HvSignalEvent on an event connection. A slot with neither
 * is free. */
struct hvemu_conn {
  uint32_t c_conn_id;
  hvemu_port_fn *c_post;
  hvemu_event_fn *c_signal;
  void *c_ctx;
};

/* A table of connections (one per kind): cs_max slots, the used ones all
 * below cs_n, so a lookup on the hypercall path scans only that far. */
struct hvemu_conns {
  struct hvemu_conn *cs_slot;
  unsigned cs_max, cs_n;
};

struct hvemu_poller {
  hvemu_poll_fn *pl_fn;
  void *pl_ctx;
};

/** A guest post copied out at the hypercall. */
struct hvemu_rx {
  uint32_t rx_conn_id;
  uint32_t rx_type;
  uint32_t rx_size;
  uint8_t rx_payload[HV_MESSAGE_PAYLOAD_MAX];
};

struct hvemu_sintq {
  struct hv_message sq_msg[HVEMU_SINT_QUEUE];
  unsigned sq_head, sq_n;
};

struct hvemu {
  struct partition *hv_part;
  struct hvemu_config hv_cfg;
  uint64_t hv_start_ns;
  /* synthetic MSRs */
  uint64_t hv_guest_os_id;
  uint64_t hv_hypercall;
  uint64_t hv_scontrol;
  uint64_t hv_simp;
  uint64_t hv_siefp;
  uint64_t hv_sint[HV_SINT_COUNT];
  bool hv_aeoi_warned;
  /* host -> guest */
  struct hvemu_sintq hv_q[HV_SINT_COUNT];
  /* guest -> host */
  struct hvemu_rx hv_rxq[HVEMU_RXQ];
  unsigned hv_rx_head, hv_rx_n;
  struct ev_item hv_rx_work;
  struct hvemu_conns hv_ports, hv_events; /* message and event connections */
  struct hvemu_conn hv_port_slots[HVEMU_MAX_PORTS];
  struct hvemu_conn hv_event_slots[HVEMU_MAX_EVENTS];
  struct hvemu_poller hv_pollers[HVEMU_MAX_POLLERS];
  /* faults */
  unsigned hv_pass_posts; /* delivered before hv_fail_posts start */
  unsigned hv_fail_posts;
  uint16_t hv_fail_status;
  struct hvemu_stats hv_st;
  struct log_ratelimit hv_rl;
};

static void hvemu_rx_work(void *arg);

struct hvemu *hvemu_create(struct partition *p, const struct hvemu_config *cfg) {
  struct hvemu *hv = calloc(1, sizeof(*hv));
  if (!hv)
    return NULL;
  hv->hv_part = p;
  if (cfg)
    hv->hv_cfg = *cfg;
  if (!hv->hv_cfg.hc_tsc_hz)
    hv->hv_cfg.hc_tsc_hz = 2500000000ull;
  if (!hv->hv_cfg.hc_apic_hz)
    hv->hv_cfg.hc_apic_hz = 200000000ull;
  hv->hv_start_ns = hw_now_ns();
  for (unsigned i = 0; i < HV_SINT_COUNT; i++)
    hv->hv_sint[i] = HV_SINT_MASKED; /* the TLFS reset value */
  hv->hv_ports = (struct hvemu_conns){hv->hv_port_slots, HVEMU_MAX_PORTS, 0};
  hv->hv_events = (struct hvemu_conns){hv->hv_event_slots, HVEMU_MAX_EVENTS, 0};
  ev_item_init(&hv->hv_rx_work, hvemu_rx_work, hv);
  hv->hv_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
  return hv;
}

void hvemu_destroy(struct hvemu *hv) {
  if (!hv)
    return;
  ev_cancel(&hv->hv_rx_work);
  free(hv);
}

struct partition *hvemu_partition(struct hvemu *hv) {
  return hv->hv_part;
}
const struct hvemu_stats *hvemu_stats(const struct hvemu *hv) { return &hv->hv_st; }

/* ---- CPUID ---------------------------------------------------------------- */

static uint32_t hvemu_str4(const char *s) {
  return (uint32_t)(uint8_t)s[0] | (uint32_t)(uint8_t)s[1] << 8 | (uint32_t)(uint8_t)s[2] << 16 |
         (uint32_t)(uint8_t)s[3] << 24;
}

void hvemu_cpuid(struct hvemu *hv, uint32_t leaf, uint32_t subleaf, struct hw_cpuid_regs *r) {
  (void)subleaf;
  (void)hv;
  if (leaf == 1) {
    r->ecx |= 1u << 31; /* hypervisor present */
    return;
  }
  if (leaf < 0x40000000u || leaf > 0x4fffffffu)
    return;
  *r = (struct hw_cpuid_regs){0, 0, 0, 0};
  switch (leaf) {
  case HV_CPUID_VENDOR_AND_MAX:
    r->eax = HVEMU_MAX_LEAF;
    r->ebx = hvemu_str4(HV_VENDOR_STRING);
    r->ecx = hvemu_str4(&HV_VENDOR_STRING[4]);
    r->edx = hvemu_str4(&HV_VENDOR_STRING[8]);
    break;
  case HV_CPUID_INTERFACE:
    r->eax = HV_INTERFACE_SIGNATURE;
    break;
  case HV_CPUID_VERSION:
    r->eax = HVEMU_BUILD;
    r->ebx = HVEMU_VERSION_MAJOR << 16 | HVEMU_VERSION_MINOR;
    break;
  case HV_CPUID_FEATURES:
    r->eax = HV_MSR_TIME_REF_COUNT_AVAILABLE | HV_MSR_SYNIC_AVAILABLE | HV_MSR_HYPERCALL_AVAILABLE |
             HV_MSR_VP_INDEX_AVAILABLE | HV_ACCESS_FREQUENCY_MSRS;
    r->ebx = HV_POST_MESSAGES | HV_SIGNAL_EVENTS;
    r->edx = HV_FEATURE_FREQUENCY_MSRS_AVAILABLE;
    break;
  case HV_CPUID_ENLIGHTENMENT_INFO:
    /* Auto-EOI cannot be emulated on KVM's in-kernel LAPIC (KVM-NOTES.md 6). */
    r->eax = HV_DEPRECATING_AEOI_RECOMMENDED;
    r->ebx = 0xffffffffu; /* spinlock retries: never notify */
    break;
  case HV_CPUID_IMPLEMENTATION_LIMITS:
    r->eax = hv->hv_part ? hv->hv_part->p_vp_count : 1; /* max virtual processors */
    r->ebx = 1;                                         /* max logical processors */
    break;
  default: /* 0x40000006..0x4000000A: nothing of ours; above: not a leaf */
    break;
  }
}

/* ---- SynIC ------------------------------------------------------------------ */

static bool hvemu_synic_on(const struct hvemu *hv) { return hv->hv_scontrol & HV_SCONTROL_ENABLE; }

/** Inject SINT n's vector when the SynIC is on and the SINT unmasked. */
static void hvemu_raise(struct hvemu *hv, uint32_t sint) {
  uint64_t v = hv->hv_sint[sint];
  if (!hvemu_synic_on(hv) || (v & HV_SINT_MASKED) || (v & HV_SINT_POLLING)) {
    hv->hv_st.hs_sint_suppressed++;
    return;
  }
  hv->hv_st.hs_sint_raised++;
  if (part_inject(hv->hv_part, 0, (uint8_t)(v & HV_SINT_VECTOR_MASK)))
    pr_warn("hvhost: could not inject vector %u\n", (unsigned)(v & HV_SINT_VECTOR_MASK));
}

static struct hv_message_page *hvemu_simp(struct hvemu *hv) {
  if (!(hv->hv_simp & HV_MSR_ENABLE))
    return NULL;
  return part_gpa_ptr(hv->hv_part, hv->hv_simp & HVEMU_GPA_MASK, HVEMU_PAGE);
}

static struct hv_event_flags_page *hvemu_siefp(struct hvemu *hv) {
  if (!(hv->hv_siefp & HV_MSR_ENABLE))
    return NULL;
  return part_gpa_ptr(hv->hv_part, hv->hv_siefp & HVEMU_GPA_MASK, HVEMU_PAGE);
}

/** Move queued messages of `sint` into its slot while it is free; mark the
 * slot pending when more wait (the guest then writes EOM). */
static void hvemu_deliver(struct hvemu *hv, uint32_t sint) {
  struct hvemu_sintq *q = &hv->hv_q[sint];
  struct hv_message_page *page = hvemu_simp(hv);
  if (!q->sq_n || !page)
    return;
  struct hv_message *slot = &page->sint_message[sint];
  uint32_t type = __atomic_load_n(&slot->header.message_type, __ATOMIC_ACQUIRE);
  if (type != HVMSG_NONE) {
    __atomic_fetch_or(&slot->header.message_flags, HV_MESSAGE_FLAG_PENDING, __ATOMIC_SEQ_CST);
    return;
  }
  const struct hv_message *m = &q->sq_msg[q->sq_head];
  q->sq_head = (q->sq_head + 1) % HVEMU_SINT_QUEUE;
  q->sq_n--;
  /* Body first, the type last: the type is what the guest polls. */
  memcpy(slot->payload, m->payload, HV_MESSAGE_PAYLOAD_MAX);
  slot->header.payload_size = m->header.payload_size;
  slot->header.reserved = 0;
  slot->header.sender = m->header.sender;
  __atomic_store_n(&slot->header.message_flags, q->sq_n ? HV_MESSAGE_FLAG_PENDING : 0,
                   __ATOMIC_RELAXED);
  __atomic_store_n(&slot->header.message_type, m->header.message_type, __ATOMIC_RELEASE);
  hv->hv_st.hs_msgs_to_guest++;
  hvemu_raise(hv, sint);
}

static void hvemu_deliver_all(struct hvemu *hv) {
  for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
    hvemu_deliver(hv, s);
}

/** The SynIC or a SINT just came on: a message already sitting in the slot
 * (delivered while the SINT was masked) gets its interrupt now. */
static void hvemu_rekick(struct hvemu *hv, uint32_t sint) {
  struct hv_message_page *page = hvemu_simp(hv);
  hvemu_deliver(hv, sint);
  if (page && __atomic_load_n(&page->sint_message[sint].header.message_type, __ATOMIC_ACQUIRE) !=
                  HVMSG_NONE)
    hvemu_raise(hv, sint);
}

int hvemu_post_message(struct hvemu *hv, uint32_t sint, uint32_t msg_type, uint64_t sender,
                       const void *payload, uint32_t size) {
  if (sint >= HV_SINT_COUNT || msg_type == HVMSG_NONE || size > HV_MESSAGE_PAYLOAD_MAX ||
      (size && !payload))
    return -EINVAL;
  struct hvemu_sintq *q = &hv->hv_q[sint];
  if (q->sq_n >= HVEMU_SINT_QUEUE)
    return -ENOBUFS;
  struct hv_message *m = &q->sq_msg[(q->sq_head + q->sq_n) % HVEMU_SINT_QUEUE];
  memset(m, 0, sizeof(*m));
  m->header.message_type = msg_type;
  m->header.payload_size = (uint8_t)size;
  m->header.sender = sender;
  if (size)
    memcpy(m->payload, payload, size);
  q->sq_n++;
  if (q->sq_n > 1 || !hvemu_simp(hv))
    hv->hv_st.hs_msgs_queued++;
  hvemu_deliver(hv, sint);
  return 0;
}

int hvemu_signal_event(struct hvemu *hv, uint32_t sint, uint32_t flag) {
  if (sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
    return -EINVAL;
  struct hv_event_flags_page *page = hvemu_siefp(hv);
  if (!page)
    return -ENODEV;
  uint64_t bit = 1ull << (flag % 64);
  uint64_t old = __atomic_fetch_or(&page->sint_flags[sint][flag / 64], bit, __ATOMIC_SEQ_CST);
  if (old & bit)
    return 0; /* already pending: the guest has not scanned yet */
  hv->hv_st.hs_flags_set++;
  hvemu_raise(hv, sint);
  return 0;
}

unsigned hvemu_queued(const struct hvemu *hv, uint32_t sint) {
  return sint < HV_SINT_COUNT ? hv->hv_q[sint].sq_n : 0;
}

void hvemu_flush(struct hvemu *hv) {
  for (unsigned i = 0; i < HV_SINT_COUNT; i++)
    hv->hv_q[i].sq_head = hv->hv_q[i].sq_n = 0;
  hv->hv_rx_head = hv->hv_rx_n = 0;
}

/* ---- MSRs ------------------------------------------------------------------- */

static int hvemu_gp(struct hvemu *hv, const char *what, uint32_t msr, uint64_t val) {
  hv->hv_st.hs_gp++;
  if (log_ratelimit_ok(&hv->hv_rl))
    pr_debug("hvhost: #GP: %s msr 0x%x value 0x%llx\n", what, msr, (unsigned long long)val);
  return -EIO;
}

/** Enable an overlay page (SIMP/SIEFP/hypercall): check its GPA, return its
 * host address, or NULL (#GP) when outside guest memory. */
static uint8_t *hvemu_overlay(struct hvemu *hv, uint64_t val) {
  return PART_CHECKED_GPA_P(hv->hv_part, val & HVEMU_GPA_MASK, HVEMU_PAGE);
}

int hvemu_rdmsr(struct hvemu *hv, uint32_t msr, uint64_t *val) {
  *val = 0;
  if (msr < HV_X64_MSR_RANGE_FIRST || msr > HV_X64_MSR_RANGE_LAST || hv->hv_cfg.hc_refuse_msrs)
    return hvemu_gp(hv, "read", msr, 0);
  switch (msr) {
  case HV_X64_MSR_GUEST_OS_ID:
    *val = hv->hv_guest_os_id;
    return 0;
  case HV_X64_MSR_HYPERCALL:
    *val = hv->hv_hypercall;
    return 0;
  case HV_X64_MSR_VP_INDEX:
    *val = 0;
    return 0;
  case HV_X64_MSR_TIME_REF_COUNT:
    *val = (hw_now_ns() - hv->hv_start_ns) / 100;
    return 0;
  case HV_X64_MSR_TSC_FREQUENCY:
    *val = hv->hv_cfg.hc_tsc_hz;
    return 0;
  case HV_X64_MSR_APIC_FREQUENCY:
    *val = hv->hv_cfg.hc_apic_hz;
    return 0;
  case HV_X64_MSR_SCONTROL:
    *val = hv->hv_scontrol;
    return 0;
  case HV_X64_MSR_SVERSION:
    *val = HV_SYNIC_VERSION_1;
    return 0;
  case HV_X64_MSR_SIEFP:
    *val = hv->hv_siefp;
    return 0;
  case HV_X64_MSR_SIMP:
    *val = hv->hv_simp;
    return 0;
  case HV_X64_MSR_EOM:
    *val = 0; /* write-only; reads as 0 */
    return 0;
  default:
    if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) {
      *val = hv->hv_sint[msr - HV_X64_MSR_SINT0];
      return 0;
    }
    return hvemu_gp(hv, "read of unknown", msr, 0);
  }
}

static int hvemu_wr_hypercall(struct hvemu *hv, uint64_t val) {
  if (!hv->hv_guest_os_id)
    return 0; /* ignored until GUEST_OS_ID is set (TLFS; KVM-NOTES.md) */
  if (val & HV_MSR_ENABLE) {
    uint8_t *page = hvemu_overlay(hv, val);
    if (!page)
      return hvemu_gp(hv, "hypercall page outside memory", HV_X64_MSR_HYPERCALL, val);
    const struct part_ops *ops = hv->hv_part->p_ops;
    if (ops && ops->po_write_hypercall_page)
      ops->po_write_hypercall_page(hv->hv_part, page);
    else
      memcpy(page, part_hypercall_code, sizeof(part_hypercall_code));
  }
  hv->hv_hypercall = val;
  return 0;
}

static int hvemu_wr_overlay(struct hvemu *hv, uint32_t msr, uint64_t *reg, uint64_t val) {
  if (val & HV_MSR_ENABLE) {
    uint8_t *page = hvemu_overlay(hv, val);
    if (!page)
      return hvemu_gp(hv, "SynIC page outside memory", msr, val);
    /* Zeroed on enable, or when it moves (KVM-NOTES.md: probe result). */
    if (!(*reg & HV_MSR_ENABLE) || ((*reg ^ val) & HVEMU_GPA_MASK))
      memset(page, 0, HVEMU_PAGE);
  }
  *reg = val;
  if (msr == HV_X64_MSR_SIMP)
    hvemu_deliver_all(hv);
  return 0;
}

int hvemu_wrmsr(struct hvemu *hv, uint32_t msr, uint64_t val) {
  if (msr < HV_X64_MSR_RANGE_FIRST || msr > HV_X64_MSR_RANGE_LAST || hv->hv_cfg.hc_refuse_msrs)
    return hvemu_gp(hv, "write", msr, val);
  switch (msr) {
  case HV_X64_MSR_GUEST_OS_ID:
    hv->hv_guest_os_id = val;
    if (!val)
      hv->hv_hypercall &= ~HV_MSR_ENABLE; /* clearing the id disables the page */
    return 0;
  case HV_X64_MSR_HYPERCALL:
    return hvemu_wr_hypercall(hv, val);
  case HV_X64_MSR_SCONTROL: {
    bool was_on = hvemu_synic_on(hv);
    hv->hv_scontrol = val;
    if ((val & HV_SCONTROL_ENABLE) && !was_on)
      for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
        hvemu_rekick(hv, s);
    return 0;
  }
  case HV_X64_MSR_SIEFP:
    return hvemu_wr_overlay(hv, msr, &hv->hv_siefp, val);
  case HV_X64_MSR_SIMP:
    return hvemu_wr_overlay(hv, msr, &hv->hv_simp, val);
  case HV_X64_MSR_EOM:
    hv->hv_st.hs_eom++;
    hvemu_deliver_all(hv);
    return 0;
  default:
    break;
  }
  if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) {
    uint32_t n = msr - HV_X64_MSR_SINT0;
    if ((val & HV_SINT_VECTOR_MASK) < HV_SINT_MIN_VECTOR && !(val & HV_SINT_MASKED))
      return hvemu_gp(hv, "SINT vector below 16", msr, val);
    if ((val & HV_SINT_AUTO_EOI) && !hv->hv_aeoi_warned) {
      hv->hv_aeoi_warned = true;
      pr_warn("hvhost: guest set auto-EOI on SINT%u although CPUID recommends against it\n", n);
    }
    bool unmasked = (hv->hv_sint[n] & HV_SINT_MASKED) && !(val & HV_SINT_MASKED);
    hv->hv_sint[n] = val;
    if (unmasked)
      hvemu_rekick(hv, n);
    return 0;
  }
  /* VP_INDEX, TIME_REF_COUNT, SVERSION, frequencies: read-only. Others: unknown. */
  return hvemu_gp(hv, "write", msr, val);
}

/* ---- hypercalls ---------------------------------------------------------------- */

static uint64_t hvemu_status(struct hvemu *hv, uint16_t st) {
  if (st != HV_STATUS_SUCCESS)
    hv->hv_st.hs_hcall_errors++;
  return st;
}

static bool hvemu_conn_used(const struct hvemu_conn *c) { return c->c_post || c->c_signal; }

/* The used slot of t for conn_id (bits 23:0), or NULL. */
static struct hvemu_conn *hvemu_conn_find(const struct hvemu_conns *t, uint32_t conn_id) {
  for (unsigned i = 0; i < t->cs_n; i++)
    if (hvemu_conn_used(&t->cs_slot[i]) && t->cs_slot[i].c_conn_id == conn_id)
      return &t->cs_slot[i];
  return NULL;
}

static uint16_t hvemu_post(struct hvemu *hv, uint64_t control, uint64_t gpa) {
  if (control & HV_HYPERCALL_FAST_BIT)
    return HV_STATUS_INVALID_HYPERCALL_INPUT; /* slow call only */
  if (gpa & 7)
    return HV_STATUS_INVALID_ALIGNMENT;
  /* The block may not cross a page (TLFS). */
  if ((gpa & 0xfff) > HVEMU_PAGE - sizeof(struct hv_input_post_message))
    return HV_STATUS_INVALID_ALIGNMENT;
  const void *in = PART_CHECKED_GPA_P(hv->hv_part, gpa, sizeof(struct hv_input_post_message));
  if (!in)
    return HV_STATUS_INVALID_PARAMETER;
  /* Read once, then validate only the copy (STYLE.md rule 5). */
  struct hv_input_post_message m;
  memcpy(&m, in, sizeof(m));
  if (m.payload_size > HV_MESSAGE_PAYLOAD_MAX || m.message_type == HVMSG_NONE ||
      (m.message_type & 0x80000000u))
    return HV_STATUS_INVALID_PARAMETER;
  uint32_t conn = m.connection_id & 0xffffffu;
  if (!hvemu_conn_find(&hv->hv_ports, conn))
    return HV_STATUS_INVALID_CONNECTION_ID;
  if (hv->hv_pass_posts) {
    hv->hv_pass_posts--;
  } else if (hv->hv_fail_posts) {
    hv->hv_fail_posts--;
    return hv->hv_fail_status;
  }
  if (hv->hv_rx_n >= HVEMU_RXQ)
    return HV_STATUS_INSUFFICIENT_BUFFERS;
  struct hvemu_rx *rx = &hv->hv_rxq[(hv->hv_rx_head + hv->hv_rx_n) % HVEMU_RXQ];
  rx->rx_conn_id = conn;
  rx->rx_type = m.message_type;
  rx->rx_size = m.payload_size;
  memcpy(rx->rx_payload, m.payload, m.payload_size);
  hv->hv_rx_n++;
  hv->hv_st.hs_post_message++;
  ev_work_queue(&hv->hv_rx_work);
  return HV_STATUS_SUCCESS;
}

/** Passive level: hand guest posts to their ports, one at a time (a port
 * may run the event loop and so re-enter here; each post is popped first). */
static void hvemu_rx_work(void *arg) {
  struct hvemu *hv = arg;
  while (hv->hv_rx_n) {
    struct hvemu_rx rx = hv->hv_rxq[hv->hv_rx_head];
    hv->hv_rx_head = (hv->hv_rx_head + 1) % HVEMU_RXQ;
    hv->hv_rx_n--;
    const struct hvemu_conn *port = hvemu_conn_find(&hv->hv_ports, rx.rx_conn_id);
    if (port)
      port->c_post(port->c_ctx, rx.rx_conn_id, rx.rx_type, rx.rx_payload, rx.rx_size);
  }
}

static uint16_t hvemu_signal(struct hvemu *hv, uint64_t control, uint64_t input) {
  struct hv_input_signal_event in;
  if (control & HV_HYPERCALL_FAST_BIT) {
    memcpy(&in, &input, sizeof(in));
  } else {
    if (input & 7)
      return HV_STATUS_INVALID_ALIGNMENT;
    const void *p = PART_CHECKED_GPA_P(hv->hv_part, input, sizeof(in));
    if (!p)
      return HV_STATUS_INVALID_PARAMETER;
    memcpy(&in, p, sizeof(in));
  }
  if (in.flag_number >= HV_EVENT_FLAGS_COUNT)
    return HV_STATUS_INVALID_PARAMETER;
  uint32_t conn = in.connection_id & 0xffffffu;
  const struct hvemu_conn *ev = hvemu_conn_find(&hv->hv_events, conn);
  if (!ev)
    return HV_STATUS_INVALID_CONNECTION_ID;
  hv->hv_st.hs_signal_event++;
  ev->c_signal(ev->c_ctx, conn, in.flag_number);
  return HV_STATUS_SUCCESS;
}

uint64_t hvemu_hypercall(struct hvemu *hv, uint64_t control, uint64_t input, uint64_t output) {
  (void)output;
  hv->hv_st.hs_hypercalls++;
  if (!(hv->hv_hypercall & HV_MSR_ENABLE))
    return hvemu_status(hv, HV_STATUS_INVALID_HYPERCALL_CODE);
  uint16_t code = (uint16_t)(control & HV_HYPERCALL_CODE_MASK);
  if (code != HVCALL_POST_MESSAGE && code != HVCALL_SIGNAL_EVENT)
    return hvemu_status(hv, HV_STATUS_INVALID_HYPERCALL_CODE);
  /* Neither call is a rep call or takes a variable header. */
  uint64_t rep = (control >> HV_HYPERCALL_REP_COUNT_SHIFT) & 0xfffull;
  uint64_t varhead = (control >> HV_HYPERCALL_VARHEAD_SHIFT) & 0x3ffull;
  uint64_t start = (control >> 48) & 0xfffull;
  if ((control & HV_HYPERCALL_RSVD_MASK) || rep || varhead || start)
    return hvemu_status(hv, HV_STATUS_INVALID_HYPERCALL_INPUT);
  uint16_t st = code == HVCALL_POST_MESSAGE ? hvemu_post(hv, control, input)
                                            : hvemu_signal(hv, control, input);
  return hvemu_status(hv, st);
}

/* ---- registration ----------------------------------------------------------------- */

/* Put c (its id already masked) in the first free slot of t. 0, -EEXIST
 * when t has the id already, -ENOSPC when t is full. */
static int hvemu_conn_add(struct hvemu_conns *t, struct hvemu_conn c) {
  if (hvemu_conn_find(t, c.c_conn_id))
    return -EEXIST;
  for (unsigned i = 0; i < t->cs_max; i++) {
    if (hvemu_conn_used(&t->cs_slot[i]))
      continue;
    t->cs_slot[i] = c;
    if (i >= t->cs_n)
      t->cs_n = i + 1;
    return 0;
  }
  return -ENOSPC;
}

/* Free conn_id's slot in t, if it has one, and lower the high-water mark. */
static void hvemu_conn_remove(struct hvemu_conns *t, uint32_t conn_id) {
  struct hvemu_conn *c = hvemu_conn_find(t, conn_id);
  if (c)
    memset(c, 0, sizeof(*c));
  while (t->cs_n && !hvemu_conn_used(&t->cs_slot[t->cs_n - 1]))
    t->cs_n--;
}

int hvemu_register_port(struct hvemu *hv, uint32_t conn_id, hvemu_port_fn *fn, void *ctx) {
  if (!fn)
    return -EINVAL;
  return hvemu_conn_add(
      &hv->hv_ports,
      (struct hvemu_conn){.c_conn_id = conn_id & 0xffffffu, .c_post = fn, .c_ctx = ctx});
}

void hvemu_unregister_port(struct hvemu *hv, uint32_t conn_id) {
  hvemu_conn_remove(&hv->hv_ports, conn_id & 0xffffffu);
}

int hvemu_register_event(struct hvemu *hv, uint32_t conn_id, hvemu_event_fn *fn, void *ctx) {
  if (!fn)
    return -EINVAL;
  return hvemu_conn_add(
      &hv->hv_events,
      (struct hvemu_conn){.c_conn_id = conn_id & 0xffffffu, .c_signal = fn, .c_ctx = ctx});
}

void hvemu_unregister_event(struct hvemu *hv, uint32_t conn_id) {
  hvemu_conn_remove(&hv->hv_events, conn_id & 0xffffffu);
}

bool hvemu_event_registered(const struct hvemu *hv, uint32_t conn_id) {
  return hvemu_conn_find(&hv->hv_events, conn_id & 0xffffffu) != NULL;
}

int hvemu_add_poller(struct hvemu *hv, hvemu_poll_fn *fn, void *ctx) {
  for (unsigned i = 0; i < HVEMU_MAX_POLLERS; i++)
    if (!hv->hv_pollers[i].pl_fn) {
      hv->hv_pollers[i] = (struct hvemu_poller){fn, ctx};
      return 0;
    }
  return -ENOSPC;
}

void hvemu_remove_poller(struct hvemu *hv, hvemu_poll_fn *fn, void *ctx) {
  for (unsigned i = 0; i < HVEMU_MAX_POLLERS; i++)
    if (hv->hv_pollers[i].pl_fn == fn && hv->hv_pollers[i].pl_ctx == ctx)
      hv->hv_pollers[i] = (struct hvemu_poller){NULL, NULL};
}

bool hvemu_poll(struct hvemu *hv) {
  bool did = false;
  for (unsigned i = 0; i < HVEMU_MAX_POLLERS; i++)
    if (hv->hv_pollers[i].pl_fn && hv->hv_pollers[i].pl_fn(hv->hv_pollers[i].pl_ctx))
      did = true;
  return did;
}

void hvemu_fail_posts_after(struct hvemu *hv, unsigned pass, unsigned n, uint16_t status) {
  hv->hv_pass_posts = n ? pass : 0;
  hv->hv_fail_posts = n;
  hv->hv_fail_status = status;
}

void hvemu_fail_posts(struct hvemu *hv, unsigned n, uint16_t status) {
  hvemu_fail_posts_after(hv, 0, n, status);
}
