/* host/netvsp.c: the NetVSP device, a KMCL server channel (host side of
 * netvsc): NVSP 1..6.1, the guest's receive/send buffers mapped through
 * VmbChannelMapGpadl, RNDIS device emulation, receive through transfer
 * pages, transmit completions. PROTOCOL-REFERENCE.md section 4; OpenVMM's
 * netvsp is the model host. The guest is untrusted: every length, offset,
 * index and count is checked before use, and a bad message is answered with
 * a failure status.
 */
#include "drivers/netvsc/rndis_build.h"
#include "net/inet.h"
#include "net/wire.h"
#include "host/netvsp.h"
#include "host/netvsp_test.h" /* the hostile-host hooks defined here */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/netvsc/nvsp.h"
#include "drivers/netvsc/rndis.h"
#include "host/srvchan.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
/* Transfer-page packets are not part of the KMCL API (a server cannot send
 * them there); netvsp_send_xfer builds one with KMCL's own packet object
 * and transaction table. See the report: this belongs in kmcl/packet.c. */
#include "kmcl/kmcl_test.h" /* netvsp_inject_bad_completion only */
#include "kmcl/vmbus_ring_proto.h"

static const GUID netvsp_guid = NVSP_GUID_NETWORK_INIT;
static const uint8_t netvsp_default_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};

/** Versions this host speaks (4.1). */
static const uint32_t netvsp_versions[] = NVSP_VERSIONS_NEWEST_FIRST_INIT;

/** Receive sections tracked at most (bitmap; policy). */
#define NETVSP_RX_SECTIONS_MAX 4096u
/** Room for the RNDIS PACKET header and our PPIs in a receive section. */
#define NETVSP_RX_HDR_ROOM 128u
/** Largest RNDIS message the guest may send us (bytes; policy). */
#define NETVSP_TX_MSG_MAX (NETVSP_RX_HDR_ROOM + NETVSP_MTU_MAX + ETH_VLAN_HLEN + 4096u)
/** INIT_CMPLT values (OpenVMM host: 8 packets, 8-byte alignment). */
/** Largest inline payload the server sends (NVSP messages, 40 bytes, after
 * a transfer-page header of up to 64 ranges); VmbChannelInitSetMaximumPacketSize. */
#define NETVSP_MAX_PACKET 1024u
#define NETVSP_MAX_PKT_PER_MSG 8u
#define NETVSP_PKT_ALIGN_SHIFT 3u
#define NETVSP_LINK_SPEED 100000000u /* 10 Gbit/s in 100 bps units */

/* One of the guest's buffers (the receive or the send buffer): its GPADL
 * mapped (pages, not one pointer: netvsp_map) and cut into gb_count units
 * of gb_unit bytes. All 0 while none is mapped. */
struct netvsp_gbuf {
  uint32_t gb_gpadl; /* 0 = none */
  PMDL gb_mdl;
  uint32_t gb_size; /* bytes mapped */
  uint32_t gb_unit, gb_count;
};

struct netvsp {
  VMBCHANNEL nd_ch;
  uint64_t nd_up_ns; /* first time the data path was up (hw_now_ns), 0: never */
  struct netvsp_config nd_cfg;
  struct netvsp_backend nd_be;
  struct netvsp_monitor nd_mon;
  struct netvsp_stats nd_st;
  bool nd_open;
  bool nd_link;
  bool nd_have_guest_ip;
  uint8_t nd_guest_ip[4]; /* the guest's last source address */

  /* NVSP state (reset on close) */
  uint32_t nd_version;
  uint32_t nd_last_version; /* kept after the guest closes: the summary's nvsp= */
  uint32_t nd_ndis_ver;
  uint64_t nd_ndis_caps;
  uint32_t nd_guest_mtu;

  struct netvsp_gbuf nd_rx; /* the receive buffer: units are sub-allocations */
  uint16_t nd_rx_set;
  uint64_t nd_rx_free[NETVSP_RX_SECTIONS_MAX / 64u];
  uint32_t nd_rx_inflight;

  struct netvsp_gbuf nd_tx; /* the send buffer: units are sections */
  uint64_t nd_direct_seen;  /* tx_direct at the last traced RNDIS message */

  /* RNDIS state */
  bool nd_rndis_init;
  uint32_t nd_filter;
  bool nd_csum_tx_ip, nd_csum_tx_udp, nd_csum_rx;

  uint8_t *nd_msg; /* private copy of one guest RNDIS message */
  struct log_ratelimit nd_rl;
};

static struct netvsp *netvsp_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static void netvsp_bad(struct netvsp *d, const char *what) {
  d->nd_st.tx_bad++;
  if (log_ratelimit_ok(&d->nd_rl))
    pr_warn("netvsp: bad message from the guest: %s\n", what);
}

/* ---- transfer-page send (KMCL server side) ---------------------------------------- */

/**
 * Send one VM_PKT_DATA_USING_XFER_PAGES packet: the NVSP SEND_RNDIS_PKT
 * message with `n` ranges of page set `set_id`, completion requested.
 * `done` runs when the guest completes it (or the channel closes).
 */
static NTSTATUS netvsp_send_xfer(struct netvsp *d, uint16_t set_id,
                                 const struct vmtransfer_page_range *r, uint32_t n,
                                 PFN_VMB_PACKET_COMPLETION_ROUTINE done, void *ptr) {
  if (!kmcl_channel_is_open(d->nd_ch))
    return STATUS_DEVICE_NOT_CONNECTED;
  VMBPACKET p = VmbPacketAllocate(d->nd_ch);
  if (!p)
    return STATUS_INSUFFICIENT_RESOURCES;
  union nvsp_msg m;
  memset(&m, 0, sizeof(m));
  m.rndis.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT;
  m.rndis.channel_type = NVSP_RNDIS_CHANNEL_DATA;
  m.rndis.send_buf_section_index = NVSP_INVALID_SECTION_INDEX;
  VmbPacketSetCompletionRoutine(p, done);
  VmbPacketSetPointer(p, ptr);
  NTSTATUS st = kmcl_packet_send_xfer_pages(p, set_id, r, n, &m, sizeof(m),
                                            VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  if (!NT_SUCCESS(st))
    VmbPacketFree(p);
  return st;
}

/* ---- receive sections -------------------------------------------------------------- */

static int32_t netvsp_rx_alloc(struct netvsp *d) {
  for (uint32_t w = 0; w < (d->nd_rx.gb_count + 63u) / 64u; w++) {
    uint64_t v = d->nd_rx_free[w];
    if (!v)
      continue;
    uint32_t b = (uint32_t)__builtin_ctzll(v);
    if (w * 64u + b >= d->nd_rx.gb_count)
      break;
    d->nd_rx_free[w] &= ~(1ull << b);
    d->nd_rx_inflight++;
    return (int32_t)(w * 64u + b);
  }
  return -1;
}

static void netvsp_rx_release(struct netvsp *d, uint32_t idx) {
  if (idx >= d->nd_rx.gb_count || (d->nd_rx_free[idx / 64u] & (1ull << (idx % 64u))))
    return;
  d->nd_rx_free[idx / 64u] |= 1ull << (idx % 64u);
  d->nd_rx_inflight--;
}

/** The guest completed a receive: free its section. The tag is the section
 * index + 1 (0 = none) in the packet pointer. */
static VOID netvsp_rx_done(VMBPACKET pkt, NTSTATUS status, PVOID buf, UINT32 len) {
  VMBCHANNEL ch = VmbPacketGetChannel(pkt);
  struct netvsp *d = netvsp_of(ch);
  uintptr_t tag = (uintptr_t)VmbPacketGetPointer(pkt);
  if (status != STATUS_CANCELLED) {
    struct nvsp_send_rndis_pkt_complete c;
    memset(&c, 0, sizeof(c));
    if (buf && len >= sizeof(c))
      memcpy(&c, buf, sizeof(c));
    if (c.msg_type != NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE || c.status != NVSP_STAT_SUCCESS)
      d->nd_st.rx_nack++;
  }
  if (tag && d->nd_rx.gb_mdl)
    netvsp_rx_release(d, (uint32_t)(tag - 1u));
  VmbPacketFree(pkt);
}

/** Copy between `buf` and bytes [off, off+len) of a guest buffer's MDL,
 * page by page (the pages may be scattered). False when the range leaves
 * the MDL or a page is not guest memory. */
static bool netvsp_mdl_copy(struct netvsp *d, PMDL mdl, uint64_t off, void *buf, uint32_t len,
                            bool to_guest) {
  uint8_t *b = buf;
  if (off > mdl->ByteCount || len > mdl->ByteCount - off)
    return false;
  while (len) {
    uint32_t n = PAGE_SIZE - (uint32_t)((mdl->ByteOffset + off) % PAGE_SIZE);
    if (n > len)
      n = len;
    uint8_t *p = kmcl_mdl_map(d->nd_ch, mdl, (uint32_t)off, n);
    if (!p)
      return false;
    if (to_guest)
      memcpy(p, b, n);
    else
      memcpy(b, p, n);
    off += n;
    b += n;
    len -= n;
  }
  return true;
}

/** Put one RNDIS message (`hdr` then `body`) into a receive section and send
 * it. 0, -ENETDOWN, -EAGAIN. */
static int netvsp_rx_msg(struct netvsp *d, const void *hdr, uint32_t hlen, const void *body,
                         uint32_t blen) {
  if (!d->nd_open || !d->nd_rx.gb_mdl)
    return -ENETDOWN;
  if (hlen > d->nd_rx.gb_unit || blen > d->nd_rx.gb_unit - hlen)
    return -EMSGSIZE;
  int32_t s = netvsp_rx_alloc(d);
  if (s < 0)
    return -EAGAIN;
  uint64_t off = (uint64_t)(uint32_t)s * d->nd_rx.gb_unit;
  if (!netvsp_mdl_copy(d, d->nd_rx.gb_mdl, off, (void *)(uintptr_t)hdr, hlen, true) ||
      (blen &&
       !netvsp_mdl_copy(d, d->nd_rx.gb_mdl, off + hlen, (void *)(uintptr_t)body, blen, true))) {
    netvsp_rx_release(d, (uint32_t)s);
    return -ENETDOWN;
  }
  struct vmtransfer_page_range r = {hlen + blen, (uint32_t)s * d->nd_rx.gb_unit};
  NTSTATUS st = netvsp_send_xfer(d, d->nd_rx_set, &r, 1, netvsp_rx_done,
                                 (void *)(uintptr_t)((uint32_t)s + 1u));
  if (!NT_SUCCESS(st)) {
    netvsp_rx_release(d, (uint32_t)s);
    return -ENETDOWN;
  }
  return 0;
}

/** A control answer for the guest; counted when lost. */
static void netvsp_ctrl_reply(struct netvsp *d, const void *msg, uint32_t len, const void *data,
                              uint32_t dlen) {
  d->nd_st.ctrl_msgs++;
  if (d->nd_cfg.cf_trace && len >= 16)
    pr_info("netvsp: -> RNDIS type %#x req_id=%u status %#x, %u bytes\n", rd32(msg),
            rd32((const uint8_t *)msg + 8), rd32((const uint8_t *)msg + 12), len + dlen);
  if (netvsp_rx_msg(d, msg, len, data, dlen))
    d->nd_st.ctrl_drop++;
}

/* ---- checksums ----------------------------------------------------------------------- */

/** Offsets of the IPv4 header and its payload in an Ethernet frame, after an
 * optional 802.1Q tag. false when it is not a well-formed IPv4 frame. */
static bool netvsp_ipv4(const uint8_t *f, uint32_t len, uint32_t *ip, uint32_t *ihl,
                        uint32_t *iplen) {
  if (len < ETH_HLEN)
    return false;
  uint32_t o = ETH_HLEN;
  uint16_t et = inet_get16(((const struct eth_hdr *)f)->eh_type);
  if (et == ETH_P_8021Q) {
    if (len < ETH_VLAN_HLEN)
      return false;
    o = ETH_VLAN_HLEN;
    et = inet_get16(((const struct eth_vlan_hdr *)f)->ev_type);
  }
  if (et != ETH_P_IP || len - o < IPV4_HLEN)
    return false;
  const struct ipv4_hdr *h = (const struct ipv4_hdr *)(f + o);
  if (inet_ipv4_version(h) != IPV4_VERSION)
    return false;
  uint32_t hl = inet_ipv4_hlen(h);
  uint32_t tl = inet_get16(h->ih_len);
  if (hl < IPV4_HLEN || tl < hl || tl > len - o)
    return false;
  *ip = o;
  *ihl = hl;
  *iplen = tl;
  return true;
}

/** Remember the source address of a frame the guest sent (ARP sender or
 * IPv4 source; 0.0.0.0 is not an address): the summary's guest_ip. */
static void netvsp_note_src(struct netvsp *d, const uint8_t *f, uint32_t len) {
  uint32_t ip, ihl, tl;
  const uint8_t *src = NULL;
  if (netvsp_ipv4(f, len, &ip, &ihl, &tl))
    src = ((const struct ipv4_hdr *)(f + ip))->ih_src;
  else if (len >= ARP_FRAME_LEN && inet_get16(((const struct eth_hdr *)f)->eh_type) == ETH_P_ARP)
    src = ((const struct arp_pkt *)(f + ETH_HLEN))->ar_spa;
  if (!src || src[0] == 0)
    return;
  memcpy(d->nd_guest_ip, src, 4);
  d->nd_have_guest_ip = true;
}

bool netvsp_guest_ip(const struct netvsp *d, uint8_t ip[4]) {
  if (d->nd_have_guest_ip)
    memcpy(ip, d->nd_guest_ip, 4);
  return d->nd_have_guest_ip;
}

/** Fill the checksums the guest asked for (TCPIP_CHKSUM PPI, transmit). */
static void netvsp_tx_csum(struct netvsp *d, uint8_t *f, uint32_t len, uint32_t req) {
  uint32_t ip, ihl, tl;
  if (!netvsp_ipv4(f, len, &ip, &ihl, &tl))
    return;
  struct ipv4_hdr *h = (struct ipv4_hdr *)(f + ip);
  if (req & RNDIS_TXCSUM_IP_HDR) {
    h->ih_csum[0] = h->ih_csum[1] = 0;
    inet_put16(h->ih_csum, inet_csum_fold(inet_csum_add(0, f + ip, ihl)));
    d->nd_st.tx_csum_offload++;
  }
  if ((req & RNDIS_TXCSUM_UDP) && h->ih_proto == IP_PROTO_UDP && tl - ihl >= UDP_HLEN) {
    uint8_t *u = f + ip + ihl;
    uint32_t ulen = tl - ihl;
    struct udp_hdr *uh = (struct udp_hdr *)u;
    uh->uh_csum[0] = uh->uh_csum[1] = 0;
    uint16_t c = inet_udp4_csum(h, u, ulen);
    inet_put16(uh->uh_csum, c ? c : 0xffff);
    d->nd_st.tx_csum_offload++;
  }
}

/** Receive checksum verdict for a frame (RX TCPIP_CHKSUM PPI value). */
static uint32_t netvsp_rx_csum(const uint8_t *f, uint32_t len) {
  uint32_t ip, ihl, tl, v = 0;
  if (!netvsp_ipv4(f, len, &ip, &ihl, &tl))
    return 0;
  const struct ipv4_hdr *h = (const struct ipv4_hdr *)(f + ip);
  v |= inet_csum_fold(inet_csum_add(0, f + ip, ihl)) == 0 ? RNDIS_RXCSUM_IP_OK
                                                          : RNDIS_RXCSUM_IP_FAILED;
  if (h->ih_proto == IP_PROTO_UDP && tl - ihl >= UDP_HLEN) {
    const uint8_t *u = f + ip + ihl;
    uint32_t ulen = tl - ihl;
    if (inet_get16(((const struct udp_hdr *)u)->uh_csum) != 0)
      v |= inet_udp4_csum(h, u, ulen) == 0 ? RNDIS_RXCSUM_UDP_OK : RNDIS_RXCSUM_UDP_FAILED;
  }
  return v;
}

/* ---- receive: frames for the guest ------------------------------------------------ */

bool netvsp_ready(const struct netvsp *d) {
  return d->nd_open && d->nd_rx.gb_mdl && d->nd_rndis_init && d->nd_filter != 0;
}

/* Remember when the guest's link first came up (the tools' t_link_ms). */
static void netvsp_note_up(struct netvsp *d) {
  if (!d->nd_up_ns && netvsp_ready(d) && d->nd_link)
    d->nd_up_ns = hw_now_ns();
}

uint64_t netvsp_link_up_ns(const struct netvsp *d) { return d->nd_up_ns; }

int netvsp_rx_frame(struct netvsp *d, const uint8_t *frame, uint32_t len) {
  if (!netvsp_ready(d) || !d->nd_link) {
    d->nd_st.rx_drop_down++;
    return -ENETDOWN;
  }
  bool tagged =
      len >= ETH_VLAN_HLEN && inet_get16(((const struct eth_hdr *)frame)->eh_type) == ETH_P_8021Q;
  if (len < ETH_HLEN || len > d->nd_cfg.cf_mtu + (tagged ? ETH_VLAN_HLEN : ETH_HLEN)) {
    d->nd_st.rx_drop_size++;
    return -EMSGSIZE;
  }
  uint8_t hdr[NETVSP_RX_HDR_ROOM];
  uint32_t ppi = 0;
  uint8_t *pp = hdr + sizeof(struct rndis_packet);
  struct eth_hdr untagged;
  const uint8_t *body = frame;
  uint32_t blen = len;
  bool split = false;
  if (tagged && (d->nd_ndis_caps & NVSP_NDIS_CAP_IEEE8021Q)) {
    /* Strip the tag into an IEEE_8021Q PPI (what the VSP does for a guest
     * that announced 802.1Q). */
    uint16_t tci = inet_get16(((const struct eth_vlan_hdr *)frame)->ev_tci);
    ppi += rndis_put_ppi(pp + ppi, RNDIS_PPI_IEEE_8021Q, RNDIS_VLAN_MAKE(tci & 0xfffu, tci >> 13));
    memcpy(untagged.eh_dst, frame, ETH_ALEN);
    memcpy(untagged.eh_src, frame + ETH_ALEN, ETH_ALEN);
    memcpy(untagged.eh_type, ((const struct eth_vlan_hdr *)frame)->ev_type, 2);
    split = true;
  }
  if (d->nd_csum_rx) {
    uint32_t v = netvsp_rx_csum(frame, len);
    if (v)
      ppi += rndis_put_ppi(pp + ppi, RNDIS_PPI_TCPIP_CHKSUM, v);
  }
  uint32_t flen = split ? len - 4u : len;
  uint32_t hlen = rndis_packet_header(hdr, ppi, flen);
  if (split) {
    memcpy(hdr + hlen, &untagged, ETH_HLEN);
    hlen += ETH_HLEN;
    body = frame + ETH_VLAN_HLEN;
    blen = len - ETH_VLAN_HLEN;
  }
  int rc = netvsp_rx_msg(d, hdr, hlen, body, blen);
  if (rc == -EAGAIN)
    d->nd_st.rx_drop_busy++;
  else if (rc)
    d->nd_st.rx_drop_down++;
  if (rc)
    return rc;
  d->nd_st.rx_frames++;
  d->nd_st.rx_bytes += flen;
  if (d->nd_mon.nm_frame)
    d->nd_mon.nm_frame(d->nd_mon.nm_ctx, true, frame, len);
  return 0;
}

void netvsp_indicate(struct netvsp *d, uint32_t status) {
  struct rndis_indicate_status is;
  memset(&is, 0, sizeof(is));
  is.hdr.msg_type = RNDIS_MSG_INDICATE;
  is.hdr.msg_len = sizeof(is);
  is.status = status;
  is.status_buf_offset = sizeof(is) - 8u;
  d->nd_st.indications++;
  netvsp_ctrl_reply(d, &is, sizeof(is), NULL, 0);
}

void netvsp_set_link(struct netvsp *d, bool up) {
  if (d->nd_link == up)
    return;
  d->nd_link = up;
  netvsp_note_up(d);
  pr_info("netvsp: link %s\n", up ? "up" : "down");
  if (d->nd_open && d->nd_rx.gb_mdl && d->nd_rndis_init)
    netvsp_indicate(d, up ? RNDIS_STATUS_MEDIA_CONNECT : RNDIS_STATUS_MEDIA_DISCONNECT);
}

void netvsp_network_change(struct netvsp *d) {
  pr_info("netvsp: network change\n");
  if (d->nd_open && d->nd_rx.gb_mdl && d->nd_rndis_init)
    netvsp_indicate(d, RNDIS_STATUS_NETWORK_CHANGE);
  if (d->nd_link) {
    netvsp_set_link(d, false);
    netvsp_set_link(d, true);
  }
}

/* ---- RNDIS device emulation -------------------------------------------------------- */

/**
 * Copy the fixed part of a guest's RNDIS message (its first `size` bytes)
 * out of msg (`len` bytes, our private copy) into `out`; a message shorter
 * than that is counted bad (`what`) and nothing is copied.
 * @ret true with *out filled, false for a short message.
 */
static bool netvsp_rndis_fixed(struct netvsp *d, const uint8_t *msg, uint32_t len, void *out,
                               size_t size, const char *what) {
  if (len < size) {
    netvsp_bad(d, what);
    return false;
  }
  memcpy(out, msg, size);
  return true;
}

static void netvsp_rndis_init(struct netvsp *d, const uint8_t *msg, uint32_t len) {
  struct rndis_init_req r;
  if (!netvsp_rndis_fixed(d, msg, len, &r, sizeof(r), "RNDIS INITIALIZE too short"))
    return;
  struct rndis_init_cmplt c;
  memset(&c, 0, sizeof(c));
  c.hdr.msg_type = RNDIS_MSG_INIT_C;
  c.hdr.msg_len = sizeof(c);
  c.req_id = r.req_id;
  c.status = RNDIS_STATUS_SUCCESS;
  c.major = 1;
  c.minor = 0;
  c.dev_flags = 1;
  c.medium = 0;
  c.max_pkt_per_msg = NETVSP_MAX_PKT_PER_MSG;
  c.max_xfer_size = 0xefffffffu;
  c.pkt_alignment_factor = NETVSP_PKT_ALIGN_SHIFT;
  if (d->nd_cfg.cf_fault == NETVSP_FAULT_INIT_CMPLT_ALIGN) {
    c.pkt_alignment_factor = 40;
    c.max_pkt_per_msg = 0;
  }
  d->nd_rndis_init = true;
  netvsp_ctrl_reply(d, &c, sizeof(c), NULL, 0);
}

static void netvsp_rndis_query(struct netvsp *d, const uint8_t *msg, uint32_t len) {
  struct rndis_query_req q;
  if (!netvsp_rndis_fixed(d, msg, len, &q, sizeof(q), "RNDIS QUERY too short"))
    return;
  uint32_t oid = q.oid;
  uint8_t data[sizeof(struct ndis_offload_caps)];
  uint32_t n = 4, v = 0;
  switch (oid) {
  case RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: {
    /* What this device can do: IPv4 header and UDP checksums, both ways
     * (netvsp_set_offload); no TCP checksum, LSO, IPsec or RSC. */
    struct ndis_offload_caps caps;
    memset(&caps, 0, sizeof(caps));
    caps.type = NDIS_OBJECT_TYPE_OFFLOAD;
    caps.revision = NDIS_OFFLOAD_REVISION_1;
    caps.size = sizeof(caps);
    caps.ip4_txenc = caps.ip4_rxenc = NDIS_OFFLOAD_ENCAP_8023;
    caps.ip4_txcsum = caps.ip4_rxcsum = NDIS_CSUM_CAP_IP4 | NDIS_CSUM_CAP_UDP4;
    memcpy(data, &caps, sizeof(caps));
    n = sizeof(caps);
    break;
  }
  case RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE:
    v = d->nd_cfg.cf_mtu;
    break;
  case RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE:
    v = d->nd_cfg.cf_mtu + ETH_HLEN;
    break;
  case RNDIS_OID_GEN_LINK_SPEED:
    v = NETVSP_LINK_SPEED;
    break;
  case RNDIS_OID_GEN_MEDIA_CONNECT_STATUS:
    v = d->nd_link ? RNDIS_MEDIA_STATE_CONNECTED : RNDIS_MEDIA_STATE_DISCONNECTED;
    break;
  case RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
    v = d->nd_filter;
    break;
  case RNDIS_OID_802_3_PERMANENT_ADDRESS:
  case RNDIS_OID_802_3_CURRENT_ADDRESS:
    n = d->nd_cfg.cf_fault == NETVSP_FAULT_MAC_LEN ? 5u : 6u;
    break;
  default:
    n = 0;
    break;
  }
  if (n == 4)
    memcpy(data, &v, 4);
  else if (n && n <= 6)
    memcpy(data, d->nd_cfg.cf_mac, n);
  struct rndis_query_cmplt c;
  memset(&c, 0, sizeof(c));
  c.hdr.msg_type = RNDIS_MSG_QUERY_C;
  c.hdr.msg_len = (uint32_t)sizeof(c) + n;
  c.req_id = q.req_id;
  c.status = n ? RNDIS_STATUS_SUCCESS : RNDIS_STATUS_NOT_SUPPORTED;
  c.info_buflen = n;
  c.info_buf_offset = n ? (uint32_t)sizeof(c) - 8u : 0;
  if (d->nd_cfg.cf_fault == NETVSP_FAULT_QUERY_OFFSET)
    c.info_buf_offset = 4096;
  netvsp_ctrl_reply(d, &c, sizeof(c), data, n);
}

/** OID_TCP_OFFLOAD_PARAMETERS: header {0x80, rev, size}, knobs at 4..14. */
static uint32_t netvsp_set_offload(struct netvsp *d, const uint8_t *p, uint32_t n) {
  if (n < 22 || p[0] != 0x80)
    return RNDIS_STATUS_INVALID_DATA;
  uint16_t size;
  memcpy(&size, p + 2, 2);
  if (size < 22 || size > n)
    return RNDIS_STATUS_INVALID_DATA;
  uint8_t ip = p[4], udp = p[6];
  if (ip)
    d->nd_csum_tx_ip = ip == 2 || ip == 4;
  if (udp)
    d->nd_csum_tx_udp = udp == 2 || udp == 4;
  if (ip || udp)
    d->nd_csum_rx = ip == 3 || ip == 4 || udp == 3 || udp == 4;
  return RNDIS_STATUS_SUCCESS;
}

static void netvsp_rndis_set(struct netvsp *d, const uint8_t *msg, uint32_t len) {
  struct rndis_set_req s;
  if (!netvsp_rndis_fixed(d, msg, len, &s, sizeof(s), "RNDIS SET too short"))
    return;
  uint32_t status = RNDIS_STATUS_NOT_SUPPORTED;
  uint32_t body = len - 8u;
  if (s.info_buf_offset > body || s.info_buflen > body - s.info_buf_offset) {
    status = RNDIS_STATUS_INVALID_DATA;
  } else {
    const uint8_t *data = msg + 8u + s.info_buf_offset;
    if (s.oid == RNDIS_OID_GEN_CURRENT_PACKET_FILTER) {
      if (s.info_buflen >= 4) {
        d->nd_filter = rd32(data);
        netvsp_note_up(d);
        status = RNDIS_STATUS_SUCCESS;
      } else {
        status = RNDIS_STATUS_INVALID_DATA;
      }
    } else if (s.oid == RNDIS_OID_TCP_OFFLOAD_PARAMETERS) {
      status = netvsp_set_offload(d, data, s.info_buflen);
    }
  }
  struct rndis_set_cmplt c;
  rndis_status_cmplt(&c, RNDIS_MSG_SET_C, s.req_id, status);
  netvsp_ctrl_reply(d, &c, sizeof(c), NULL, 0);
}

/** Walk the guest's PPIs (the guest's walk and rules: rndis_ppi_next_known,
 * rndis_build.h): the checksum request and the VLAN tag. 0 or -EPROTO. */
static int netvsp_ppi(const uint8_t *p, uint32_t len, uint32_t *csum, bool *vlan, uint32_t *tag) {
  struct rndis_ppi_walk w = {p, len, 0};
  uint32_t type, v;
  int rc;
  while ((rc = rndis_ppi_next_known(&w, &type, &v)) > 0) {
    if (type == RNDIS_PPI_TCPIP_CHKSUM) {
      *csum = v;
    } else { /* RNDIS_PPI_IEEE_8021Q */
      *vlan = true;
      *tag = v;
    }
  }
  return rc;
}

/** A PACKET from the guest: validate, apply offloads, hand to the back end. */
static uint32_t netvsp_rndis_packet(struct netvsp *d, uint8_t *msg, uint32_t len) {
  struct rndis_packet p;
  if (!netvsp_rndis_fixed(d, msg, len, &p, sizeof(p), "RNDIS PACKET too short"))
    return NVSP_STAT_INVALID_RNDIS_PKT;
  uint32_t body = len - 8u;
  if (p.data_offset < RNDIS_PACKET_BODY || p.data_offset > body ||
      p.data_len > body - p.data_offset || p.data_len < ETH_HLEN ||
      p.data_len > d->nd_cfg.cf_mtu + ETH_VLAN_HLEN) {
    netvsp_bad(d, "RNDIS PACKET data outside the message");
    return NVSP_STAT_INVALID_RNDIS_PKT;
  }
  uint32_t csum = 0, tag = 0;
  bool vlan = false;
  if (p.per_pkt_info_len &&
      (p.per_pkt_info_offset < RNDIS_PACKET_BODY || p.per_pkt_info_offset > body ||
       p.per_pkt_info_len > body - p.per_pkt_info_offset ||
       netvsp_ppi(msg + 8u + p.per_pkt_info_offset, p.per_pkt_info_len, &csum, &vlan, &tag))) {
    netvsp_bad(d, "RNDIS PACKET per-packet info");
    return NVSP_STAT_INVALID_RNDIS_PKT;
  }
  uint8_t *f = msg + 8u + p.data_offset;
  uint32_t flen = p.data_len;
  if (vlan) {
    /* Insert the 802.1Q tag: the message copy has room in front of the
     * data (data_offset >= 36), so move the MACs back by the tag's 4. */
    f -= ETH_VLAN_TAG_LEN;
    memmove(f, f + ETH_VLAN_TAG_LEN, 2u * ETH_ALEN);
    inet_put16(((struct eth_vlan_hdr *)f)->ev_tpid, ETH_P_8021Q);
    inet_put16(((struct eth_vlan_hdr *)f)->ev_tci,
               (uint16_t)((RNDIS_VLAN_PRIO(tag) << 13) | RNDIS_VLAN_ID(tag)));
    flen += ETH_VLAN_TAG_LEN;
    d->nd_st.tx_vlan++;
  }
  if (csum & (RNDIS_TXCSUM_IP_HDR | RNDIS_TXCSUM_UDP))
    netvsp_tx_csum(d, f, flen, csum);
  d->nd_st.tx_frames++;
  d->nd_st.tx_bytes += p.data_len;
  netvsp_note_src(d, f, flen);
  if (d->nd_mon.nm_frame)
    d->nd_mon.nm_frame(d->nd_mon.nm_ctx, false, f, flen);
  if (d->nd_be.nb_tx)
    d->nd_be.nb_tx(d->nd_be.nb_ctx, f, flen);
  return NVSP_STAT_SUCCESS;
}

/** One RNDIS message from the guest (our private copy). */
static uint32_t netvsp_rndis(struct netvsp *d, uint8_t *msg, uint32_t len) {
  struct rndis_msg_hdr h;
  if (!netvsp_rndis_fixed(d, msg, len, &h, sizeof(h), "RNDIS message too short"))
    return NVSP_STAT_INVALID_RNDIS_PKT;
  if (h.msg_len < sizeof(h) || h.msg_len > len) {
    netvsp_bad(d, "RNDIS msg_len outside the message");
    return NVSP_STAT_INVALID_RNDIS_PKT;
  }
  len = h.msg_len;
  if (d->nd_cfg.cf_trace && h.msg_type != RNDIS_MSG_PACKET)
    pr_info("netvsp: <- RNDIS type %#x req_id=%u oid=%#x, %u bytes (%s)\n", h.msg_type,
            len >= 12 ? rd32(msg + 8) : 0,
            len >= 16 && (h.msg_type == RNDIS_MSG_QUERY || h.msg_type == RNDIS_MSG_SET)
                ? rd32(msg + 12)
                : 0,
            len, d->nd_st.tx_direct > d->nd_direct_seen ? "GPA direct" : "send section");
  d->nd_direct_seen = d->nd_st.tx_direct;
  switch (h.msg_type) {
  case RNDIS_MSG_PACKET:
    return netvsp_rndis_packet(d, msg, len);
  case RNDIS_MSG_INIT:
    netvsp_rndis_init(d, msg, len);
    return NVSP_STAT_SUCCESS;
  case RNDIS_MSG_QUERY:
    netvsp_rndis_query(d, msg, len);
    return NVSP_STAT_SUCCESS;
  case RNDIS_MSG_SET:
    netvsp_rndis_set(d, msg, len);
    return NVSP_STAT_SUCCESS;
  case RNDIS_MSG_HALT:
    d->nd_filter = 0;
    d->nd_rndis_init = false;
    return NVSP_STAT_SUCCESS;
  case RNDIS_MSG_KEEPALIVE: {
    struct rndis_keepalive_req k;
    if (!netvsp_rndis_fixed(d, msg, len, &k, sizeof(k), "RNDIS KEEPALIVE too short"))
      return NVSP_STAT_INVALID_RNDIS_PKT;
    struct rndis_set_cmplt c;
    rndis_status_cmplt(&c, RNDIS_MSG_KEEPALIVE_C, k.req_id, RNDIS_STATUS_SUCCESS);
    netvsp_ctrl_reply(d, &c, sizeof(c), NULL, 0);
    return NVSP_STAT_SUCCESS;
  }
  case RNDIS_MSG_KEEPALIVE_C:
    return NVSP_STAT_SUCCESS;
  default:
    netvsp_bad(d, "unknown RNDIS message type");
    return NVSP_STAT_INVALID_RNDIS_PKT;
  }
}

/** NVSP SEND_RNDIS_PKT: fetch the message from a send section or from the
 * GPA-direct pages, copy it out, and process it. */
static uint32_t netvsp_send_rndis(struct netvsp *d, VMBPACKETCOMPLETION pkt, const uint8_t *buf,
                                  uint32_t len, UINT32 flags) {
  struct nvsp_send_rndis_pkt m;
  if (len < sizeof(m) || !d->nd_rx.gb_mdl) {
    netvsp_bad(d, "SEND_RNDIS_PKT too short or before the receive buffer");
    return NVSP_STAT_FAIL;
  }
  memcpy(&m, buf, sizeof(m));
  uint32_t n = 0;
  if (m.send_buf_section_index != NVSP_INVALID_SECTION_INDEX) {
    if (!d->nd_tx.gb_mdl || m.send_buf_section_index >= d->nd_tx.gb_count ||
        m.send_buf_section_size > d->nd_tx.gb_unit || m.send_buf_section_size == 0) {
      netvsp_bad(d, "send section index or size");
      return NVSP_STAT_FAIL;
    }
    n = m.send_buf_section_size;
    if (!netvsp_mdl_copy(d, d->nd_tx.gb_mdl, (uint64_t)m.send_buf_section_index * d->nd_tx.gb_unit,
                         d->nd_msg, n, false)) {
      netvsp_bad(d, "send section not mappable");
      return NVSP_STAT_FAIL;
    }
    d->nd_st.tx_section++;
  } else {
    PMDL mdl = NULL;
    if (!(flags & VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA) ||
        !NT_SUCCESS(VmbChannelPacketGetExternalData(pkt, 0, &mdl)) || !mdl) {
      netvsp_bad(d, "GPA-direct send without pages");
      return NVSP_STAT_FAIL;
    }
    for (PMDL x = mdl; x; x = x->Next) {
      if (x->ByteCount > NETVSP_TX_MSG_MAX - n) {
        netvsp_bad(d, "GPA-direct send too large");
        return NVSP_STAT_FAIL;
      }
      if (!netvsp_mdl_copy(d, x, 0, d->nd_msg + n, x->ByteCount, false)) {
        netvsp_bad(d, "GPA-direct pages not mappable");
        return NVSP_STAT_FAIL;
      }
      n += x->ByteCount;
    }
    d->nd_st.tx_direct++;
  }
  return netvsp_rndis(d, d->nd_msg, n);
}

/* ---- NVSP ---------------------------------------------------------------------------- */

/** Unmap one of the guest's buffers (nothing when none is mapped) and
 * forget it. */
static void netvsp_gbuf_unmap(struct netvsp *d, struct netvsp_gbuf *b) {
  if (b->gb_gpadl)
    VmbChannelUnmapGpadl(d->nd_ch, b->gb_gpadl);
  memset(b, 0, sizeof(*b));
}

/** Map a guest GPADL writable: its MDL (valid until the unmap), every page
 * checked to be guest memory. The pages need not be contiguous: Linux
 * vmallocs its receive and send buffers, so only the guest's virtual view
 * is one range (issue 17: this host once took one pointer to all of it, and
 * Linux's netvsc could not set up its receive buffer). */
static PMDL netvsp_map(struct netvsp *d, uint32_t gpadl, uint32_t *size) {
  PMDL mdl = NULL;
  if (!NT_SUCCESS(VmbChannelMapGpadl(d->nd_ch, 0, gpadl, &mdl)) || !mdl)
    return NULL;
  for (uint64_t off = 0; off < mdl->ByteCount;) {
    uint32_t n = PAGE_SIZE - (uint32_t)((mdl->ByteOffset + off) % PAGE_SIZE);
    if (n > mdl->ByteCount - off)
      n = (uint32_t)(mdl->ByteCount - off);
    if (!kmcl_mdl_map(d->nd_ch, mdl, (uint32_t)off, n)) {
      VmbChannelUnmapGpadl(d->nd_ch, gpadl);
      return NULL;
    }
    off += n;
  }
  *size = mdl->ByteCount;
  return mdl;
}

/**
 * The buffer a SEND_RECV_BUF or SEND_SEND_BUF message (`buf`, `len` bytes,
 * from the guest) hands over: its GPADL mapped into *b and cut into units of
 * `unit` bytes, at most `max` of them. A short message, a GPADL that does
 * not map, or a buffer smaller than one unit leaves *b as it was and
 * nothing mapped.
 * @ret true with *b and *set_id (the message's id) filled.
 */
static bool netvsp_gbuf_map(struct netvsp *d, const uint8_t *buf, uint32_t len, uint32_t unit,
                            uint32_t max, struct netvsp_gbuf *b, uint16_t *set_id) {
  struct nvsp_send_buf m;
  if (len < sizeof(m))
    return false;
  memcpy(&m, buf, sizeof(m));
  uint32_t size = 0;
  PMDL p = netvsp_map(d, m.gpadl_handle, &size);
  if (!p)
    return false;
  uint32_t count = size / unit;
  if (count > max)
    count = max;
  if (count == 0) {
    VmbChannelUnmapGpadl(d->nd_ch, m.gpadl_handle);
    return false;
  }
  *b = (struct netvsp_gbuf){m.gpadl_handle, p, size, unit, count};
  *set_id = m.id;
  return true;
}

static void netvsp_recv_buf(struct netvsp *d, const uint8_t *buf, uint32_t len, union nvsp_msg *r) {
  struct nvsp_send_recv_buf_complete *c = &r->recv_buf_complete;
  c->msg_type = NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE;
  c->status = NVSP_STAT_FAIL;
  if (!d->nd_version || d->nd_rx.gb_gpadl)
    return;
  uint32_t sub = (NETVSP_RX_HDR_ROOM + d->nd_cfg.cf_mtu + ETH_VLAN_HLEN + 63u) & ~63u;
  if (!netvsp_gbuf_map(d, buf, len, sub, NETVSP_RX_SECTIONS_MAX, &d->nd_rx, &d->nd_rx_set))
    return;
  uint32_t size = d->nd_rx.gb_size, count = d->nd_rx.gb_count;
  d->nd_rx_inflight = 0;
  memset(d->nd_rx_free, 0, sizeof(d->nd_rx_free));
  for (uint32_t i = 0; i < count; i++)
    d->nd_rx_free[i / 64u] |= 1ull << (i % 64u);
  c->status = NVSP_STAT_SUCCESS;
  c->num_sections = 1;
  c->section[0].offset = 0;
  c->section[0].sub_alloc_size = sub;
  c->section[0].num_sub_allocs = count;
  c->section[0].end_offset = sub * count;
  switch (d->nd_cfg.cf_fault) {
  case NETVSP_FAULT_RECV_SECTIONS:
    c->num_sections = 2;
    break;
  case NETVSP_FAULT_RECV_OVERSIZE:
    c->section[0].num_sub_allocs = size / sub + 1000u;
    break;
  case NETVSP_FAULT_RECV_SUBSIZE:
    c->section[0].sub_alloc_size = 8;
    break;
  default:
    break;
  }
}

static void netvsp_send_buf(struct netvsp *d, const uint8_t *buf, uint32_t len, union nvsp_msg *r) {
  struct nvsp_send_send_buf_complete *c = &r->send_buf_complete;
  c->msg_type = NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE;
  c->status = NVSP_STAT_FAIL;
  uint32_t sec = d->nd_cfg.cf_send_section;
  uint16_t set_id; /* the guest's id for the send buffer: not used */
  if (!d->nd_version || d->nd_tx.gb_gpadl || d->nd_cfg.cf_refuse_send_buf ||
      !netvsp_gbuf_map(d, buf, len, sec, UINT32_MAX, &d->nd_tx, &set_id))
    return;
  c->status = NVSP_STAT_SUCCESS;
  c->section_size = d->nd_cfg.cf_fault == NETVSP_FAULT_SEND_SECTION_0 ? 0 : sec;
  if (d->nd_cfg.cf_fault == NETVSP_FAULT_SEND_SECTION_0)
    d->nd_tx.gb_count = 0;
}

static void netvsp_init(struct netvsp *d, const uint8_t *buf, uint32_t len, union nvsp_msg *r) {
  struct nvsp_init m;
  r->init_complete.msg_type = NVSP_MSG_TYPE_INIT_COMPLETE;
  r->init_complete.status = NVSP_STAT_FAIL;
  if (len < sizeof(m))
    return;
  memcpy(&m, buf, sizeof(m));
  uint32_t cap = d->nd_cfg.cf_max_nvsp;
  uint32_t best = 0;
  for (size_t i = 0; i < sizeof(netvsp_versions) / sizeof(netvsp_versions[0]); i++) {
    uint32_t v = netvsp_versions[i];
    if (v > best && v >= m.min_protocol_ver && v <= m.max_protocol_ver && v <= cap)
      best = v;
  }
  if (!best)
    return;
  d->nd_version = best;
  d->nd_last_version = best;
  r->init_complete.negotiated_protocol_ver = best;
  r->init_complete.max_mdl_chain_len = 34;
  r->init_complete.status = NVSP_STAT_SUCCESS;
}

static VOID netvsp_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                           UINT32 flags) {
  struct netvsp *d = netvsp_of(ch);
  const uint8_t *b = buf;
  union nvsp_msg r;
  memset(&r, 0, sizeof(r));
  uint32_t rlen = 0;
  uint32_t type = len >= 4 ? rd32(b) : 0;
  if (d->nd_cfg.cf_trace && type != NVSP_MSG1_TYPE_SEND_RNDIS_PKT)
    pr_info("netvsp: <- NVSP type %u, %u bytes: %#x %#x\n", type, len, len >= 8 ? rd32(b + 4) : 0,
            len >= 12 ? rd32(b + 8) : 0);
  switch (type) {
  case NVSP_MSG_TYPE_INIT:
    netvsp_init(d, b, len, &r);
    rlen = sizeof(r.init_complete);
    if (d->nd_cfg.cf_fault == NETVSP_FAULT_INIT_SHORT)
      rlen = 4;
    break;
  case NVSP_MSG1_TYPE_SEND_NDIS_VER:
    if (len >= sizeof(struct nvsp_send_ndis_ver))
      d->nd_ndis_ver = (rd32(b + 4) << 16) | (rd32(b + 8) & 0xffffu);
    break;
  case NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
    if (len >= sizeof(struct nvsp_send_ndis_config) && d->nd_version >= NVSP_PROTOCOL_VERSION_2) {
      d->nd_guest_mtu = rd32(b + 4);
      d->nd_ndis_caps = rd32(b + 12) | ((uint64_t)rd32(b + 16) << 32);
    }
    break;
  case NVSP_MSG1_TYPE_SEND_RECV_BUF:
    netvsp_recv_buf(d, b, len, &r);
    rlen = sizeof(r.recv_buf_complete);
    break;
  case NVSP_MSG1_TYPE_SEND_SEND_BUF:
    netvsp_send_buf(d, b, len, &r);
    rlen = sizeof(r.send_buf_complete);
    break;
  case NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
    netvsp_gbuf_unmap(d, &d->nd_rx);
    break;
  case NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
    netvsp_gbuf_unmap(d, &d->nd_tx);
    break;
  case NVSP_MSG1_TYPE_SEND_RNDIS_PKT:
    r.rndis_complete.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE;
    r.rndis_complete.status = netvsp_send_rndis(d, pkt, b, len, flags);
    rlen = sizeof(r.rndis_complete);
    break;
  default:
    netvsp_bad(d, "unknown NVSP message");
    break;
  }
  /* Every NVSP message goes out at the full size of the NVSP message union
   * (Windows' NVSP_MESSAGE, Linux's struct nvsp_message: 40 bytes), as
   * Hyper-V sends them: Linux's netvsc rejects an INIT completion shorter
   * than 28 bytes ("nvsp_msg1 length too small"), which ours was (16). */
  if (rlen && d->nd_cfg.cf_fault != NETVSP_FAULT_INIT_SHORT)
    rlen = NVSP_MSG_SIZE;
  if (d->nd_cfg.cf_trace && rlen && type != NVSP_MSG1_TYPE_SEND_RNDIS_PKT)
    pr_info("netvsp: -> NVSP type %u, %u bytes: %#x %#x\n", rd32((const uint8_t *)&r), rlen,
            rd32((const uint8_t *)&r + 4), rd32((const uint8_t *)&r + 8));
  VmbChannelPacketComplete(pkt, rlen ? &r : NULL, rlen);
}

/* ---- channel ------------------------------------------------------------------------- */

static NTSTATUS netvsp_opened(VMBCHANNEL ch) {
  struct netvsp *d = netvsp_of(ch);
  d->nd_open = true;
  return STATUS_SUCCESS;
}

/** The guest closed (or we rescinded): forget its buffers and state, so a
 * new open starts clean. */
static VOID netvsp_closed(VMBCHANNEL ch) {
  struct netvsp *d = netvsp_of(ch);
  d->nd_open = false;
  netvsp_gbuf_unmap(d, &d->nd_rx);
  netvsp_gbuf_unmap(d, &d->nd_tx);
  d->nd_version = 0;
  d->nd_ndis_caps = 0;
  d->nd_rndis_init = false;
  d->nd_filter = 0;
  d->nd_csum_tx_ip = d->nd_csum_tx_udp = d->nd_csum_rx = false;
}

/* NVSP messages and transfer-page packets are small: a guest's 2-page
 * ring must carry them (KMCL refuses an open whose ring cannot). */
static const struct srvchan_ops netvsp_ops = {
    .so_name = "netvsp",
    .so_opened = netvsp_opened,
    .so_closed = netvsp_closed,
    .so_process = netvsp_process,
    .so_max_packet = NETVSP_MAX_PACKET,
};

struct netvsp *netvsp_create(PDEVICE_OBJECT srv_dev, const struct netvsp_config *cfg,
                             const struct netvsp_backend *be) {
  struct netvsp *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  if (cfg)
    d->nd_cfg = *cfg;
  if (be)
    d->nd_be = *be;
  struct netvsp_config *c = &d->nd_cfg;
  static const uint8_t zero[6];
  if (!memcmp(c->cf_mac, zero, 6))
    memcpy(c->cf_mac, netvsp_default_mac, 6);
  if (!c->cf_mtu)
    c->cf_mtu = NETVSP_MTU_DEFAULT;
  if (c->cf_mtu > NETVSP_MTU_MAX)
    c->cf_mtu = NETVSP_MTU_MAX;
  if (c->cf_mtu < 576)
    c->cf_mtu = 576;
  if (!c->cf_max_nvsp)
    c->cf_max_nvsp = NVSP_PROTOCOL_VERSION_61;
  if (!c->cf_send_section)
    c->cf_send_section = NETVSP_SEND_SECTION_DEFAULT;
  if (c->cf_send_section < NVSP_SECTION_MIN)
    c->cf_send_section = NVSP_SECTION_MIN;
  d->nd_link = !c->cf_link_down;
  d->nd_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
  d->nd_msg = malloc(NETVSP_TX_MSG_MAX);
  if (!d->nd_msg) {
    free(d);
    return NULL;
  }
  GUID inst = netvsp_guid;
  inst.Data1 ^= c->cf_instance;
  inst.Data4[7] = 0x4e; /* 'N' */
  d->nd_ch = srvchan_create(srv_dev, &netvsp_ops, d, netvsp_guid, inst);
  if (!d->nd_ch) {
    free(d->nd_msg);
    free(d);
    return NULL;
  }
  return d;
}

void netvsp_destroy(struct netvsp *d) {
  if (!d)
    return;
  srvchan_destroy(d->nd_ch);
  free(d->nd_msg);
  free(d);
}

uint32_t netvsp_version_from(uint16_t major, uint16_t minor) {
  uint32_t wire = ((uint32_t)major << 16) | minor;
  for (size_t i = 0; i < sizeof(netvsp_versions) / sizeof(netvsp_versions[0]); i++)
    if (netvsp_versions[i] == wire)
      return wire;
  if (major == 2 && minor == 0)
    return NVSP_PROTOCOL_VERSION_2;
  if (major == 1 && minor == 0)
    return NVSP_PROTOCOL_VERSION_1;
  return 0;
}

void netvsp_rescind(struct netvsp *d) {
  if (d)
    VmbChannelDisable(d->nd_ch);
}

void netvsp_set_backend(struct netvsp *d, const struct netvsp_backend *be) {
  if (be)
    d->nd_be = *be;
  else
    memset(&d->nd_be, 0, sizeof(d->nd_be));
}

void netvsp_set_monitor(struct netvsp *d, const struct netvsp_monitor *m) {
  if (m)
    d->nd_mon = *m;
  else
    memset(&d->nd_mon, 0, sizeof(d->nd_mon));
}

bool netvsp_link(const struct netvsp *d) { return d->nd_link; }
uint32_t netvsp_version(const struct netvsp *d) { return d->nd_last_version; }
uint32_t netvsp_recv_buf_size(const struct netvsp *d) { return d->nd_rx.gb_size; }
uint32_t netvsp_send_buf_size(const struct netvsp *d) { return d->nd_tx.gb_size; }
uint32_t netvsp_rx_in_flight(const struct netvsp *d) { return d->nd_rx_inflight; }
const struct netvsp_stats *netvsp_stats(const struct netvsp *d) { return &d->nd_st; }
VMBCHANNEL netvsp_channel(const struct netvsp *d) { return d->nd_ch; }
void netvsp_set_fault(struct netvsp *d, enum netvsp_fault f) { d->nd_cfg.cf_fault = f; }

/* ---- hostile-host hooks -------------------------------------------------------------- */

int netvsp_inject_rx(struct netvsp *d, const void *msg, uint32_t len, int64_t off_adj,
                     uint32_t count, uint16_t set_id) {
  if (!d->nd_open || !d->nd_rx.gb_mdl)
    return -ENETDOWN;
  int32_t s = netvsp_rx_alloc(d);
  if (s < 0)
    return -EAGAIN;
  uint64_t start = (uint64_t)(uint32_t)s * d->nd_rx.gb_unit;
  if (msg && len <= d->nd_rx.gb_unit)
    netvsp_mdl_copy(d, d->nd_rx.gb_mdl, start, (void *)(uintptr_t)msg, len, true);
  struct vmtransfer_page_range r = {count, (uint32_t)((int64_t)start + off_adj)};
  NTSTATUS st = netvsp_send_xfer(d, set_id ? set_id : d->nd_rx_set, &r, 1, netvsp_rx_done,
                                 (void *)(uintptr_t)((uint32_t)s + 1u));
  if (!NT_SUCCESS(st)) {
    netvsp_rx_release(d, (uint32_t)s);
    return -EIO;
  }
  return 0;
}

int netvsp_inject_bad_completion(struct netvsp *d) {
  struct {
    struct vmpacket_descriptor d;
    uint64_t pad;
  } c;
  memset(&c, 0, sizeof(c));
  c.d.type = VM_PKT_COMP;
  c.d.offset8 = 2;
  c.d.len8 = (uint16_t)(sizeof(c) / 8u);
  c.d.trans_id = 0x7777000000000fffull; /* never handed out */
  int rc = kmcl_test_send_raw(d->nd_ch, &c, sizeof(c));
  return rc == -ENODEV ? -ENETDOWN : rc;
}
