/* tests/unit/host_hvemu_test.c: the emulated Hyper-V interface (host/hvemu.c)
 * as the guest sees it: through kernel/hw.h over the in-process backend. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "sim/sim.h"
#include "tests/unit/unit.h"

#define VEC 0x50

static struct sim sys;
static struct hvemu *hv;
static unsigned irq_count;
static bool in_hypercall;
static bool irq_during_hypercall;

static void on_irq(uint8_t v) {
  (void)v;
  irq_count++;
  if (in_hypercall)
    irq_during_hypercall = true;
}

struct rx_rec {
  unsigned n;
  uint32_t conn, type, size;
  uint8_t payload[240];
  bool in_hcall;
};
static struct rx_rec rx;

static void on_port(void *ctx, uint32_t conn, uint32_t type, const void *p, uint32_t size) {
  (void)ctx;
  rx.n++;
  rx.conn = conn;
  rx.type = type;
  rx.size = size;
  memcpy(rx.payload, p, size);
  rx.in_hcall = in_hypercall;
}

static unsigned ev_count;
static uint16_t ev_flag;
static void on_event(void *ctx, uint32_t conn, uint16_t flag) {
  (void)ctx;
  (void)conn;
  ev_count++;
  ev_flag = flag;
}

/** The emulator alone (no VMBus server: the tests own its ports). */
static void setup_with(const struct hvemu_config *cfg) {
  struct sim_config sc = {.sc_mem = 8u << 20, .sc_no_vmbus = true};
  if (cfg)
    sc.sc_emu = *cfg;
  assert_int_equal(sim_start(&sys, &sc, SIM_HOST), 0);
  hv = sys.s_emu;
  hw_irq_register(VEC, on_irq);
  irq_count = 0;
  irq_during_hypercall = false;
  memset(&rx, 0, sizeof(rx));
  ev_count = 0;
}

static int setup(void **state) {
  (void)state;
  setup_with(NULL);
  return 0;
}

/** Down, with every page the test took given back. */
static int teardown(void **state) {
  (void)state;
  assert_int_equal(sim_down(&sys, SIM_OFF), 0);
  return 0;
}

static void pump(void) {
  for (int i = 0; i < 1000 && ev_run_pending(); i++)
    ;
}

static uint64_t hcall(uint64_t control, uint64_t in) {
  in_hypercall = true;
  uint64_t r = hw_hypercall(control, in, 0);
  in_hypercall = false;
  return r & 0xffff;
}

/** GUEST_OS_ID, hypercall page, SIMP, SIEFP, SINT2, SCONTROL, like hv/. */
static void *simp, *siefp;
static void bring_up(void) {
  assert_int_equal(sim_fake_synic(&sys, VEC), 0);
  simp = sim_fake_simp(&sys);
  siefp = sim_fake_siefp(&sys);
}

/* ---- CPUID ------------------------------------------------------------------ */

static void test_cpuid(void **state) {
  (void)state;
  struct hw_cpuid_regs r;
  hw_cpuid(1, 0, &r);
  assert_true(r.ecx & (1u << 31));
  hw_cpuid(HV_CPUID_VENDOR_AND_MAX, 0, &r);
  assert_int_equal(r.eax, 0x4000000A);
  char vendor[13];
  memcpy(vendor, &r.ebx, 4);
  memcpy(vendor + 4, &r.ecx, 4);
  memcpy(vendor + 8, &r.edx, 4);
  vendor[12] = 0;
  assert_string_equal(vendor, "Microsoft Hv");
  hw_cpuid(HV_CPUID_INTERFACE, 0, &r);
  assert_int_equal(r.eax, HV_INTERFACE_SIGNATURE);
  hw_cpuid(HV_CPUID_FEATURES, 0, &r);
  uint32_t need = HV_MSR_TIME_REF_COUNT_AVAILABLE | HV_MSR_SYNIC_AVAILABLE |
                  HV_MSR_HYPERCALL_AVAILABLE | HV_MSR_VP_INDEX_AVAILABLE | HV_ACCESS_FREQUENCY_MSRS;
  assert_int_equal(r.eax & need, need);
  assert_int_equal(r.ebx & (HV_POST_MESSAGES | HV_SIGNAL_EVENTS),
                   HV_POST_MESSAGES | HV_SIGNAL_EVENTS);
  assert_true(r.edx & HV_FEATURE_FREQUENCY_MSRS_AVAILABLE);
  assert_false(r.eax & HV_MSR_REFERENCE_TSC_AVAILABLE); /* not emulated: not advertised */
  hw_cpuid(HV_CPUID_ENLIGHTENMENT_INFO, 0, &r);
  assert_true(r.eax & HV_DEPRECATING_AEOI_RECOMMENDED);
  hw_cpuid(HV_CPUID_IMPLEMENTATION_LIMITS, 0, &r);
  assert_int_equal(r.eax, 1);
  hw_cpuid(0x4000000B, 0, &r);
  assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
}

static void test_cpuid_without_emulator(void **state) {
  (void)state;
  inproc_detach();
  struct hw_cpuid_regs r;
  hw_cpuid(1, 0, &r);
  assert_false(r.ecx & (1u << 31));
  hw_cpuid(HV_CPUID_VENDOR_AND_MAX, 0, &r);
  assert_int_equal(r.eax, 0);
  uint64_t v;
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_VP_INDEX, &v), -EIO);
  inproc_attach(hv);
}

/* ---- MSRs ---------------------------------------------------------------------- */

static void test_hypercall_msr(void **state) {
  (void)state;
  uint8_t *page = page_alloc(1);
  memset(page, 0xcc, PAGE_SIZE);
  uint64_t gpa = hw_virt_to_phys(page), v;
  /* Ignored while GUEST_OS_ID is 0. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, gpa | 1), 0);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_HYPERCALL, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(page[0], 0xcc);
  /* Hypercalls fail without the page. */
  hw_hypercall_set_page(page);
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 1),
                   HV_STATUS_INVALID_HYPERCALL_CODE);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, HV_GUEST_OS_ID_OPEN_SOURCE | 5), 0);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, gpa | 0x0a | 1), 0);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_HYPERCALL, &v), 0);
  assert_int_equal(v, gpa | 0x0a | 1); /* reserved bits preserved */
  assert_memory_equal(page, part_hypercall_code, sizeof(part_hypercall_code));
  /* Outside guest memory: #GP. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, (1ull << 40) | 1), -EIO);
  /* Clearing the OS id disables the page. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, 0), 0);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_HYPERCALL, &v), 0);
  assert_int_equal(v & 1, 0);
  hw_hypercall_set_page(NULL);
  page_free(page, 1);
}

static void test_msr_gp_cases(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_VP_INDEX, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_VP_INDEX, 1), -EIO);
  assert_int_equal(hw_rdmsr_safe(0x400000ff, &v), -EIO);
  assert_int_equal(hw_wrmsr_safe(0x400000ff, 0), -EIO);
  assert_int_equal(hw_rdmsr_safe(0x10, &v), -EIO); /* not ours */
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_SVERSION, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SVERSION, 2), -EIO);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_TIME_REF_COUNT, 2), -EIO);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v), -EIO); /* not offered */
  /* SINT: vector < 16 unmasked is #GP; masked it is accepted. */
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_SINT0 + 2, &v), 0);
  assert_true(v & HV_SINT_MASKED);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SINT0 + 2, 15), -EIO);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SINT0 + 2, 15 | HV_SINT_MASKED), 0);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SINT0 + 3, 16), 0);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_SINT0 + 3, &v), 0);
  assert_int_equal(v, 16);
  assert_int_equal(hvemu_stats(hv)->hs_gp, 8);
}

static void test_clock_msrs(void **state) {
  (void)state;
  uint64_t a, b, f;
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &a), 0);
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &b), 0);
  assert_true(b - a >= 20000); /* 2 ms in 100 ns units */
  assert_true(b - a < 10000000);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_TSC_FREQUENCY, &f), 0);
  assert_int_equal(f, 2500000000ull);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_APIC_FREQUENCY, &f), 0);
  assert_int_equal(f, 200000000ull);
}

static void test_synic_pages_zeroed(void **state) {
  (void)state;
  uint8_t *a = page_alloc(1), *b = page_alloc(1);
  memset(a, 0x5a, PAGE_SIZE);
  memset(b, 0x5a, PAGE_SIZE);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIMP, hw_virt_to_phys(a) | 1), 0);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIEFP, hw_virt_to_phys(b)), 0); /* not enabled */
  assert_int_equal(a[0], 0);
  assert_int_equal(a[4095], 0);
  assert_int_equal(b[0], 0x5a);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIEFP, hw_virt_to_phys(b) | 1), 0);
  assert_int_equal(b[100], 0);
  uint64_t v;
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_SIMP, &v), 0);
  assert_int_equal(v, hw_virt_to_phys(a) | 1);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIMP, 0x1001), -EIO); /* below guest memory */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIMP, 0), 0);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SIEFP, 0), 0);
  page_free(a, 1);
  page_free(b, 1);
}

static void test_refuse_msrs(void **state) {
  teardown(state);
  struct hvemu_config cfg = {.hc_refuse_msrs = true};
  setup_with(&cfg);
  struct hw_cpuid_regs r;
  hw_cpuid(HV_CPUID_INTERFACE, 0, &r);
  assert_int_equal(r.eax, HV_INTERFACE_SIGNATURE); /* still advertised */
  uint64_t v;
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &v), -EIO);
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, 1ull << 63), -EIO);
  assert_int_equal(hw_rdmsr_safe(HV_X64_MSR_VP_INDEX, &v), -EIO);
}

/* ---- hypercalls ------------------------------------------------------------------- */

static void test_hypercall_errors(void **state) {
  (void)state;
  bring_up();
  struct hv_input_post_message *in = page_alloc(1);
  uint64_t gpa = hw_virt_to_phys(in);
  memset(in, 0, sizeof(*in));
  in->connection_id = 7;
  in->message_type = 1;
  in->payload_size = 8;
  assert_int_equal(hcall(0x99, gpa), HV_STATUS_INVALID_HYPERCALL_CODE);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_INVALID_CONNECTION_ID);
  assert_int_equal(hvemu_register_port(hv, 7, on_port, NULL), 0);
  assert_int_equal(hvemu_register_port(hv, 7, on_port, NULL), -EEXIST);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa + 4), HV_STATUS_INVALID_ALIGNMENT);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa + 4000), HV_STATUS_INVALID_ALIGNMENT);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, 1ull << 40), HV_STATUS_INVALID_PARAMETER);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, UINT64_MAX & ~7ull), HV_STATUS_INVALID_ALIGNMENT);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE | HV_HYPERCALL_FAST_BIT, gpa),
                   HV_STATUS_INVALID_HYPERCALL_INPUT);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE | (1ull << 32), gpa),
                   HV_STATUS_INVALID_HYPERCALL_INPUT);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE | (1ull << 27), gpa),
                   HV_STATUS_INVALID_HYPERCALL_INPUT);
  in->payload_size = 241;
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_INVALID_PARAMETER);
  in->payload_size = 8;
  in->message_type = 0;
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_INVALID_PARAMETER);
  in->message_type = 1;
  /* Transient failures on request. */
  hvemu_fail_posts(hv, 2, HV_STATUS_INSUFFICIENT_MEMORY);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_INSUFFICIENT_MEMORY);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_INSUFFICIENT_MEMORY);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, gpa), HV_STATUS_SUCCESS);
  /* Signal: unknown connection, flag out of range. */
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 9),
                   HV_STATUS_INVALID_CONNECTION_ID);
  assert_int_equal(hvemu_register_event(hv, 9, on_event, NULL), 0);
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 9 | (4096ull << 32)),
                   HV_STATUS_INVALID_PARAMETER);
  assert_int_equal(ev_count, 0);
  pump();
  page_free(in, 1);
}

static void test_post_message_deferred(void **state) {
  (void)state;
  bring_up();
  struct hv_input_post_message *in = page_alloc(1);
  memset(in, 0, sizeof(*in));
  in->connection_id = 0x2a | (0xffu << 24); /* reserved bits ignored */
  in->message_type = 1;
  in->payload_size = 240;
  for (int i = 0; i < 240; i++)
    in->payload[i] = (uint8_t)i;
  assert_int_equal(hvemu_register_port(hv, 0x2a, on_port, NULL), 0);
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, hw_virt_to_phys(in)), HV_STATUS_SUCCESS);
  assert_int_equal(rx.n, 0);      /* not inside the hypercall */
  memset(in->payload, 0xee, 240); /* the copy was taken at the call */
  pump();
  assert_int_equal(rx.n, 1);
  assert_false(rx.in_hcall);
  assert_int_equal(rx.conn, 0x2a);
  assert_int_equal(rx.type, 1);
  assert_int_equal(rx.size, 240);
  assert_int_equal(rx.payload[239], 239);
  assert_int_equal(hvemu_stats(hv)->hs_post_message, 1);
  page_free(in, 1);
}

static void test_signal_event(void **state) {
  (void)state;
  bring_up();
  assert_int_equal(hvemu_register_event(hv, 0x1234, on_event, NULL), 0);
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 0x1234 | (5ull << 32)),
                   HV_STATUS_SUCCESS);
  assert_int_equal(ev_count, 1);
  assert_int_equal(ev_flag, 5);
  /* Slow form with an 8-byte input block. */
  struct hv_input_signal_event *in = page_alloc(1);
  *in = (struct hv_input_signal_event){0x1234, 0, 0};
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT, hw_virt_to_phys(in)), HV_STATUS_SUCCESS);
  assert_int_equal(ev_count, 2);
  hvemu_unregister_event(hv, 0x1234);
  assert_int_equal(hcall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, 0x1234),
                   HV_STATUS_INVALID_CONNECTION_ID);
  page_free(in, 1);
}

/* ---- SynIC ------------------------------------------------------------------------ */

static struct hv_message *slot2(void) { return &((struct hv_message_page *)simp)->sint_message[2]; }

/** The guest's SINT handler protocol: copy out, clear, barrier, EOM if pending. */
static uint8_t guest_take(void) {
  struct hv_message *s = slot2();
  uint8_t first = s->payload[0];
  s->header.message_type = HVMSG_NONE;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (s->header.message_flags & HV_MESSAGE_FLAG_PENDING)
    hw_wrmsr_safe(HV_X64_MSR_EOM, 0);
  return first;
}

static void test_message_pending_eom(void **state) {
  (void)state;
  bring_up();
  uint8_t p[16] = {1};
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, sizeof(p)), 0);
  p[0] = 2;
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, sizeof(p)), 0);
  p[0] = 3;
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, sizeof(p)), 0);
  assert_int_equal(irq_count, 0); /* delivered from the loop, not synchronously */
  pump();
  assert_int_equal(irq_count, 1);
  struct hv_message *s = slot2();
  assert_int_equal(s->header.message_type, HVMSG_VMBUS);
  assert_int_equal(s->header.payload_size, 16);
  assert_true(s->header.message_flags & HV_MESSAGE_FLAG_PENDING);
  assert_int_equal(hvemu_queued(hv, 2), 2);
  assert_int_equal(guest_take(), 1);
  assert_int_equal(s->header.message_type, HVMSG_VMBUS);
  pump();
  assert_int_equal(irq_count, 2);
  assert_int_equal(guest_take(), 2);
  pump();
  assert_int_equal(s->header.message_flags & HV_MESSAGE_FLAG_PENDING, 0);
  assert_int_equal(guest_take(), 3);
  assert_int_equal(s->header.message_type, HVMSG_NONE);
  assert_int_equal(hvemu_queued(hv, 2), 0);
  assert_int_equal(hvemu_stats(hv)->hs_eom, 2);
  /* Slot busy when a message arrives later: pending is set then. */
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 4), 0);
  assert_int_equal(s->header.message_flags, 0);
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 4), 0);
  assert_int_equal(s->header.message_flags & HV_MESSAGE_FLAG_PENDING, HV_MESSAGE_FLAG_PENDING);
  guest_take();
  guest_take();
  pump();
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_NONE, 0, p, 4), -EINVAL);
  assert_int_equal(hvemu_post_message(hv, 16, HVMSG_VMBUS, 0, p, 4), -EINVAL);
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 241), -EINVAL);
}

static void test_message_queue_full_and_masked(void **state) {
  (void)state;
  bring_up();
  /* Masked SINT: messages land but no interrupt. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SINT0 + 2, VEC | HV_SINT_MASKED), 0);
  uint8_t p[4] = {0};
  for (unsigned i = 0; i < HVEMU_SINT_QUEUE + 1; i++)
    assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 4), 0);
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 4), -ENOBUFS);
  pump();
  assert_int_equal(irq_count, 0);
  /* Unmasking delivers nothing new (slot busy), the guest drains with EOM. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SINT0 + 2, VEC), 0);
  unsigned taken = 0;
  while (slot2()->header.message_type != HVMSG_NONE && taken < 1000) {
    guest_take();
    taken++;
    pump();
  }
  assert_int_equal(taken, HVEMU_SINT_QUEUE + 1);
  assert_int_equal(irq_count, HVEMU_SINT_QUEUE);
}

static void test_message_before_simp(void **state) {
  (void)state;
  uint8_t p[4] = {9};
  /* No SIMP yet: queued, delivered once the guest enables it. */
  assert_int_equal(hvemu_post_message(hv, 2, HVMSG_VMBUS, 0, p, 4), 0);
  bring_up();
  pump();
  assert_int_equal(slot2()->payload[0], 9);
  assert_int_equal(irq_count, 1);
}

static void test_event_flags(void **state) {
  (void)state;
  assert_int_equal(hvemu_signal_event(hv, 2, 5), -ENODEV); /* SIEFP off */
  bring_up();
  assert_int_equal(hvemu_signal_event(hv, 2, 5), 0);
  assert_int_equal(hvemu_signal_event(hv, 2, 5), 0); /* coalesced */
  assert_int_equal(hvemu_signal_event(hv, 2, 2047), 0);
  assert_int_equal(hvemu_signal_event(hv, 2, 2048), -EINVAL);
  pump();
  const struct hv_event_flags_page *f = siefp;
  assert_int_equal(f->sint_flags[2][0], 1ull << 5);
  assert_int_equal(f->sint_flags[2][31], 1ull << 63);
  assert_int_equal(irq_count, 1); /* one DPC run delivers the vector once */
  assert_int_equal(hvemu_stats(hv)->hs_flags_set, 2);
  /* SynIC off: the flag is set, no interrupt. */
  assert_int_equal(hw_wrmsr_safe(HV_X64_MSR_SCONTROL, 0), 0);
  assert_int_equal(hvemu_signal_event(hv, 2, 7), 0);
  pump();
  assert_int_equal(irq_count, 1);
  assert_true(hvemu_stats(hv)->hs_sint_suppressed >= 1);
}

static void test_inject_not_reentrant(void **state) {
  (void)state;
  bring_up();
  struct hv_input_post_message *in = page_alloc(1);
  memset(in, 0, sizeof(*in));
  in->connection_id = 3;
  in->message_type = 1;
  in->payload_size = 4;
  assert_int_equal(hvemu_register_port(hv, 3, on_port, NULL), 0);
  /* The port answers by posting a message back during the work item. */
  assert_int_equal(hcall(HVCALL_POST_MESSAGE, hw_virt_to_phys(in)), 0);
  assert_int_equal(hvemu_signal_event(hv, 2, 1), 0);
  assert_false(irq_during_hypercall);
  pump();
  assert_int_equal(irq_count, 1);
  assert_int_equal(inproc_irq_stats()->is_unhandled, 0);
  page_free(in, 1);
}

static const struct CMUnitTest tests[] = {
    UNIT_TEST_FIXTURE(test_cpuid),
    UNIT_TEST_FIXTURE(test_cpuid_without_emulator),
    UNIT_TEST_FIXTURE(test_hypercall_msr),
    UNIT_TEST_FIXTURE(test_msr_gp_cases),
    UNIT_TEST_FIXTURE(test_clock_msrs),
    UNIT_TEST_FIXTURE(test_synic_pages_zeroed),
    UNIT_TEST_FIXTURE(test_refuse_msrs),
    UNIT_TEST_FIXTURE(test_hypercall_errors),
    UNIT_TEST_FIXTURE(test_post_message_deferred),
    UNIT_TEST_FIXTURE(test_signal_event),
    UNIT_TEST_FIXTURE(test_message_pending_eom),
    UNIT_TEST_FIXTURE(test_message_queue_full_and_masked),
    UNIT_TEST_FIXTURE(test_message_before_simp),
    UNIT_TEST_FIXTURE(test_event_flags),
    UNIT_TEST_FIXTURE(test_inject_not_reentrant),
};

UNIT_MAIN("host_hvemu", tests)
