/* hv/hv_tlfs.h: the Hyper-V guest interface (TLFS) as it crosses the
 * guest/hypervisor boundary: CPUID leaves and bits, synthetic MSRs, guest OS
 * id, hypercall codes and status values, the HvPostMessage/HvSignalEvent
 * inputs, the SynIC message and event-flag pages, the reference TSC page.
 * Wire format only (STYLE.md rule 1); shared by hv/ and host/. Values from
 * ../shared/PROTOCOL-REFERENCE.md section 1 (Linux hvgdk_mini.h, OpenVMM hvdef). */
#ifndef HV_HV_TLFS_H
#define HV_HV_TLFS_H

#include <stddef.h>
#include <stdint.h>

/* ---- CPUID (section 1.1) ------------------------------------------------- */
#define HV_CPUID_VENDOR_AND_MAX 0x40000000u /* EAX max leaf; "Microsoft Hv" */
#define HV_CPUID_INTERFACE 0x40000001u      /* EAX = HV_INTERFACE_SIGNATURE */
#define HV_CPUID_VERSION 0x40000002u
#define HV_CPUID_FEATURES 0x40000003u
#define HV_CPUID_ENLIGHTENMENT_INFO 0x40000004u
#define HV_CPUID_IMPLEMENTATION_LIMITS 0x40000005u /* the minimum leaf required */
#define HV_CPUID_HARDWARE_FEATURES 0x40000006u
#define HV_CPUID_MIN_MAX_LEAF HV_CPUID_IMPLEMENTATION_LIMITS
#define HV_INTERFACE_SIGNATURE 0x31237648u /* "Hv#1" */
#define HV_VENDOR_STRING "Microsoft Hv"

/* 0x40000003.EAX: partition privileges (MSR access). */
#define HV_MSR_TIME_REF_COUNT_AVAILABLE (1u << 1)
#define HV_MSR_SYNIC_AVAILABLE (1u << 2)
#define HV_MSR_SYNTIMER_AVAILABLE (1u << 3)
#define HV_MSR_APIC_ACCESS_AVAILABLE (1u << 4)
#define HV_MSR_HYPERCALL_AVAILABLE (1u << 5)
#define HV_MSR_VP_INDEX_AVAILABLE (1u << 6)
#define HV_MSR_REFERENCE_TSC_AVAILABLE (1u << 9)
#define HV_ACCESS_FREQUENCY_MSRS (1u << 11)
/* 0x40000003.EBX: hypercall rights. */
#define HV_POST_MESSAGES (1u << 4)
#define HV_SIGNAL_EVENTS (1u << 5)
#define HV_ISOLATION (1u << 22)
/* 0x40000003.EDX */
#define HV_FEATURE_FREQUENCY_MSRS_AVAILABLE (1u << 8)
/* 0x40000004.EAX: recommendations. */
#define HV_DEPRECATING_AEOI_RECOMMENDED (1u << 9)

/* ---- Synthetic MSRs (section 1.2) ---------------------------------------- */
#define HV_X64_MSR_GUEST_OS_ID 0x40000000u
#define HV_X64_MSR_HYPERCALL 0x40000001u
#define HV_X64_MSR_VP_INDEX 0x40000002u
#define HV_X64_MSR_RESET 0x40000003u
#define HV_X64_MSR_TIME_REF_COUNT 0x40000020u /* 100 ns units */
#define HV_X64_MSR_REFERENCE_TSC 0x40000021u
#define HV_X64_MSR_TSC_FREQUENCY 0x40000022u /* Hz */
#define HV_X64_MSR_APIC_FREQUENCY 0x40000023u
#define HV_X64_MSR_SCONTROL 0x40000080u
#define HV_X64_MSR_SVERSION 0x40000081u
#define HV_X64_MSR_SIEFP 0x40000082u
#define HV_X64_MSR_SIMP 0x40000083u
#define HV_X64_MSR_EOM 0x40000084u
#define HV_X64_MSR_SINT0 0x40000090u /* SINTn = SINT0 + n, n < 16 */
#define HV_X64_MSR_SINT15 0x4000009fu
#define HV_X64_MSR_CRASH_P0 0x40000100u
#define HV_X64_MSR_CRASH_CTL 0x40000105u
/* The whole synthetic range an emulator traps (KVM-NOTES.md: Linux also
 * touches 0x40000118, so 0x40000000-0x400001FF). */
#define HV_X64_MSR_RANGE_FIRST 0x40000000u
#define HV_X64_MSR_RANGE_LAST 0x400001ffu

/* HYPERCALL, SIMP, SIEFP, REFERENCE_TSC: bit 0 enable, 11:1 preserved, 63:12 GPFN. */
#define HV_MSR_ENABLE 0x1ull
#define HV_MSR_RSVD_MASK 0xffeull
#define HV_MSR_PGSHIFT 12
#define HV_SCONTROL_ENABLE 0x1ull
#define HV_SYNIC_VERSION_1 0x1ull

/* SINTn */
#define HV_SINT_VECTOR_MASK 0xffull
#define HV_SINT_MASKED (1ull << 16)
#define HV_SINT_AUTO_EOI (1ull << 17)
#define HV_SINT_POLLING (1ull << 18)
#define HV_SINT_MIN_VECTOR 16 /* lower vectors get #GP */
#define HV_SINT_COUNT 16

/* ---- Guest OS id (section 1.3), open-source encoding --------------------- */
#define HV_GUEST_OS_ID_OPEN_SOURCE (1ull << 63)
#define HV_GUEST_OS_ID_TYPE_SHIFT 56 /* 7 bits */
#define HV_GUEST_OS_ID_OSID_SHIFT 48 /* 8 bits */
#define HV_GUEST_OS_ID_VERSION_SHIFT 16
/* No OS type is registered for a new OS; this is our choice (the BSDs
 * borrowed FreeBSD's): type 0x7f "other open source", os id 0x48 ('H'). */
#define HV_GUEST_OS_TYPE_HVKERNEL 0x7full
#define HV_GUEST_OS_ID_HVKERNEL 0x48ull

/* ---- Hypercalls (section 1.4) --------------------------------------------- */
#define HVCALL_POST_MESSAGE 0x005cu
#define HVCALL_SIGNAL_EVENT 0x005du
#define HV_HYPERCALL_FAST_BIT (1ull << 16)
#define HV_HYPERCALL_CODE_MASK 0xffffull
#define HV_HYPERCALL_VARHEAD_SHIFT 17
#define HV_HYPERCALL_REP_COUNT_SHIFT 32
#define HV_HYPERCALL_RSVD_MASK ((0xfull << 27) | (0xfull << 44) | (0xfull << 60))
#define HV_HYPERCALL_RESULT_MASK 0xffffull

#define HV_STATUS_SUCCESS 0x0
#define HV_STATUS_INVALID_HYPERCALL_CODE 0x2
#define HV_STATUS_INVALID_HYPERCALL_INPUT 0x3
#define HV_STATUS_INVALID_ALIGNMENT 0x4
#define HV_STATUS_INVALID_PARAMETER 0x5
#define HV_STATUS_ACCESS_DENIED 0x6
#define HV_STATUS_INVALID_PARTITION_STATE 0x7
#define HV_STATUS_OPERATION_DENIED 0x8
#define HV_STATUS_INSUFFICIENT_MEMORY 0xb
#define HV_STATUS_INVALID_PORT_ID 0x11
#define HV_STATUS_INVALID_CONNECTION_ID 0x12
#define HV_STATUS_INSUFFICIENT_BUFFERS 0x13
#define HV_STATUS_NOT_ACKNOWLEDGED 0x14
#define HV_STATUS_TIME_OUT 0x78

/* HvPostMessage input block: slow call, 256 bytes, 8-byte aligned. */
#define HV_MESSAGE_PAYLOAD_MAX 240
struct hv_input_post_message {
  uint32_t connection_id; /* bits 23:0 id, 31:24 reserved */
  uint32_t reserved;
  uint32_t message_type; /* VMBus uses 1 */
  uint32_t payload_size; /* <= 240 */
  uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};
_Static_assert(sizeof(struct hv_input_post_message) == 256, "HvPostMessage input is 256 bytes");
_Static_assert(offsetof(struct hv_input_post_message, payload) == 16, "payload at 16");

/* HvSignalEvent input: fast call, these 8 bytes in RDX. */
struct hv_input_signal_event {
  uint32_t connection_id;
  uint16_t flag_number;
  uint16_t reserved;
};
_Static_assert(sizeof(struct hv_input_signal_event) == 8, "HvSignalEvent input is 8 bytes");

/* ---- SynIC pages (section 1.5) --------------------------------------------- */
#define HVMSG_NONE 0x00000000u
#define HVMSG_VMBUS 0x00000001u /* channel message: the type both sides post */
#define HVMSG_UNMAPPED_GPA 0x80000000u
#define HVMSG_TIMER_EXPIRED 0x80000010u
#define HV_MESSAGE_FLAG_PENDING 0x01u

struct hv_message_header {
  uint32_t message_type; /* HVMSG_NONE: slot empty */
  uint8_t payload_size;  /* <= 240 */
  uint8_t message_flags; /* bit 0: msg_pending */
  uint16_t reserved;
  uint64_t sender; /* origination id: port id in bits 23:0 */
};
_Static_assert(sizeof(struct hv_message_header) == 16, "hv_message header");

struct hv_message {
  struct hv_message_header header;
  uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};
_Static_assert(sizeof(struct hv_message) == 256, "hv_message is one 256-byte slot");
_Static_assert(offsetof(struct hv_message, header.message_flags) == 5, "message_flags at 5");

/* SIMP: one slot per SINT. SIEFP: 2048 flag bits (256 bytes) per SINT. */
struct hv_message_page {
  struct hv_message sint_message[HV_SINT_COUNT];
};
_Static_assert(sizeof(struct hv_message_page) == 4096, "SIMP is one page");

#define HV_EVENT_FLAGS_COUNT 2048
struct hv_event_flags_page {
  uint64_t sint_flags[HV_SINT_COUNT][HV_EVENT_FLAGS_COUNT / 64];
};
_Static_assert(sizeof(struct hv_event_flags_page) == 4096, "SIEFP is one page");

/* ---- Reference TSC page (section 1.6) -------------------------------------- */
struct hv_reference_tsc_page {
  uint32_t tsc_sequence; /* 0: invalid, use TIME_REF_COUNT */
  uint32_t reserved1;
  uint64_t tsc_scale;
  int64_t tsc_offset;
  uint8_t reserved2[4072];
};
_Static_assert(sizeof(struct hv_reference_tsc_page) == 4096, "TSC page is one page");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_offset) == 16, "tsc_offset at 16");

#endif
