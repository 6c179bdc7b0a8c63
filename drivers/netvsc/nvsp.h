/* drivers/netvsc/nvsp.h: NVSP (Network Virtual Service Protocol) wire formats.
 *
 * Shared by the guest driver (drivers/netvsc/) and the host's NetVSP device
 * (host/netvsp.c). Layouts and values from PROTOCOL-REFERENCE.md sections
 * 4.1-4.3 (Linux hyperv_net.h names, OpenVMM netvsp/src/protocol.rs). Every
 * size and offset the reference fixes is a _Static_assert. Nothing here but
 * wire formats (STYLE.md rule 1).
 */
#ifndef DRIVERS_NETVSC_NVSP_H
#define DRIVERS_NETVSC_NVSP_H

#include <stddef.h>
#include <stdint.h>

/** f8615163-df3e-46c5-913f-f2d2f965ed0e: the synthetic network adapter
 * (hv/vmbus_proto.h VMBUS_GUID_NETWORK), as a KMCL GUID initializer. */
#define NVSP_GUID_NETWORK_INIT                                                                     \
  {                                                                                                \
    0xf8615163u, 0xdf3eu, 0x46c5u, { 0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e }              \
  }

/* ---- protocol versions (4.1) --------------------------------------------- */
#define NVSP_PROTOCOL_VERSION_1 0x00000002u
#define NVSP_PROTOCOL_VERSION_2 0x00030002u
#define NVSP_PROTOCOL_VERSION_4 0x00040000u
#define NVSP_PROTOCOL_VERSION_5 0x00050000u
#define NVSP_PROTOCOL_VERSION_6 0x00060000u
#define NVSP_PROTOCOL_VERSION_61 0x00060001u
/** Every version above, newest first (the order a guest offers them, 4.3
 * step 2), as an array initializer: the driver's offers, the device's
 * accepted versions and the tests' host caps are this one list. */
#define NVSP_VERSIONS_NEWEST_FIRST_INIT                                                            \
  {                                                                                                \
    NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_5,                    \
        NVSP_PROTOCOL_VERSION_4, NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1                  \
  }

/* NDIS versions sent with SEND_NDIS_VER (4.3 step 4). */
#define NVSP_NDIS_VERSION_6_1 0x00060001u  /* NVSP <= 4 */
#define NVSP_NDIS_VERSION_6_30 0x0006001eu /* NVSP >= 5 */

/* ---- message types (4.1) -------------------------------------------------- */
#define NVSP_MSG_TYPE_NONE 0u
#define NVSP_MSG_TYPE_INIT 1u                       /* G->H, completion requested */
#define NVSP_MSG_TYPE_INIT_COMPLETE 2u              /* H->G, in a VM_PKT_COMP */
#define NVSP_MSG1_TYPE_SEND_NDIS_VER 100u           /* G->H, no response */
#define NVSP_MSG1_TYPE_SEND_RECV_BUF 101u           /* G->H */
#define NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE 102u  /* H->G, COMP */
#define NVSP_MSG1_TYPE_REVOKE_RECV_BUF 103u         /* G->H, no response */
#define NVSP_MSG1_TYPE_SEND_SEND_BUF 104u           /* G->H */
#define NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE 105u  /* H->G, COMP */
#define NVSP_MSG1_TYPE_REVOKE_SEND_BUF 106u         /* G->H, no response */
#define NVSP_MSG1_TYPE_SEND_RNDIS_PKT 107u          /* both directions */
#define NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE 108u /* both, COMP */
#define NVSP_MSG2_TYPE_SEND_NDIS_CONFIG 125u        /* G->H, v2+, no response */
#define NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION 128u     /* H->G in-band */
#define NVSP_MSG4_TYPE_SWITCH_DATA_PATH 129u        /* G->H */
#define NVSP_MSG5_TYPE_OID_QUERY_EX 131u
#define NVSP_MSG5_TYPE_SUBCHANNEL 133u
#define NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE 134u /* H->G in-band */

/* ---- status codes (NVSP_STAT_*) ------------------------------------------- */
#define NVSP_STAT_NONE 0u
#define NVSP_STAT_SUCCESS 1u
#define NVSP_STAT_FAIL 2u
#define NVSP_STAT_PROTOCOL_TOO_NEW 3u
#define NVSP_STAT_PROTOCOL_TOO_OLD 4u
#define NVSP_STAT_INVALID_RNDIS_PKT 5u
#define NVSP_STAT_BUSY 6u
#define NVSP_STAT_PROTOCOL_UNSUPPORTED 7u

/** channel_type of SEND_RNDIS_PKT. */
#define NVSP_RNDIS_CHANNEL_DATA 0u    /* "RMC_DATA" */
#define NVSP_RNDIS_CHANNEL_CONTROL 1u /* "RMC_CONTROL" */
/** send_buf_section_index when the send buffer is not used (GPA direct). */
#define NVSP_INVALID_SECTION_INDEX 0xffffffffu

/** SEND_NDIS_CONFIG capability bits (4.2). */
#define NVSP_NDIS_CAP_VMQ (1ull << 0)
#define NVSP_NDIS_CAP_CHIMNEY (1ull << 1)
#define NVSP_NDIS_CAP_SRIOV (1ull << 2)
#define NVSP_NDIS_CAP_IEEE8021Q (1ull << 3)
#define NVSP_NDIS_CAP_CORRELATION_ID (1ull << 4)
#define NVSP_NDIS_CAP_TEAMING (1ull << 5)
#define NVSP_NDIS_CAP_VSID (1ull << 6)
#define NVSP_NDIS_CAP_RSC (1ull << 7)

/** Linux sends sizeof(struct nvsp_message) = 40 bytes for every message;
 * OpenVMM names it PACKET_SIZE_V61 (0x28), and PACKET_SIZE_V1 = 0x1c. A
 * receiver needs at least the size of the message type it parses. */
#define NVSP_MSG_SIZE 40u
#define NVSP_MSG_SIZE_V1 28u

/* ---- layouts (4.2); offsets from the start of the NVSP message ------------ */

/** Every message starts with its type. */
struct nvsp_msg_header {
  uint32_t msg_type; /* NVSP_MSG*_TYPE_* */
};
_Static_assert(sizeof(struct nvsp_msg_header) == 4, "nvsp header");

/** NVSP_MSG_TYPE_INIT: REQ (completion requested). Linux sends min = max. */
struct nvsp_init {
  uint32_t msg_type;         /* 1 */
  uint32_t min_protocol_ver; /* @4 */
  uint32_t max_protocol_ver; /* @8 */
};
_Static_assert(offsetof(struct nvsp_init, min_protocol_ver) == 4, "INIT min @4");
_Static_assert(offsetof(struct nvsp_init, max_protocol_ver) == 8, "INIT max @8");
_Static_assert(sizeof(struct nvsp_init) == 12, "INIT");

/** NVSP_MSG_TYPE_INIT_COMPLETE: RESP (payload of the VM_PKT_COMP). */
struct nvsp_init_complete {
  uint32_t msg_type;                /* 2 */
  uint32_t negotiated_protocol_ver; /* @4, deprecated */
  uint32_t max_mdl_chain_len;       /* @8 */
  uint32_t status;                  /* @12, NVSP_STAT_* */
};
_Static_assert(offsetof(struct nvsp_init_complete, status) == 12, "INIT_COMPLETE status @12");
_Static_assert(sizeof(struct nvsp_init_complete) == 16, "INIT_COMPLETE");

/** NVSP_MSG1_TYPE_SEND_NDIS_VER: NOTE (no response). */
struct nvsp_send_ndis_ver {
  uint32_t msg_type;   /* 100 */
  uint32_t ndis_major; /* @4 */
  uint32_t ndis_minor; /* @8 */
};
_Static_assert(offsetof(struct nvsp_send_ndis_ver, ndis_minor) == 8, "NDIS_VER minor @8");
_Static_assert(sizeof(struct nvsp_send_ndis_ver) == 12, "NDIS_VER");

/** NVSP_MSG1_TYPE_SEND_RECV_BUF (101) / SEND_SEND_BUF (104): REQ. */
struct nvsp_send_buf {
  uint32_t msg_type;     /* 101 or 104 */
  uint32_t gpadl_handle; /* @4 */
  uint16_t id;           /* @8: receive buffer: the xfer_pageset_id the host uses */
  uint16_t reserved;     /* @10 */
};
_Static_assert(offsetof(struct nvsp_send_buf, gpadl_handle) == 4, "SEND_*_BUF gpadl @4");
_Static_assert(offsetof(struct nvsp_send_buf, id) == 8, "SEND_*_BUF id @8");
_Static_assert(sizeof(struct nvsp_send_buf) == 12, "SEND_*_BUF");

/** One receive-buffer section (SEND_RECV_BUF_COMPLETE). */
struct nvsp_recv_section {
  uint32_t offset;         /* from the buffer start; must be 0 */
  uint32_t sub_alloc_size; /* bytes per sub-allocation (one received message) */
  uint32_t num_sub_allocs;
  uint32_t end_offset;
};
_Static_assert(sizeof(struct nvsp_recv_section) == 16, "recv section");

/** NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE: RESP. num_sections must be 1. */
struct nvsp_send_recv_buf_complete {
  uint32_t msg_type;                   /* 102 */
  uint32_t status;                     /* @4 */
  uint32_t num_sections;               /* @8 */
  struct nvsp_recv_section section[1]; /* @12 */
};
_Static_assert(offsetof(struct nvsp_send_recv_buf_complete, num_sections) == 8, "102 count @8");
_Static_assert(offsetof(struct nvsp_send_recv_buf_complete, section) == 12, "102 section @12");
_Static_assert(sizeof(struct nvsp_send_recv_buf_complete) == 28, "102");

/** NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE: RESP. */
struct nvsp_send_send_buf_complete {
  uint32_t msg_type;     /* 105 */
  uint32_t status;       /* @4 */
  uint32_t section_size; /* @8: host-chosen */
};
_Static_assert(offsetof(struct nvsp_send_send_buf_complete, section_size) == 8, "105 size @8");
_Static_assert(sizeof(struct nvsp_send_send_buf_complete) == 12, "105");

/** NVSP_MSG1_TYPE_REVOKE_RECV_BUF (103) / REVOKE_SEND_BUF (106): NOTE. */
struct nvsp_revoke_buf {
  uint32_t msg_type;
  uint16_t id; /* @4 */
  uint16_t reserved;
};
_Static_assert(offsetof(struct nvsp_revoke_buf, id) == 4, "REVOKE id @4");
_Static_assert(sizeof(struct nvsp_revoke_buf) == 8, "REVOKE");

/** NVSP_MSG1_TYPE_SEND_RNDIS_PKT: REQ in both directions. */
struct nvsp_send_rndis_pkt {
  uint32_t msg_type;               /* 107 */
  uint32_t channel_type;           /* @4: NVSP_RNDIS_CHANNEL_* */
  uint32_t send_buf_section_index; /* @8: NVSP_INVALID_SECTION_INDEX = GPA direct */
  uint32_t send_buf_section_size;  /* @12: bytes used in that section, 0 if none */
};
_Static_assert(offsetof(struct nvsp_send_rndis_pkt, channel_type) == 4, "107 type @4");
_Static_assert(offsetof(struct nvsp_send_rndis_pkt, send_buf_section_index) == 8, "107 idx @8");
_Static_assert(offsetof(struct nvsp_send_rndis_pkt, send_buf_section_size) == 12, "107 sz @12");
_Static_assert(sizeof(struct nvsp_send_rndis_pkt) == 16, "107");

/** NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE: RESP. */
struct nvsp_send_rndis_pkt_complete {
  uint32_t msg_type; /* 108 */
  uint32_t status;   /* @4: NVSP_STAT_SUCCESS or _FAIL */
};
_Static_assert(offsetof(struct nvsp_send_rndis_pkt_complete, status) == 4, "108 status @4");
_Static_assert(sizeof(struct nvsp_send_rndis_pkt_complete) == 8, "108");

/** NVSP_MSG2_TYPE_SEND_NDIS_CONFIG: NOTE (v2+). The u64 at 12 is not
 * naturally aligned on the wire: kept as two u32 halves. */
struct nvsp_send_ndis_config {
  uint32_t msg_type;      /* 125 */
  uint32_t mtu;           /* @4: Linux sends MTU + 14 */
  uint32_t reserved;      /* @8 */
  uint32_t capability_lo; /* @12: NVSP_NDIS_CAP_* (low half of a u64) */
  uint32_t capability_hi; /* @16 */
};
_Static_assert(offsetof(struct nvsp_send_ndis_config, mtu) == 4, "125 mtu @4");
_Static_assert(offsetof(struct nvsp_send_ndis_config, capability_lo) == 12, "125 cap @12");
_Static_assert(sizeof(struct nvsp_send_ndis_config) == 20, "125");

/** Every message we send fits the 40-byte size Linux always sends. */
_Static_assert(sizeof(struct nvsp_send_recv_buf_complete) <= NVSP_MSG_SIZE, "fits");
_Static_assert(sizeof(struct nvsp_send_ndis_config) <= NVSP_MSG_SIZE, "fits");

/** A whole NVSP message buffer (what goes on the wire, zero padded). */
union nvsp_msg {
  struct nvsp_msg_header hdr;
  struct nvsp_init init;
  struct nvsp_init_complete init_complete;
  struct nvsp_send_ndis_ver ndis_ver;
  struct nvsp_send_buf send_buf;
  struct nvsp_send_recv_buf_complete recv_buf_complete;
  struct nvsp_send_send_buf_complete send_buf_complete;
  struct nvsp_revoke_buf revoke;
  struct nvsp_send_rndis_pkt rndis;
  struct nvsp_send_rndis_pkt_complete rndis_complete;
  struct nvsp_send_ndis_config ndis_config;
  uint8_t raw[NVSP_MSG_SIZE];
};
_Static_assert(sizeof(union nvsp_msg) == NVSP_MSG_SIZE, "NVSP message is 40 bytes");

/** Smallest sane section sizes (Linux NETVSC_MTU_MIN = 68): a receive
 * sub-allocation or send section below this cannot hold a minimal frame. */
#define NVSP_SECTION_MIN 68u

/** The xfer_pageset_id Linux uses for its receive buffer (4.3 step 5). */
#define NVSP_RECV_BUF_ID 0xcafeu
/** Maximum ranges in one receive packet (NVSP_MAX_PACKETS_PER_RECEIVE). */
#define NVSP_MAX_RANGES 375u

#endif
