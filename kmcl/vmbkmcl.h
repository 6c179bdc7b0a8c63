/* kmcl/vmbkmcl.h: the VMBus Kernel Mode Client Library API
 * (vmbuskernelmodeclientlibapi.h), client and server endpoints.
 *
 * Every function, callback type and structure carries its documented name,
 * parameter list and return type (KMCL-REFERENCE.md section 2); the base
 * types come from kmcl/kmcl_types.h. The answers to the questions the
 * documentation leaves open are KMCL-REFERENCE.md section (e); docs/KMCL.md
 * maps each entry to its implementation, its test and any deviation.
 *
 * Threading model (section (e), "Levels"): one vCPU and the kernel's event
 * loop. "Dispatch" is a DPC, "passive" a work item or the caller's own
 * thread of control. Enable, Disable, Pause, Start, Cleanup, GPADL create and
 * delete, and synchronous requests with a wait run the event loop until done.
 */
#ifndef KMCL_VMBKMCL_H
#define KMCL_VMBKMCL_H

#include "kmcl/kmcl_types.h"

/* Opaque handles (DECLARE_HANDLE in the WDK): distinct pointer types. */
typedef struct kmcl_channel *VMBCHANNEL;
typedef struct kmcl_packet *VMBPACKET;
typedef struct kmcl_incoming *VMBPACKETCOMPLETION;

/* ---- flag constants (KMCL-REFERENCE.md 1.3, values from the header) ------- */
#define VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION 0x1u
#define VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH 0x2u
#define VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER 0x4u
#define VMBUS_CHANNEL_FORMAT_FLAGS 0x7u

#define VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY 0x1u
#define VMBUS_CHANNEL_GPADL_FLAGS 0x1u

#define VMBUS_CHANNEL_INIT_FLAG_IS_PIPE 0x1u
#define VMBUS_CHANNEL_INIT_FLAGS 0x1u

#define VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER 0x1u
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE 0x2u
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE 0x4u
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL 0x8u
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER 0x10u
#define VMBUS_SERVER_CHANNEL_INIT_FLAGS 0x1Fu

#define VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA 0x1u
#define VMBUS_CHANNEL_PROCESS_PACKET_FLAGS 0x1u

#define VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAG_READ_ONLY 0x1u
#define VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAGS 0x1u

#define VMBUS_SERVER_CHANNEL_INIT_MAXIMUM_OFFER_DATA 120u

/** The ring MTU: 0xFFFF 8-byte units (KMCL-REFERENCE.md 1.3). */
#define KMCL_RING_MTU 524280u

/* ---- callback types (KMCL-REFERENCE.md 2.8) ------------------------------- */
typedef NTSTATUS EVT_VMB_CHANNEL_OPENED(VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_OPENED *PFN_VMB_CHANNEL_OPENED;
typedef VOID EVT_VMB_CHANNEL_CLOSED(VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_CLOSED *PFN_VMB_CHANNEL_CLOSED;
typedef VOID EVT_VMB_CHANNEL_SUSPEND(VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_SUSPEND *PFN_VMB_CHANNEL_SUSPEND;
typedef VOID EVT_VMB_CHANNEL_STARTED(VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_STARTED *PFN_VMB_CHANNEL_STARTED;
typedef VOID EVT_VMB_CHANNEL_POST_STARTED(VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_POST_STARTED *PFN_VMB_CHANNEL_POST_STARTED;
typedef VOID EVT_VMB_CHANNEL_PROCESS_PACKET(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet,
                                            PVOID Buffer, UINT32 BufferLength, UINT32 Flags);
typedef EVT_VMB_CHANNEL_PROCESS_PACKET *PFN_VMB_CHANNEL_PROCESS_PACKET;
typedef VOID EVT_VMB_CHANNEL_PROCESSING_COMPLETE(VMBCHANNEL Channel, UINT32 PacketsProcessed);
typedef EVT_VMB_CHANNEL_PROCESSING_COMPLETE *PFN_VMB_CHANNEL_PROCESSING_COMPLETE;
typedef VOID EVT_VMB_PACKET_COMPLETION_ROUTINE(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer,
                                               UINT32 BufferLength);
typedef EVT_VMB_PACKET_COMPLETION_ROUTINE *PFN_VMB_PACKET_COMPLETION_ROUTINE;
typedef NTSTATUS EVT_VMB_CHANNEL_SAVE_PACKET(VMBCHANNEL Channel, VMBPACKET Packet, PVOID SaveBuf,
                                             UINT32 SaveBufSize, PUINT32 BytesNeeded);
typedef EVT_VMB_CHANNEL_SAVE_PACKET *PFN_VMB_CHANNEL_SAVE_PACKET;
typedef NTSTATUS EVT_VMB_CHANNEL_RESTORE_PACKET(VMBCHANNEL Channel, PVOID LibBuf, UINT32 LibBufSize,
                                                PVOID SaveBuf, UINT32 SaveBufSize);
typedef EVT_VMB_CHANNEL_RESTORE_PACKET *PFN_VMB_CHANNEL_RESTORE_PACKET;
typedef VOID EVT_VMB_CHANNEL_PNP_FAILURE(VMBCHANNEL Channel, NTSTATUS FailureStatus);
typedef EVT_VMB_CHANNEL_PNP_FAILURE *PFN_VMB_CHANNEL_PNP_FAILURE;

/* ---- state-change callbacks ---------------------------------------------- */
typedef struct _VMB_CHANNEL_STATE_CHANGE_CALLBACKS {
  ULONG Version;
  ULONG Size;
  PFN_VMB_CHANNEL_OPENED EvtChannelOpened;
  PFN_VMB_CHANNEL_CLOSED EvtChannelClosed;
  PFN_VMB_CHANNEL_SUSPEND EvtChannelSuspend;
  PFN_VMB_CHANNEL_STARTED EvtChannelStarted;
  PFN_VMB_CHANNEL_POST_STARTED EvtChannelPostStarted;
} VMB_CHANNEL_STATE_CHANGE_CALLBACKS, *PVMB_CHANNEL_STATE_CHANGE_CALLBACKS;
_Static_assert(sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS) == 48, "x64 layout (reference 2.1)");
_Static_assert(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelOpened) == 8, "layout");
_Static_assert(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelPostStarted) == 40, "layout");

#define VMB_CHANNEL_STATE_CHANGE_CALLBACKS_VERSION_1 1u

/** Zero the struct and set Version = 1, Size = sizeof (the header's inline). */
FORCEINLINE VOID VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(PVMB_CHANNEL_STATE_CHANGE_CALLBACKS c) {
  *c = (VMB_CHANNEL_STATE_CHANGE_CALLBACKS){0};
  c->Version = VMB_CHANNEL_STATE_CHANGE_CALLBACKS_VERSION_1;
  c->Size = sizeof(*c);
}

/* ---- 2.1 channel creation and configuration ------------------------------ */
NTSTATUS VmbChannelAllocate(PDEVICE_OBJECT ParentDeviceObject, BOOLEAN IsServer,
                            VMBCHANNEL *Channel);
NTSTATUS VmbChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags);
NTSTATUS VmbChannelInitSetMaximumPacketSize(VMBCHANNEL Channel, UINT32 PacketSize);
NTSTATUS VmbChannelInitSetMaximumExternalData(VMBCHANNEL Channel, UINT32 DataSize,
                                              UINT32 ChainLength);
NTSTATUS VmbChannelInitSetClientContextSize(VMBCHANNEL Channel, UINT32 ContextSize);
NTSTATUS
VmbChannelInitSetStateChangeCallbacks(VMBCHANNEL Channel,
                                      PVMB_CHANNEL_STATE_CHANGE_CALLBACKS StateChangeCallbacks);
NTSTATUS
VmbChannelInitSetProcessPacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_PROCESS_PACKET ProcessPacketCallback,
    PFN_VMB_CHANNEL_PROCESSING_COMPLETE ProcessingCompleteCallback);
NTSTATUS VmbChannelInitSetFriendlyName(VMBCHANNEL Channel, PCUNICODE_STRING Name);
NTSTATUS VmbClientChannelInitSetRingBufferPageCount(VMBCHANNEL Channel, UINT32 IncomingPageCount,
                                                    UINT32 OutgoingPageCount);
NTSTATUS VmbClientChannelInitSetTargetPnp(VMBCHANNEL Channel, LPCGUID InterfaceType,
                                          LPCGUID InterfaceInstance,
                                          PFN_VMB_CHANNEL_PNP_FAILURE PnpFailureCallback);
NTSTATUS VmbServerChannelInitSetTargetInterfaceId(VMBCHANNEL Channel, GUID InterfaceType,
                                                  GUID InterfaceInstance);
NTSTATUS VmbServerChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags);
NTSTATUS VmbServerChannelInitSetVmbusHandle(VMBCHANNEL Channel, HANDLE VmbusHandle);
NTSTATUS VmbServerChannelInitSetMmioMegabytes(VMBCHANNEL Channel, UINT16 MmioMegabytes,
                                              UINT16 MmioMegabytesOptional);
NTSTATUS VmbServerChannelInitSetSaveRestorePacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_SAVE_PACKET SavePacketCallback,
    PFN_VMB_CHANNEL_RESTORE_PACKET RestorePacketCallback);
NTSTATUS VmbServerChannelInitSetTargetVtl(VMBCHANNEL Channel, UINT8 TargetVtl);
NTSTATUS VmbConvertVmbusHandleToKernelHandle(HANDLE VmbusHandle, PHANDLE KernelHandle);

/* ---- 2.2 lifecycle -------------------------------------------------------- */
NTSTATUS VmbChannelEnable(VMBCHANNEL Channel);
VOID VmbChannelDisable(VMBCHANNEL Channel);
VOID VmbChannelPause(VMBCHANNEL Channel);
VOID VmbChannelStart(VMBCHANNEL Channel);
VOID VmbChannelCleanup(VMBCHANNEL Channel);

/* ---- 2.3 accessors and tuning -------------------------------------------- */
VOID FASTCALL VmbChannelSetPointer(VMBCHANNEL Channel, PVOID Pointer);
PVOID FASTCALL VmbChannelGetPointer(VMBCHANNEL Channel);
VOID VmbChannelGetInterfaceInstance(VMBCHANNEL Channel, LPGUID InterfaceInstance);
VOID VmbChannelSetIncomingProcessingAtPassive(VMBCHANNEL Channel, BOOLEAN RequirePassive);
NTSTATUS VmbChannelSetInterruptLatency(VMBCHANNEL Channel, UINT16 Latency, PUINT16 OriginalLatency);
VOID VmbChannelSetTransactionQuota(VMBCHANNEL Channel, UINT32 Quota);
UINT32 VmbChannelSizeofPacket(VMBCHANNEL Channel);
VOID VmbChannelGetMmioSpace(VMBCHANNEL Channel, UINT64 *MmioAddress, UINT64 *MmioSize);

/* ---- 2.4 GPADLs ----------------------------------------------------------- */
NTSTATUS VmbChannelCreateGpadlFromMdl(VMBCHANNEL Channel, UINT32 Flags, PMDL Mdl,
                                      UINT32 StartOffsetWithinMdl, UINT32 DataLengthWithinMdl,
                                      PUINT32 GpadlHandle);
NTSTATUS VmbChannelCreateGpadlFromBuffer(VMBCHANNEL Channel, UINT32 Flags, PVOID Buffer,
                                         UINT32 ByteCount, PUINT32 GpadlHandle);
VOID VmbChannelDeleteGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle);
NTSTATUS VmbChannelMapGpadl(VMBCHANNEL Channel, UINT32 Flags, UINT32 GpadlHandle, PMDL *Mdl);
VOID VmbChannelUnmapGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle);

/* ---- 2.5 sending ---------------------------------------------------------- */
VMBPACKET VmbPacketAllocate(VMBCHANNEL Channel);
NTSTATUS VmbPacketInitialize(VMBCHANNEL Channel, VMBPACKET VmbPacket, UINT32 ByteCount);
VOID VmbPacketFree(VMBPACKET VmbPacket);
VOID VmbPacketSetCompletionRoutine(VMBPACKET PacketObject,
                                   PFN_VMB_PACKET_COMPLETION_ROUTINE CompletionRoutine);
VOID FASTCALL VmbPacketSetPointer(VMBPACKET PacketObject, PVOID Pointer);
PVOID FASTCALL VmbPacketGetPointer(VMBPACKET PacketObject);
VMBCHANNEL FASTCALL VmbPacketGetChannel(VMBPACKET PacketObject);
NTSTATUS VmbPacketSend(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                       PMDL ExternalDataMdl, UINT32 Flags);
NTSTATUS VmbPacketSendWithExternalMdl(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                                      PMDL ExternalDataMdl, UINT32 MdlOffset, UINT32 MdlLength,
                                      UINT32 Flags);
NTSTATUS VmbPacketSendWithExternalPfns(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                                       PPFN_NUMBER ExternalDataPfns, UINT32 PfnLength,
                                       UINT32 Flags);
NTSTATUS VmbChannelSendSynchronousRequest(VMBCHANNEL Channel, PVOID Buffer, UINT32 BufferSize,
                                          PMDL ExternalDataMdl, UINT32 Flags,
                                          PVOID CompletionBuffer, PUINT32 CompletionBufferSize,
                                          PLARGE_INTEGER Timeout);

/* ---- 2.6 receiving -------------------------------------------------------- */
VOID VmbChannelPacketComplete(VMBPACKETCOMPLETION PacketCompletionContext,
                              PVOID PacketCompletionBuffer, UINT32 BufSize);
VOID FASTCALL VmbChannelPacketDeferToPassive(VMBPACKETCOMPLETION PacketCompletionContext);
VOID FASTCALL VmbChannelPacketFail(VMBPACKETCOMPLETION PacketCompletionContext);
NTSTATUS VmbChannelPacketGetExternalData(VMBPACKETCOMPLETION PacketCompletionContext, UINT32 Flags,
                                         PMDL *Mdl);
PVOID FASTCALL VmbChannelPacketGetClientContext(VMBPACKETCOMPLETION PacketCompletionContext);

/* ---- 2.7 save / restore ----------------------------------------------------- */
NTSTATUS VmbChannelSaveBegin(VMBCHANNEL Channel);
NTSTATUS VmbChannelSaveContinue(VMBCHANNEL Channel, PVOID SaveBuffer, ULONG SaveBufferSize,
                                PULONG BytesFilled, PULONG BytesRequired);
VOID VmbChannelSaveEnd(VMBCHANNEL Channel);
NTSTATUS VmbChannelRestoreFromBuffer(VMBCHANNEL Channel, PVOID Buffer, ULONG BufferSize);
NTSTATUS VmbPacketRestore(VMBPACKET PacketObject, PVOID Buffer, ULONG BufferSize);

/* ---- project helpers (not in the Windows header) -------------------------- */
/** Bytes of an MDL describing `len` bytes at `va` (header plus PFNs). */
size_t kmcl_mdl_size(const void *va, uint32_t len);
/** Describe `len` bytes at `va` in `mdl` (kmcl_mdl_size bytes). The buffer
 * must be guest memory (page_alloc'd); returns false when a page has no
 * guest physical address. Sets StartVa and MappedSystemVa. */
bool kmcl_mdl_init(PMDL mdl, void *va, uint32_t len);
/** malloc'd MDL for a buffer; NULL on failure. Free with kmcl_mdl_free. */
PMDL kmcl_mdl_alloc(void *va, uint32_t len);
void kmcl_mdl_free(PMDL mdl);
/** Local pointer to `len` bytes of an MDL that KMCL returned on `Channel`
 * (MapGpadl, PacketGetExternalData), starting `offset` bytes into its data;
 * NULL when the range is outside the MDL or its pages are not contiguous in
 * this address space. The server-side stand-in for MmGetSystemAddressForMdl. */
void *kmcl_mdl_map(VMBCHANNEL Channel, PMDL Mdl, uint32_t offset, uint32_t len);

/** True once the channel hit a protocol violation by the peer (a corrupt ring
 * or packet, an unknown or duplicate completion) or VmbChannelPacketFail:
 * the channel processes nothing more until it is disabled (sticky). */
bool kmcl_channel_failed(VMBCHANNEL Channel);
/** Why the channel failed: a negative errno-style code, 0 when healthy. */
int kmcl_channel_fail_reason(VMBCHANNEL Channel);

/** Transfer page sets (VM_PKT_DATA_USING_XFER_PAGES, receive side): the
 * pageset id in such a packet is chosen by the driver's own protocol (NVSP
 * sends it with the receive buffer's GPADL), so the driver tells KMCL which
 * GPADL of this channel backs a pageset id. Returns STATUS_SUCCESS,
 * STATUS_INVALID_PARAMETER_1 (channel), _3 (unknown GPADL handle), or
 * STATUS_INSUFFICIENT_RESOURCES (table full). */
NTSTATUS kmcl_channel_bind_xfer_pageset(VMBCHANNEL Channel, UINT16 PagesetId, UINT32 GpadlHandle);

/** Answer an incoming packet with an in-band data packet that carries the
 * request's transaction id (no completion requested), then retire the
 * packet as VmbChannelPacketComplete does. This is how Linux, FreeBSD and
 * Windows guests answer integration-service messages (vmbus_sendpacket of
 * the request buffer with its request id). On a pipe channel the pipe
 * header is added. STATUS_SUCCESS (queued), STATUS_INVALID_PARAMETER_1 (not
 * an outstanding token: nothing done), STATUS_INVALID_DEVICE_STATE (a token
 * of a connection that has since closed: nothing sent), STATUS_DEVICE_REMOVED
 * (closed or failed channel), STATUS_BUFFER_OVERFLOW (can never fit the
 * ring), or STATUS_INSUFFICIENT_RESOURCES; the token is retired in every
 * case but STATUS_INVALID_PARAMETER_1. */
NTSTATUS kmcl_packet_reply(VMBPACKETCOMPLETION PacketCompletionContext, PVOID Buffer,
                           UINT32 BufSize);
/** The transaction id of an incoming packet (0 for an invalid one). */
UINT64 kmcl_packet_trans_id(VMBPACKETCOMPLETION PacketCompletionContext);
/** True while the channel is open with its rings up and not failed: a send
 * now goes to the ring (or queues behind earlier sends) instead of being
 * held until an open. For servers that must not queue while closed. */
bool kmcl_channel_is_open(VMBCHANNEL Channel);

/** Init call (Disabled only, like the VmbChannelInit* calls): the largest
 * incoming data packet accepted, in bytes, descriptor and extended header
 * included (docs/SECURITY.md C4: each outstanding packet holds a copy). A
 * larger one fails the channel (sticky) and stays in the ring. 0 restores
 * the default: the largest packet this channel may send itself
 * (VmbChannelSizeofPacket minus the packet object header), at least 4,096
 * bytes. Returns
 * STATUS_SUCCESS, _1 (channel not Disabled), _2 (above the 512 KiB MTU). */
NTSTATUS kmcl_channel_init_set_max_incoming(VMBCHANNEL Channel, UINT32 Bytes);

struct vmtransfer_page_range;
/** Send a VM_PKT_DATA_USING_XFER_PAGES packet (the server side of a
 * transfer page set, e.g. NVSP receive): `RangeCount` (1..64) ranges of page
 * set `PagesetId`, then `BufferLength` inline bytes; sender_owns_set is set.
 * Same rules as VmbPacketSend: queued when the ring is full or the channel
 * not open, STATUS_INVALID_BUFFER_SIZE when the peer's ring can never carry
 * it, `Flags` WAIT_FOR_COMPLETION to get a completion (which xfer-page
 * protocols require). Returns STATUS_SUCCESS or the error; nothing is queued
 * on error. */
NTSTATUS kmcl_packet_send_xfer_pages(VMBPACKET PacketObject, UINT16 PagesetId,
                                     const struct vmtransfer_page_range *Ranges, UINT32 RangeCount,
                                     PVOID Buffer, UINT32 BufferLength, UINT32 Flags);

/** VmbChannelPacketComplete with its outcome: STATUS_SUCCESS;
 * STATUS_INVALID_PARAMETER_1 for a token that is not outstanding (already
 * completed, failed or never issued: detected without reading it);
 * STATUS_INVALID_BUFFER_SIZE when the completion cannot fit the peer's ring
 * (an empty completion is sent instead, so the requester's transaction still
 * ends); STATUS_INVALID_DEVICE_STATE for a token of a connection that has
 * since closed (Disable gave up waiting for it): retired, nothing sent;
 * STATUS_INSUFFICIENT_RESOURCES (the channel failed). The token is retired
 * in every case but STATUS_INVALID_PARAMETER_1. */
NTSTATUS kmcl_packet_complete(VMBPACKETCOMPLETION PacketCompletionContext,
                              PVOID PacketCompletionBuffer, UINT32 BufSize);

#endif
