/* kmcl/vmbus_ring_proto.h: VMBus ring buffer and packet wire formats.
 *
 * Wire format only: the ring control page shared by producer and consumer,
 * the packet descriptor every packet starts with, and the extended headers of
 * the packet types netvsc uses. Every size and offset the protocol fixes is a
 * _Static_assert. Source: PROTOCOL-REFERENCE.md section 3 (Linux
 * include/linux/hyperv.h, OpenVMM vmbus_ring, mu_msvm VmbusPacketFormat.h).
 * Software state lives in kmcl/ring.h.
 */
#ifndef KMCL_VMBUS_RING_PROTO_H
#define KMCL_VMBUS_RING_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- ring control page ---------------------------------------------------- */

/** Size of the control (header) page in front of each ring's data area. Spec
 * value: the data starts 4096 bytes after the control page start. */
#define VMBUS_RING_CTL_SIZE 4096u
/** The data area size must be a multiple of this (spec value). */
#define VMBUS_RING_DATA_ALIGN 4096u

/** feature_bits bit 0: the writer of this ring honours pending_send_sz
 * (Linux feat_pending_send_sz). Spec value. */
#define VMBUS_RING_FEAT_PENDING_SEND_SZ 0x1u

/** Ring control page, one per direction (Linux struct hv_ring_buffer without
 * the data; OpenVMM vmbus_ring::Control). Shared with the peer: every field
 * may change at any time. */
struct vmbus_ring_ctl {
  uint32_t write_index;     /* write_index: byte offset of the next write; producer */
  uint32_t read_index;      /* read_index: byte offset of the next read; consumer */
  uint32_t interrupt_mask;  /* interrupt_mask: 1 = consumer draining, do not signal */
  uint32_t pending_send_sz; /* pending_send_sz: bytes the blocked producer waits for */
  uint32_t reserved1[12];   /* reserved1[12] */
  uint32_t feature_bits;    /* feature_bits: VMBUS_RING_FEAT_*, set by the ring's writer */
  uint8_t reserved2[4028];  /* reserved; data starts at offset 4096 */
};
_Static_assert(offsetof(struct vmbus_ring_ctl, write_index) == 0, "write_index @0");
_Static_assert(offsetof(struct vmbus_ring_ctl, read_index) == 4, "read_index @4");
_Static_assert(offsetof(struct vmbus_ring_ctl, interrupt_mask) == 8, "interrupt_mask @8");
_Static_assert(offsetof(struct vmbus_ring_ctl, pending_send_sz) == 12, "pending_send_sz @12");
_Static_assert(offsetof(struct vmbus_ring_ctl, reserved1) == 16, "reserved1 @16");
_Static_assert(offsetof(struct vmbus_ring_ctl, feature_bits) == 64, "feature_bits @64");
_Static_assert(offsetof(struct vmbus_ring_ctl, reserved2) == 68, "reserved @68");
_Static_assert(sizeof(struct vmbus_ring_ctl) == VMBUS_RING_CTL_SIZE, "control page is 4 KiB");

/* ---- packets ---------------------------------------------------------------- */

/** Packets are 8-byte aligned; len8 and offset8 count 8-byte units. */
#define VMBUS_PKT_ALIGN 8u
/** Every packet is followed by an 8-byte trailer: u64 whose high 32 bits are
 * the packet's starting write_index, low 32 bits reserved (zero). */
#define VMBUS_PKT_TRAILER_SIZE 8u
/** Largest packet len8 can describe: 0xffff * 8 bytes. Equals the KMCL MTU of
 * 524,280 bytes (KMCL-REFERENCE.md). */
#define VMBUS_PKT_MAX_LEN (0xffffu * 8u)

/* Packet types (Linux enum vmbus_packet_type). Spec values. */
#define VM_PKT_INVALID 0x0
#define VM_PKT_SYNCH 0x1
#define VM_PKT_ADD_XFER_PAGESET 0x2
#define VM_PKT_RM_XFER_PAGESET 0x3
#define VM_PKT_ESTABLISH_GPADL 0x4
#define VM_PKT_TEARDOWN_GPADL 0x5
#define VM_PKT_DATA_INBAND 0x6           /* netvsc: both directions */
#define VM_PKT_DATA_USING_XFER_PAGES 0x7 /* netvsc: host -> guest receive */
#define VM_PKT_DATA_USING_GPADL 0x8
#define VM_PKT_DATA_USING_GPA_DIRECT 0x9 /* netvsc: guest -> host page lists */
#define VM_PKT_CANCEL_REQUEST 0xa
#define VM_PKT_COMP 0xb /* completion, both directions */
#define VM_PKT_DATA_USING_ADDITIONAL_PKT 0xc
#define VM_PKT_ADDITIONAL_DATA 0xd

/** Descriptor flags bit 0: the sender wants a VM_PKT_COMP with this
 * packet's trans_id. Spec value. */
#define VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED 0x1

/** struct vmpacket_descriptor: the 16 bytes every packet starts with. */
struct vmpacket_descriptor {
  uint16_t type;     /* type: VM_PKT_* */
  uint16_t offset8;  /* offset8: payload offset from packet start, 8-byte units (>= 2) */
  uint16_t len8;     /* len8: total packet length without the trailer, 8-byte units */
  uint16_t flags;    /* flags: VMBUS_DATA_PACKET_FLAG_* */
  uint64_t trans_id; /* trans_id: opaque to the peer, echoed in the completion */
};
_Static_assert(offsetof(struct vmpacket_descriptor, type) == 0, "type @0");
_Static_assert(offsetof(struct vmpacket_descriptor, offset8) == 2, "offset8 @2");
_Static_assert(offsetof(struct vmpacket_descriptor, len8) == 4, "len8 @4");
_Static_assert(offsetof(struct vmpacket_descriptor, flags) == 6, "flags @6");
_Static_assert(offsetof(struct vmpacket_descriptor, trans_id) == 8, "trans_id @8");
_Static_assert(sizeof(struct vmpacket_descriptor) == 16, "descriptor is 16 bytes");

/* ---- VM_PKT_DATA_USING_XFER_PAGES (7) --------------------------------------- */

/** One range of a transfer-page packet (Linux struct vmtransfer_page_range):
 * bytes inside the transfer page set (netvsc: the receive buffer). */
struct vmtransfer_page_range {
  uint32_t byte_count;  /* byte_count */
  uint32_t byte_offset; /* byte_offset: from the start of the page set */
};
_Static_assert(sizeof(struct vmtransfer_page_range) == 8, "xfer range is 8 bytes");

/** Transfer-page packet header (Linux struct vmtransfer_page_packet_header).
 * range_cnt comes from the host: check it against the packet length. */
struct vmtransfer_page_packet_header {
  struct vmpacket_descriptor d;          /* type == VM_PKT_DATA_USING_XFER_PAGES */
  uint16_t xfer_pageset_id;              /* xfer_pageset_id */
  uint8_t sender_owns_set;               /* sender_owns_set */
  uint8_t reserved;                      /* reserved (OpenVMM: may hold garbage) */
  uint32_t range_cnt;                    /* range_cnt */
  struct vmtransfer_page_range ranges[]; /* ranges[range_cnt] */
};
_Static_assert(offsetof(struct vmtransfer_page_packet_header, xfer_pageset_id) == 16,
               "xfer_pageset_id @16");
_Static_assert(offsetof(struct vmtransfer_page_packet_header, sender_owns_set) == 18,
               "sender_owns_set @18");
_Static_assert(offsetof(struct vmtransfer_page_packet_header, reserved) == 19, "reserved @19");
_Static_assert(offsetof(struct vmtransfer_page_packet_header, range_cnt) == 20, "range_cnt @20");
_Static_assert(offsetof(struct vmtransfer_page_packet_header, ranges) == 24, "ranges @24");
_Static_assert(sizeof(struct vmtransfer_page_packet_header) == 24, "xfer header is 24 bytes");

/* ---- VM_PKT_DATA_USING_GPA_DIRECT (9) --------------------------------------- */

/** GPA-direct packet header (Linux struct vmdata_gpa_direct without the
 * ranges); range_cnt ranges of struct vmbus_gpa_range follow at offset 24. */
struct vmbus_gpa_direct_header {
  struct vmpacket_descriptor d; /* type == VM_PKT_DATA_USING_GPA_DIRECT */
  uint32_t reserved;            /* reserved */
  uint32_t range_cnt;           /* range_cnt */
};
_Static_assert(offsetof(struct vmbus_gpa_direct_header, reserved) == 16, "reserved @16");
_Static_assert(offsetof(struct vmbus_gpa_direct_header, range_cnt) == 20, "range_cnt @20");
_Static_assert(sizeof(struct vmbus_gpa_direct_header) == 24, "gpa direct header is 24 bytes");

/** One GPA range (Linux struct gpa_range): byte_count bytes starting
 * byte_offset into the first page; pfn_array holds
 * ceil((byte_offset + byte_count) / 4096) page frame numbers. */
struct vmbus_gpa_range {
  uint32_t byte_count;  /* byte_count */
  uint32_t byte_offset; /* byte_offset: into the first page */
  uint64_t pfn_array[]; /* pfn_array[]: 4 KiB guest page frame numbers */
};
_Static_assert(offsetof(struct vmbus_gpa_range, byte_offset) == 4, "byte_offset @4");
_Static_assert(offsetof(struct vmbus_gpa_range, pfn_array) == 8, "pfn_array @8");
_Static_assert(sizeof(struct vmbus_gpa_range) == 8, "gpa range head is 8 bytes");

/** The one-page form of a GPA range (Linux struct hv_page_buffer): a range
 * that lies in a single page, 16 bytes. netvsc sends up to
 * VMBUS_MAX_PAGE_BUFFER_COUNT of these. */
struct vmbus_page_buffer {
  uint32_t len;    /* byte_count */
  uint32_t offset; /* byte_offset */
  uint64_t pfn;    /* pfn_array[0] */
};
_Static_assert(sizeof(struct vmbus_page_buffer) == 16, "page buffer is 16 bytes");
/** Linux MAX_PAGE_BUFFER_COUNT: most page-buffer ranges in one packet. */
#define VMBUS_MAX_PAGE_BUFFER_COUNT 32

/* ---- VM_PKT_COMP (11) --------------------------------------------------------- */
/* No extended header: offset8 = 2 and trans_id = the request's trans_id. */

#endif
