/* drivers/netvsc/netvsc_priv.h: the NIC's software state, shared by
 * netvsc.c (channel, NVSP, buffers, transmit and receive paths) and rndis.c
 * (RNDIS control requests and received-message parsing). Not an API. */
#ifndef DRIVERS_NETVSC_NETVSC_PRIV_H
#define DRIVERS_NETVSC_NETVSC_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/netvsc/netvsc.h"
#include "drivers/netvsc/nvsp.h"
#include "drivers/netvsc/rndis.h"
#include "kernel/event.h"
#include "kernel/log.h"

/** Sends in flight at once: the bounded transaction table (policy). When
 * every slot is busy, netvsc_send returns -EAGAIN (back-pressure). */
#define NETVSC_TX_SLOTS 128u
/** Bounce buffers for GPA-direct sends (policy: 32, the built-in peer test's
 * window, so a host that refuses send sections still echoes a full burst;
 * 8 dropped 24 of 100 replies there, counted in net's drop_tx). */
#define NETVSC_DIRECT_BUFS 32u
/** RNDIS requests outstanding at once (init is sequential; policy). */
#define NETVSC_RNDIS_REQS 4u
/** Largest RNDIS control response kept (bytes; policy). */
#define NETVSC_RNDIS_RESP_MAX 256u
/** Room for the RNDIS header and our PPIs in front of a frame. */
#define NETVSC_TX_HDR_ROOM 128u
/** Clamp for the host's pkt_alignment_factor (a shift count; reference E.6). */
#define NETVSC_ALIGN_SHIFT_MAX 12u
/** Ring pages per direction (control page included; Nanos uses 64). */
#define NETVSC_RING_PAGES 64u

enum netvsc_state {
  NV_PROBING = 0, /* init running */
  NV_UP,          /* data path open */
  NV_HALTING,     /* netvsc_halt running */
  NV_GONE,        /* rescinded or failed: resources released (or being) */
};

struct netvsc_tx_slot {
  struct netvsc *ts_nv;
  VMBPACKET ts_pkt;
  uint32_t ts_section; /* send-buffer section, or NVSP_INVALID_SECTION_INDEX */
  int32_t ts_direct;   /* bounce buffer index, or -1 */
  uint32_t ts_bytes;   /* frame bytes (0 for control messages) */
  bool ts_busy;
};

struct netvsc_rndis_req {
  uint32_t rq_id; /* 0 = free */
  bool rq_done;
  uint32_t rq_type; /* expected completion type */
  uint32_t rq_len;  /* bytes in rq_resp */
  uint8_t rq_resp[NETVSC_RNDIS_RESP_MAX];
};

struct netvsc {
  VMBCHANNEL nv_ch;
  struct netvsc_config nv_cfg;
  enum netvsc_state nv_state;
  bool nv_started;    /* PostStarted ran */
  bool nv_closed;     /* Closed ran (rescind or our Disable) */
  bool nv_pnp_failed; /* the open failed */
  bool nv_cleaned;    /* buffers and channel released */
  uint32_t nv_nvsp_ver;

  /* receive buffer (transfer page set NVSP_RECV_BUF_ID) */
  uint8_t *nv_rxbuf;
  uint32_t nv_rxbuf_size;
  uint64_t nv_rxbuf_pa;
  uint32_t nv_rx_gpadl;
  uint32_t nv_rx_sub_size, nv_rx_sub_count;
  uint8_t *nv_rx_copy; /* private copy of one range (rule 5.2), nv_rx_sub_size bytes */
  bool nv_rx_revoke;   /* the host accepted it: REVOKE at halt */
  /* nc_scatter_bufs: GPADL page i is page nv_rx_perm[i] of nv_rxbuf (and
   * nv_rx_inv the inverse); NULL when in order. Likewise nv_tx_perm. */
  uint32_t *nv_rx_perm, *nv_rx_inv;

  /* send buffer */
  uint8_t *nv_txbuf;
  uint32_t nv_txbuf_size;
  uint32_t nv_tx_gpadl;
  uint32_t *nv_tx_perm;
  uint32_t nv_tx_sec_size; /* 0 = unusable: GPA direct only */
  uint32_t nv_tx_sec_count;
  uint64_t *nv_tx_free; /* bitmap, bit set = free */
  bool nv_tx_revoke;

  /* GPA-direct bounce buffers */
  uint8_t *nv_direct[NETVSC_DIRECT_BUFS];
  PMDL nv_direct_mdl[NETVSC_DIRECT_BUFS];
  bool nv_direct_busy[NETVSC_DIRECT_BUFS];
  uint32_t nv_direct_size;

  struct netvsc_tx_slot nv_tx[NETVSC_TX_SLOTS];
  uint32_t nv_tx_busy;

  /* RNDIS */
  uint32_t nv_rndis_next_id;
  struct netvsc_rndis_req nv_req[NETVSC_RNDIS_REQS];
  uint32_t nv_rndis_max_pkt, nv_rndis_align;
  uint8_t nv_mac[6];
  uint32_t nv_mtu; /* max frame size without the Ethernet header */
  bool nv_link;
  uint32_t nv_offloads;

  netvsc_rx_fn *nv_rx;
  netvsc_link_fn *nv_linkcb;
  void *nv_cb_arg;

  struct netvsc_stats nv_st;
  struct log_ratelimit nv_rl;
  struct ev_item nv_gone_work;
};

/* ---- netvsc.c, for rndis.c ---- */
/** Send one RNDIS message (control or data) through a send-buffer section
 * or GPA direct from a bounce buffer: hdr (hlen bytes, at most
 * NETVSC_TX_HDR_ROOM) and frame (flen bytes; NULL when flen is 0) are
 * copied before it returns, the slot is freed by the host's completion.
 * 0, -EAGAIN (no slot or buffer free), -ENETDOWN (gone or closed),
 * -EMSGSIZE. */
int netvsc_tx_rndis(struct netvsc *nv, uint32_t channel_type, const void *hdr, uint32_t hlen,
                    const void *frame, uint32_t flen);
/** Link state from an indication or a query. */
void netvsc_set_link(struct netvsc *nv, bool up, const char *why);

/* ---- rndis.c ---- */
/** RNDIS INITIALIZE, the queries, offloads and the packet filter. 0 or -errno. */
int rndis_dev_init(struct netvsc *nv);
/** Packet filter 0 and HALT (best effort, bounded). */
void rndis_dev_halt(struct netvsc *nv);
/** One received RNDIS message (one transfer-page range, `len` bytes of our
 * receive buffer). 0, or -EPROTO for a malformed message (counted). */
int rndis_rx_msg(struct netvsc *nv, const uint8_t *msg, uint32_t len);
/** Build the RNDIS PACKET header and PPIs for a frame into `hdr` (at least
 * NETVSC_TX_HDR_ROOM bytes). Returns the header length. */
uint32_t rndis_build_packet(const struct netvsc *nv, uint8_t *hdr, uint32_t flen,
                            const struct netvsc_tx_info *ti);

/** Teaching trace of one NVSP message (netvsc_config.nc_trace). */
void nvsp_trace(const struct netvsc *nv, bool to_host, const void *msg, uint32_t len);

#endif
