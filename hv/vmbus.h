/* hv/vmbus.h: the guest's VMBus bus client: connection and version
 * negotiation, offers, GPADLs, open/close, rescind, unload. It implements
 * the client side of KMCL's bus seam (kmcl/bus.h): KMCL client channels
 * whose parent device is vmbus_device() open, send and receive through it.
 * PROTOCOL-REFERENCE.md section 2 gives every message. */
#ifndef HV_VMBUS_H
#define HV_VMBUS_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vmbus_proto.h"
#include "kmcl/bus.h"

/* Named bounded waits on the host (STYLE.md rule 8). Generous: under this
 * machine's kvm-pvm every guest instruction costs microseconds. */
#define VMBUS_CONTACT_WAIT_MS 5000 /* one INITIATE_CONTACT -> VERSION_RESPONSE */
#define VMBUS_OFFERS_WAIT_MS 10000 /* REQUESTOFFERS -> ALLOFFERS_DELIVERED */
#define VMBUS_UNLOAD_WAIT_MS 5000  /* UNLOAD -> UNLOAD_RESPONSE */
#define VMBUS_MODIFY_WAIT_MS 2000  /* MODIFYCHANNEL -> RESPONSE (5.3+) */

/* Policy limits of this client. */
#define VMBUS_MAX_OFFERS 64
#define VMBUS_MAX_CLAIMS 16
#define VMBUS_MAX_GPADL_WAITS 16

/** Every version this client speaks, newest first (PROTOCOL-REFERENCE 2.3). */
extern const uint32_t vmbus_versions[];
extern const unsigned vmbus_nversions;

struct vmbus_stats {
  uint64_t vs_msgs_in, vs_msgs_out, vs_msgs_bad, vs_events;
  uint64_t vs_signal_hypercall, vs_signal_monitor, vs_gpadls, vs_gpadl_bodies;
  /* Host protocol violations dropped (docs/SECURITY.md, policy "drop and
   * count, log rate-limited"): vs_msgs_bad counts malformed or unexpected
   * messages; these count the finer cases. */
  uint64_t vs_msgs_unsolicited; /* well-formed answer to nothing we asked */
  uint64_t vs_offers_refused;   /* offer with a relid, monitor id, connection
                                 * id or sub-channel index we do not accept */
  uint64_t vs_events_stray;     /* event bit of a relid no live channel owns */
  /* GPADLs whose GPADL_CREATED or GPADL_TORNDOWN never came within the
   * bounded wait (or whose TEARDOWN, or a GPADL_BODY after the header,
   * could not be posted): the host may
   * still map their pages, so the owner keeps them from reuse (2.4 F1). */
  uint64_t vs_gpadls_unanswered;
};

/** Options (from the kernel command line: vmbus.max_version, vmbus.trace). */
struct vmbus_options {
  uint32_t vo_max_version; /* 0: no cap */
  bool vo_trace;
  bool vo_unload_first; /* an earlier owner left state: UNLOAD before contact */
  /* Overrides every named wait below and KMCL_BUS_GPADL_WAIT_MS when
   * nonzero (tests of a silent host); 0: the named values. */
  uint32_t vo_wait_ms;
};

/** Negotiate (newest first, capped), request offers and collect them until
 * ALLOFFERS_DELIVERED. Requires hv_init() == 0. Each offer is logged with
 * its class name. 0, or -ETIMEDOUT / -EPROTONOSUPPORT (no version accepted)
 * / HV_ERR(status) with a message saying which step failed. */
int vmbus_connect(const struct vmbus_options *opt);
/** UNLOAD (3.0+) and forget all offers; unregisters the bus from KMCL.
 * Channels must be closed first (their records go). The interrupt and
 * monitor pages are freed only after an acknowledged UNLOAD, else kept for
 * the next connect (the host may still write them). 0, or -ETIMEDOUT when
 * the host did not answer the UNLOAD (disconnected anyway). */
int vmbus_disconnect(void);

/** True between a successful vmbus_connect and vmbus_disconnect. */
bool vmbus_connected(void);
/** The negotiated version (VMBUS_VERSION(major, minor)); 0 before connect. */
uint32_t vmbus_version(void);
/** Offers held now (rescinded ones until their relid is released). */
unsigned vmbus_offer_count(void);
/** True when the host offered a live (not rescinded) channel of this class;
 * if_type points to a 16-byte GUID in wire order, read only. */
bool vmbus_has_offer(const void *if_type);
/** Print every offer and who claimed it (one line each, stdout). */
void vmbus_offers_dump(void);
/** The counters, owned by the client (valid for the program's life; reset
 * by vmbus_connect). */
const struct vmbus_stats *vmbus_stats(void);
/** The parent device for KMCL client channels (VmbChannelAllocate); a
 * static object, valid once connected. */
struct _DEVICE_OBJECT *vmbus_device(void);

/** MODIFYCHANNEL (4.1+): retarget a channel's interrupts. Waits for the
 * response from 5.3. 0, -ENOTSUP (version), -ENOENT, -ETIMEDOUT. */
int vmbus_modify_channel(uint32_t relid, uint32_t target_vp);

#endif
