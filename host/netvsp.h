/* host/netvsp.h: the NetVSP device (prefix netvsp_): the host side of the
 * Hyper-V synthetic NIC, a KMCL server channel.
 *
 * It answers NVSP (every version from 1 to 6.1, up to a configurable
 * highest), maps the guest's receive and send buffers (VmbChannelMapGpadl),
 * emulates an RNDIS device (MAC, MTU, link state, packet filter, checksum
 * offload parameters, the OIDs netvsc queries), delivers received frames as
 * transfer-page packets from the receive buffer and completes transmitted
 * ones. Frames the guest transmits go to a back end (struct
 * netvsp_backend); the back end injects frames for the guest with
 * netvsp_rx_frame. The guest is untrusted: every field is validated and a
 * bad message gets a failure status, never a crash.
 *
 * Levels: everything runs from the event loop (the channel's DPC, or the
 * caller at passive level for create/destroy).
 */
#ifndef HOST_NETVSP_H
#define HOST_NETVSP_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/vmbkmcl.h"

#define NETVSP_MTU_DEFAULT 1500u
#define NETVSP_MTU_MAX 9000u
#define NETVSP_SEND_SECTION_DEFAULT 6144u /* NETVSC_SEND_SECTION_SIZE */

/** Frames transmitted by the guest go here. */
struct netvsp_backend {
  /** One Ethernet frame (802.1Q tag inserted when the guest asked for one,
   * checksums filled when it asked for offload). Valid for the call only.
   * May call netvsp_rx_frame. */
  void (*nb_tx)(void *ctx, const uint8_t *frame, uint32_t len);
  void *nb_ctx;
};

/** Sees every frame the device counts (tx_frames and rx_frames), in both
 * directions, as on the wire: the --pcap capture. `to_guest` is true for
 * frames the back end injected (netvsp_rx_frame accepted them), false for
 * frames the guest sent (before the back end gets them). Valid for the call
 * only; must not call into the device. */
struct netvsp_monitor {
  void (*nm_frame)(void *ctx, bool to_guest, const uint8_t *frame, uint32_t len);
  void *nm_ctx;
};

/** Deliberate protocol violations, for the guest's hostile-host tests. */
enum netvsp_fault {
  NETVSP_FAULT_NONE = 0,
  NETVSP_FAULT_RECV_SECTIONS,    /* SEND_RECV_BUF_COMPLETE with num_sections 2 */
  NETVSP_FAULT_RECV_OVERSIZE,    /* sub_alloc_size * count > the buffer */
  NETVSP_FAULT_RECV_SUBSIZE,     /* sub_alloc_size below 68 */
  NETVSP_FAULT_SEND_SECTION_0,   /* SEND_SEND_BUF_COMPLETE section_size 0 */
  NETVSP_FAULT_INIT_SHORT,       /* INIT_COMPLETE of 4 bytes */
  NETVSP_FAULT_MAC_LEN,          /* MAC query answered with 5 bytes */
  NETVSP_FAULT_QUERY_OFFSET,     /* QUERY_C info_buf_offset past the message */
  NETVSP_FAULT_INIT_CMPLT_ALIGN, /* INIT_C with pkt_alignment_factor 40, max_pkt 0 */
};

struct netvsp_config {
  uint32_t cf_max_nvsp;     /* highest NVSP version accepted (NVSP_PROTOCOL_VERSION_*); 0 = 6.1 */
  uint8_t cf_mac[6];        /* all zero = 00:15:5d:00:00:02 */
  uint32_t cf_mtu;          /* 0 = 1500; at most 9000 */
  uint32_t cf_send_section; /* 0 = 6144 */
  bool cf_refuse_send_buf;  /* answer SEND_SEND_BUF with a failure: GPA direct only */
  bool cf_link_down;        /* start with the cable unplugged */
  uint32_t cf_instance;     /* makes the instance GUID unique */
  enum netvsp_fault cf_fault;
  bool cf_trace; /* log every NVSP message and RNDIS control message (--trace) */
};

struct netvsp_stats {
  uint64_t tx_frames, tx_bytes;   /* guest -> back end */
  uint64_t tx_section, tx_direct; /* by path */
  uint64_t tx_csum_offload;       /* checksums we filled */
  uint64_t tx_vlan;               /* tags we inserted */
  uint64_t tx_bad;                /* malformed RNDIS/NVSP from the guest */
  uint64_t rx_frames, rx_bytes;   /* back end -> guest */
  uint64_t rx_drop_down;          /* link down, data path closed */
  uint64_t rx_drop_busy;          /* no receive section free */
  uint64_t rx_drop_size;
  uint64_t rx_nack;   /* guest completed a receive with a failure */
  uint64_t ctrl_msgs; /* RNDIS control messages answered */
  uint64_t ctrl_drop; /* control answers lost (no section) */
  uint64_t indications;
};

struct netvsp;

/** Allocate, configure and offer the NIC on the VMBus whose device record
 * is `srv_dev` (vmbsrv_device() under hvsim/hvhost; lb_device() in tests).
 * `be` is copied. NULL on failure (logged). */
struct netvsp *netvsp_create(PDEVICE_OBJECT srv_dev, const struct netvsp_config *cfg,
                             const struct netvsp_backend *be);
/** Rescind (Disable) and free. */
void netvsp_destroy(struct netvsp *d);
/** Hot-remove the NIC (--rescind-net-after): rescind the offer, keep the
 * object (its counters) until netvsp_destroy. Passive level. */
void netvsp_rescind(struct netvsp *d);
/** Replace the back end (e.g. a peer created after the device). */
void netvsp_set_backend(struct netvsp *d, const struct netvsp_backend *be);
/** Set (or with NULL clear) the frame monitor. */
void netvsp_set_monitor(struct netvsp *d, const struct netvsp_monitor *m);

/**
 * A frame for the guest (the back end calls this). Copied at once.
 * @ret 0, -ENETDOWN (link down, or the guest has not opened the data path),
 *      -EAGAIN (every receive section is in flight), -EMSGSIZE.
 */
int netvsp_rx_frame(struct netvsp *d, const uint8_t *frame, uint32_t len);
/** NVSP version constant for "X.Y" as hvhost's --nvsp-version takes it
 * (6.1, 6, 6.0, 5, 4, 2, 1; 3.2 and 0.2 as the wire values read); 0 when
 * unknown. */
uint32_t netvsp_version_from(uint16_t major, uint16_t minor);
/** Plug or unplug the cable: MEDIA_CONNECT / MEDIA_DISCONNECT indications. */
void netvsp_set_link(struct netvsp *d, bool up);
bool netvsp_link(const struct netvsp *d);
/** The switch changed (--net-change-after): RNDIS_STATUS_NETWORK_CHANGE,
 * then a media disconnect and connect when the cable is in. */
void netvsp_network_change(struct netvsp *d);
/** The source address the guest last sent from (ARP or IPv4); false: none. */
bool netvsp_guest_ip(const struct netvsp *d, uint8_t ip[4]);
/** The guest set a packet filter and its buffers are mapped. */
bool netvsp_ready(const struct netvsp *d);
/** hw_now_ns() when the guest's data path was first up with the link up
 * (RNDIS initialised, packet filter set), 0 while it never was. */
uint64_t netvsp_link_up_ns(const struct netvsp *d);
/** The NVSP version the guest last negotiated: 0 while it never did; kept
 * after the guest closes the channel (a clean stop), so a summary printed
 * after it still reports the version that was used. */
uint32_t netvsp_version(const struct netvsp *d);
/** Buffers the guest gave (0 when none), and receive sections in flight. */
uint32_t netvsp_recv_buf_size(const struct netvsp *d);
uint32_t netvsp_send_buf_size(const struct netvsp *d);
uint32_t netvsp_rx_in_flight(const struct netvsp *d);
const struct netvsp_stats *netvsp_stats(const struct netvsp *d);
VMBCHANNEL netvsp_channel(const struct netvsp *d);
void netvsp_set_fault(struct netvsp *d, enum netvsp_fault f);
/** Send the RNDIS status indication `status` (RNDIS_STATUS_*) now, as a
 * link change does, whatever the link state (a repeated MEDIA_CONNECT, a
 * bare NETWORK_CHANGE). Needs the guest's RNDIS initialized; counted in
 * the stats (indications, and ctrl_drop when it could not be sent). */
void netvsp_indicate(struct netvsp *d, uint32_t status);

#endif
