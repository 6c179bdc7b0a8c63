/* host/vmbus_server.h: the VMBus server of the host emulator (prefix vmbsrv_).
 *
 * The host half of ../shared/PROTOCOL-REFERENCE.md section 2, on top of the
 * emulated SynIC (host/hvemu.h):
 *  - version negotiation with a configurable highest version: INITIATE_CONTACT
 *    for >= 5.0 is accepted on connection id 4 only (registered only when the
 *    cap is >= 5.0, so a lower host answers HV_STATUS_INVALID_CONNECTION_ID,
 *    as real hosts do), older versions on connection id 1;
 *  - offers from registered devices, GPADL assembly with validation of the
 *    guest's PFN lists, open/close, rescind and relid release, MODIFYCHANNEL,
 *    UNLOAD;
 *  - signalling per version: host->guest through the shared interrupt page
 *    below 2.4 and per-relid SIEFP event flags from 2.4; guest->host through
 *    HvSignalEvent (per-channel connection ids from 2.4, connection id 2 and
 *    the interrupt page's send half below) and monitor pages (MNF) for
 *    monitored offers (polled when the loop is idle).
 *
 * Its devices are KMCL server endpoints: this file implements the server-side
 * ops of kmcl/bus.h (offer, rescind, open_complete, gpadl_map/unmap, gpa_ptr,
 * signal). A device allocates its channel with
 * VmbChannelAllocate(vmbsrv_device(srv), TRUE, &ch) and enables it.
 *
 * Guest messages are handled at passive level (hvemu's work item), so the
 * KMCL up-calls run at passive level too. Guest misbehaviour never stops the
 * host here: a bad message is dropped and logged once (rate-limited), a bad
 * GPADL is refused with creation_status != 0, a bad OPENCHANNEL gets a
 * failing OPENCHANNEL_RESULT.
 */
#ifndef HOST_VMBUS_SERVER_H
#define HOST_VMBUS_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "host/hvemu.h"
#include "hv/vmbus_proto.h"
#include "kmcl/bus.h"

#define VMBSRV_MAX_CHANNELS 64 /* relids 1..64 */
#define VMBSRV_MAX_GPADLS 256
#define VMBSRV_MAX_FAULTS 8
/** Per-channel HvSignalEvent connection ids from 2.4: base + relid. */
#define VMBSRV_CHANNEL_CONN_BASE 0x10000u
/** NTSTATUS-style failure codes the server puts in result messages. */
#define VMBSRV_STATUS_FAILED 0xC0000001u /* STATUS_UNSUCCESSFUL */

struct vmbsrv_config {
  uint32_t vc_max_version;  /* highest version accepted (0: 6.0) */
  uint32_t vc_msg_conn_id;  /* returned in VERSION_RESPONSE from 5.0 (0: 4) */
  bool vc_monitored_offers; /* offer channels with a monitor id (1.1+) */
  bool vc_trace;            /* print each message (hv/vmbus_trace.h) */
  uint32_t vc_instance_id;  /* KMCL bus instance id (0: 1) */
  /** With vc_monitored_offers: only offers of this class are monitored
   * (a Gen1 host monitors the NIC, not the ICs); NULL: every offer. */
  const GUID *vc_monitored_type;
  /** Per-channel connection ids from 2.4: base + relid (0:
   * VMBSRV_CHANNEL_CONN_BASE; VMBSRV_CONN_BASE_HYPERV: relid | 2 << 12, as
   * HYPERV-REAL.md section 1 reports from OpenVMM). */
  uint32_t vc_conn_base;
};
#define VMBSRV_CONN_BASE_HYPERV 0x2000u

/** Counters tests read. */
struct vmbsrv_stats {
  uint32_t vs_rx[VMBUS_MSG_COUNT]; /* guest -> host messages by type */
  uint32_t vs_tx[VMBUS_MSG_COUNT]; /* host -> guest messages by type */
  uint32_t vs_rx_bad;              /* dropped: short, unknown type, wrong state */
  uint32_t vs_tx_lost;             /* the SynIC queue was full */
  uint32_t vs_tx_after_end;        /* not posted: vmbsrv_guest_gone */
  /* host -> guest signals */
  uint32_t vs_sig_tx_int_page;    /* interrupt-page bit + SIEFP bit 0 (< 2.4) */
  uint32_t vs_sig_tx_event_flags; /* per-relid SIEFP bit (>= 2.4) */
  /* guest -> host signals */
  uint32_t vs_sig_rx_hypercall; /* HvSignalEvent on a channel's connection id */
  uint32_t vs_sig_rx_int_page;  /* interrupt-page send bits (< 2.4) */
  uint32_t vs_sig_rx_monitor;   /* monitor page pending bits (MNF) */
  uint32_t vs_gpadls_live;      /* GPADLs created and not torn down */
  uint32_t vs_gpadls_refused;
  uint32_t vs_offers_sent;
  uint32_t vs_connects; /* accepted INITIATE_CONTACTs */
};

/* ---- fault injection (tests) ---------------------------------------------- */
enum vmbsrv_fault_action {
  VMBSRV_FAULT_NONE = 0,
  VMBSRV_FAULT_DROP,      /* the message is not sent / not processed */
  VMBSRV_FAULT_DELAY,     /* sent fa_arg milliseconds later (host -> guest only) */
  VMBSRV_FAULT_DUPLICATE, /* sent / processed twice */
  VMBSRV_FAULT_CORRUPT,   /* byte fa_arg flipped (xor 0xff) when inside the message */
  VMBSRV_FAULT_TRUNCATE,  /* cut to fa_arg bytes */
  VMBSRV_FAULT_RESCIND,   /* rescind relid fa_arg, then handle the message */
};

struct vmbsrv_fault {
  bool fa_to_guest;    /* direction: host -> guest (true) or guest -> host */
  uint32_t fa_msgtype; /* which message type */
  uint32_t fa_nth;     /* 1: the first occurrence from now, 2: the second... */
  enum vmbsrv_fault_action fa_action;
  uint32_t fa_arg;
  uint32_t fa_seen; /* occurrences so far (set to 0 by vmbsrv_add_fault) */
  bool fa_fired;
};

struct vmbsrv;

/** Create a server on emulator `hv` (which must outlive it) and register
 * its message ports, its idle poller and the KMCL bus; cfg is copied (NULL:
 * defaults). NULL on ENOMEM or a bad configuration (version not in the
 * list). The caller owns the result: vmbsrv_destroy. */
struct vmbsrv *vmbsrv_create(struct hvemu *hv, const struct vmbsrv_config *cfg);
/** Unregister everything and free srv (NULL is a no-op); devices should be
 * disabled and cleaned up first. */
void vmbsrv_destroy(struct vmbsrv *srv);

/** The device record to pass to VmbChannelAllocate (server channels);
 * owned by srv. */
PDEVICE_OBJECT vmbsrv_device(struct vmbsrv *srv);
/** The server side of kmcl/bus.h this server implements; owned by srv. */
struct kmcl_bus *vmbsrv_bus(struct vmbsrv *srv);
/** The counters, owned by srv (valid until vmbsrv_destroy). */
const struct vmbsrv_stats *vmbsrv_stats(const struct vmbsrv *srv);

/** The negotiated version, 0 while not connected. */
uint32_t vmbsrv_version(const struct vmbsrv *srv);
/** hw_now_ns() of the first accepted INITIATE_CONTACT, 0 when none. */
uint64_t vmbsrv_connected_ns(const struct vmbsrv *srv);
/** The version of the last accepted INITIATE_CONTACT, kept after UNLOAD
 * (for the summary line); 0 when none. */
uint32_t vmbsrv_last_version(const struct vmbsrv *srv);
/** hw_now_ns() of the first ALLOFFERS_DELIVERED, 0 when none. */
uint64_t vmbsrv_alloffers_ns(const struct vmbsrv *srv);
/** True once ALLOFFERS_DELIVERED was sent for the current connection. */
bool vmbsrv_offers_delivered(const struct vmbsrv *srv);
/** Relid of the server channel `ch`, 0 when it has none. */
uint32_t vmbsrv_relid_of(const struct vmbsrv *srv, VMBCHANNEL ch);
/** True when relid is open (OPENCHANNEL_RESULT 0 sent, not closed). */
bool vmbsrv_channel_open(const struct vmbsrv *srv, uint32_t relid);

/** Refuse a version that would otherwise be accepted (test hook). */
void vmbsrv_refuse_version(struct vmbsrv *srv, uint32_t version);
/** Add a fault (f is copied; its counters start at 0); returns 0 or
 * -ENOSPC. */
int vmbsrv_add_fault(struct vmbsrv *srv, const struct vmbsrv_fault *f);
/** Forget every fault added, fired or not. */
void vmbsrv_clear_faults(struct vmbsrv *srv);
/** Host-initiated rescind of relid (hot-remove), whatever its state: the
 * guest gets RESCIND_CHANNELOFFER, the device a close if it was open.
 * 0, -ENOENT. */
int vmbsrv_rescind(struct vmbsrv *srv, uint32_t relid);
/** Run the MNF poll now (also run by the emulator when the loop idles). */
bool vmbsrv_poll(struct vmbsrv *srv);
/** The guest has ended for good (its VM stopped; hvhost after the run):
 * messages from now on, the teardown's rescinds among them, are neither
 * traced nor posted, so nothing follows the program's summary line.
 * Counted in vs_tx_after_end. */
void vmbsrv_guest_gone(struct vmbsrv *srv);

#endif
