/* tests/unit/lib/hostile_env.h: a hostile host for the hostile-host suites
 * (tests/unit/hostile_*_test.c, docs/SECURITY.md).
 *
 * The real guest (hv/ SynIC + VMBus client, kmcl/ channels) runs against the
 * in-process host (host/hvemu.c, host/vmbus_server.c) with echo devices, as
 * (sim/sim.h). On top of the server's fault hooks the helpers here
 * play the part of a host that writes what it likes: raw 256-byte SIMP slot
 * contents, SIEFP event bits, and raw bytes in a client channel's rings.
 */
#ifndef TESTS_UNIT_LIB_HOSTILE_ENV_H
#define TESTS_UNIT_LIB_HOSTILE_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "host/echo_dev.h"
#include "kmcl/vmbkmcl.h"
#include "sim/sim.h"

/** The in-process system (sim/sim.h) up to SIM_HV: the host with `necho`
 * echo devices (at most SIM_MAX_ECHO) and version cap `cap` (0: 6.0), the
 * guest's hv_init; not connected yet (add faults first). */
void henv_up(struct sim *h, uint32_t cap, unsigned necho);
/** sim_connect with every control wait shortened to wait_ms (0: named). */
int henv_connect(struct sim *h, uint32_t wait_ms);
/** Take it all down (sim_down to SIM_OFF): no leaks. */
void henv_down(struct sim *h);
/** Add a server fault (host/vmbus_server.h). */
void henv_fault(struct sim *h, bool to_guest, uint32_t msgtype, uint32_t nth,
                enum vmbsrv_fault_action action, uint32_t arg);

/* ---- the SynIC, written by the "hypervisor" ----------------------------- */
/** Write a raw message into the VMBus SINT's SIMP slot (header fields as
 * given, `len` payload bytes copied, the rest zero) and raise the SINT. */
void henv_slot_raw(struct sim *h, uint32_t message_type, uint32_t payload_size, uint8_t flags,
                   const void *payload, uint32_t len);
/** A VMBus channel message of `size` bytes through the slot. */
void henv_slot_msg(struct sim *h, const void *msg, uint32_t size);
/** Set SIEFP event bit `bit` of the VMBus SINT and raise the SINT. */
void henv_event_bit(struct sim *h, uint32_t bit);

/* ---- a client channel on an echo device ---------------------------------- */
#define HCL_MAX_SEEN 64
struct hclient {
  VMBCHANNEL ch;
  bool opened, started, closed, pnp_failed;
  uint32_t completions, mismatches;
  /* incoming data packets (ProcessPacket): count, last lengths and bytes */
  uint32_t rx;
  uint32_t rx_len[HCL_MAX_SEEN];
  uint8_t rx_first[HCL_MAX_SEEN][8];
  const void *rx_buf[HCL_MAX_SEEN];
  /* optional hook run inside ProcessPacket (before completing it) */
  void (*on_rx)(struct hclient *c, const void *buf, uint32_t len);
};
/** When nonzero, the next hclient_open* sets this incoming packet limit
 * (kmcl_channel_init_set_max_incoming) before Enable, then clears it. */
extern uint32_t hclient_next_max_incoming;
/** Allocate and enable a client channel for the echo class. Returns true
 * when it started within timeout_ms (the wait also ends at a
 * PnpFailure). */
bool hclient_open(struct hclient *c, uint32_t timeout_ms);
/** The same for one echo device (its instance GUID). */
bool hclient_open_echo(struct hclient *c, struct sim *h, unsigned echo, uint32_t timeout_ms);
/** Send n echo packets; returns the completions seen within timeout_ms. */
uint32_t hclient_round_trip(struct hclient *c, uint32_t n, uint32_t timeout_ms);
/** Disable and clean up (bounded: KMCL's own waits). */
void hclient_close(struct hclient *c);
/** The relid the guest's channel was opened on (0 when none). */
uint32_t hclient_relid(struct sim *h, const struct hclient *c);

/* ---- raw ring bytes, written by the "host" -------------------------------- */
/** Write `len` bytes (a packet: descriptor and body, len a multiple of 8)
 * and an 8-byte trailer at the inbound ring's write_index, wrapping at the
 * end of the data area, publish write_index past them, and signal the
 * channel's relid. The host's own view of the ring is not told: use the
 * channel for hostile bytes only afterwards. */
void hring_inject(struct sim *h, struct hclient *c, const void *pkt, uint32_t len,
                  uint64_t trailer);
/** Publish an arbitrary inbound write_index and signal. */
void hring_set_write_index(struct sim *h, struct hclient *c, uint32_t wr);
/** Signal the guest for relid of c (event flag, 2.4+). */
void hring_signal(struct sim *h, struct hclient *c);
/** Build an inband packet: descriptor + body (len8/offset8 as given). */
uint32_t hring_pkt(uint8_t *buf, uint16_t type, uint16_t offset8, uint16_t len8, uint16_t flags,
                   uint64_t tid);

/* ---- log capture ----------------------------------------------------------- */
/** Redirect stdout to a temporary file; henv_log_end returns the number of
 * lines that contain `needle`, and restores stdout. */
void henv_log_begin(void);
unsigned henv_log_end(const char *needle);

#endif
