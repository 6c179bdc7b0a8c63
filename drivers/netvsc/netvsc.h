/* drivers/netvsc/netvsc.h: the Hyper-V synthetic NIC (NVSP + RNDIS over a
 * KMCL client channel), and the tiny NIC interface net/ uses.
 *
 * One call brings the NIC up (netvsc_probe): claim the network offer, open
 * the channel, NVSP INIT (6.1, 6, 5, 4, 2, 1), NDIS config and version,
 * receive and send buffers as GPADLs, RNDIS INITIALIZE, queries of the MAC,
 * the maximum frame size and the media state, offload parameters, packet
 * filter. Frames then flow through netvsc_send and the receive callback.
 * netvsc_halt is the clean stop; a rescind of the NIC (host hot-remove)
 * releases everything by itself and leaves the object in the "gone" state.
 *
 * Levels: probe and halt run at passive level (they run the event loop);
 * netvsc_send may be called at any level from the loop (dispatch or
 * passive); the receive and link callbacks run from the channel's DPC.
 */
#ifndef DRIVERS_NETVSC_NETVSC_H
#define DRIVERS_NETVSC_NETVSC_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/vmbkmcl.h"

/** Defaults (policy choices, not spec values). */
#define NETVSC_RECV_BUF_DEFAULT (1024u * 1024u) /* Nanos uses 1 MiB; Linux 16 MiB */
#define NETVSC_SEND_BUF_DEFAULT (512u * 1024u)
#define NETVSC_MTU_DEFAULT 1500u
/** Largest MTU we ask for (OpenVMM MAX_MTU 9216 is a frame size). */
#define NETVSC_MTU_MAX 9000u
#define NETVSC_OPEN_WAIT_MS 5000u  /* offer + OPENCHANNEL */
#define NETVSC_REQ_WAIT_MS 2000u   /* one NVSP or RNDIS request/response */
#define NETVSC_DRAIN_WAIT_MS 2000u /* outstanding sends at halt */

struct netvsc_config {
  /** Highest NVSP version tried (NVSP_PROTOCOL_VERSION_*); 0 = 6.1. */
  uint32_t nc_max_nvsp;
  uint32_t nc_recv_buf_size; /* bytes, multiple of 4096; 0 = default */
  uint32_t nc_send_buf_size; /* bytes, multiple of 4096; 0 = default */
  uint32_t nc_mtu;           /* requested IP MTU; 0 = 1500; capped by the host's */
  bool nc_no_send_buf;       /* never use the send buffer (GPA direct only) */
  bool nc_scatter_bufs;      /* test: the receive and send buffers' GPADLs list their
                                pages out of order, as Linux's vmalloc'ed buffers do */
  uint32_t nc_open_wait_ms;  /* 0 = NETVSC_OPEN_WAIT_MS */
  uint32_t nc_ring_pages;    /* per direction, control page included; 0 = 64 */
  bool nc_trace;             /* one decoded line per NVSP/RNDIS control message */
};

/** Counters per direction (frames, bytes, drops by reason). */
struct netvsc_stats {
  uint64_t tx_frames, tx_bytes;
  uint64_t tx_section;   /* frames sent through a send-buffer section */
  uint64_t tx_direct;    /* frames sent GPA direct */
  uint64_t tx_busy;      /* refused: no transaction slot or buffer (back-pressure) */
  uint64_t tx_drop_down; /* refused: link down / NIC gone */
  uint64_t tx_drop_size; /* refused: frame too short or above the maximum */
  uint64_t tx_host_fail; /* completions with a failure status */
  uint64_t tx_cancelled; /* sends cancelled by a close */
  uint64_t rx_frames, rx_bytes;
  uint64_t rx_packets;      /* transfer-page packets */
  uint64_t rx_drop_range;   /* bad transfer-page range */
  uint64_t rx_drop_nvsp;    /* bad NVSP message (type, length, page set) */
  uint64_t rx_drop_rndis;   /* bad RNDIS message (lengths, offsets, type) */
  uint64_t rx_drop_ppi;     /* bad per-packet info chain */
  uint64_t rx_drop_csum;    /* host reported a bad checksum */
  uint64_t rx_drop_nocb;    /* no receiver attached or link down */
  uint64_t rx_ctrl;         /* RNDIS control messages */
  uint64_t rx_ctrl_unknown; /* completions for no request */
  uint64_t rx_nack;         /* completions sent with NVSP_STAT_FAIL */
  uint64_t link_changes;
};

/** What the host said about a received frame. */
struct netvsc_rx_info {
  bool ri_csum_ip_ok;  /* host verified the IPv4 header checksum */
  bool ri_csum_l4_ok;  /* host verified the UDP/TCP checksum */
  bool ri_vlan;        /* an IEEE 802.1Q PPI came with the frame */
  uint16_t ri_vlan_id; /* its VLAN id */
  uint8_t ri_prio;
};

/** Offloads asked of the host for one transmitted frame. */
struct netvsc_tx_info {
  bool ti_csum_ip;    /* fill the IPv4 header checksum */
  bool ti_csum_udp;   /* fill the UDP checksum */
  uint16_t ti_l4_off; /* offset of the L4 header in the frame (TCP/UDP) */
  bool ti_vlan;       /* send with this VLAN tag (IEEE 802.1Q PPI) */
  uint16_t ti_vlan_id;
  uint8_t ti_prio;
};

/** Offload capabilities negotiated (netvsc_offloads). */
#define NETVSC_OFF_TX_CSUM_IP4 0x1u
#define NETVSC_OFF_TX_CSUM_UDP4 0x2u
#define NETVSC_OFF_RX_CSUM 0x4u
#define NETVSC_OFF_VLAN 0x8u

struct netvsc;

/** Receive callback: `frame` is valid for the call only. */
typedef void netvsc_rx_fn(void *arg, const uint8_t *frame, uint32_t len,
                          const struct netvsc_rx_info *info);
/** Link state change (also called with up=false when the NIC goes away, and
 * with up=true while up on a repeated media connect). */
typedef void netvsc_link_fn(void *arg, bool up);

/**
 * Bring the NIC up on the bus whose device record is `bus_dev` (the guest:
 * vmbus_device(); tests: lb_device()). Passive level; runs the event loop
 * until the NIC is up or a bounded wait expires.
 * @ret 0 and *out, or -ENODEV (no NIC offered in time / offer refused),
 *      -ETIMEDOUT, -EPROTO (host broke the protocol), -ENOMEM.
 */
int netvsc_probe(PDEVICE_OBJECT bus_dev, const struct netvsc_config *cfg, struct netvsc **out);
/** Clean stop: packet filter 0, RNDIS HALT, revoke both buffers, close the
 * channel, tear the GPADLs down, free everything (also after a rescind). */
void netvsc_halt(struct netvsc *nv);

/** Attach net/'s receiver (NULL detaches). */
void netvsc_set_receiver(struct netvsc *nv, netvsc_rx_fn *rx, netvsc_link_fn *link, void *arg);
/**
 * Send one Ethernet frame (copied: the caller keeps `frame`). `ti` may be NULL.
 * @ret 0 (queued; the completion frees the resources), -EAGAIN (back-pressure:
 *      no transaction slot or buffer free; counted, try again later),
 *      -ENETDOWN (link down or NIC gone), -EMSGSIZE (bad length).
 */
int netvsc_send(struct netvsc *nv, const void *frame, uint32_t len,
                const struct netvsc_tx_info *ti);

/** RNDIS QUERY of `oid` (blocks up to the request timeout): the information
 * the host returned copied to `out` (at most `cap` bytes). @ret its length,
 * -EIO for a failure status (NOT_SUPPORTED too), -EPROTO for a malformed
 * completion or one longer than `cap`, -ETIMEDOUT / -ENODEV as any request.
 * Used by the tests to ask the host what Linux's netvsc asks. */
int netvsc_query_oid(struct netvsc *nv, uint32_t oid, void *out, uint32_t cap);

/* Accessors: nv from netvsc_probe, not yet halted; none of them blocks. */
/** The media state the host last reported (connect / disconnect). */
bool netvsc_link_up(const struct netvsc *nv);
/** False once the NIC is gone (rescind, or a channel failure). */
bool netvsc_alive(const struct netvsc *nv);
/** The permanent MAC the host reported, copied into mac. */
void netvsc_mac(const struct netvsc *nv, uint8_t mac[6]);
/** Largest frame without the Ethernet header (OID_GEN_MAXIMUM_FRAME_SIZE). */
uint32_t netvsc_mtu(const struct netvsc *nv);
/** The NVSP version the host accepted (NVSP_PROTOCOL_VERSION_*). */
uint32_t netvsc_nvsp_version(const struct netvsc *nv);
/** Offload capabilities negotiated (NETVSC_OFF_* bits). */
uint32_t netvsc_offloads(const struct netvsc *nv);
/** Send-buffer section size the host chose (0 when unused). */
uint32_t netvsc_send_section_size(const struct netvsc *nv);
/** Sends not yet completed by the host. */
uint32_t netvsc_tx_outstanding(const struct netvsc *nv);
/** The counters, owned by nv (valid until netvsc_halt). */
const struct netvsc_stats *netvsc_stats(const struct netvsc *nv);
/** The KMCL channel under the NIC (tests inject faults on it); owned by nv. */
VMBCHANNEL netvsc_channel(const struct netvsc *nv);
/** One line of state on the log (STYLE.md rule 9). */
void netvsc_dump(const struct netvsc *nv);

#endif
