/* drivers/ic/ic_proto.h: the integration-service (IC) wire formats, shared
 * by the guest's IC drivers (drivers/ic/ic.c) and the host emulator's IC
 * devices (host/icdev.c). Nothing but wire structs and constants.
 *
 * Sources (facts, not code; ../shared/HYPERV-REAL.md section 2): Linux
 * include/linux/hyperv.h and include/uapi/linux/hyperv.h, FreeBSD
 * sys/dev/hyperv/utilities/vmbus_icreg.h. Every message is one in-band
 * VMBus packet: pipe header, icmsg header, then the service's body. The
 * guest answers each message in place (same length, same transaction id)
 * with icflags TRANSACTION|RESPONSE. All fields little-endian.
 */
#ifndef DRIVERS_IC_IC_PROTO_H
#define DRIVERS_IC_IC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "hv/vmbus_proto.h"

#define IC_PACKED __attribute__((packed))

/** Version as Linux writes it in its tables: major << 16 | minor. */
#define IC_VER(maj, min) ((uint32_t)(maj) << 16 | (uint32_t)(min))
#define IC_VER_MAJOR(v) ((uint16_t)((v) >> 16))
#define IC_VER_MINOR(v) ((uint16_t)((v)&0xffffu))

/* ---- pipe header (vmbuspipe_hdr / vmbus_pipe_hdr) ---------------------------- */
struct ic_pipe_hdr {
  uint32_t flags;   /* 1: data (KMCL pipe mode writes 1) */
  uint32_t msgsize; /* bytes after this header */
} IC_PACKED;
_Static_assert(sizeof(struct ic_pipe_hdr) == 8, "vmbuspipe_hdr is 8 bytes");
#define IC_PIPE_FLAG_DATA 1u

/* ---- icmsg header (icmsg_hdr / vmbus_icmsg_hdr) ------------------------------ */
struct ic_version {
  uint16_t major;
  uint16_t minor;
} IC_PACKED;
_Static_assert(sizeof(struct ic_version) == 4, "ic_version");

struct ic_msg_hdr {
  struct ic_version icverframe; /* framework version */
  uint16_t icmsgtype;           /* IC_MSGTYPE_* */
  struct ic_version icvermsg;   /* service (message) version */
  uint16_t icmsgsize;           /* body bytes after this header */
  uint32_t status;              /* IC_S_OK or IC_E_FAIL in responses */
  uint8_t ictransaction_id;
  uint8_t icflags; /* IC_FLAG_* */
  uint8_t reserved[2];
} IC_PACKED;
_Static_assert(sizeof(struct ic_msg_hdr) == 20, "icmsg_hdr is 20 bytes");
_Static_assert(offsetof(struct ic_msg_hdr, icmsgtype) == 4, "icmsgtype at 4");
_Static_assert(offsetof(struct ic_msg_hdr, icvermsg) == 6, "icvermsg at 6");
_Static_assert(offsetof(struct ic_msg_hdr, icmsgsize) == 10, "icmsgsize at 10");
_Static_assert(offsetof(struct ic_msg_hdr, status) == 12, "status at 12");
_Static_assert(offsetof(struct ic_msg_hdr, ictransaction_id) == 16, "transaction id at 16");
_Static_assert(offsetof(struct ic_msg_hdr, icflags) == 17, "icflags at 17");

/** Bytes in front of every body: pipe header + icmsg header (Linux ICMSG_HDR). */
#define IC_HDR_SIZE (sizeof(struct ic_pipe_hdr) + sizeof(struct ic_msg_hdr))
_Static_assert(IC_HDR_SIZE == 28, "ICMSG_HDR is 28");

#define IC_MSGTYPE_NEGOTIATE 0u
#define IC_MSGTYPE_HEARTBEAT 1u
#define IC_MSGTYPE_KVPEXCHANGE 2u
#define IC_MSGTYPE_SHUTDOWN 3u
#define IC_MSGTYPE_TIMESYNC 4u
#define IC_MSGTYPE_VSS 5u

#define IC_FLAG_TRANSACTION 0x1u
#define IC_FLAG_REQUEST 0x2u
#define IC_FLAG_RESPONSE 0x4u

#define IC_S_OK 0x00000000u
#define IC_E_FAIL 0x80004005u
#define IC_S_CONT 0x80070103u /* KVP enumerate: no item at this index */

/* ---- NEGOTIATE (icmsg_negotiate) -------------------------------------------- */
struct ic_negotiate {
  uint16_t icframe_vercnt; /* framework versions offered (1 in the answer, 0 refuses) */
  uint16_t icmsg_vercnt;   /* service versions offered */
  uint32_t reserved;
  /* struct ic_version icversion_data[icframe_vercnt + icmsg_vercnt] */
} IC_PACKED;
_Static_assert(sizeof(struct ic_negotiate) == 8, "icmsg_negotiate is 8 bytes + versions");
/** Linux refuses lists longer than this (IC_VERSION_NEGOTIATION_MAX_VER_COUNT). */
#define IC_NEGOTIATE_MAX_VERSIONS 100u
/** The answer's icmsgsize: header + one framework and one service version. */
#define IC_NEGOTIATE_RESP_SIZE 16u

#define IC_FW_VERSION_1 IC_VER(1, 0) /* WS2008 */
#define IC_FW_VERSION_3 IC_VER(3, 0)

/* ---- Heartbeat (heartbeat_msg_data) ------------------------------------------ */
struct ic_heartbeat {
  uint64_t seq_num; /* the guest answers seq_num + 1 */
  uint32_t reserved[8];
} IC_PACKED;
_Static_assert(sizeof(struct ic_heartbeat) == 40, "heartbeat_msg_data is 40 bytes");

/* ---- Shutdown (shutdown_msg_data) -------------------------------------------- */
struct ic_shutdown {
  uint32_t reason_code;
  uint32_t timeout_seconds;
  uint32_t flags; /* IC_SHUTDOWN_FLAG_* */
  uint8_t display_message[2048];
} IC_PACKED;
_Static_assert(sizeof(struct ic_shutdown) == 2060, "shutdown_msg_data is 2060 bytes");
_Static_assert(offsetof(struct ic_shutdown, flags) == 8, "flags at 8");
#define IC_SHUTDOWN_FLAG_FORCE 0x1u
#define IC_SHUTDOWN_FLAG_RESTART 0x2u   /* service 3.1+ */
#define IC_SHUTDOWN_FLAG_HIBERNATE 0x4u /* service 3.2+ */

/* ---- TimeSync ----------------------------------------------------------------- */
/** Service 1.0 and 3.0 (ictimesync_data). Times in 100 ns since 1601-01-01. */
struct ic_timesync {
  uint64_t parenttime;
  uint64_t childtime;
  uint64_t roundtriptime;
  uint8_t flags; /* IC_TIMESYNC_FLAG_* */
} IC_PACKED;
_Static_assert(sizeof(struct ic_timesync) == 25, "ictimesync_data is 25 bytes");
_Static_assert(offsetof(struct ic_timesync, parenttime) == 0, "parenttime at 0");
_Static_assert(offsetof(struct ic_timesync, flags) == 24, "flags at 24");
/** Service 4.0 (ictimesync_ref_data). */
struct ic_timesync_ref {
  uint64_t parenttime;
  uint64_t vmreferencetime; /* the reference counter when the host sampled */
  uint8_t flags;
  uint8_t leapflags;
  uint8_t stratum;
  uint8_t reserved[3];
} IC_PACKED;
_Static_assert(sizeof(struct ic_timesync_ref) == 22, "ictimesync_ref_data is 22 bytes");
_Static_assert(offsetof(struct ic_timesync_ref, parenttime) == 0, "parenttime at 0");
_Static_assert(offsetof(struct ic_timesync_ref, flags) == 16, "flags at 16");
#define IC_TIMESYNC_FLAG_PROBE 0u
#define IC_TIMESYNC_FLAG_SYNC 1u
#define IC_TIMESYNC_FLAG_SAMPLE 2u
/** 100 ns units between 1601-01-01 and 1970-01-01 (Linux WLTIMEDELTA). */
#define IC_WLTIMEDELTA 116444736000000000ull

/* ---- KVP (hv_kvp_msg, hv_kvp_ip_msg) ----------------------------------------- */
#define IC_KVP_OP_GET 0u
#define IC_KVP_OP_SET 1u
#define IC_KVP_OP_DELETE 2u
#define IC_KVP_OP_ENUMERATE 3u
#define IC_KVP_OP_GET_IP_INFO 4u
#define IC_KVP_OP_SET_IP_INFO 5u

#define IC_KVP_POOL_EXTERNAL 0u
#define IC_KVP_POOL_GUEST 1u
#define IC_KVP_POOL_AUTO 2u
#define IC_KVP_POOL_AUTO_EXTERNAL 3u
#define IC_KVP_POOL_AUTO_INTERNAL 4u
#define IC_KVP_NPOOLS 5u

#define IC_KVP_MAX_KEY_SIZE 512u    /* bytes (UTF-16) */
#define IC_KVP_MAX_VALUE_SIZE 2048u /* bytes (UTF-16) */
#define IC_KVP_REG_SZ 1u            /* value_type: a string */

struct ic_kvp_hdr {
  uint8_t operation; /* IC_KVP_OP_* */
  uint8_t pool;      /* IC_KVP_POOL_* */
  uint16_t pad;
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_hdr) == 4, "hv_kvp_hdr is 4 bytes");

struct ic_kvp_value {
  uint32_t value_type; /* IC_KVP_REG_SZ */
  uint32_t key_size;   /* bytes, UTF-16 with its NUL */
  uint32_t value_size;
  uint8_t key[IC_KVP_MAX_KEY_SIZE];
  uint8_t value[IC_KVP_MAX_VALUE_SIZE];
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_value) == 2572, "hv_kvp_exchg_msg_value is 2572 bytes");
_Static_assert(offsetof(struct ic_kvp_value, value) == 524, "value at 524");

/** ENUMERATE: hdr, then index, then one key/value. */
struct ic_kvp_enumerate {
  struct ic_kvp_hdr hdr;
  uint32_t index;
  struct ic_kvp_value data;
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_enumerate) == 2580, "hdr + hv_kvp_msg_enumerate");
_Static_assert(offsetof(struct ic_kvp_enumerate, data) == 8, "data at 8");

/** GET and SET: hdr, then one key/value (hv_kvp_msg_get / hv_kvp_msg_set). */
struct ic_kvp_get_set {
  struct ic_kvp_hdr hdr;
  struct ic_kvp_value data;
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_get_set) == 2576, "hdr + hv_kvp_msg_get");
_Static_assert(offsetof(struct ic_kvp_get_set, data) == 4, "data at 4");

/** DELETE: hdr, key size, key (hv_kvp_msg_delete). */
struct ic_kvp_delete {
  struct ic_kvp_hdr hdr;
  uint32_t key_size;
  uint8_t key[IC_KVP_MAX_KEY_SIZE];
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_delete) == 520, "hdr + hv_kvp_msg_delete");

#define IC_KVP_ADAPTER_ID_SIZE 128u /* UTF-16 units */
#define IC_KVP_IP_ADDR_SIZE 1024u
#define IC_KVP_GATEWAY_SIZE 512u
#define IC_KVP_ADDR_FAMILY_IPV4 0x01u
#define IC_KVP_ADDR_FAMILY_IPV6 0x02u

/** GET_IP_INFO / SET_IP_INFO (hv_kvp_ip_msg: no pad after pool). Strings
 * are UTF-16LE; the adapter id is the NIC's MAC ("00:15:5D:00:00:02"). */
struct ic_kvp_ip_msg {
  uint8_t operation;
  uint8_t pool;
  uint16_t adapter_id[IC_KVP_ADAPTER_ID_SIZE];
  uint8_t addr_family;
  uint8_t dhcp_enabled;
  uint16_t ip_addr[IC_KVP_IP_ADDR_SIZE]; /* "a.b.c.d" (';' between several) */
  uint16_t sub_net[IC_KVP_IP_ADDR_SIZE]; /* "255.255.255.0" */
  uint16_t gate_way[IC_KVP_GATEWAY_SIZE];
  uint16_t dns_addr[IC_KVP_IP_ADDR_SIZE];
} IC_PACKED;
_Static_assert(sizeof(struct ic_kvp_ip_msg) == 7428, "hv_kvp_ip_msg is 7428 bytes");
_Static_assert(offsetof(struct ic_kvp_ip_msg, adapter_id) == 2, "adapter_id at 2");
_Static_assert(offsetof(struct ic_kvp_ip_msg, addr_family) == 258, "addr_family at 258");
_Static_assert(offsetof(struct ic_kvp_ip_msg, ip_addr) == 260, "ip_addr at 260");
_Static_assert(offsetof(struct ic_kvp_ip_msg, sub_net) == 2308, "sub_net at 2308");
_Static_assert(offsetof(struct ic_kvp_ip_msg, gate_way) == 4356, "gate_way at 4356");
_Static_assert(offsetof(struct ic_kvp_ip_msg, dns_addr) == 5380, "dns_addr at 5380");

/** Largest IC message: KVP IP info with both headers (Linux's KVP buffer is 4 pages). */
#define IC_MSG_MAX (IC_HDR_SIZE + sizeof(struct ic_kvp_ip_msg))

/* ---- instance GUIDs (HYPERV-REAL.md section 2) ---------------------------------
 * The class GUIDs are hv/vmbus_proto.h's VMBUS_GUID_HEARTBEAT, _KVP, _SHUTDOWN
 * and _TIMESYNC; these are the instances Hyper-V offers them with. */
#define IC_GUID_HEARTBEAT_INST                                                                     \
  VMBUS_GUID(0xfd149e91, 0x82e0, 0x4a7d, 0xaf, 0xa6, 0x2a, 0x41, 0x66, 0xcb, 0xd7, 0xc0)
#define IC_GUID_KVP_INST                                                                           \
  VMBUS_GUID(0x242ff919, 0x07db, 0x4180, 0x9c, 0x2e, 0xb8, 0x6c, 0xb6, 0x8c, 0x8c, 0x55)
#define IC_GUID_SHUTDOWN_INST                                                                      \
  VMBUS_GUID(0xb6650ff7, 0x33bc, 0x4840, 0x80, 0x48, 0xe0, 0x67, 0x67, 0x86, 0xf3, 0x93)
#define IC_GUID_TIMESYNC_INST                                                                      \
  VMBUS_GUID(0x2dd1ce17, 0x079e, 0x403c, 0xb3, 0x52, 0xa1, 0x92, 0x1e, 0xe2, 0x07, 0xee)

#endif
