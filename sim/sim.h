/* sim/sim.h: the in-process system as one fixture, brought up in phases.
 *
 * Host and guest in one Linux process (DESIGN.md, first seam): guest memory
 * (the arena of host/inproc_hw.c), the partition, the Hyper-V emulator, the
 * VMBus server with its devices; the guest's Hyper-V layer and VMBus client;
 * the NIC (NetVSP device and built-in peer, netvsc, net/). hvsim, the unit
 * tests, the benchmarks and the fuzzers build it here, not by hand; host/
 * stays a host library without guest wiring.
 *
 * Phases, brought up in this order (sim_start, sim_up) and taken down in
 * reverse (sim_down):
 *   SIM_HOST       arena (mapped once per process, kept afterwards),
 *                  partition, emulator answering the guest's hw_* calls,
 *                  VMBus server (unless sc_no_vmbus), echo devices, NIC device
 *   SIM_HV         the guest's hv_detect + hv_init: hypercall page, SynIC
 *   SIM_CONNECTED  vmbus_connect returned 0
 *   SIM_NIC        netvsc + net/ on the NIC (sc_nic)
 *
 * Leak baselines: when a phase is reached the fixture takes a snapshot of
 * free pages and KMCL's live channels, packets, tokens and GPADLs
 * (sim_counts); sim_leaks compares the present with the current phase's,
 * sim_down with the phase it goes down to. KMCL packets and tokens are
 * compared at SIM_OFF only: a host channel keeps up to KMCL_POOL_KEEP packet
 * objects on its lookaside list until it is cleaned up, when its device
 * goes (a test that knows its device pools nothing compares s_base itself).
 * Free pages are not compared below SIM_CONNECTED once the guest tried to
 * connect: hv/vmbus.c keeps its interrupt and monitor pages after a failed
 * connect, or a disconnect below 3.0 or without an UNLOAD_RESPONSE (a host
 * may still write them), for the next connect to reuse.
 *
 * Every function runs on the one thread of the event loop. Errors come back
 * as numbers with a line on stderr, never exit(): fuzzers abort, tests
 * assert, hvsim prints its own status.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/netvsc/netvsc.h"
#include "host/hvemu.h"
#include "host/netvsp.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "hv/vmbus.h"

#define SIM_MEM_DEFAULT (64u << 20)
#define SIM_MAX_ECHO 2

enum sim_phase { SIM_OFF, SIM_HOST, SIM_HV, SIM_CONNECTED, SIM_NIC, SIM_NPHASES };

/* ---- leak baselines ------------------------------------------------------ */
struct sim_counts {
  uint64_t ct_pages;                                      /* page_free_count() */
  uint32_t ct_channels, ct_packets, ct_tokens, ct_gpadls; /* kmcl_live_* */
};

/** Snapshot the counters now. */
void sim_counts_take(struct sim_counts *c);
/** Compare the counters now with `base`: channels and GPADLs always, free
 * pages when `pages`, packets and tokens when `pooled`. Print one
 * "leak: WHAT: ..." line per difference; return the number that differ. */
unsigned sim_counts_check(const struct sim_counts *base, bool pages, bool pooled, const char *what);

/* ---- the NIC over any bus ---------------------------------------------------- */
/* The host's NetVSP device on a server bus, the guest's netvsc on a client
 * bus, and net/ above it: the whole system joins them over VMBus, the unit
 * tests over the loopback bus (tests/unit/lib/loopback_bus.h). */
struct sim_nic {
  struct netpeer *sn_peer; /* the built-in peer, when no back end was given */
  struct netvsp *sn_dev;   /* the host's device */
  struct netvsc *sn_nv;    /* the guest's driver */
  struct net *sn_net;      /* net/ on it */
};

/** Zero `n` and create the device on `bus` (server channels) with `cfg`
 * (NULL: defaults) and back end `be` (NULL: a built-in peer, attached).
 * 0 or -ENOMEM; what was created stays for sim_nic_down. */
int sim_nic_host(struct sim_nic *n, PDEVICE_OBJECT bus, const struct netvsp_config *cfg,
                 const struct netvsp_backend *be);
/** Probe netvsc on `bus` (client channels) with `cfg` (NULL: defaults):
 * netvsc_probe's result (0, -ENODEV when nothing is offered, ...). */
int sim_nic_guest(struct sim_nic *n, PDEVICE_OBJECT bus, const struct netvsc_config *cfg);
/** Attach net/ to the probed driver with `ip` ("ADDR/PREFIX", NULL: the
 * default). 0, -EINVAL (bad ip) or -ENOMEM. */
int sim_nic_net(struct sim_nic *n, const char *ip);
/** Detach net/ and halt the driver (what exists). */
void sim_nic_guest_down(struct sim_nic *n);
/** The guest side, then the device and the peer. */
void sim_nic_down(struct sim_nic *n);

/* ---- the whole system ---------------------------------------------------------- */
struct sim_config {
  size_t sc_mem;                    /* guest memory when no arena is mapped (0: default) */
  struct hvemu_config sc_emu;       /* the emulator's */
  bool sc_no_vmbus;                 /* the emulator alone (tests of it own its ports) */
  struct vmbsrv_config sc_srv;      /* the VMBus server's */
  unsigned sc_echo;                 /* echo devices (at most SIM_MAX_ECHO) */
  uint32_t sc_echo_tag;             /* instance tag of the first; +1 each */
  bool sc_nic;                      /* the NetVSP device with the built-in peer */
  struct netvsp_config sc_nic_host; /* its configuration */
  struct vmbus_options sc_vmbus;    /* the guest's connect options */
  struct netvsc_config sc_nic_guest;
  const char *sc_ip; /* net/'s address (NULL: the default) */
  bool sc_quiet;     /* sim_down prints no leak lines (hvsim: a guest cut off
                        at its timeout never gave its pages back) */
};

struct sim {
  struct sim_config s_cfg;
  enum sim_phase s_phase;
  struct partition s_part;
  struct hvemu *s_emu;
  struct vmbsrv *s_srv;
  struct echo_dev *s_echo[SIM_MAX_ECHO];
  struct sim_nic s_nic;
  struct sim_counts s_base[SIM_NPHASES]; /* taken as each phase was reached */
  bool s_connect_tried;                  /* vmbus_connect was called */
  uint8_t *s_fake[3];                    /* sim_fake_synic's pages */
};

/** Start afresh from `cfg` (NULL: defaults) and bring the system up to
 * phase `to`. 0, or a negative errno of the step that failed (a message on
 * stderr says which): that step is undone, the phases reached before it
 * stay up for sim_down. */
int sim_start(struct sim *s, const struct sim_config *cfg, enum sim_phase to);
/** Bring a started system up from its phase to `to` (same result). */
int sim_up(struct sim *s, enum sim_phase to);
/** SIM_HV -> SIM_CONNECTED with options `o` (NULL: the configuration's);
 * vmbus_connect's result. On failure the phase stays SIM_HV (retry, or go
 * down). */
int sim_connect(struct sim *s, const struct vmbus_options *o);
/** Take the phases above `to` down in reverse (server faults cleared
 * first, the event loop settled after each step), then compare the
 * counters with the baseline of `to`. Returns the number that differ
 * (printed; 0 and nothing printed with sc_quiet or when nothing was above
 * `to`). Down to SIM_OFF the arena stays mapped for the next start. */
unsigned sim_down(struct sim *s, enum sim_phase to);
/** Settle, then compare the counters with the current phase's baseline:
 * the number that differ (printed). */
unsigned sim_leaks(struct sim *s);
/** Run the event loop until nothing is pending (bounded). */
void sim_settle(void);

/** A guest that is not hv/ (tests and fuzzers of the host side): zeroed
 * hypercall, SIMP and SIEFP pages, then the MSR writes hv_init makes:
 * guest OS id, hypercall page (and hw_hypercall_set_page), SIMP, SIEFP,
 * SINT2 on `vector`, SCONTROL. Needs SIM_HOST; the pages are freed by
 * sim_down. 0, -ENOMEM, or -EIO when the emulator refused a write. */
int sim_fake_synic(struct sim *s, uint8_t vector);
/** The fake guest's SIMP and SIEFP (NULL before sim_fake_synic). */
static inline void *sim_fake_simp(const struct sim *s) { return s->s_fake[1]; }
static inline void *sim_fake_siefp(const struct sim *s) { return s->s_fake[2]; }

#endif
