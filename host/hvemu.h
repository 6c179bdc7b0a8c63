/* host/hvemu.h: the Hyper-V guest interface, emulated (backend independent).
 *
 * What a Hyper-V guest sees of the hypervisor, per the TLFS as summarised in
 * ../shared/PROTOCOL-REFERENCE.md section 1: the CPUID leaves 0x40000000 to
 * 0x4000000A, the synthetic MSRs, the hypercall page, HvPostMessage and
 * HvSignalEvent, and the SynIC (message slots with the pending/EOM protocol,
 * event flags). Invalid use gets the TLFS status or a #GP, as Hyper-V does.
 *
 * Backends (in-process: host/inproc_hw.c; KVM: next issue) call the four
 * entry points below from their CPUID/MSR/hypercall exits. The emulator
 * reaches guest memory and injects interrupts only through its partition
 * (host/partition.h), and never calls into the guest synchronously.
 *
 * Host services (the VMBus server) register message ports and event
 * connections by connection id; guest posts are copied out at the hypercall
 * and handed to the port's handler later from a passive work item of the
 * kernel event loop (never inside the hypercall). Guest signals call the
 * event handler at once: it may only record state or queue work.
 *
 * One vCPU (VP index 0). All calls come from the host's one thread.
 */
#ifndef HOST_HVEMU_H
#define HOST_HVEMU_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/hv_tlfs.h"
#include "host/partition.h"
#include "kernel/hw.h"

/** Highest hypervisor CPUID leaf reported. */
#define HVEMU_MAX_LEAF 0x4000000Au
/** Messages queued per SINT while its slot is busy (then -ENOBUFS). */
#define HVEMU_SINT_QUEUE 128
/** Guest posts accepted but not yet handled (then INSUFFICIENT_BUFFERS). */
#define HVEMU_RXQ 128
#define HVEMU_MAX_PORTS 8
#define HVEMU_MAX_EVENTS 512

struct hvemu_config {
  bool hc_refuse_msrs; /* advertise Hyper-V, but #GP on every synthetic MSR */
  uint64_t hc_tsc_hz;  /* HV_X64_MSR_TSC_FREQUENCY (0: 2.5 GHz) */
  uint64_t hc_apic_hz; /* HV_X64_MSR_APIC_FREQUENCY (0: 200 MHz) */
};

/** Counters tests read. */
struct hvemu_stats {
  uint64_t hs_hypercalls;
  uint64_t hs_post_message;    /* accepted HvPostMessage calls */
  uint64_t hs_signal_event;    /* accepted HvSignalEvent calls */
  uint64_t hs_hcall_errors;    /* hypercalls answered with a non-zero status */
  uint64_t hs_gp;              /* #GPs raised on MSR access */
  uint64_t hs_msgs_to_guest;   /* messages written into SIMP slots */
  uint64_t hs_msgs_queued;     /* messages that found their slot busy */
  uint64_t hs_eom;             /* EOM writes */
  uint64_t hs_flags_set;       /* event flags newly set */
  uint64_t hs_sint_raised;     /* SINT interrupts injected */
  uint64_t hs_sint_suppressed; /* not injected: SynIC off or SINT masked */
};

/** A guest post, handed to a port at passive level. */
typedef void hvemu_port_fn(void *ctx, uint32_t conn_id, uint32_t msg_type, const void *payload,
                           uint32_t size);
/** A guest HvSignalEvent; called inside the hypercall: record or queue only. */
typedef void hvemu_event_fn(void *ctx, uint32_t conn_id, uint16_t flag);
/** Idle-time poller (MNF pages); returns true when it did something. */
typedef bool hvemu_poll_fn(void *ctx);

struct hvemu;

/** Create an emulator for partition `p` (cfg may be NULL). NULL on ENOMEM. */
struct hvemu *hvemu_create(struct partition *p, const struct hvemu_config *cfg);
void hvemu_destroy(struct hvemu *hv);
struct partition *hvemu_partition(struct hvemu *hv);
const struct hvemu_stats *hvemu_stats(const struct hvemu *hv);

/* ---- guest entry points (backends) -------------------------------------- */
/** Overlay the hypervisor's view on `r`, which the backend pre-filled with
 * the CPU's own values: CPUID.1:ECX[31] set, leaves 0x40000000 to
 * HVEMU_MAX_LEAF filled, other hypervisor leaves zero. */
void hvemu_cpuid(struct hvemu *hv, uint32_t leaf, uint32_t subleaf, struct hw_cpuid_regs *r);
/** Synthetic MSR access: 0, or -EIO when the guest must get a #GP. MSRs
 * outside HV_X64_MSR_RANGE_FIRST..LAST are the backend's business (-EIO). */
int hvemu_rdmsr(struct hvemu *hv, uint32_t msr, uint64_t *val);
int hvemu_wrmsr(struct hvemu *hv, uint32_t msr, uint64_t val);
/** One hypercall (x64 convention): returns RAX. */
uint64_t hvemu_hypercall(struct hvemu *hv, uint64_t control, uint64_t input, uint64_t output);
/** Idle hook: run the pollers. True when one did something. */
bool hvemu_poll(struct hvemu *hv);

/* ---- host services -------------------------------------------------------- */
/** Listen for HvPostMessage on conn_id (bits 23:0): fn gets each post at
 * passive level. 0, -EINVAL (no fn), -EEXIST, -ENOSPC (HVEMU_MAX_PORTS). */
int hvemu_register_port(struct hvemu *hv, uint32_t conn_id, hvemu_port_fn *fn, void *ctx);
/** Stop listening on conn_id (nothing when it has no port). */
void hvemu_unregister_port(struct hvemu *hv, uint32_t conn_id);
/** Accept HvSignalEvent on conn_id (bits 23:0): fn is called inside the
 * hypercall. 0, -EINVAL (no fn), -EEXIST, -ENOSPC (HVEMU_MAX_EVENTS). */
int hvemu_register_event(struct hvemu *hv, uint32_t conn_id, hvemu_event_fn *fn, void *ctx);
/** Refuse HvSignalEvent on conn_id again (nothing when it was not taken). */
void hvemu_unregister_event(struct hvemu *hv, uint32_t conn_id);
/** Whether conn_id is an event connection now. */
bool hvemu_event_registered(const struct hvemu *hv, uint32_t conn_id);
/** Add an idle poller (at most a few). 0 or -ENOSPC. */
int hvemu_add_poller(struct hvemu *hv, hvemu_poll_fn *fn, void *ctx);
void hvemu_remove_poller(struct hvemu *hv, hvemu_poll_fn *fn, void *ctx);

/** Send a SynIC message to SINT `sint`: into its SIMP slot when free (and
 * raise the SINT), else queued with msg_pending set in the slot, delivered
 * after the guest's EOM. 0, -EINVAL (sint, type 0 or size > 240), -ENOBUFS
 * (queue full: the message is lost, as on a real host under pressure). */
int hvemu_post_message(struct hvemu *hv, uint32_t sint, uint32_t msg_type, uint64_t sender,
                       const void *payload, uint32_t size);
/** Set event flag `flag` in SINT `sint`'s SIEFP slot and raise the SINT when
 * the flag was clear. 0, -EINVAL, -ENODEV (SIEFP disabled: flag lost). */
int hvemu_signal_event(struct hvemu *hv, uint32_t sint, uint32_t flag);
/** Messages waiting for SINT `sint`'s slot. */
unsigned hvemu_queued(const struct hvemu *hv, uint32_t sint);
/** Drop every queued message and guest post (a reset of the connection). */
void hvemu_flush(struct hvemu *hv);

/* ---- fault injection ------------------------------------------------------- */
/** Answer the next `n` HvPostMessage calls with `status` (e.g.
 * HV_STATUS_INSUFFICIENT_MEMORY) without delivering them. */
void hvemu_fail_posts(struct hvemu *hv, unsigned n, uint16_t status);
/** The same, after delivering the next `pass` posts (e.g. a GPADL_HEADER
 * delivered and the GPADL_BODY after it refused). */
void hvemu_fail_posts_after(struct hvemu *hv, unsigned pass, unsigned n, uint16_t status);

#endif
