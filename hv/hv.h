/* hv/hv.h: the guest's Hyper-V platform layer: detection, guest OS id,
 * hypercall page, SynIC, HvPostMessage and HvSignalEvent (STYLE.md rule 2:
 * built on kernel/hw.h only, so it runs in the kernel and in-process). */
#ifndef HV_HV_H
#define HV_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv_tlfs.h"

/* Hypervisor status codes folded into the negative-errno space (STYLE.md
 * rule 8, iPXE's EHV): rc = -(HV_ERRNO_BASE + status). */
#define HV_ERRNO_BASE 0x4000
#define HV_ERR(status) (-(HV_ERRNO_BASE + (int)(status)))
#define HV_IS_STATUS_ERR(rc) ((rc) <= -HV_ERRNO_BASE && (rc) > -(HV_ERRNO_BASE + 0x10000))
#define HV_STATUS_OF(rc) ((uint16_t)(-(rc)-HV_ERRNO_BASE))

/** The IDT vector the VMBus SINT is routed to (our choice, >= 16). */
#define HV_SINT_VECTOR 0x30
/** The SINT VMBus uses (VMBUS_MESSAGE_SINT in hv/vmbus_proto.h). */
#define HV_VMBUS_SINT 2

/* Bounded retry of HvPostMessage on INSUFFICIENT_MEMORY/BUFFERS: delays of
 * 1, 2, 4, ... ms capped at HV_POST_MAX_DELAY_MS, HV_POST_MAX_TRIES tries in
 * all (policy: Linux uses 100 tries from 1 us; our loop sleeps in ms). */
#define HV_POST_MAX_TRIES 20
#define HV_POST_MAX_DELAY_MS 64

struct hv_info {
  bool hi_present; /* "Hv#1" interface and the features VMBus needs */
  char hi_vendor[13];
  uint32_t hi_max_leaf;
  uint32_t hi_build, hi_version; /* 0x40000002 EAX, EBX */
  uint32_t hi_features_eax, hi_features_ebx, hi_features_edx;
  uint32_t hi_recommendations;
  uint32_t hi_max_vps;
};

/* Per-vCPU SynIC state (one vCPU runs, but the state is per VP as on Hyper-V). */
struct hv_vcpu {
  uint32_t hv_vp_index;
  struct hv_message_page *hv_simp;
  struct hv_event_flags_page *hv_siefp;
  struct hv_input_post_message *hv_post_input; /* hypercall input page */
};

/** CPUID checks (TLFS, PROTOCOL-REFERENCE 1.1/7.1). Fills *info and prints
 * the verdict line: "Hyper-V: not present (...)", "Hyper-V: present, ...",
 * or "Hyper-V: present but missing: <list>" (then hi_present is false).
 * Returns 0 when usable for VMBus, -ENODEV otherwise. */
int hv_detect(struct hv_info *info);

/** Guest OS id, hypercall page, VP index, SynIC (SIMP, SIEFP, SINT2 to
 * HV_SINT_VECTOR without auto-EOI, SCONTROL). Requires hv_detect() == 0.
 * Each refused MSR is named in the error. 0 or -errno. `earlier_owner` is
 * set when GUEST_OS_ID was already non-zero (firmware or an earlier kernel
 * holds VMBus state: the bus client starts with UNLOAD). */
int hv_init(bool *earlier_owner);
/** Undo hv_init in the order of PROTOCOL-REFERENCE 7.9: SINT2, SIMP, SIEFP,
 * SCONTROL, then the hypercall page last. Idempotent. */
void hv_shutdown(void);

struct hv_vcpu *hv_vcpu_self(void);
const struct hv_info *hv_info(void);

/** HvPostMessage: slow call through the per-vCPU input page, retried with
 * back-off on INSUFFICIENT_MEMORY/BUFFERS. 0 or HV_ERR(status), -EINVAL. */
int hv_post_message(uint32_t connection_id, uint32_t message_type, const void *payload, size_t len);
/** HvSignalEvent, fast call. 0 or HV_ERR(status). */
int hv_signal_event(uint32_t connection_id, uint16_t flag_number);

/** SynIC message/event handlers (set by the VMBus client). The SINT handler
 * copies each message out of the SIMP slot, clears it, writes EOM when the
 * pending flag is set, queues it, and queues a DPC that calls msg_fn for
 * each queued message (in order) and then event_fn (event flags). */
typedef void (*hv_msg_fn)(const struct hv_message *msg);
typedef void (*hv_event_fn)(void);
void hv_synic_set_handlers(hv_msg_fn msg_fn, hv_event_fn event_fn);
/** SynIC counters: messages copied, dropped (inbox full), EOMs written,
 * interrupts taken. */
struct hv_synic_stats {
  uint64_t ss_messages, ss_dropped, ss_eoms, ss_interrupts;
  uint64_t ss_causeless; /* interrupts with no message and no event flag: no work done */
  uint64_t ss_storms; /* runs of 1,000 causeless interrupts in a row (each logged, rate-limited) */
};
const struct hv_synic_stats *hv_synic_stats(void);
/** Enable/disable SynIC on this vCPU (called by hv_init/hv_shutdown). */
int hv_synic_enable(struct hv_vcpu *v);
void hv_synic_disable(struct hv_vcpu *v);

/** Atomically test-and-clear bit n of a host-shared bitmap. */
bool hv_test_and_clear_bit(volatile uint64_t *map, unsigned n);

/** Text for an rc from this layer ("HV_STATUS_INVALID_CONNECTION_ID", ...). */
const char *hv_strerror(int rc);

#endif
