/* hv/synic.c: SynIC pages, the SINT interrupt handler, message and event
 * delivery to the VMBus client.
 *
 * The handler runs with interrupts off and never parses host data: for each
 * message in the VMBus slot it copies the 256 bytes out (the host may
 * rewrite the slot), marks the slot empty, and writes EOM if the host said
 * more are pending (PROTOCOL-REFERENCE 1.5: clear first, full barrier, then
 * read the flag, or messages are lost). The copies go to a bounded inbox;
 * a DPC hands them to the VMBus client in order, then lets it scan the
 * event flags. */
#include <errno.h>
#include <string.h>

#include "hv/hv.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"

/* Policy: 64 messages in flight between the interrupt and the DPC. A full
 * inbox drops (counted, logged once per burst): the host can only fill it
 * by ignoring that we do not EOM while it is full (see the handler). */
#define SYNIC_INBOX_LEN 64
/* Messages taken per interrupt before yielding to the DPC: a host that
 * refills the slot forever cannot keep us in the handler. */
#define SYNIC_MAX_PER_IRQ 16
/* Interrupt storms (docs/SECURITY.md): an interrupt that brings neither a
 * message nor an event flag has no cause. It is counted and costs no DPC
 * (the DPC would find nothing); this many in a row are a storm, reported
 * once (rate-limited) from the DPC. A guest cannot refuse the interrupts
 * themselves, only the work they would cause. */
#define SYNIC_STORM_RUN 1000u
/* Inbox messages one DPC run hands on before yielding to the rest of the
 * event loop (a host that keeps the inbox full cannot pin the DPC). */
#define SYNIC_DPC_BUDGET SYNIC_INBOX_LEN

static struct hv_message syn_inbox[SYNIC_INBOX_LEN];
static unsigned syn_head, syn_count;
static struct ev_item syn_dpc;
static hv_msg_fn syn_msg_fn;
static hv_event_fn syn_event_fn;
static struct hv_synic_stats syn_stats;
static struct log_ratelimit syn_rl = LOG_RATELIMIT_INIT(1000, 3);

const struct hv_synic_stats *hv_synic_stats(void) { return &syn_stats; }

void hv_synic_set_handlers(hv_msg_fn msg_fn, hv_event_fn event_fn) {
  syn_msg_fn = msg_fn;
  syn_event_fn = event_fn;
}

static uint64_t syn_dropped_reported;
static uint32_t syn_causeless_run;   /* causeless interrupts in a row */
static uint64_t syn_storms_reported; /* ss_storms already logged */

static void synic_dpc(void *arg) {
  (void)arg;
  if (syn_stats.ss_dropped != syn_dropped_reported && log_ratelimit_ok(&syn_rl)) {
    pr_warn("synic: inbox full, %lu host messages dropped so far\n",
            (unsigned long)syn_stats.ss_dropped);
    syn_dropped_reported = syn_stats.ss_dropped;
  }
  if (syn_stats.ss_storms != syn_storms_reported && log_ratelimit_ok(&syn_rl)) {
    pr_warn("synic: interrupt storm from the host: %lu interrupts without a message or "
            "event flag so far (counted, no work done for them)\n",
            (unsigned long)syn_stats.ss_causeless);
    syn_storms_reported = syn_stats.ss_storms;
  }
  for (unsigned budget = SYNIC_DPC_BUDGET;; budget--) {
    if (budget == 0) {
      ev_dpc_queue(&syn_dpc); /* the rest after the other DPCs ran */
      break;
    }
    struct hv_message m;
    unsigned long fl = hw_irq_save();
    if (syn_count == 0) {
      hw_irq_restore(fl);
      break;
    }
    m = syn_inbox[syn_head];
    syn_head = (syn_head + 1) % SYNIC_INBOX_LEN;
    syn_count--;
    hw_irq_restore(fl);
    if (syn_msg_fn)
      syn_msg_fn(&m);
  }
  if (syn_event_fn)
    syn_event_fn();
}

/* Take the messages waiting in our SINT's slot. Returns how many. */
static unsigned synic_drain_slot(struct hv_vcpu *v) {
  volatile struct hv_message *slot = &v->hv_simp->sint_message[HV_VMBUS_SINT];
  unsigned n = 0;
  while (n < SYNIC_MAX_PER_IRQ) {
    uint32_t type = slot->header.message_type;
    if (type == HVMSG_NONE)
      break;
    if (syn_count < SYNIC_INBOX_LEN) {
      struct hv_message *dst = &syn_inbox[(syn_head + syn_count) % SYNIC_INBOX_LEN];
      const volatile uint64_t *src = (const volatile uint64_t *)slot;
      uint64_t *d = (uint64_t *)dst;
      for (unsigned i = 0; i < sizeof(*dst) / 8; i++)
        d[i] = src[i];
      /* The copy keeps the type we saw, even if the host rewrote it since. */
      dst->header.message_type = type;
      syn_count++;
      syn_stats.ss_messages++;
    } else {
      syn_stats.ss_dropped++;
    }
    slot->header.message_type = HVMSG_NONE;
    /* Full barrier between clearing the type and reading the pending flag:
     * the hypervisor sets the flag when it queues behind a full slot, and
     * a reordered read could miss it and strand the queue. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (slot->header.message_flags & HV_MESSAGE_FLAG_PENDING) {
      hw_wrmsr_safe(HV_X64_MSR_EOM, 0);
      syn_stats.ss_eoms++;
    }
    n++;
  }
  return n;
}

/* Any event flag of the VMBus SINT set (the DPC's scan has work). */
static bool synic_flags_pending(struct hv_vcpu *v) {
  const volatile uint64_t *f = v->hv_siefp->sint_flags[HV_VMBUS_SINT];
  for (unsigned w = 0; w < HV_EVENT_FLAGS_COUNT / 64; w++)
    if (f[w])
      return true;
  return false;
}

static void synic_irq(uint8_t vector) {
  (void)vector;
  struct hv_vcpu *v = hv_vcpu_self();
  syn_stats.ss_interrupts++;
  if (synic_drain_slot(v) == 0 && syn_count == 0 && !synic_flags_pending(v)) {
    syn_stats.ss_causeless++;
    if (++syn_causeless_run == SYNIC_STORM_RUN) {
      syn_stats.ss_storms++;
      ev_dpc_queue(&syn_dpc); /* to report it */
    }
    return;
  }
  syn_causeless_run = 0;
  ev_dpc_queue(&syn_dpc);
}

/* Write a SIMP/SIEFP MSR: page GPFN | preserved bits | enable. */
static int synic_enable_page(uint32_t msr, const char *name, void *page) {
  uint64_t v;
  if (hw_rdmsr_safe(msr, &v) != 0) {
    pr_err("Hyper-V: reading MSR %#x (%s) was refused (#GP)\n", msr, name);
    return -EIO;
  }
  v = (hw_virt_to_phys(page) & ~0xfffull) | (v & HV_MSR_RSVD_MASK) | HV_MSR_ENABLE;
  if (hw_wrmsr_safe(msr, v) != 0) {
    pr_err("Hyper-V: writing MSR %#x (%s) was refused (#GP)\n", msr, name);
    return -EIO;
  }
  return 0;
}

int hv_synic_enable(struct hv_vcpu *v) {
  ev_item_init(&syn_dpc, synic_dpc, NULL);
  syn_causeless_run = 0;
  if (!v->hv_simp && !(v->hv_simp = page_alloc(1)))
    return -ENOMEM;
  if (!v->hv_siefp && !(v->hv_siefp = page_alloc(1)))
    return -ENOMEM;
  /* The hypervisor zeroes them on enable (TLFS); zero them anyway so stale
   * bits from a reused page never look like host messages. */
  memset(v->hv_simp, 0, PAGE_SIZE);
  memset(v->hv_siefp, 0, PAGE_SIZE);
  hw_irq_register(HV_SINT_VECTOR, synic_irq);
  if (synic_enable_page(HV_X64_MSR_SIMP, "SIMP", v->hv_simp) ||
      synic_enable_page(HV_X64_MSR_SIEFP, "SIEFP", v->hv_siefp))
    return -EIO;
  /* SINT2: our vector, unmasked, no auto-EOI: the interrupt path always
   * EOIs the local APIC, which is right whether or not the host recommends
   * against auto-EOI (0x40000004.EAX bit 9), and auto-EOI cannot be
   * emulated on KVM's in-kernel LAPIC (KVM-NOTES.md pitfall 6). */
  uint32_t sint = HV_X64_MSR_SINT0 + HV_VMBUS_SINT;
  uint64_t s;
  if (hw_rdmsr_safe(sint, &s) != 0) {
    pr_err("Hyper-V: reading MSR %#x (SINT2) was refused (#GP)\n", sint);
    return -EIO;
  }
  s &= ~(HV_SINT_VECTOR_MASK | HV_SINT_MASKED | HV_SINT_AUTO_EOI | HV_SINT_POLLING);
  s |= HV_SINT_VECTOR;
  if (hw_wrmsr_safe(sint, s) != 0) {
    pr_err("Hyper-V: writing MSR %#x (SINT2) was refused (#GP)\n", sint);
    return -EIO;
  }
  uint64_t sc;
  if (hw_rdmsr_safe(HV_X64_MSR_SCONTROL, &sc) != 0 ||
      hw_wrmsr_safe(HV_X64_MSR_SCONTROL, sc | HV_SCONTROL_ENABLE) != 0) {
    pr_err("Hyper-V: MSR %#x (SCONTROL) was refused (#GP)\n", HV_X64_MSR_SCONTROL);
    return -EIO;
  }
  return 0;
}

void hv_synic_disable(struct hv_vcpu *v) {
  uint64_t x;
  uint32_t sint = HV_X64_MSR_SINT0 + HV_VMBUS_SINT;
  if (hw_rdmsr_safe(sint, &x) == 0)
    hw_wrmsr_safe(sint, x | HV_SINT_MASKED);
  if (hw_rdmsr_safe(HV_X64_MSR_SIMP, &x) == 0)
    hw_wrmsr_safe(HV_X64_MSR_SIMP, x & ~HV_MSR_ENABLE);
  if (hw_rdmsr_safe(HV_X64_MSR_SIEFP, &x) == 0)
    hw_wrmsr_safe(HV_X64_MSR_SIEFP, x & ~HV_MSR_ENABLE);
  if (hw_rdmsr_safe(HV_X64_MSR_SCONTROL, &x) == 0)
    hw_wrmsr_safe(HV_X64_MSR_SCONTROL, x & ~HV_SCONTROL_ENABLE);
  hw_irq_register(HV_SINT_VECTOR, NULL);
  (void)v;
}

/** Test-and-clear bit n of a host-shared bitmap (atomic: the host sets bits
 * concurrently on real hardware). Used by the VMBus client's event scan. */
bool hv_test_and_clear_bit(volatile uint64_t *map, unsigned n) {
  uint64_t mask = 1ull << (n % 64);
  uint64_t old = __atomic_fetch_and(&map[n / 64], ~mask, __ATOMIC_SEQ_CST);
  return (old & mask) != 0;
}
