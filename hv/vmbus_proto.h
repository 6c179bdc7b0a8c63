/* hv/vmbus_proto.h: VMBus channel-management messages, versions, interrupt
 * and monitor pages: the wire format between the guest's VMBus client
 * (hv/vmbus.c) and a VMBus server (host/). Wire format only; every size and
 * offset the protocol fixes is asserted. Source of every number:
 * ../shared/PROTOCOL-REFERENCE.md section 2 (Linux include/linux/hyperv.h,
 * OpenVMM vmbus_core protocol.rs, FreeBSD vmbus_reg.h). */
#ifndef HV_VMBUS_PROTO_H
#define HV_VMBUS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VMBUS_PACKED __attribute__((packed))

/* ---- Constants (section 2.1) ---------------------------------------------- */
#define VMBUS_MESSAGE_CONNECTION_ID 1   /* versions < 5.0 */
#define VMBUS_MESSAGE_CONNECTION_ID_4 4 /* INITIATE_CONTACT for >= 5.0 */
#define VMBUS_EVENT_CONNECTION_ID 2     /* signalling on 0.13 */
#define VMBUS_MONITOR_CONNECTION_ID 3
#define VMBUS_MESSAGE_SINT 2
#define VMBUS_FIRST_GPADL_HANDLE 0xe1e10u /* a choice: Linux's, any unique non-zero */
#define VMBUS_MAX_USER_DEFINED_BYTES 120
#define VMBUS_MAX_CHANNEL_MESSAGE 240 /* = HV_MESSAGE_PAYLOAD_MAX */
#define VMBUS_MAX_RELID 2048          /* relids index 2048 event flags */
#define VMBUS_MAX_RELID_INT_PAGE 256  /* interrupt-page signalling (< 2.4) */

/* Versions: major << 16 | minor. */
#define VMBUS_VERSION(maj, min) (((uint32_t)(maj) << 16) | (uint32_t)(min))
#define VMBUS_VERSION_WS2008 VMBUS_VERSION(0, 13)
#define VMBUS_VERSION_WIN7 VMBUS_VERSION(1, 1)
#define VMBUS_VERSION_WIN8 VMBUS_VERSION(2, 4)
#define VMBUS_VERSION_WIN8_1 VMBUS_VERSION(3, 0)
#define VMBUS_VERSION_WIN10 VMBUS_VERSION(4, 0)
#define VMBUS_VERSION_WIN10_V4_1 VMBUS_VERSION(4, 1)
#define VMBUS_VERSION_WIN10_V5 VMBUS_VERSION(5, 0)
#define VMBUS_VERSION_WIN10_V5_1 VMBUS_VERSION(5, 1)
#define VMBUS_VERSION_WIN10_V5_2 VMBUS_VERSION(5, 2)
#define VMBUS_VERSION_WIN10_V5_3 VMBUS_VERSION(5, 3)
#define VMBUS_VERSION_WIN10_V6_0 VMBUS_VERSION(6, 0)
#define VMBUS_VERSION_MAJOR(v) ((v) >> 16)
#define VMBUS_VERSION_MINOR(v) ((v)&0xffff)

/* The eleven versions, newest first (an initializer: both sides use it). */
#define VMBUS_ALL_VERSIONS                                                                         \
  {                                                                                                \
    VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2,                  \
        VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V4_1,                \
        VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN7,         \
        VMBUS_VERSION_WS2008                                                                       \
  }
#define VMBUS_NUM_VERSIONS 11

/* Copper (6.0) feature flags. */
#define VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL_PARAMETERS 0x1u
#define VMBUS_FEATURE_CHANNEL_INTERRUPT_REDIRECTION 0x2u
#define VMBUS_FEATURE_MODIFY_CONNECTION 0x4u
#define VMBUS_FEATURE_CLIENT_ID 0x8u
#define VMBUS_FEATURE_CONFIDENTIAL_CHANNELS 0x10u
#define VMBUS_FEATURE_PAUSE_RESUME 0x20u
#define VMBUS_FEATURE_SERVER_SPECIFIED_MONITOR_PAGES 0x40u
#define VMBUS_FEATURE_GPA_PINNING 0x80u

/* ---- GUIDs --------------------------------------------------------------- */
/* Mixed-endian on the wire: the first three fields little-endian. Packed
 * (alignment 1) so a GUID inside a packed message can be passed by address. */
struct vmbus_guid {
  uint32_t data1;
  uint16_t data2;
  uint16_t data3;
  uint8_t data4[8];
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_guid) == 16, "GUID is 16 bytes");
#define VMBUS_GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                        \
  {                                                                                                \
    (a), (b), (c), { (d0), (d1), (d2), (d3), (d4), (d5), (d6), (d7) }                              \
  }

/* Device classes (PROTOCOL-REFERENCE 2.4): the offer's if_type, named once
 * here for the guest's drivers, the host's devices and the trace.
 * f8615163-df3e-46c5-913f-f2d2f965ed0e: wire bytes 63 51 61 f8 3e df c5 46 91 3f ... */
#define VMBUS_GUID_NETWORK                                                                         \
  VMBUS_GUID(0xf8615163, 0xdf3e, 0x46c5, 0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e)
#define VMBUS_GUID_SCSI                                                                            \
  VMBUS_GUID(0xba6163d9, 0x04a1, 0x4d29, 0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f)
#define VMBUS_GUID_IDE                                                                             \
  VMBUS_GUID(0x32412632, 0x86cb, 0x44a2, 0x9b, 0x5c, 0x50, 0xd1, 0x41, 0x73, 0x54, 0xf5)
#define VMBUS_GUID_SHUTDOWN                                                                        \
  VMBUS_GUID(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb)
#define VMBUS_GUID_TIMESYNC                                                                        \
  VMBUS_GUID(0x9527e630, 0xd0ae, 0x497b, 0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf)
#define VMBUS_GUID_HEARTBEAT                                                                       \
  VMBUS_GUID(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d)
#define VMBUS_GUID_KVP                                                                             \
  VMBUS_GUID(0xa9a0f4e7, 0x5a45, 0x4d96, 0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6)
#define VMBUS_GUID_VSS                                                                             \
  VMBUS_GUID(0x35fa2e29, 0xea23, 0x4236, 0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40)
#define VMBUS_GUID_DYNMEM                                                                          \
  VMBUS_GUID(0x525074dc, 0x8985, 0x46e2, 0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02)
#define VMBUS_GUID_VIDEO                                                                           \
  VMBUS_GUID(0xda0a7802, 0xe377, 0x4aac, 0x8e, 0x77, 0x05, 0x58, 0xeb, 0x10, 0x73, 0xf8)
#define VMBUS_GUID_KEYBOARD                                                                        \
  VMBUS_GUID(0xf912ad6d, 0x2b17, 0x48ea, 0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84)
#define VMBUS_GUID_MOUSE                                                                           \
  VMBUS_GUID(0xcfa8b69e, 0x5b4a, 0x4cc0, 0xb9, 0x8b, 0x8b, 0xa1, 0xa1, 0xf3, 0xf9, 0x5a)
#define VMBUS_GUID_PCI                                                                             \
  VMBUS_GUID(0x44c4f61d, 0x4444, 0x4400, 0x9d, 0x52, 0x80, 0x2e, 0x27, 0xed, 0xe1, 0x9f)
#define VMBUS_GUID_FCOPY                                                                           \
  VMBUS_GUID(0x34d14be3, 0xdee4, 0x41c8, 0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92)
#define VMBUS_GUID_ND                                                                              \
  VMBUS_GUID(0x8c2eaf3d, 0x32a7, 0x4b09, 0xab, 0x99, 0xbd, 0x1f, 0x1c, 0x86, 0xb5, 0x01)
#define VMBUS_GUID_FC                                                                              \
  VMBUS_GUID(0x2f9bcc4a, 0x0069, 0x4af3, 0xb7, 0x6b, 0x6f, 0xd0, 0xbe, 0x52, 0x8c, 0xda)

/* ---- Messages (section 2.2) ----------------------------------------------- */
enum vmbus_msgtype {
  VMBUS_MSG_INVALID = 0,
  VMBUS_MSG_OFFERCHANNEL = 1,
  VMBUS_MSG_RESCIND_CHANNELOFFER = 2,
  VMBUS_MSG_REQUESTOFFERS = 3,
  VMBUS_MSG_ALLOFFERS_DELIVERED = 4,
  VMBUS_MSG_OPENCHANNEL = 5,
  VMBUS_MSG_OPENCHANNEL_RESULT = 6,
  VMBUS_MSG_CLOSECHANNEL = 7,
  VMBUS_MSG_GPADL_HEADER = 8,
  VMBUS_MSG_GPADL_BODY = 9,
  VMBUS_MSG_GPADL_CREATED = 10,
  VMBUS_MSG_GPADL_TEARDOWN = 11,
  VMBUS_MSG_GPADL_TORNDOWN = 12,
  VMBUS_MSG_RELID_RELEASED = 13,
  VMBUS_MSG_INITIATE_CONTACT = 14,
  VMBUS_MSG_VERSION_RESPONSE = 15,
  VMBUS_MSG_UNLOAD = 16,
  VMBUS_MSG_UNLOAD_RESPONSE = 17,
  VMBUS_MSG_OPEN_RESERVED_CHANNEL = 18,
  VMBUS_MSG_CLOSE_RESERVED_CHANNEL = 19,
  VMBUS_MSG_CLOSE_RESERVED_RESPONSE = 20,
  VMBUS_MSG_TL_CONNECT_REQUEST = 21,
  VMBUS_MSG_MODIFYCHANNEL = 22,
  VMBUS_MSG_TL_CONNECT_RESULT = 23,
  VMBUS_MSG_MODIFYCHANNEL_RESPONSE = 24,
  VMBUS_MSG_MODIFY_CONNECTION = 25,
  VMBUS_MSG_MODIFY_CONNECTION_RESPONSE = 26,
  VMBUS_MSG_PAUSE = 27,
  VMBUS_MSG_PAUSE_RESPONSE = 28,
  VMBUS_MSG_RESUME = 29,
  VMBUS_MSG_COUNT = 30,
};

struct vmbus_msg_header {
  uint32_t msgtype;
  uint32_t padding;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_header) == 8, "message header");

/* Offer flags (chn_flags) */
#define VMBUS_OFFER_ENUMERATE_DEVICE_INTERFACE 0x1u
#define VMBUS_OFFER_SERVER_SUPPORTS_TRANSFER_PAGES 0x2u
#define VMBUS_OFFER_SERVER_SUPPORTS_GPADLS 0x4u
#define VMBUS_OFFER_NAMED_PIPE_MODE 0x10u
#define VMBUS_OFFER_LOOPBACK 0x100u
#define VMBUS_OFFER_PARENT_OFFER 0x200u
#define VMBUS_OFFER_REQUEST_MONITORED_NOTIFICATION 0x400u

/* OFFERCHANNEL (1) H->G */
struct vmbus_msg_offer {
  struct vmbus_msg_header hdr;
  struct vmbus_guid if_type;     /* device class */
  struct vmbus_guid if_instance; /* this device */
  uint64_t reserved1;            /* FreeBSD chm_chlat */
  uint64_t reserved2;            /* FreeBSD chm_chrev | chm_svrctx_sz << 32 */
  uint16_t chn_flags;
  uint16_t mmio_megabytes;
  uint8_t user_def[VMBUS_MAX_USER_DEFINED_BYTES];
  uint16_t sub_channel_index; /* 0: primary */
  uint16_t reserved3;
  uint32_t child_relid;
  uint8_t monitorid;               /* MNF trigger index: group id/32, bit id%32 */
  uint8_t monitor_allocated;       /* bit 0 (1.1+) */
  uint16_t is_dedicated_interrupt; /* bit 0 (1.1+) */
  uint32_t connection_id;          /* (1.1+) for HvSignalEvent */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_offer) == 196, "OFFERCHANNEL is 196 bytes");
_Static_assert(offsetof(struct vmbus_msg_offer, if_instance) == 24, "if_instance at 24");
_Static_assert(offsetof(struct vmbus_msg_offer, chn_flags) == 56, "chn_flags at 56");
_Static_assert(offsetof(struct vmbus_msg_offer, user_def) == 60, "user_def at 60");
_Static_assert(offsetof(struct vmbus_msg_offer, sub_channel_index) == 180, "sub index at 180");
_Static_assert(offsetof(struct vmbus_msg_offer, child_relid) == 184, "child_relid at 184");
_Static_assert(offsetof(struct vmbus_msg_offer, monitorid) == 188, "monitorid at 188");
_Static_assert(offsetof(struct vmbus_msg_offer, is_dedicated_interrupt) == 190, "dedicated at 190");
_Static_assert(offsetof(struct vmbus_msg_offer, connection_id) == 192, "connection_id at 192");

/* RESCIND_CHANNELOFFER (2) H->G, CLOSECHANNEL (7) G->H, RELID_RELEASED (13) G->H */
struct vmbus_msg_relid {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_relid) == 12, "relid-only messages are 12 bytes");

/* OPENCHANNEL (5) G->H; the Copper OpenChannel2 adds the last three fields. */
#define VMBUS_OPEN_CHANNEL_SIZE 148
#define VMBUS_OPEN_CHANNEL2_SIZE 156
struct vmbus_msg_open_channel {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t openid;
  uint32_t ringbuffer_gpadlhandle;
  uint32_t target_vp;
  uint32_t downstream_ringbuffer_pageoffset; /* pages of the G->H ring incl. header */
  uint8_t userdata[VMBUS_MAX_USER_DEFINED_BYTES];
  uint32_t connection_id; /* OpenChannel2 only */
  uint16_t event_flag;
  uint16_t flags;
} VMBUS_PACKED;
_Static_assert(offsetof(struct vmbus_msg_open_channel, target_vp) == 20, "target_vp at 20");
_Static_assert(offsetof(struct vmbus_msg_open_channel, userdata) == 28, "userdata at 28");
_Static_assert(offsetof(struct vmbus_msg_open_channel, connection_id) == VMBUS_OPEN_CHANNEL_SIZE,
               "OPENCHANNEL is 148 bytes");
_Static_assert(sizeof(struct vmbus_msg_open_channel) == VMBUS_OPEN_CHANNEL2_SIZE,
               "OpenChannel2 is 156 bytes");

/* OPENCHANNEL_RESULT (6) H->G */
struct vmbus_msg_open_result {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t openid;
  uint32_t status; /* 0: success */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_open_result) == 20, "OPENCHANNEL_RESULT is 20 bytes");

/* GPADL_HEADER (8) G->H: one or more ranges, each {byte_count, byte_offset,
 * pfn[]}; this project sends one page-aligned range (QEMU accepts only that). */
struct vmbus_gpa_range_hdr {
  uint32_t byte_count;
  uint32_t byte_offset;
} VMBUS_PACKED;
struct vmbus_msg_gpadl_header {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t gpadl;
  uint16_t range_buflen; /* bytes of range data: 8 + 8 * pages for one range */
  uint16_t rangecount;
  /* struct vmbus_gpa_range_hdr + uint64_t pfn[] follow, repeated */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_gpadl_header) == 20, "GPADL_HEADER fixed part");
#define VMBUS_GPADL_HEADER_MAX_PFNS                                                                \
  ((VMBUS_MAX_CHANNEL_MESSAGE - sizeof(struct vmbus_msg_gpadl_header) -                            \
    sizeof(struct vmbus_gpa_range_hdr)) /                                                          \
   8)
_Static_assert(VMBUS_GPADL_HEADER_MAX_PFNS == 26, "26 PFNs fit the GPADL header");

/* GPADL_BODY (9) G->H */
struct vmbus_msg_gpadl_body {
  struct vmbus_msg_header hdr;
  uint32_t msgnumber; /* Linux leaves 0 */
  uint32_t gpadl;
  /* uint64_t pfn[] follow */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_gpadl_body) == 16, "GPADL_BODY fixed part");
#define VMBUS_GPADL_BODY_MAX_PFNS                                                                  \
  ((VMBUS_MAX_CHANNEL_MESSAGE - sizeof(struct vmbus_msg_gpadl_body)) / 8)
_Static_assert(VMBUS_GPADL_BODY_MAX_PFNS == 28, "28 PFNs fit a GPADL body");

/* GPADL_CREATED (10) H->G */
struct vmbus_msg_gpadl_created {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t gpadl;
  uint32_t creation_status; /* 0: success */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_gpadl_created) == 20, "GPADL_CREATED is 20 bytes");

/* GPADL_TEARDOWN (11) G->H */
struct vmbus_msg_gpadl_teardown {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t gpadl;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_gpadl_teardown) == 16, "GPADL_TEARDOWN is 16 bytes");

/* GPADL_TORNDOWN (12) H->G */
struct vmbus_msg_gpadl_torndown {
  struct vmbus_msg_header hdr;
  uint32_t gpadl;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_gpadl_torndown) == 12, "GPADL_TORNDOWN is 12 bytes");

/* INITIATE_CONTACT (14) G->H. Below 5.0 bytes 16..23 are the interrupt page
 * GPA; from 5.0 they are msg_sint, msg_vtl, padding and (6.0) feature flags. */
#define VMBUS_INITIATE_CONTACT_SIZE 40
#define VMBUS_INITIATE_CONTACT2_SIZE 56
struct vmbus_msg_initiate_contact {
  struct vmbus_msg_header hdr;
  uint32_t vmbus_version_requested;
  uint32_t target_vcpu; /* VP index for control messages */
  union {
    uint64_t interrupt_page; /* < 5.0 */
    struct {
      uint8_t msg_sint;
      uint8_t msg_vtl;
      uint16_t reserved;
      uint32_t feature_flags; /* 6.0 */
    } VMBUS_PACKED v5;
  } u;
  uint64_t monitor_page1;      /* parent -> child */
  uint64_t monitor_page2;      /* child -> parent */
  struct vmbus_guid client_id; /* InitiateContact2 only */
} VMBUS_PACKED;
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, u.v5.feature_flags) == 20,
               "feature_flags at 20");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, monitor_page1) == 24, "monitor1 at 24");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, client_id) ==
                   VMBUS_INITIATE_CONTACT_SIZE,
               "INITIATE_CONTACT is 40 bytes");
_Static_assert(sizeof(struct vmbus_msg_initiate_contact) == VMBUS_INITIATE_CONTACT2_SIZE,
               "InitiateContact2 is 56 bytes");

/* VERSION_RESPONSE (15) H->G. msg_conn_id: from 5.0 the message connection id
 * to use from now on; below 5.0 hosts put the version or 0 (do not trust it). */
#define VMBUS_VERSION_RESPONSE_SIZE 16
#define VMBUS_VERSION_RESPONSE_V6_SIZE 20
struct vmbus_msg_version_response {
  struct vmbus_msg_header hdr;
  uint8_t version_supported; /* non-zero: accepted */
  uint8_t connection_state;  /* 0 ok, 1 low resources, 2 unknown failure */
  uint16_t padding;
  uint32_t msg_conn_id;
  uint32_t supported_features; /* 6.0 */
} VMBUS_PACKED;
_Static_assert(offsetof(struct vmbus_msg_version_response, msg_conn_id) == 12, "conn id at 12");
_Static_assert(sizeof(struct vmbus_msg_version_response) == VMBUS_VERSION_RESPONSE_V6_SIZE,
               "Copper VERSION_RESPONSE is 20 bytes");

/* MODIFYCHANNEL (22) G->H, MODIFYCHANNEL_RESPONSE (24) H->G */
struct vmbus_msg_modify_channel {
  struct vmbus_msg_header hdr;
  uint32_t child_relid;
  uint32_t target_vp; /* response: status */
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_msg_modify_channel) == 16, "MODIFYCHANNEL is 16 bytes");

/* The minimum payload per type a receiver accepts, and who sends it, are
 * in the message table (hv/vmbus_trace.h, vmbus_msg_types). */

/* ---- Signalling pages (section 2.7) ----------------------------------------- */
/* Interrupt page (< 5.0): bytes 0..2047 host->guest bits, 2048..4095 guest->host. */
#define VMBUS_INT_PAGE_RECV_OFFSET 0
#define VMBUS_INT_PAGE_SEND_OFFSET 2048

struct vmbus_monitor_trigger_group {
  uint32_t pending;
  uint32_t armed;
};
struct vmbus_monitor_parameter {
  uint32_t connection_id;
  uint16_t flag_number;
  uint16_t reserved;
};
struct vmbus_monitor_page {
  uint32_t trigger_state; /* bits 3:0 group enable */
  uint32_t reserved1;
  struct vmbus_monitor_trigger_group trigger_group[4];
  uint8_t reserved2[24];
  int32_t next_checktime[4][32];
  uint16_t latency[4][32]; /* 100 ns units */
  uint8_t reserved3[256];
  struct vmbus_monitor_parameter parameter[4][32];
  uint8_t reserved4[1984];
};
_Static_assert(offsetof(struct vmbus_monitor_page, trigger_group) == 0x008, "trigger_group");
_Static_assert(offsetof(struct vmbus_monitor_page, next_checktime) == 0x040, "next_checktime");
_Static_assert(offsetof(struct vmbus_monitor_page, latency) == 0x240, "latency");
_Static_assert(offsetof(struct vmbus_monitor_page, parameter) == 0x440, "parameter");
_Static_assert(sizeof(struct vmbus_monitor_page) == 4096, "monitor page is one page");

#endif
