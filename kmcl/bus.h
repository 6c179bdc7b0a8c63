/* kmcl/bus.h: the seam below KMCL (DESIGN.md, second seam).
 *
 * KMCL reaches the VMBus connection only through this interface. Three
 * implementations exist: hv/vmbus.c (the guest's VMBus client: client-side
 * ops), the host emulator's VMBus server (server-side ops) and the unit
 * tests' loopback bus (tests/unit/lib/loopback_bus.c: both sides in one
 * process). Down-calls are the ops below; up-calls are the kmcl_bus_*
 * functions at the end, implemented by kmcl/channel.c.
 *
 * Calling rules shared by every op and up-call:
 *  - Ops are called by KMCL at passive level (from the API caller or a work
 *    item), except `signal`, which may come from a DPC.
 *  - Up-calls other than kmcl_bus_interrupt must be made at passive level
 *    (a work item or the caller of a blocking op), never from inside the op
 *    that caused them: KMCL holds no locks but runs state-change callbacks
 *    from them. kmcl_bus_interrupt may be called from an interrupt handler;
 *    it only queues the channel's DPC.
 *  - Errors are 0 or a negative errno value (STYLE.md rule 8); KMCL maps them
 *    to NTSTATUS. Every blocking op has a bounded wait (-ETIMEDOUT).
 *  - Guest memory is named by guest physical page numbers (4 KiB PFNs), the
 *    same on both sides (DESIGN.md); the server side reaches it only through
 *    `gpa_ptr`, which checks bounds.
 */
#ifndef KMCL_BUS_H
#define KMCL_BUS_H

#include <sys/queue.h>

#include "kernel/event.h"
#include "kmcl/vmbkmcl.h"

/** Bounded waits on the peer (STYLE.md rule 8; policy choices). */
#define KMCL_BUS_GPADL_WAIT_MS 5000u /* GPADL create/teardown handshakes */
#define KMCL_DISABLE_WAIT_MS 5000u   /* Disable/Pause waiting for outstanding packets */

/** An offer: made by a server channel (Enable), seen by a client channel. */
struct kmcl_bus_offer {
  GUID bo_type;              /* interface type (VmbServerChannelInitSetTargetInterfaceId) */
  GUID bo_instance;          /* interface instance */
  uint32_t bo_server_flags;  /* VMBUS_SERVER_CHANNEL_INIT_FLAG_* */
  uint32_t bo_channel_flags; /* VMBUS_CHANNEL_INIT_FLAG_* of the server */
  uint16_t bo_mmio_mb;       /* VmbServerChannelInitSetMmioMegabytes */
  uint16_t bo_mmio_mb_optional;
  uint8_t bo_target_vtl;
  bool bo_restore; /* server: take over the saved connection (save.c) */
  /* Filled by the bus for the client: */
  uint32_t bo_relid;
  bool bo_monitored;     /* offered with a monitor id (MNF) */
  uint64_t bo_mmio_base; /* guest physical MMIO range, 0 when none */
  uint64_t bo_mmio_size;
};

/** An open request (OPENCHANNEL): made by the client, seen by the server. */
struct kmcl_bus_open {
  uint32_t bp_ring_gpadl;        /* one GPADL: [out hdr][out data][in hdr][in data] */
  uint32_t bp_downstream_offset; /* pages of the client's outgoing ring, header included */
  uint32_t bp_target_vp;
};

struct kmcl_bus;

struct kmcl_bus_ops {
  /* ---- client side ---------------------------------------------------
   * After kmcl_bus_rescinded, KMCL still calls close, gpadl_teardown and
   * detach for the channel: the bus answers them locally, without waiting
   * for a host that ignores requests for a rescinded relid
   * (PROTOCOL-REFERENCE.md 2.6). */
  /** Enable (client): look for an offer matching `type` and, when not NULL,
   * `instance`. Returns 0 or -errno at once (-EINVAL bad request, -ENOMEM).
   * When a matching unclaimed offer exists, now or later, the bus calls
   * kmcl_bus_offer_arrived(ch, offer) from a work item. */
  int (*attach)(struct kmcl_bus *bus, VMBCHANNEL ch, const GUID *type, const GUID *instance);
  /** Disable/Cleanup (client): forget the channel; no up-call names it after
   * this returns (queued ones are cancelled). Must follow `close` when open. */
  void (*detach)(struct kmcl_bus *bus, VMBCHANNEL ch);
  /** Create a GPADL over `npfn` guest pages (one range: `byte_offset` into
   * the first page, `byte_count` bytes). Synchronous: returns once the server
   * side acknowledged it (GPADL_CREATED), running the event loop meanwhile,
   * at most KMCL_BUS_GPADL_WAIT_MS. 0 and *handle (never 0), or -ETIMEDOUT,
   * -EIO (the host refused), -ENODEV (rescinded), -ENOMEM. -ETIMEDOUT means
   * the PFNs reached the host unanswered: the pages must be leaked, never
   * reused (docs/SECURITY.md, F1). */
  int (*gpadl_create)(struct kmcl_bus *bus, VMBCHANNEL ch, const uint64_t *pfns, uint32_t npfn,
                      uint32_t byte_offset, uint32_t byte_count, bool read_only, uint32_t *handle);
  /** Tear a GPADL down. Synchronous (GPADL_TORNDOWN): when the server still
   * maps it, this waits until it unmaps, at most KMCL_BUS_GPADL_WAIT_MS, then
   * returns -ETIMEDOUT and the pages must be leaked, not reused. */
  int (*gpadl_teardown)(struct kmcl_bus *bus, VMBCHANNEL ch, uint32_t handle);
  /** Send OPENCHANNEL. Asynchronous: 0 means sent; the result comes later
   * through kmcl_bus_open_result(). */
  int (*open)(struct kmcl_bus *bus, VMBCHANNEL ch, const struct kmcl_bus_open *req);
  /** Send CLOSECHANNEL (no response). After it returns no interrupt up-call
   * names the channel. */
  void (*close)(struct kmcl_bus *bus, VMBCHANNEL ch);
  /** Monitor latency (100 ns units) for a monitored offer; -ENOTSUP when the
   * offer is not monitored. May be NULL (every channel -ENOTSUP). */
  int (*set_latency)(struct kmcl_bus *bus, VMBCHANNEL ch, uint16_t latency, uint16_t *old);

  /* ---- both sides ----------------------------------------------------- */
  /** Kick the peer: the ring code said "needs signal". Any level. */
  void (*signal)(struct kmcl_bus *bus, VMBCHANNEL ch);

  /* ---- server side ---------------------------------------------------- */
  /** Enable (server): make the offer. Synchronous, 0 or -errno (-EEXIST: an
   * offer with this instance exists). Later up-calls: kmcl_bus_open_request
   * and kmcl_bus_close_request. With bo_restore set and a connection kept by
   * `rescind(keep=true)` for the same instance, the bus hands that open
   * connection to `ch` through kmcl_bus_open_request instead of offering. */
  int (*offer)(struct kmcl_bus *bus, VMBCHANNEL ch, const struct kmcl_bus_offer *offer);
  /** Disable (server): revoke the offer (the client sees a rescind) and
   * forget the channel. With `keep` (a channel whose state was saved), the
   * client is not told: the bus keeps the offer and the open connection for
   * a restored channel (offer with bo_restore). */
  void (*rescind)(struct kmcl_bus *bus, VMBCHANNEL ch, bool keep);
  /** Answer an open request: status 0 accepts (OPENCHANNEL_RESULT 0). */
  void (*open_complete)(struct kmcl_bus *bus, VMBCHANNEL ch, int32_t status);
  /** Map a GPADL of this channel's client: *pfns (owned by the bus until
   * unmap), *npfn, and the range's byte offset and count. One mapping per
   * GPADL at a time. 0, -ENOENT (unknown handle), -EBUSY (already mapped),
   * -EACCES (writable mapping of a read-only GPADL). */
  int (*gpadl_map)(struct kmcl_bus *bus, VMBCHANNEL ch, uint32_t handle, bool read_only,
                   const uint64_t **pfns, uint32_t *npfn, uint32_t *byte_offset,
                   uint32_t *byte_count);
  void (*gpadl_unmap)(struct kmcl_bus *bus, VMBCHANNEL ch, uint32_t handle);
  /** Local pointer to [gpa, gpa+len) of guest memory, NULL when any byte is
   * outside it (overflow-safe). The client side uses hw_phys_to_virt. */
  void *(*gpa_ptr)(struct kmcl_bus *bus, uint64_t gpa, uint64_t len);
};

/** One VMBus instance. Embedded by its implementation. */
struct kmcl_bus {
  const struct kmcl_bus_ops *kb_ops;
  uint32_t kb_instance_id;       /* what VmbConvertVmbusHandleToKernelHandle takes */
  SLIST_ENTRY(kmcl_bus) kb_link; /* registry (kmcl_bus_register) */
};

/** Our device record: what PDEVICE_OBJECT points to. A driver's parent
 * device names the bus its channels live on. */
struct _DEVICE_OBJECT {
  struct kmcl_bus *do_bus;
  void *do_context; /* the bus implementation's own */
};

/** Make a bus known to VmbConvertVmbusHandleToKernelHandle (by instance id). */
void kmcl_bus_register(struct kmcl_bus *bus);
void kmcl_bus_unregister(struct kmcl_bus *bus);

/** Per-channel pointer for the bus implementation. */
void kmcl_bus_set_context(VMBCHANNEL ch, void *ctx);
void *kmcl_bus_get_context(VMBCHANNEL ch);

/* ---- up-calls (implemented by kmcl/channel.c) ---------------------------- */
/** Client: a matching offer is there (after attach). KMCL allocates the
 * rings, creates their GPADL and calls `open`. Passive level. */
void kmcl_bus_offer_arrived(VMBCHANNEL ch, const struct kmcl_bus_offer *offer);
/** Client: OPENCHANNEL_RESULT (status 0 = opened). Passive level. */
void kmcl_bus_open_result(VMBCHANNEL ch, int32_t status);
/** Client: the host rescinded the offer (or the connection died). The channel
 * runs Suspend/Closed and ends Disabled. Passive level. */
void kmcl_bus_rescinded(VMBCHANNEL ch);
/** Server: the client opened the channel. KMCL maps the ring GPADL, runs
 * Opened and answers with `open_complete`. Passive level. */
void kmcl_bus_open_request(VMBCHANNEL ch, const struct kmcl_bus_open *req);
/** Server: the client closed the channel (CLOSECHANNEL or its end). */
void kmcl_bus_close_request(VMBCHANNEL ch);
/** Either side: the peer signalled. Any context: it only queues a DPC. */
void kmcl_bus_interrupt(VMBCHANNEL ch);

/* ---- the up-call queue (kmcl/upcall.c) ------------------------------------
 * Every up-call above except kmcl_bus_interrupt must run at passive level,
 * never from inside the bus op or message handler that caused it. A bus
 * posts them to its kmcl_upq; the queue's work item delivers them in post
 * order. Each event is a node of its own (malloc'd, payload copied at post
 * time), so nothing is dropped or reordered: a post either queues the event
 * or fails with -ENOMEM, which the bus must report (its caller sees the
 * error, or the bus counts and logs it). */
enum kmcl_up_type {
  KMCL_UP_OFFER,         /* client: kmcl_bus_offer_arrived(ue_u.offer) */
  KMCL_UP_OPEN_RESULT,   /* client: kmcl_bus_open_result(ue_u.status) */
  KMCL_UP_RESCINDED,     /* client: kmcl_bus_rescinded */
  KMCL_UP_OPEN_REQUEST,  /* server: kmcl_bus_open_request(ue_u.open) */
  KMCL_UP_CLOSE_REQUEST, /* server: kmcl_bus_close_request */
};
#define KMCL_UP_ALL 0x1fu /* every type, for kmcl_upq_forget */

struct kmcl_up_event {
  STAILQ_ENTRY(kmcl_up_event) ue_link;
  enum kmcl_up_type ue_type;
  VMBCHANNEL ue_ch;
  union {
    struct kmcl_bus_offer offer;
    int32_t status;
    struct kmcl_bus_open open;
  } ue_u;
};

STAILQ_HEAD(kmcl_up_list, kmcl_up_event);

struct kmcl_upq {
  struct kmcl_up_list uq_list;
  struct ev_item uq_work;
  uint32_t uq_len;       /* queued now */
  uint32_t uq_high;      /* most queued at once */
  uint32_t uq_delivered; /* up-calls made */
  uint32_t uq_vetoed;    /* dropped by the gate at delivery */
  uint32_t uq_failed;    /* posts refused (no memory) */
  /** Optional: called just before delivery; false drops the event (the
   * bus's state says it no longer applies, e.g. an open request for a
   * channel the guest closed meanwhile). */
  bool (*uq_gate)(void *ctx, const struct kmcl_up_event *e);
  void *uq_ctx;
};

/** Set up an empty queue; `gate` may be NULL. */
void kmcl_upq_init(struct kmcl_upq *q, bool (*gate)(void *, const struct kmcl_up_event *),
                   void *ctx);
/** Queue one up-call for `ch`. `arg` is the payload of its type (a struct
 * kmcl_bus_offer *, an int32_t * status, a struct kmcl_bus_open *), copied
 * now; NULL for the others. 0, -EINVAL (no channel, missing payload) or
 * -ENOMEM (nothing queued; counted in uq_failed). Loop context (a DPC or
 * work item), not an interrupt handler: it allocates. */
int kmcl_upq_post(struct kmcl_upq *q, enum kmcl_up_type type, VMBCHANNEL ch, const void *arg);
/** Drop the queued events for `ch` whose type bit (1 << type) is in
 * `types`: after a detach or rescind no up-call may name the channel. */
void kmcl_upq_forget(struct kmcl_upq *q, VMBCHANNEL ch, unsigned types);
/** Cancel the work item and free every queued event. */
void kmcl_upq_fini(struct kmcl_upq *q);

#endif
