/* drivers/netvsc/rndis.h: RNDIS wire formats as carried by NVSP.
 *
 * Shared by the guest driver and the host's NetVSP device. Layouts from
 * PROTOCOL-REFERENCE.md sections 4.6-4.7 (Linux hyperv_net.h / rndis.h
 * names, OpenVMM rndisprot.rs). Every RNDIS message starts with msg_type
 * and msg_len (total bytes, header included); offsets inside the bodies are
 * relative to byte 8 (the start of the body), as the spec says. Nothing
 * here but wire formats (STYLE.md rule 1).
 */
#ifndef DRIVERS_NETVSC_RNDIS_H
#define DRIVERS_NETVSC_RNDIS_H

#include <stddef.h>
#include <stdint.h>

/* ---- message types (4.6) ------------------------------------------------- */
#define RNDIS_MSG_PACKET 0x00000001u
#define RNDIS_MSG_INIT 0x00000002u
#define RNDIS_MSG_INIT_C 0x80000002u
#define RNDIS_MSG_HALT 0x00000003u
#define RNDIS_MSG_QUERY 0x00000004u
#define RNDIS_MSG_QUERY_C 0x80000004u
#define RNDIS_MSG_SET 0x00000005u
#define RNDIS_MSG_SET_C 0x80000005u
#define RNDIS_MSG_RESET 0x00000006u
#define RNDIS_MSG_RESET_C 0x80000006u
#define RNDIS_MSG_INDICATE 0x00000007u
#define RNDIS_MSG_KEEPALIVE 0x00000008u
#define RNDIS_MSG_KEEPALIVE_C 0x80000008u

/* ---- status values -------------------------------------------------------- */
#define RNDIS_STATUS_SUCCESS 0x00000000u
#define RNDIS_STATUS_PENDING 0x00000103u
#define RNDIS_STATUS_BUFFER_OVERFLOW 0x80000005u
#define RNDIS_STATUS_FAILURE 0xc0000001u
#define RNDIS_STATUS_NOT_SUPPORTED 0xc00000bbu
#define RNDIS_STATUS_INVALID_DATA 0xc0010015u
/* INDICATE_STATUS codes (4.5). */
#define RNDIS_STATUS_MEDIA_CONNECT 0x4001000bu
#define RNDIS_STATUS_MEDIA_DISCONNECT 0x4001000cu
#define RNDIS_STATUS_LINK_SPEED_CHANGE 0x40010013u
#define RNDIS_STATUS_NETWORK_CHANGE 0x40010018u
#define RNDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG 0x40020006u

/* ---- OIDs (4.6) ------------------------------------------------------------ */
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE 0x00010106u /* u32, MTU without Ethernet header */
#define RNDIS_OID_GEN_LINK_SPEED 0x00010107u         /* u32, 100 bps units */
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER 0x0001010eu
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE 0x00010111u
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS 0x00010114u /* u32: 0 connected, 1 not */
#define RNDIS_OID_802_3_PERMANENT_ADDRESS 0x01010101u  /* 6 bytes */
#define RNDIS_OID_802_3_CURRENT_ADDRESS 0x01010102u
#define RNDIS_OID_TCP_OFFLOAD_PARAMETERS 0xfc01020cu
#define RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES 0xfc01020du

/** OID_GEN_MEDIA_CONNECT_STATUS values. */
#define RNDIS_MEDIA_STATE_CONNECTED 0u
#define RNDIS_MEDIA_STATE_DISCONNECTED 1u

/** OID_GEN_CURRENT_PACKET_FILTER bits. */
#define RNDIS_PACKET_TYPE_DIRECTED 0x01u
#define RNDIS_PACKET_TYPE_MULTICAST 0x02u
#define RNDIS_PACKET_TYPE_ALL_MULTICAST 0x04u
#define RNDIS_PACKET_TYPE_BROADCAST 0x08u
#define RNDIS_PACKET_TYPE_PROMISCUOUS 0x20u
/** What netvsc clients set to open the data path (4.3 step 10). */
#define RNDIS_FILTER_DEFAULT                                                                       \
  (RNDIS_PACKET_TYPE_DIRECTED | RNDIS_PACKET_TYPE_ALL_MULTICAST | RNDIS_PACKET_TYPE_BROADCAST)

/* ---- message layouts ------------------------------------------------------ */

/** Common header of every RNDIS message. */
struct rndis_msg_hdr {
  uint32_t msg_type; /* RNDIS_MSG_* */
  uint32_t msg_len;  /* total bytes, this header included */
};
_Static_assert(sizeof(struct rndis_msg_hdr) == 8, "RNDIS header");

/** RNDIS_MSG_PACKET (both directions). Offsets relative to byte 8. */
struct rndis_packet {
  struct rndis_msg_hdr hdr;
  uint32_t data_offset;         /* @8 */
  uint32_t data_len;            /* @12 */
  uint32_t oob_data_offset;     /* @16 */
  uint32_t oob_data_len;        /* @20 */
  uint32_t num_oob_data_elems;  /* @24 */
  uint32_t per_pkt_info_offset; /* @28 */
  uint32_t per_pkt_info_len;    /* @32 */
  uint32_t vc_handle;           /* @36, 0 */
  uint32_t reserved;            /* @40 */
};
_Static_assert(offsetof(struct rndis_packet, data_offset) == 8, "data_offset @8");
_Static_assert(offsetof(struct rndis_packet, per_pkt_info_offset) == 28, "ppi offset @28");
_Static_assert(offsetof(struct rndis_packet, per_pkt_info_len) == 32, "ppi len @32");
_Static_assert(sizeof(struct rndis_packet) == 44, "PACKET header is 44 bytes");
/** Body size (what the offsets count from): 44 - 8. */
#define RNDIS_PACKET_BODY 36u

/** RNDIS_MSG_INIT: REQ. */
struct rndis_init_req {
  struct rndis_msg_hdr hdr;
  uint32_t req_id;        /* @8, non-zero */
  uint32_t major;         /* @12: 1 */
  uint32_t minor;         /* @16: 0 */
  uint32_t max_xfer_size; /* @20 */
};
_Static_assert(offsetof(struct rndis_init_req, max_xfer_size) == 20, "INIT max_xfer @20");
_Static_assert(sizeof(struct rndis_init_req) == 24, "INIT is 24 bytes");

/** RNDIS_MSG_INIT_C: RESP. */
struct rndis_init_cmplt {
  struct rndis_msg_hdr hdr;
  uint32_t req_id;               /* @8 */
  uint32_t status;               /* @12 */
  uint32_t major;                /* @16 */
  uint32_t minor;                /* @20 */
  uint32_t dev_flags;            /* @24: 1 = connectionless */
  uint32_t medium;               /* @28: 0 = 802.3 */
  uint32_t max_pkt_per_msg;      /* @32 */
  uint32_t max_xfer_size;        /* @36 */
  uint32_t pkt_alignment_factor; /* @40: log2 */
  uint32_t af_list_offset;       /* @44 */
  uint32_t af_list_size;         /* @48 */
};
_Static_assert(offsetof(struct rndis_init_cmplt, max_pkt_per_msg) == 32, "INIT_C max_pkt @32");
_Static_assert(offsetof(struct rndis_init_cmplt, pkt_alignment_factor) == 40, "INIT_C align @40");
_Static_assert(sizeof(struct rndis_init_cmplt) == 52, "INIT_C is 52 bytes");

/** RNDIS_MSG_HALT: NOTE (no completion). */
struct rndis_halt_req {
  struct rndis_msg_hdr hdr;
  uint32_t req_id; /* @8 */
};
_Static_assert(sizeof(struct rndis_halt_req) == 12, "HALT");

/** RNDIS_MSG_QUERY / RNDIS_MSG_SET: REQ; input data follows at byte 28. */
struct rndis_query_req {
  struct rndis_msg_hdr hdr;
  uint32_t req_id;          /* @8 */
  uint32_t oid;             /* @12 */
  uint32_t info_buflen;     /* @16 */
  uint32_t info_buf_offset; /* @20: relative to byte 8; 20 = data at byte 28 */
  uint32_t dev_vc_handle;   /* @24 */
};
_Static_assert(offsetof(struct rndis_query_req, info_buf_offset) == 20, "QUERY offset @20");
_Static_assert(sizeof(struct rndis_query_req) == 28, "QUERY is 28 bytes");
#define rndis_set_req rndis_query_req
/** info_buf_offset of a request whose data follows the header at once. */
#define RNDIS_QUERY_INFO_OFFSET 20u

/** RNDIS_MSG_QUERY_C: RESP. */
struct rndis_query_cmplt {
  struct rndis_msg_hdr hdr;
  uint32_t req_id;          /* @8 */
  uint32_t status;          /* @12 */
  uint32_t info_buflen;     /* @16 */
  uint32_t info_buf_offset; /* @20: relative to byte 8; must be >= 16 */
};
_Static_assert(offsetof(struct rndis_query_cmplt, info_buf_offset) == 20, "QUERY_C offset @20");
_Static_assert(sizeof(struct rndis_query_cmplt) == 24, "QUERY_C is 24 bytes");

/** RNDIS_MSG_SET_C / RNDIS_MSG_KEEPALIVE_C: RESP. */
struct rndis_set_cmplt {
  struct rndis_msg_hdr hdr;
  uint32_t req_id; /* @8 */
  uint32_t status; /* @12 */
};
_Static_assert(sizeof(struct rndis_set_cmplt) == 16, "SET_C is 16 bytes");

/** RNDIS_MSG_INDICATE: NOTE (host to guest). */
struct rndis_indicate_status {
  struct rndis_msg_hdr hdr;
  uint32_t status;            /* @8: RNDIS_STATUS_MEDIA_* ... */
  uint32_t status_buflen;     /* @12 */
  uint32_t status_buf_offset; /* @16: relative to byte 8 */
};
_Static_assert(offsetof(struct rndis_indicate_status, status_buf_offset) == 16, "IND offset @16");
_Static_assert(sizeof(struct rndis_indicate_status) == 20, "INDICATE is 20 bytes");

/** RNDIS_MSG_KEEPALIVE: REQ. */
struct rndis_keepalive_req {
  struct rndis_msg_hdr hdr;
  uint32_t req_id; /* @8 */
};
_Static_assert(sizeof(struct rndis_keepalive_req) == 12, "KEEPALIVE");

/* ---- per-packet info (4.7) ------------------------------------------------ */

/** One PPI element; the data starts ppi_offset bytes into the element. */
struct rndis_ppi {
  uint32_t size;       /* @0: element total */
  uint32_t type;       /* @4: bits 30:0 type, bit 31 internal */
  uint32_t ppi_offset; /* @8: from the element start, 12 typically */
};
_Static_assert(sizeof(struct rndis_ppi) == 12, "PPI header is 12 bytes");
#define RNDIS_PPI_INTERNAL 0x80000000u

#define RNDIS_PPI_TCPIP_CHKSUM 0u
#define RNDIS_PPI_IPSEC 1u
#define RNDIS_PPI_TCP_LARGESEND 2u
#define RNDIS_PPI_CLASSIFICATION_HANDLE 3u
#define RNDIS_PPI_SG_LIST 5u
#define RNDIS_PPI_IEEE_8021Q 6u
#define RNDIS_PPI_ORIGINAL_PKTINFO 7u
#define RNDIS_PPI_NBL_HASH_VALUE 8u

/** TCPIP_CHKSUM, transmit direction (u32 bits). */
#define RNDIS_TXCSUM_IS_IPV4 (1u << 0)
#define RNDIS_TXCSUM_IS_IPV6 (1u << 1)
#define RNDIS_TXCSUM_TCP (1u << 2)
#define RNDIS_TXCSUM_UDP (1u << 3)
#define RNDIS_TXCSUM_IP_HDR (1u << 4)
#define RNDIS_TXCSUM_TCP_HDR_OFFSET_SHIFT 16 /* bits 25:16 */

/** TCPIP_CHKSUM, receive direction (u32 bits). */
#define RNDIS_RXCSUM_TCP_FAILED (1u << 0)
#define RNDIS_RXCSUM_UDP_FAILED (1u << 1)
#define RNDIS_RXCSUM_IP_FAILED (1u << 2)
#define RNDIS_RXCSUM_TCP_OK (1u << 3)
#define RNDIS_RXCSUM_UDP_OK (1u << 4)
#define RNDIS_RXCSUM_IP_OK (1u << 5)
#define RNDIS_RXCSUM_LOOPBACK (1u << 6)

/** IEEE_8021Q (u32): bits 2:0 priority, bit 3 CFI/DEI, bits 15:4 VLAN id. */
#define RNDIS_VLAN_PRIO(v) ((v)&0x7u)
#define RNDIS_VLAN_ID(v) (((v) >> 4) & 0xfffu)
#define RNDIS_VLAN_MAKE(id, prio) ((((uint32_t)(id)&0xfffu) << 4) | ((uint32_t)(prio)&0x7u))

/** A PPI element carrying one u32 (checksum, VLAN): 16 bytes. */
struct rndis_ppi_u32 {
  struct rndis_ppi hdr;
  uint32_t value;
};
_Static_assert(sizeof(struct rndis_ppi_u32) == 16, "u32 PPI element is 16 bytes");

/* ---- NDIS_OFFLOAD (OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES) ------------------- */
#define NDIS_OBJECT_TYPE_OFFLOAD 0xa7u
#define NDIS_OFFLOAD_REVISION_1 1u /* NDIS 6.0: through `flags`, 112 bytes */
#define NDIS_OFFLOAD_ENCAP_8023 0x0002u
#define NDIS_CSUM_CAP_IP4 0x100u /* ip4_txcsum / ip4_rxcsum bits */
#define NDIS_CSUM_CAP_UDP4 0x040u
#define NDIS_CSUM_CAP_TCP4 0x010u
#define NDIS_CSUM_CAP_TCP4OPT 0x004u

/** The device's offload capabilities, revision 1 (NDIS 6.0). Linux's
 * netvsc requires this answer (type 0xa7, revision >= 1, size >= 112) or
 * its probe fails; our guest never asks. */
struct ndis_offload_caps {
  uint8_t type; /* NDIS_OBJECT_TYPE_OFFLOAD */
  uint8_t revision;
  uint16_t size;
  /* checksum */
  uint32_t ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum;
  uint32_t ip6_txenc, ip6_txcsum, ip6_rxenc, ip6_rxcsum;
  uint32_t lsov1[4];   /* encap, maxsize, minsegs, opts: none */
  uint32_t ipsecv1[7]; /* none */
  uint32_t lsov2[7];   /* ip4 encap/max/minsegs, ip6 encap/max/minsegs/opts: none */
  uint32_t flags;
};
_Static_assert(offsetof(struct ndis_offload_caps, ip4_txcsum) == 8, "csum @4");
_Static_assert(offsetof(struct ndis_offload_caps, lsov1) == 36, "lsov1 @36");
_Static_assert(offsetof(struct ndis_offload_caps, lsov2) == 80, "lsov2 @80");
_Static_assert(sizeof(struct ndis_offload_caps) == 112, "NDIS_OFFLOAD rev 1 is 112 bytes");

#endif
