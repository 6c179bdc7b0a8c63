/* hv/hv.c: Hyper-V detection, guest OS id, hypercall page, post/signal. */
#include "hv/hv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"

static struct hv_info hv_inf;
static struct hv_vcpu hv_vcpu0;
static void *hv_hypercall_page;
static bool hv_up;

const struct hv_info *hv_info(void) { return &hv_inf; }
struct hv_vcpu *hv_vcpu_self(void) {
  return &hv_vcpu0;
}

static void hv_cpuid_string(char out[13], uint32_t leaf) {
  struct hw_cpuid_regs r;
  hw_cpuid(leaf, 0, &r);
  memcpy(out, &r.ebx, 4);
  memcpy(out + 4, &r.ecx, 4);
  memcpy(out + 8, &r.edx, 4);
  out[12] = '\0';
  for (int i = 0; i < 12; i++)
    if (out[i] != '\0' && (out[i] < 0x20 || out[i] > 0x7e))
      out[i] = '?';
}

/* What VMBus needs (PROTOCOL-REFERENCE 7.1): each bit with the name we
 * print when it is missing. */
static const struct {
  int reg; /* 0: features EAX, 1: features EBX */
  uint32_t bit;
  const char *name;
} hv_required[] = {
    {0, HV_MSR_HYPERCALL_AVAILABLE, "HypercallMsrs"},
    {0, HV_MSR_SYNIC_AVAILABLE, "SynicMsrs"},
    {0, HV_MSR_VP_INDEX_AVAILABLE, "VpIndex"},
    {1, HV_POST_MESSAGES, "PostMessages"},
    {1, HV_SIGNAL_EVENTS, "SignalEvents"},
};

int hv_detect(struct hv_info *info) {
  memset(info, 0, sizeof(*info));
  struct hw_cpuid_regs r;
  hw_cpuid(1, 0, &r);
  if (!(r.ecx & (1u << 31))) {
    printf("Hyper-V: not present (no hypervisor: CPUID.1:ECX.HV=0)\n");
    return -ENODEV;
  }
  hv_cpuid_string(info->hi_vendor, HV_CPUID_VENDOR_AND_MAX);
  hw_cpuid(HV_CPUID_VENDOR_AND_MAX, 0, &r);
  info->hi_max_leaf = r.eax;
  hw_cpuid(HV_CPUID_INTERFACE, 0, &r);
  /* Key on the interface signature, not the vendor (PROTOCOL-REFERENCE 1.1). */
  if (r.eax != HV_INTERFACE_SIGNATURE || info->hi_max_leaf < HV_CPUID_MIN_MAX_LEAF ||
      info->hi_max_leaf > HV_CPUID_VENDOR_AND_MAX + 0xff) {
    printf("Hyper-V: not present (hypervisor signature '%s')\n", info->hi_vendor);
    return -ENODEV;
  }
  hw_cpuid(HV_CPUID_VERSION, 0, &r);
  info->hi_build = r.eax;
  info->hi_version = r.ebx;
  hw_cpuid(HV_CPUID_FEATURES, 0, &r);
  info->hi_features_eax = r.eax;
  info->hi_features_ebx = r.ebx;
  info->hi_features_edx = r.edx;
  hw_cpuid(HV_CPUID_ENLIGHTENMENT_INFO, 0, &r);
  info->hi_recommendations = r.eax;
  hw_cpuid(HV_CPUID_IMPLEMENTATION_LIMITS, 0, &r);
  info->hi_max_vps = r.eax;
  printf("Hyper-V: present, '%s' version %u.%u build %u, features eax=%#010x ebx=%#010x "
         "edx=%#010x recommendations=%#010x\n",
         info->hi_vendor, info->hi_version >> 16, info->hi_version & 0xffff, info->hi_build,
         info->hi_features_eax, info->hi_features_ebx, info->hi_features_edx,
         info->hi_recommendations);

  char missing[128] = "";
  for (size_t i = 0; i < sizeof(hv_required) / sizeof(hv_required[0]); i++) {
    uint32_t reg = hv_required[i].reg ? info->hi_features_ebx : info->hi_features_eax;
    if (!(reg & hv_required[i].bit)) {
      strncat(missing, " ", sizeof(missing) - strlen(missing) - 1);
      strncat(missing, hv_required[i].name, sizeof(missing) - strlen(missing) - 1);
    }
  }
  if (missing[0]) {
    printf("Hyper-V: present but missing what VMBus needs:%s\n", missing);
    return -ENODEV;
  }
  info->hi_present = true;
  if (info != &hv_inf)
    hv_inf = *info; /* hv_init() uses this detection, without printing again */
  return 0;
}

/* MSR helpers that name the register in the one error message. */
static int hv_wrmsr(uint32_t msr, const char *name, uint64_t v) {
  int rc = hw_wrmsr_safe(msr, v);
  if (rc)
    pr_err("Hyper-V: writing MSR %#x (%s) was refused (#GP)\n", msr, name);
  return rc;
}
static int hv_rdmsr(uint32_t msr, const char *name, uint64_t *v) {
  int rc = hw_rdmsr_safe(msr, v);
  if (rc)
    pr_err("Hyper-V: reading MSR %#x (%s) was refused (#GP)\n", msr, name);
  return rc;
}

int hv_init(bool *earlier_owner) {
  int rc;
  uint64_t v;
  *earlier_owner = false;
  if (!hv_inf.hi_present && (rc = hv_detect(&hv_inf)) != 0)
    return rc;

  /* 1. Guest OS id: non-zero before the hypercall page can be enabled. A
   * non-zero value already there means an earlier owner (firmware, an
   * earlier kernel) talked to the hypervisor (iPXE checks the same). */
  if ((rc = hv_rdmsr(HV_X64_MSR_GUEST_OS_ID, "GUEST_OS_ID", &v)) != 0)
    return rc;
  *earlier_owner = (v != 0);
  uint64_t os_id = HV_GUEST_OS_ID_OPEN_SOURCE |
                   (HV_GUEST_OS_TYPE_HVKERNEL << HV_GUEST_OS_ID_TYPE_SHIFT) |
                   (HV_GUEST_OS_ID_HVKERNEL << HV_GUEST_OS_ID_OSID_SHIFT) |
                   (1ull << HV_GUEST_OS_ID_VERSION_SHIFT);
  if ((rc = hv_wrmsr(HV_X64_MSR_GUEST_OS_ID, "GUEST_OS_ID", os_id)) != 0)
    return rc;

  /* 2. Hypercall page: read-modify-write (bits 11:1 preserved), check that
   * the enable bit stuck. The page is identity mapped and executable. */
  if (!hv_hypercall_page && !(hv_hypercall_page = page_alloc(1)))
    return -ENOMEM;
  uint64_t hc_orig;
  if ((rc = hv_rdmsr(HV_X64_MSR_HYPERCALL, "HYPERCALL", &hc_orig)) != 0)
    goto err;
  uint64_t hc = (hw_virt_to_phys(hv_hypercall_page) & ~0xfffull) | (hc_orig & HV_MSR_RSVD_MASK) |
                HV_MSR_ENABLE;
  if ((rc = hv_wrmsr(HV_X64_MSR_HYPERCALL, "HYPERCALL", hc)) != 0)
    goto err;
  if ((rc = hv_rdmsr(HV_X64_MSR_HYPERCALL, "HYPERCALL", &v)) != 0)
    goto err;
  if (!(v & HV_MSR_ENABLE)) {
    pr_err("Hyper-V: the hypercall page did not enable (HYPERCALL reads %#lx)\n", (unsigned long)v);
    rc = -EIO;
    goto err;
  }
  hw_hypercall_set_page(hv_hypercall_page);

  /* 3. VP index: target_vcpu/target_vp take VP indices, not APIC ids. */
  if ((rc = hv_rdmsr(HV_X64_MSR_VP_INDEX, "VP_INDEX", &v)) != 0)
    goto err_hc;
  hv_vcpu0.hv_vp_index = (uint32_t)v;

  /* 4. HvPostMessage input page (8-byte aligned, inside one page). */
  if (!hv_vcpu0.hv_post_input && !(hv_vcpu0.hv_post_input = page_alloc(1))) {
    rc = -ENOMEM;
    goto err_hc;
  }
  /* 5. SynIC. */
  if ((rc = hv_synic_enable(&hv_vcpu0)) != 0)
    goto err_hc;
  hv_up = true;
  pr_info("Hyper-V: hypercall page at %#lx, vp index %u, SynIC on (SINT%d -> vector %#x)\n",
          (unsigned long)hw_virt_to_phys(hv_hypercall_page), hv_vcpu0.hv_vp_index, HV_VMBUS_SINT,
          HV_SINT_VECTOR);
  return 0;

err_hc:
  hw_hypercall_set_page(NULL);
  hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, hc_orig & HV_MSR_RSVD_MASK);
err:
  return rc;
}

void hv_shutdown(void) {
  if (hv_up) {
    hv_synic_disable(&hv_vcpu0);
    uint64_t v = 0;
    hw_hypercall_set_page(NULL);
    if (hw_rdmsr_safe(HV_X64_MSR_HYPERCALL, &v) == 0)
      hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, v & HV_MSR_RSVD_MASK);
    hv_up = false;
    pr_info("Hyper-V: SynIC and hypercall page disabled\n");
  }
  /* The hypervisor no longer writes these pages (their MSRs are off, or
   * were never enabled): give them back. */
  void **pages[] = {(void **)&hv_vcpu0.hv_simp, (void **)&hv_vcpu0.hv_siefp,
                    (void **)&hv_vcpu0.hv_post_input, &hv_hypercall_page};
  for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
    if (*pages[i])
      page_free(*pages[i], 1);
    *pages[i] = NULL;
  }
}

static bool hv_never(void *arg) {
  (void)arg;
  return false;
}

int hv_post_message(uint32_t connection_id, uint32_t message_type, const void *payload,
                    size_t len) {
  struct hv_input_post_message *in = hv_vcpu0.hv_post_input;
  if (!in || len > HV_MESSAGE_PAYLOAD_MAX)
    return -EINVAL;
  uint64_t delay_ms = 1;
  for (int tries = 0;; tries++) {
    /* Rebuilt each try: zero what we send (STYLE.md rule 5.8). */
    memset(in, 0, sizeof(*in));
    in->connection_id = connection_id;
    in->message_type = message_type;
    in->payload_size = (uint32_t)len;
    memcpy(in->payload, payload, len);
    uint64_t r = hw_hypercall(HVCALL_POST_MESSAGE, hw_virt_to_phys(in), 0);
    uint16_t st = (uint16_t)(r & HV_HYPERCALL_RESULT_MASK);
    if (st == HV_STATUS_SUCCESS)
      return 0;
    if ((st != HV_STATUS_INSUFFICIENT_MEMORY && st != HV_STATUS_INSUFFICIENT_BUFFERS) ||
        tries + 1 >= HV_POST_MAX_TRIES)
      return HV_ERR(st);
    /* Transient: the host's message queue is full. Let it drain. */
    ev_wait(hv_never, NULL, delay_ms);
    if (delay_ms < HV_POST_MAX_DELAY_MS)
      delay_ms *= 2;
  }
}

int hv_signal_event(uint32_t connection_id, uint16_t flag_number) {
  uint64_t input = (uint64_t)connection_id | ((uint64_t)flag_number << 32);
  uint64_t r = hw_hypercall(HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, input, 0);
  uint16_t st = (uint16_t)(r & HV_HYPERCALL_RESULT_MASK);
  return st == HV_STATUS_SUCCESS ? 0 : HV_ERR(st);
}

const char *hv_strerror(int rc) {
  static char other[32];
  if (!HV_IS_STATUS_ERR(rc))
    return rc == 0 ? "success" : strerror(-rc);
  switch (HV_STATUS_OF(rc)) {
  case HV_STATUS_INVALID_HYPERCALL_CODE:
    return "HV_STATUS_INVALID_HYPERCALL_CODE";
  case HV_STATUS_INVALID_HYPERCALL_INPUT:
    return "HV_STATUS_INVALID_HYPERCALL_INPUT";
  case HV_STATUS_INVALID_ALIGNMENT:
    return "HV_STATUS_INVALID_ALIGNMENT";
  case HV_STATUS_INVALID_PARAMETER:
    return "HV_STATUS_INVALID_PARAMETER";
  case HV_STATUS_ACCESS_DENIED:
    return "HV_STATUS_ACCESS_DENIED";
  case HV_STATUS_INSUFFICIENT_MEMORY:
    return "HV_STATUS_INSUFFICIENT_MEMORY";
  case HV_STATUS_INVALID_CONNECTION_ID:
    return "HV_STATUS_INVALID_CONNECTION_ID";
  case HV_STATUS_INSUFFICIENT_BUFFERS:
    return "HV_STATUS_INSUFFICIENT_BUFFERS";
  default:
    snprintf(other, sizeof(other), "HV_STATUS %#x", HV_STATUS_OF(rc));
    return other;
  }
}
