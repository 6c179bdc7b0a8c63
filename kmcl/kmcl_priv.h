/* kmcl/kmcl_priv.h: KMCL's software state (channel, packet, incoming token,
 * GPADL records), shared by channel.c, packet.c, gpadl.c and save.c. Not part
 * of the API; unit tests include it for leak and state checks only. */
#ifndef KMCL_KMCL_PRIV_H
#define KMCL_KMCL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "kernel/event.h"
#include "kmcl/bus.h"
#include "kmcl/ring.h"
#include "kmcl/vmbkmcl.h"

#define KMCL_CH_MAGIC 0x4c48434bu  /* "KCHL" */
#define KMCL_PKT_MAGIC 0x544b504bu /* "KPKT" */
#define KMCL_IN_MAGIC 0x4e49504bu  /* "KPIN" */

/* Defaults of KMCL-REFERENCE.md section (e), "Defaults" (policy choices). */
#define KMCL_DEFAULT_MAX_PACKET 4096u
#define KMCL_DEFAULT_RING_PAGES 16u /* per direction, control page included */
#define KMCL_DEFAULT_MAX_EXT_DATA (64u * 1024u)
#define KMCL_DEFAULT_MAX_EXT_CHAIN 16u
/** Transaction table size: most packets awaiting a completion at once per
 * channel (policy: bounded, STYLE.md rule 5.6). */
#define KMCL_XID_SLOTS 4096u
/** Most outstanding incoming packets regardless of the quota (bounded
 * memory: each holds a copy of its packet). */
#define KMCL_MAX_OUTSTANDING 4096u
/** Packet objects kept on a channel's lookaside list after VmbPacketFree. */
#define KMCL_POOL_KEEP 64u
/** Floor of the default incoming packet limit (kmcl_channel_init_set_max_incoming). */
#define KMCL_MIN_MAX_IN 4096u
#define KMCL_NAME_MAX 32u
#define KMCL_XFER_SETS 8u
/** Pipe mode header (section (e), "Wire mapping"): type and data size. */
#define KMCL_PIPE_HDR_SIZE 8u
#define KMCL_PIPE_TYPE_DATA 1u

enum kmcl_conn {
  KC_DISABLED = 0, /* not offered / not looking for an offer */
  KC_ENABLED,      /* offered (server) or waiting for an offer (client) */
  KC_OPENING,      /* client: open sent; server: Opened running */
  KC_OPEN,         /* rings up, traffic may flow */
  KC_CLOSING,      /* Suspend ran; waiting for outstanding packets, then Closed */
};

/** Why a state-change callback is running (to refuse calls that would
 * deadlock inside one: section (e), "Levels"). */
enum kmcl_cb {
  KCB_NONE = 0,
  KCB_OPENED,
  KCB_CLOSED,
  KCB_SUSPEND,
  KCB_STARTED,
  KCB_POST_STARTED,
};

enum kmcl_pkt_state {
  KP_IDLE = 0,  /* allocated/initialized, not sent, or completed */
  KP_QUEUED,    /* on ch_txq, not yet in the ring */
  KP_INFLIGHT,  /* in the ring, waiting for the peer's VM_PKT_COMP */
  KP_DONE_WAIT, /* in the ring without completion request; routine queued */
  KP_FREE,      /* on the lookaside list */
};

/** Outgoing packet object (VMBPACKET). The whole wire packet (descriptor,
 * extended header, payload) is built into pk_buf at send time, so a send
 * never allocates and a queued packet does not reference caller memory. */
struct kmcl_packet {
  uint32_t pk_magic;
  uint8_t pk_state; /* enum kmcl_pkt_state */
  bool pk_pooled;   /* from VmbPacketAllocate (lookaside list) */
  bool pk_orphan;   /* cancelled by a timed-out sync request: free on completion */
  bool pk_sync;     /* internal packet of VmbChannelSendSynchronousRequest */
  bool pk_comp;     /* internal VM_PKT_COMP: freed once written or cancelled */
  struct kmcl_channel *pk_chan;
  STAILQ_ENTRY(kmcl_packet) pk_link; /* txq, done list or lookaside list */
  PFN_VMB_PACKET_COMPLETION_ROUTINE pk_done;
  void *pk_ptr;        /* VmbPacketSetPointer */
  uint32_t pk_flags;   /* VMBUS_CHANNEL_FORMAT_FLAG_* of the last send */
  uint32_t pk_slot;    /* transaction table slot + 1, 0 = none */
  uint64_t pk_tid;     /* trans_id on the wire */
  NTSTATUS pk_status;  /* status for a queued completion routine */
  uint32_t pk_len;     /* bytes of the wire packet in pk_buf (unpadded) */
  uint32_t pk_cap;     /* capacity of pk_buf */
  uint32_t pk_payload; /* caller's inline bytes (for save/restore) */
  _Alignas(8) uint8_t pk_buf[];
};

/** Incoming packet token (VMBPACKETCOMPLETION): a private copy of the packet
 * read from the ring (STYLE.md rule 5.2), valid until completed. */
struct kmcl_incoming {
  uint32_t in_magic;
  uint8_t in_state;  /* KI_* */
  bool in_want_comp; /* sender set COMPLETION_REQUESTED */
  bool in_inline;    /* inside ProcessPacket right now */
  bool in_defer;     /* DeferToPassive was called inline */
  bool in_done;      /* completed or failed while inline */
  bool in_ext;       /* has external data (GPA direct / xfer pages) */
  uint16_t in_type;
  struct kmcl_channel *in_chan;
  TAILQ_ENTRY(kmcl_incoming) in_link; /* outstanding list or defer queue */
  uint32_t in_gen;                    /* ch_gen of the connection it arrived on */
  uint64_t in_tid;
  uint32_t in_pktlen; /* len8 * 8 */
  uint32_t in_off;    /* payload offset (offset8 * 8, plus pipe header) */
  uint32_t in_len;    /* payload bytes */
  PMDL in_mdl;        /* external data MDL chain, built on first request */
  void *in_ctx;       /* client context area (InitSetClientContextSize) */
  _Alignas(8) uint8_t in_pkt[];
};
enum { KI_OUTSTANDING = 1, KI_DEFERRED = 2 };

/** A GPADL: created by this client channel, or mapped by this server one. */
struct kmcl_gpadl {
  LIST_ENTRY(kmcl_gpadl) g_link;
  uint32_t g_handle;
  bool g_read_only;
  bool g_server; /* mapped (server) rather than created (client) */
  uint32_t g_npfn;
  uint32_t g_offset; /* byte offset into the first page */
  uint32_t g_count;  /* bytes */
  uint64_t *g_pfns;  /* client: our copy; server: the bus's (valid until unmap) */
  PMDL g_mdl;        /* server: the MDL handed to the driver */
};

struct kmcl_save_ctx;
STAILQ_HEAD(kmcl_pkt_list, kmcl_packet);
TAILQ_HEAD(kmcl_tok_list, kmcl_incoming);
LIST_HEAD(kmcl_gpadl_list, kmcl_gpadl);

struct kmcl_xid_slot {
  struct kmcl_packet *xs_pkt; /* NULL = free */
  uint64_t xs_tid;
};

struct kmcl_channel {
  uint32_t ch_magic;
  bool ch_server;
  PDEVICE_OBJECT ch_parent;
  struct kmcl_bus *ch_bus;
  void *ch_bus_ctx;

  /* ---- configuration (Init calls, while Disabled) ---- */
  uint32_t ch_init_flags; /* VMBUS_CHANNEL_INIT_FLAG_* */
  uint32_t ch_srv_flags;  /* VMBUS_SERVER_CHANNEL_INIT_FLAG_* */
  uint32_t ch_max_pkt;
  uint32_t ch_max_ext;
  uint32_t ch_max_chain;
  uint32_t ch_ctx_size;
  uint32_t ch_in_pages, ch_out_pages;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS ch_cbs;
  PFN_VMB_CHANNEL_PROCESS_PACKET ch_process;
  PFN_VMB_CHANNEL_PROCESSING_COMPLETE ch_proc_done;
  PFN_VMB_CHANNEL_PNP_FAILURE ch_pnp_fail;
  PFN_VMB_CHANNEL_SAVE_PACKET ch_save_pkt;
  PFN_VMB_CHANNEL_RESTORE_PACKET ch_restore_pkt;
  char ch_name[KMCL_NAME_MAX];
  GUID ch_type;
  GUID ch_instance;
  bool ch_have_type, ch_have_instance;
  uint16_t ch_mmio_mb, ch_mmio_mb_opt;
  uint8_t ch_vtl;
  bool ch_passive;   /* SetIncomingProcessingAtPassive */
  uint32_t ch_quota; /* 0 = unlimited */
  void *ch_pointer;

  /* ---- state ---- */
  enum kmcl_conn ch_conn;
  bool ch_paused;                 /* run state: Paused (armed while Disabled) */
  bool ch_started;                /* Started ran for this open; queue enabled */
  enum kmcl_cb ch_cb;             /* state-change callback running */
  int ch_fail;                    /* sticky failure, negative errno; 0 = healthy */
  bool ch_saved;                  /* SaveEnd after a full save: Disable keeps the connection */
  bool ch_restored;               /* RestoreFromBuffer completed: Enable takes over */
  bool ch_close_peer;             /* closing because the peer closed/rescinded */
  struct kmcl_bus_offer ch_offer; /* client: matched; server: made */
  uint16_t ch_latency;

  /* ---- rings ---- */
  bool ch_rings_up;
  struct ring ch_out, ch_in;
  void *ch_ring_mem; /* client: page_alloc'd */
  uint32_t ch_ring_pages;
  uint32_t ch_ring_gpadl;       /* client: created; server: mapped */
  struct kmcl_bus_open ch_open; /* the open request (server: as received) */

  /* ---- send side ---- */
  struct kmcl_pkt_list ch_txq; /* queued, in order */
  uint32_t ch_txq_len;
  struct kmcl_pkt_list ch_done; /* completion routines to run */
  bool ch_pending_armed;        /* pending_send_sz set on ch_out */
  struct kmcl_xid_slot *ch_xids;
  uint32_t ch_xid_hint;
  uint32_t ch_xid_seq;
  uint32_t ch_xid_busy;
  struct kmcl_pkt_list ch_pool;
  uint32_t ch_pool_len;
  uint32_t ch_pkts_live; /* packet objects from VmbPacketAllocate not yet freed */

  /* ---- receive side ---- */
  struct ev_item ch_rx_dpc;      /* signal from the peer; send-side completions */
  struct ev_item ch_rx_work;     /* passive processing / deferred packets */
  struct ev_item ch_close_work;  /* finish a peer-initiated close */
  struct kmcl_tok_list ch_outl;  /* outstanding tokens, this connection and older ones */
  struct kmcl_tok_list ch_defer; /* deferred to passive, in arrival order */
  uint32_t ch_outstanding;       /* outstanding tokens of this connection (ch_gen) */
  uint32_t ch_gen;               /* connection generation: bumped when a connection closes */
  uint32_t ch_max_in;            /* largest incoming packet accepted (bytes, descriptor included) */
  uint32_t ch_batch;             /* ProcessPacket calls since the last ProcessingComplete */
  bool ch_in_rx;                 /* reentrancy guard for the receive loop */
  uint8_t *ch_scratch;           /* copy buffer for completions */
  uint32_t ch_scratch_cap;

  /* ---- GPADLs, transfer page sets, save/restore ---- */
  struct kmcl_gpadl_list ch_gpadls;
  struct {
    bool used;
    uint16_t id;
    uint32_t gpadl;
  } ch_xfer[KMCL_XFER_SETS];
  struct kmcl_save_ctx *ch_save;
  uint32_t ch_restore_seq; /* next chunk expected by RestoreFromBuffer */
};

/* ---- globals for leak checks (unit tests) ---- */
extern uint32_t kmcl_live_channels;
extern uint32_t kmcl_live_packets; /* packet objects malloc'd (pool included) */
extern uint32_t kmcl_live_tokens;
extern uint32_t kmcl_live_gpadls;
/** >0 while KMCL runs a callback from one of its DPCs (dispatch level). */
extern uint32_t kmcl_dispatch_depth;

/* ---- channel.c ---- */
bool chan_valid(const struct kmcl_channel *ch);
/** Mark the channel failed (sticky) and stop its queue; logs once. */
void chan_fail(struct kmcl_channel *ch, int reason, const char *why);
/** Queue the channel's DPC (receive, send drain, completion routines). */
void chan_kick(struct kmcl_channel *ch);
/** Signal the peer through the bus. */
void chan_signal(struct kmcl_channel *ch);
/** Map a negative errno to the closest NTSTATUS. */
NTSTATUS chan_errno_status(int err);
/** Run the event loop until done(arg) or timeout_ms; 0 or -ETIMEDOUT. */
int chan_wait(bool (*done)(void *), void *arg, uint64_t timeout_ms);
/** The incoming queue may deliver packets now. */
bool chan_rx_enabled(const struct kmcl_channel *ch);
/** Queued packets may be written into the ring now: rings up, not failed,
 * Opened or closing (before Opened and after Closed they wait queued). */
bool chan_tx_enabled(const struct kmcl_channel *ch);
/** packet.c tells the channel its outstanding count dropped (finishes a
 * close that waited for it). */
void chan_outstanding_dropped(struct kmcl_channel *ch);

/* ---- packet.c ---- */
bool pkt_valid(const struct kmcl_packet *p);
bool tok_valid(const struct kmcl_incoming *t);
uint32_t pkt_buf_cap(const struct kmcl_channel *ch);
/** Write queued packets into the ring, in order, until it is full. */
void pkt_tx_drain(struct kmcl_channel *ch);
/** Run queued completion routines (packets written without completion
 * request, cancelled packets). Dispatch level. */
void pkt_run_done(struct kmcl_channel *ch);
/** Receive loop: read, validate and dispatch packets while allowed. */
void pkt_rx_process(struct kmcl_channel *ch, bool at_passive);
/** Redeliver deferred packets at passive level. */
void pkt_rx_deferred(struct kmcl_channel *ch);
/** Cancel every queued and in-flight packet with STATUS_CANCELLED (close). */
void pkt_cancel_all(struct kmcl_channel *ch);
/** Cancel only the packets waiting for a completion (their ring is gone:
 * a restored channel with FORCE_NEW_CHANNEL). */
void pkt_cancel_inflight(struct kmcl_channel *ch);
/** Free the tokens waiting for passive redelivery (their connection ended:
 * nobody will redeliver them). */
void pkt_drop_deferred(struct kmcl_channel *ch);
/** Free every packet object and token of a channel (Cleanup). */
void pkt_channel_free(struct kmcl_channel *ch);
/** Reserve a transaction slot for p; false when the table is full. */
bool pkt_xid_alloc(struct kmcl_channel *ch, struct kmcl_packet *p);
/** Bind p to a given slot/tid (restore); false if taken or out of range. */
bool pkt_xid_claim(struct kmcl_channel *ch, struct kmcl_packet *p, uint64_t tid);

/* ---- gpadl.c ---- */
void gpadl_channel_release(struct kmcl_channel *ch);
/** Server, after Closed: unmap GPADLs the driver left mapped. */
void gpadl_close_cleanup(struct kmcl_channel *ch);
struct kmcl_gpadl *gpadl_find(struct kmcl_channel *ch, uint32_t handle, bool server);
/** A heap MDL without a virtual address over the n page numbers at pfns
 * (copied; any alignment), describing count bytes from byte off of the
 * first page; NULL when out of memory. Freed with free() or, chained
 * through Next, with gpadl_mdl_chain_free. */
PMDL gpadl_pfn_mdl(const void *pfns, uint32_t n, uint32_t off, uint32_t count);
/** Free every MDL of a chain linked through Next (NULL: nothing). */
void gpadl_mdl_chain_free(PMDL head);
/** Build an MDL chain for ranges of a client GPADL (transfer pages). */
PMDL gpadl_xfer_mdl(struct kmcl_channel *ch, uint16_t set_id, const struct vmtransfer_page_range *r,
                    uint32_t n);

/* ---- save.c ---- */
void save_channel_free(struct kmcl_channel *ch);

/* ---- packet.c, for save.c ---- */
void pkt_enqueue_restored(struct kmcl_channel *ch, struct kmcl_packet *p);
struct kmcl_packet *pkt_new_comp(struct kmcl_channel *ch, uint32_t len);

#endif
