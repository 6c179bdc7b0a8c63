/* kmcl/channel.c: KMCL channel objects: allocation, Init calls, the state
 * machine of KMCL-REFERENCE.md sections (a) and (e) for both endpoints, and
 * the bus up-calls (kmcl/bus.h).
 *
 * Two orthogonal dimensions (reference (a)): the connection (ch_conn:
 * Disabled -> Enabled -> Opening -> Open -> Closing -> Enabled/Disabled) and
 * the run state (ch_paused, set by Pause and cleared by Start). The incoming
 * queue runs only while Open, not paused and Started has been delivered
 * (ch_started). Callback order, both endpoints:
 *   open:  Opened, [if running] Started, queue on, PostStarted
 *   start: Started, queue on, PostStarted          (open and paused)
 *   pause: Suspend, queue off, wait for outstanding incoming packets
 *   close: [if started] Suspend, wait for outstanding, Closed, cancel sends
 * A peer-initiated close (server: the guest closed; client: rescind) runs
 * the same steps, asynchronously: the wait for outstanding packets ends in
 * a work item queued by the last VmbChannelPacketComplete.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kernel/timer.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/kmcl_test.h"

uint32_t kmcl_live_channels;
uint32_t kmcl_dispatch_depth;
uint32_t kmcl_test_disable_wait_ms = KMCL_DISABLE_WAIT_MS; /* kmcl/kmcl_test.h */

SLIST_HEAD(kmcl_bus_list, kmcl_bus);
static struct kmcl_bus_list chan_buses = SLIST_HEAD_INITIALIZER(chan_buses); /* for handles */

static void chan_dpc(void *arg);
static void chan_work(void *arg);
static void chan_close_work_fn(void *arg);

/* ---- helpers ---------------------------------------------------------------- */

bool chan_valid(const struct kmcl_channel *ch) { return ch && ch->ch_magic == KMCL_CH_MAGIC; }

NTSTATUS chan_errno_status(int err) {
  switch (err) {
  case 0:
    return STATUS_SUCCESS;
  case -ENOMEM:
    return STATUS_INSUFFICIENT_RESOURCES;
  case -ETIMEDOUT:
    return STATUS_IO_TIMEOUT;
  case -ENODEV:
    return STATUS_DEVICE_REMOVED;
  case -ENOENT:
    return STATUS_NOT_FOUND;
  case -EBUSY:
    return STATUS_INVALID_DEVICE_STATE;
  case -EACCES:
    return STATUS_ACCESS_DENIED;
  case -ENOTSUP:
    return STATUS_NOT_SUPPORTED;
  case -EINVAL:
    return STATUS_INVALID_PARAMETER;
  case -EPROTO:
    return STATUS_DATA_ERROR;
  case -EEXIST:
    return STATUS_INVALID_DEVICE_STATE;
  default:
    return STATUS_UNSUCCESSFUL;
  }
}

/** ev_wait's contract, with the wake-up timer always disarmed on return. */
int chan_wait(bool (*done)(void *), void *arg, uint64_t timeout_ms) {
  uint64_t start = hw_now_ns();
  uint64_t limit = timeout_ms > UINT64_MAX / 1000000ull ? UINT64_MAX : timeout_ms * 1000000ull;
  struct timer wake;
  int rc = 0;
  timer_init(&wake, NULL, NULL);
  while (!done(arg)) {
    uint64_t now = hw_now_ns();
    if (now - start >= limit) {
      rc = -ETIMEDOUT;
      break;
    }
    timer_arm_ns(&wake, limit - (now - start));
    ev_loop_once(true);
  }
  timer_cancel(&wake);
  return done(arg) ? 0 : rc;
}

void chan_kick(struct kmcl_channel *ch) { ev_dpc_queue(&ch->ch_rx_dpc); }

void chan_signal(struct kmcl_channel *ch) {
  if (ch->ch_bus && ch->ch_bus->kb_ops->signal)
    ch->ch_bus->kb_ops->signal(ch->ch_bus, ch);
}

void chan_fail(struct kmcl_channel *ch, int reason, const char *why) {
  if (ch->ch_fail)
    return;
  ch->ch_fail = reason ? reason : -EPROTO;
  pr_err("kmcl %s: channel failed: %s (%d); processing stops until disabled\n", ch->ch_name, why,
         ch->ch_fail);
}

bool chan_rx_enabled(const struct kmcl_channel *ch) {
  return ch->ch_conn == KC_OPEN && ch->ch_started && !ch->ch_fail && ch->ch_rings_up;
}

bool chan_tx_enabled(const struct kmcl_channel *ch) {
  /* Closing: completions the driver still owes go out until Closed. */
  return (ch->ch_conn == KC_OPEN || ch->ch_conn == KC_CLOSING) && ch->ch_rings_up && !ch->ch_fail;
}

/** True when the caller may block: not inside a KMCL DPC callback. */
static bool chan_can_block(const struct kmcl_channel *ch, const char *what) {
  if (kmcl_dispatch_depth) {
    pr_err("kmcl %s: %s called at dispatch level; ignored\n", ch->ch_name, what);
    return false;
  }
  if (ch->ch_cb != KCB_NONE) {
    pr_err("kmcl %s: %s called inside a state-change callback; ignored\n", ch->ch_name, what);
    return false;
  }
  return true;
}

static void chan_set_name_ascii(struct kmcl_channel *ch, const WCHAR *w, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n && i + 1 < KMCL_NAME_MAX; i++)
    ch->ch_name[i] = (w[i] >= 0x20 && w[i] < 0x7f) ? (char)w[i] : '?';
  ch->ch_name[i] = '\0';
}

/* ---- callbacks -------------------------------------------------------------- */

static NTSTATUS chan_cb_opened(struct kmcl_channel *ch) {
  NTSTATUS st = STATUS_SUCCESS;
  if (ch->ch_cbs.EvtChannelOpened) {
    ch->ch_cb = KCB_OPENED;
    st = ch->ch_cbs.EvtChannelOpened(ch);
    ch->ch_cb = KCB_NONE;
  }
  return st;
}

static void chan_cb(struct kmcl_channel *ch, enum kmcl_cb which) {
  PFN_VMB_CHANNEL_CLOSED fn = NULL; /* all VOID(VMBCHANNEL) */
  switch (which) {
  case KCB_CLOSED:
    fn = ch->ch_cbs.EvtChannelClosed;
    break;
  case KCB_SUSPEND:
    fn = ch->ch_cbs.EvtChannelSuspend;
    break;
  case KCB_STARTED:
    fn = ch->ch_cbs.EvtChannelStarted;
    break;
  case KCB_POST_STARTED:
    fn = ch->ch_cbs.EvtChannelPostStarted;
    break;
  default:
    return;
  }
  if (fn) {
    ch->ch_cb = which;
    fn(ch);
    ch->ch_cb = KCB_NONE;
  }
}

/** Open and running: Started, queue on, PostStarted (reference (a) 5, 7). */
static void chan_go_started(struct kmcl_channel *ch) {
  if (ch->ch_conn != KC_OPEN || ch->ch_paused || ch->ch_started)
    return;
  chan_cb(ch, KCB_STARTED);
  ch->ch_started = true;
  chan_kick(ch); /* the queue is on: read whatever is waiting */
  chan_cb(ch, KCB_POST_STARTED);
}

/** Stop the queue with Suspend (pause or close). */
static void chan_suspend(struct kmcl_channel *ch) {
  if (!ch->ch_started)
    return;
  ch->ch_started = false; /* no ProcessPacket from here until the next Started */
  chan_cb(ch, KCB_SUSPEND);
}

static bool chan_no_outstanding(void *arg) {
  struct kmcl_channel *ch = arg;
  return ch->ch_outstanding == 0;
}

/* ---- rings ------------------------------------------------------------------ */

/** Pages a ring needs so that the largest packet this channel may send fits
 * (the reference: "KMCL guarantees the rings are big enough"). */
static uint32_t chan_min_ring_pages(const struct kmcl_channel *ch) {
  uint32_t need = RING_PKT_SPACE(pkt_buf_cap(ch)) + 8;
  return 1 + (need + PAGE_SIZE - 1) / PAGE_SIZE;
}

static void chan_rings_down(struct kmcl_channel *ch) {
  ch->ch_rings_up = false;
  memset(&ch->ch_out, 0, sizeof(ch->ch_out));
  memset(&ch->ch_in, 0, sizeof(ch->ch_in));
  ch->ch_pending_armed = false;
}

/** Client: free the ring memory and its GPADL (after close). */
static void chan_client_release_rings(struct kmcl_channel *ch) {
  chan_rings_down(ch);
  if (ch->ch_ring_gpadl) {
    int rc = ch->ch_bus->kb_ops->gpadl_teardown(ch->ch_bus, ch, ch->ch_ring_gpadl);
    ch->ch_ring_gpadl = 0;
    if (rc) {
      /* The server may still write these pages: leak them, never reuse. */
      pr_err("kmcl %s: ring GPADL teardown failed (%d); leaking %u pages\n", ch->ch_name, rc,
             ch->ch_ring_pages);
      ch->ch_ring_mem = NULL;
    }
  }
  if (ch->ch_ring_mem)
    page_free(ch->ch_ring_mem, ch->ch_ring_pages);
  ch->ch_ring_mem = NULL;
  ch->ch_ring_pages = 0;
}

/** Server: unmap the ring GPADL. */
static void chan_server_release_rings(struct kmcl_channel *ch) {
  chan_rings_down(ch);
  if (ch->ch_ring_gpadl) {
    ch->ch_bus->kb_ops->gpadl_unmap(ch->ch_bus, ch, ch->ch_ring_gpadl);
    ch->ch_ring_gpadl = 0;
  }
}

/** Wire size of the largest inline packet the channel may send. */
static uint32_t chan_max_inline(const struct kmcl_channel *ch) {
  return (uint32_t)sizeof(struct vmpacket_descriptor) + KMCL_PIPE_HDR_SIZE + ch->ch_max_pkt;
}

/** Server: map the client's ring GPADL; both rings must be contiguous in our
 * address space (always true in-process and for identity-mapped guests). */
static NTSTATUS chan_server_map_rings(struct kmcl_channel *ch, const struct kmcl_bus_open *req) {
  const uint64_t *pfns;
  uint32_t npfn, off, cnt;
  int rc = ch->ch_bus->kb_ops->gpadl_map(ch->ch_bus, ch, req->bp_ring_gpadl, false, &pfns, &npfn,
                                         &off, &cnt);
  if (rc)
    return chan_errno_status(rc);
  ch->ch_ring_gpadl = req->bp_ring_gpadl;
  uint32_t down = req->bp_downstream_offset;
  NTSTATUS st = STATUS_INVALID_PARAMETER;
  if (off != 0 || npfn < 4 || down < 2 || down > npfn - 2 ||
      (uint64_t)npfn * PAGE_SIZE > 0x40000000u)
    goto fail;
  for (uint32_t i = 1; i < npfn; i++)
    if (pfns[i] != pfns[0] + i) {
      st = STATUS_NOT_SUPPORTED;
      goto fail;
    }
  uint8_t *base =
      ch->ch_bus->kb_ops->gpa_ptr(ch->ch_bus, pfns[0] << PAGE_SHIFT, (uint64_t)npfn * PAGE_SIZE);
  if (!base)
    goto fail;
  /* The client's outgoing ring [0, down) is our incoming one. */
  uint8_t *cin = base, *cout = base + (size_t)down * PAGE_SIZE;
  if (ring_init(&ch->ch_in, cin, cin + PAGE_SIZE, (down - 1) * PAGE_SIZE) ||
      ring_init(&ch->ch_out, cout, cout + PAGE_SIZE, (npfn - down - 1) * PAGE_SIZE)) {
    st = STATUS_DATA_ERROR;
    goto fail;
  }
  /* D3: refuse rings that cannot carry our largest inline packet. */
  if (RING_PKT_SPACE((uint64_t)chan_max_inline(ch)) >= ch->ch_out.r_size) {
    pr_warn("kmcl %s: the client's ring (%u bytes) cannot carry %u-byte packets\n", ch->ch_name,
            ch->ch_out.r_size, ch->ch_max_pkt);
    st = STATUS_INVALID_BUFFER_SIZE;
    goto fail;
  }
  ch->ch_rings_up = true;
  return STATUS_SUCCESS;
fail:
  chan_server_release_rings(ch);
  return st;
}

/* ---- close ------------------------------------------------------------------ */

/** D9: a channel that becomes Disabled forgets its run state: a client is
 * active again on the next Enable (reference (a): Enable sets Active on the
 * client), a server paused until Start. Only a Pause issued while Disabled
 * carries over to the next Enable. */
static void chan_reset_run_state(struct kmcl_channel *ch) { ch->ch_paused = ch->ch_server; }

/** Last steps of a close, once no incoming packet is outstanding: Closed,
 * cancel every send, take the rings down. `disabling`: Disable is running
 * (the server then revokes its offer instead of staying offered). */
static void chan_finish_close(struct kmcl_channel *ch, bool disabling) {
  struct kmcl_bus *bus = ch->ch_bus;
  if (!ch->ch_server && ch->ch_rings_up)
    bus->kb_ops->close(bus, ch); /* before Closed: the server unmaps, so
                                    DeleteGpadl inside Closed cannot block */
  ch->ch_rings_up = false;       /* nothing is sent or read from here on */
  chan_cb(ch, KCB_CLOSED);
  pkt_cancel_all(ch);
  /* D2: the connection ends here. Tokens still outstanding (a Disable that
   * timed out) belong to it: they stay valid for the driver to complete,
   * but neither count against nor write into the next connection. Deferred
   * ones are never redelivered. */
  pkt_drop_deferred(ch);
  ch->ch_gen++;
  ch->ch_outstanding = 0;
  if (ch->ch_server) {
    gpadl_close_cleanup(ch);
    chan_server_release_rings(ch);
    ch->ch_conn = KC_ENABLED; /* still offered; a reopen runs Opened again */
    if (disabling) {
      bus->kb_ops->rescind(bus, ch, ch->ch_saved);
      ch->ch_conn = KC_DISABLED;
    }
  } else {
    chan_client_release_rings(ch);
    bus->kb_ops->detach(bus, ch);
    ch->ch_conn = KC_DISABLED; /* a client always ends Disabled (reference (a)) */
  }
  if (ch->ch_conn == KC_DISABLED)
    chan_reset_run_state(ch);
  ch->ch_close_peer = false;
}

/** Begin closing an open channel: Suspend, then Closed when no incoming
 * packet is outstanding (now, or from the close work item). */
static void chan_begin_close(struct kmcl_channel *ch, bool peer) {
  if (ch->ch_conn != KC_OPEN)
    return;
  chan_suspend(ch);
  ch->ch_conn = KC_CLOSING;
  ch->ch_close_peer = peer;
  if (ch->ch_outstanding == 0)
    ev_work_queue(&ch->ch_close_work);
}

static void chan_close_work_fn(void *arg) {
  struct kmcl_channel *ch = arg;
  if (ch->ch_conn == KC_CLOSING && ch->ch_outstanding == 0 && ch->ch_close_peer)
    chan_finish_close(ch, false);
}

/* ---- allocation and Init calls ---------------------------------------------- */

NTSTATUS VmbChannelAllocate(PDEVICE_OBJECT ParentDeviceObject, BOOLEAN IsServer,
                            VMBCHANNEL *Channel) {
  if (!ParentDeviceObject)
    return STATUS_INVALID_PARAMETER_1;
  if (!Channel)
    return STATUS_INVALID_PARAMETER_3;
  struct kmcl_channel *ch = calloc(1, sizeof(*ch));
  if (!ch)
    return STATUS_INSUFFICIENT_RESOURCES;
  ch->ch_magic = KMCL_CH_MAGIC;
  ch->ch_server = IsServer != 0;
  ch->ch_parent = ParentDeviceObject;
  ch->ch_bus = ParentDeviceObject->do_bus;
  ch->ch_max_pkt = KMCL_DEFAULT_MAX_PACKET;
  ch->ch_max_ext = KMCL_DEFAULT_MAX_EXT_DATA;
  ch->ch_max_chain = KMCL_DEFAULT_MAX_EXT_CHAIN;
  ch->ch_in_pages = ch->ch_out_pages = KMCL_DEFAULT_RING_PAGES;
  ch->ch_paused = ch->ch_server; /* the server must Start explicitly */
  strcpy(ch->ch_name, ch->ch_server ? "server" : "client");
  STAILQ_INIT(&ch->ch_txq);
  STAILQ_INIT(&ch->ch_done);
  STAILQ_INIT(&ch->ch_pool);
  TAILQ_INIT(&ch->ch_outl);
  TAILQ_INIT(&ch->ch_defer);
  LIST_INIT(&ch->ch_gpadls);
  ev_item_init(&ch->ch_rx_dpc, chan_dpc, ch);
  ev_item_init(&ch->ch_rx_work, chan_work, ch);
  ev_item_init(&ch->ch_close_work, chan_close_work_fn, ch);
  kmcl_live_channels++;
  *Channel = ch;
  return STATUS_SUCCESS;
}

/* Which channels an Init call is for. */
enum chan_side { CHAN_EITHER, CHAN_CLIENT, CHAN_SERVER };

/** Init calls are accepted only while Disabled (section (e), "Init calls"),
 * the VmbClient and VmbServer ones only on their side. */
static bool chan_init_ok(const struct kmcl_channel *ch, enum chan_side side) {
  return chan_valid(ch) && ch->ch_conn == KC_DISABLED && !ch->ch_save &&
         (side == CHAN_EITHER || ch->ch_server == (side == CHAN_SERVER));
}

/** The checks of an Init call that sets a number: the channel (parameter
 * 1, chan_init_ok) and v within [lo, hi] (parameter 2). */
static NTSTATUS chan_init_range(const struct kmcl_channel *ch, enum chan_side side, UINT32 v,
                                UINT32 lo, UINT32 hi) {
  if (!chan_init_ok(ch, side))
    return STATUS_INVALID_PARAMETER_1;
  if (v < lo || v > hi)
    return STATUS_INVALID_PARAMETER_2;
  return STATUS_SUCCESS;
}

/** The same for an Init call that sets flags: no flag outside known. */
static NTSTATUS chan_init_flags(const struct kmcl_channel *ch, enum chan_side side, UINT32 flags,
                                UINT32 known) {
  if (!chan_init_ok(ch, side))
    return STATUS_INVALID_PARAMETER_1;
  if (flags & ~known)
    return STATUS_INVALID_PARAMETER_2;
  return STATUS_SUCCESS;
}

NTSTATUS VmbChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags) {
  NTSTATUS st = chan_init_flags(Channel, CHAN_EITHER, Flags, VMBUS_CHANNEL_INIT_FLAGS);
  if (NT_SUCCESS(st))
    Channel->ch_init_flags = Flags;
  return st;
}

NTSTATUS VmbChannelInitSetMaximumPacketSize(VMBCHANNEL Channel, UINT32 PacketSize) {
  NTSTATUS st = chan_init_range(Channel, CHAN_EITHER, PacketSize, 1, KMCL_RING_MTU);
  if (NT_SUCCESS(st))
    Channel->ch_max_pkt = PacketSize;
  return st;
}

NTSTATUS VmbChannelInitSetMaximumExternalData(VMBCHANNEL Channel, UINT32 DataSize,
                                              UINT32 ChainLength) {
  NTSTATUS st = chan_init_range(Channel, CHAN_EITHER, DataSize, 1, KMCL_RING_MTU * 512u);
  if (!NT_SUCCESS(st))
    return st;
  if (ChainLength == 0 || ChainLength > 1024)
    return STATUS_INVALID_PARAMETER_3;
  Channel->ch_max_ext = DataSize;
  Channel->ch_max_chain = ChainLength;
  return STATUS_SUCCESS;
}

NTSTATUS VmbChannelInitSetClientContextSize(VMBCHANNEL Channel, UINT32 ContextSize) {
  NTSTATUS st = chan_init_range(Channel, CHAN_EITHER, ContextSize, 0, 65536);
  if (NT_SUCCESS(st))
    Channel->ch_ctx_size = ContextSize;
  return st;
}

NTSTATUS VmbChannelInitSetStateChangeCallbacks(VMBCHANNEL Channel,
                                               PVMB_CHANNEL_STATE_CHANGE_CALLBACKS cbs) {
  if (!chan_init_ok(Channel, CHAN_EITHER))
    return STATUS_INVALID_PARAMETER_1;
  if (!cbs || cbs->Version != VMB_CHANNEL_STATE_CHANGE_CALLBACKS_VERSION_1 ||
      cbs->Size != sizeof(*cbs))
    return STATUS_INVALID_PARAMETER_2;
  Channel->ch_cbs = *cbs; /* copied (section (e)) */
  return STATUS_SUCCESS;
}

NTSTATUS
VmbChannelInitSetProcessPacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_PROCESS_PACKET ProcessPacketCallback,
    PFN_VMB_CHANNEL_PROCESSING_COMPLETE ProcessingCompleteCallback) {
  if (!chan_init_ok(Channel, CHAN_EITHER))
    return STATUS_INVALID_PARAMETER_1;
  if (!ProcessPacketCallback)
    return STATUS_INVALID_PARAMETER_2;
  Channel->ch_process = ProcessPacketCallback;
  Channel->ch_proc_done = ProcessingCompleteCallback;
  return STATUS_SUCCESS;
}

NTSTATUS VmbChannelInitSetFriendlyName(VMBCHANNEL Channel, PCUNICODE_STRING Name) {
  if (!chan_init_ok(Channel, CHAN_EITHER))
    return STATUS_INVALID_PARAMETER_1;
  if (!Name || (Name->Length && !Name->Buffer) || (Name->Length & 1))
    return STATUS_INVALID_PARAMETER_2;
  chan_set_name_ascii(Channel, Name->Buffer, Name->Length / 2u); /* copied */
  return STATUS_SUCCESS;
}

NTSTATUS VmbClientChannelInitSetRingBufferPageCount(VMBCHANNEL Channel, UINT32 IncomingPageCount,
                                                    UINT32 OutgoingPageCount) {
  /* Each count includes the ring's control page; the data area of one ring
   * stays below 2^31 (ring.h) and a packet's len8 below the MTU. */
  NTSTATUS st = chan_init_range(Channel, CHAN_CLIENT, IncomingPageCount, 2, 65536);
  if (!NT_SUCCESS(st))
    return st;
  if (OutgoingPageCount < 2 || OutgoingPageCount > 65536)
    return STATUS_INVALID_PARAMETER_3;
  Channel->ch_in_pages = IncomingPageCount;
  Channel->ch_out_pages = OutgoingPageCount;
  return STATUS_SUCCESS;
}

NTSTATUS VmbClientChannelInitSetTargetPnp(VMBCHANNEL Channel, LPCGUID InterfaceType,
                                          LPCGUID InterfaceInstance,
                                          PFN_VMB_CHANNEL_PNP_FAILURE PnpFailureCallback) {
  if (!chan_init_ok(Channel, CHAN_CLIENT))
    return STATUS_INVALID_PARAMETER_1;
  if (!InterfaceType)
    return STATUS_INVALID_PARAMETER_2;
  Channel->ch_type = *InterfaceType;
  Channel->ch_have_type = true;
  Channel->ch_have_instance = InterfaceInstance != NULL;
  if (InterfaceInstance)
    Channel->ch_instance = *InterfaceInstance;
  else
    memset(&Channel->ch_instance, 0, sizeof(GUID));
  Channel->ch_pnp_fail = PnpFailureCallback;
  return STATUS_SUCCESS;
}

NTSTATUS VmbServerChannelInitSetTargetInterfaceId(VMBCHANNEL Channel, GUID InterfaceType,
                                                  GUID InterfaceInstance) {
  if (!chan_init_ok(Channel, CHAN_SERVER))
    return STATUS_INVALID_PARAMETER_1;
  Channel->ch_type = InterfaceType;
  Channel->ch_instance = InterfaceInstance;
  Channel->ch_have_type = Channel->ch_have_instance = true;
  return STATUS_SUCCESS;
}

NTSTATUS VmbServerChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags) {
  NTSTATUS st = chan_init_flags(Channel, CHAN_SERVER, Flags, VMBUS_SERVER_CHANNEL_INIT_FLAGS);
  if (NT_SUCCESS(st))
    Channel->ch_srv_flags = Flags;
  return st;
}

NTSTATUS VmbServerChannelInitSetVmbusHandle(VMBCHANNEL Channel, HANDLE VmbusHandle) {
  if (!chan_init_ok(Channel, CHAN_SERVER))
    return STATUS_INVALID_PARAMETER_1;
  for (struct kmcl_bus *b = SLIST_FIRST(&chan_buses); b; b = SLIST_NEXT(b, kb_link))
    if ((HANDLE)b == VmbusHandle) {
      Channel->ch_bus = b;
      return STATUS_SUCCESS;
    }
  return STATUS_INVALID_PARAMETER_2;
}

NTSTATUS VmbServerChannelInitSetMmioMegabytes(VMBCHANNEL Channel, UINT16 MmioMegabytes,
                                              UINT16 MmioMegabytesOptional) {
  if (!chan_init_ok(Channel, CHAN_SERVER))
    return STATUS_INVALID_PARAMETER_1;
  if (MmioMegabytes == 0 && MmioMegabytesOptional == 0)
    return STATUS_INVALID_PARAMETER;
  Channel->ch_mmio_mb = MmioMegabytes;
  Channel->ch_mmio_mb_opt = MmioMegabytesOptional;
  return STATUS_SUCCESS;
}

NTSTATUS VmbServerChannelInitSetSaveRestorePacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_SAVE_PACKET SavePacketCallback,
    PFN_VMB_CHANNEL_RESTORE_PACKET RestorePacketCallback) {
  if (!chan_init_ok(Channel, CHAN_SERVER))
    return STATUS_INVALID_PARAMETER_1;
  if (!SavePacketCallback)
    return STATUS_INVALID_PARAMETER_2;
  if (!RestorePacketCallback)
    return STATUS_INVALID_PARAMETER_3;
  Channel->ch_save_pkt = SavePacketCallback;
  Channel->ch_restore_pkt = RestorePacketCallback;
  return STATUS_SUCCESS;
}

NTSTATUS VmbServerChannelInitSetTargetVtl(VMBCHANNEL Channel, UINT8 TargetVtl) {
  NTSTATUS st = chan_init_range(Channel, CHAN_SERVER, TargetVtl, 0, 2); /* VTL 0..2 */
  if (NT_SUCCESS(st))
    Channel->ch_vtl = TargetVtl;
  return st;
}

void kmcl_bus_register(struct kmcl_bus *bus) {
  for (struct kmcl_bus *b = SLIST_FIRST(&chan_buses); b; b = SLIST_NEXT(b, kb_link))
    if (b == bus)
      return;
  SLIST_INSERT_HEAD(&chan_buses, bus, kb_link);
}

void kmcl_bus_unregister(struct kmcl_bus *bus) {
  for (struct kmcl_bus *b = SLIST_FIRST(&chan_buses); b; b = SLIST_NEXT(b, kb_link))
    if (b == bus) {
      SLIST_REMOVE(&chan_buses, bus, kmcl_bus, kb_link);
      return;
    }
}

/** No user mode here (section (e)): the "user handle" is the emulator's
 * VMBus instance id; the kernel handle is the registered bus. */
NTSTATUS VmbConvertVmbusHandleToKernelHandle(HANDLE VmbusHandle, PHANDLE KernelHandle) {
  if (!KernelHandle)
    return STATUS_INVALID_PARAMETER_2;
  for (struct kmcl_bus *b = SLIST_FIRST(&chan_buses); b; b = SLIST_NEXT(b, kb_link))
    if ((uintptr_t)VmbusHandle == (uintptr_t)b->kb_instance_id) {
      *KernelHandle = (HANDLE)b;
      return STATUS_SUCCESS;
    }
  return STATUS_INVALID_HANDLE;
}

/* ---- accessors -------------------------------------------------------------- */

VOID FASTCALL VmbChannelSetPointer(VMBCHANNEL Channel, PVOID Pointer) {
  if (chan_valid(Channel))
    Channel->ch_pointer = Pointer;
}

PVOID FASTCALL VmbChannelGetPointer(VMBCHANNEL Channel) {
  return chan_valid(Channel) ? Channel->ch_pointer : NULL;
}

VOID VmbChannelGetInterfaceInstance(VMBCHANNEL Channel, LPGUID InterfaceInstance) {
  if (!InterfaceInstance)
    return;
  memset(InterfaceInstance, 0, sizeof(*InterfaceInstance));
  if (!chan_valid(Channel))
    return;
  /* Section (e): the offer's instance from Opened on; before that the
   * targeted instance, or zeros. */
  if (!Channel->ch_server && Channel->ch_offer.bo_relid &&
      (Channel->ch_conn == KC_OPEN || Channel->ch_conn == KC_OPENING ||
       Channel->ch_conn == KC_CLOSING))
    *InterfaceInstance = Channel->ch_offer.bo_instance;
  else if (Channel->ch_have_instance)
    *InterfaceInstance = Channel->ch_instance;
}

VOID VmbChannelSetIncomingProcessingAtPassive(VMBCHANNEL Channel, BOOLEAN RequirePassive) {
  if (!chan_valid(Channel))
    return;
  Channel->ch_passive = RequirePassive != 0;
  if (Channel->ch_conn == KC_OPEN)
    chan_kick(Channel);
}

NTSTATUS VmbChannelSetInterruptLatency(VMBCHANNEL Channel, UINT16 Latency,
                                       PUINT16 OriginalLatency) {
  if (!chan_valid(Channel))
    return STATUS_INVALID_PARAMETER_1;
  if (!OriginalLatency)
    return STATUS_INVALID_PARAMETER_3;
  /* Valid from Opened through Closed (reference 2.3). */
  if (Channel->ch_conn != KC_OPEN && Channel->ch_conn != KC_OPENING &&
      Channel->ch_conn != KC_CLOSING)
    return STATUS_INVALID_DEVICE_STATE;
  if (Channel->ch_server || !Channel->ch_bus->kb_ops->set_latency)
    return STATUS_NOT_SUPPORTED;
  uint16_t old = 0;
  int rc = Channel->ch_bus->kb_ops->set_latency(Channel->ch_bus, Channel, Latency, &old);
  if (rc)
    return chan_errno_status(rc);
  *OriginalLatency = old;
  Channel->ch_latency = Latency;
  return STATUS_SUCCESS;
}

VOID VmbChannelSetTransactionQuota(VMBCHANNEL Channel, UINT32 Quota) {
  if (!chan_valid(Channel))
    return;
  if (Quota == 0) {
    pr_warn("kmcl %s: transaction quota 0 ignored (must be > 0)\n", Channel->ch_name);
    return;
  }
  /* No kick: only a completion restarts a queue blocked on quota. */
  Channel->ch_quota = Quota;
}

VOID VmbChannelGetMmioSpace(VMBCHANNEL Channel, UINT64 *MmioAddress, UINT64 *MmioSize) {
  uint64_t a = 0, s = 0;
  if (chan_valid(Channel)) {
    if (Channel->ch_server) {
      s = ((uint64_t)Channel->ch_mmio_mb + Channel->ch_mmio_mb_opt) << 20;
    } else if (Channel->ch_conn != KC_DISABLED) {
      a = Channel->ch_offer.bo_mmio_base;
      s = Channel->ch_offer.bo_mmio_size;
    }
  }
  if (MmioAddress)
    *MmioAddress = a;
  if (MmioSize)
    *MmioSize = s;
}

void kmcl_bus_set_context(VMBCHANNEL ch, void *ctx) {
  if (chan_valid(ch))
    ch->ch_bus_ctx = ctx;
}

void *kmcl_bus_get_context(VMBCHANNEL ch) { return chan_valid(ch) ? ch->ch_bus_ctx : NULL; }

bool kmcl_channel_is_open(VMBCHANNEL Channel) {
  return chan_valid(Channel) && Channel->ch_conn == KC_OPEN && Channel->ch_rings_up &&
         !Channel->ch_fail;
}

NTSTATUS kmcl_channel_init_set_max_incoming(VMBCHANNEL Channel, UINT32 Bytes) {
  NTSTATUS st = chan_init_range(Channel, CHAN_EITHER, Bytes, 0, VMBUS_PKT_MAX_LEN);
  if (NT_SUCCESS(st))
    Channel->ch_max_in = Bytes;
  return st;
}

bool kmcl_channel_failed(VMBCHANNEL Channel) { return chan_valid(Channel) && Channel->ch_fail; }

int kmcl_channel_fail_reason(VMBCHANNEL Channel) {
  return chan_valid(Channel) ? Channel->ch_fail : -EINVAL;
}

/* ---- lifecycle -------------------------------------------------------------- */

NTSTATUS VmbChannelEnable(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (ch->ch_conn != KC_DISABLED || ch->ch_save)
    return STATUS_INVALID_DEVICE_STATE;
  if (kmcl_dispatch_depth || ch->ch_cb != KCB_NONE)
    return STATUS_INVALID_DEVICE_STATE;
  if (!ch->ch_bus || !ch->ch_bus->kb_ops)
    return STATUS_DEVICE_NOT_CONNECTED;
  /* Bad configuration fails synchronously (section (e), "Matching offers"). */
  if (!ch->ch_process || !ch->ch_have_type)
    return STATUS_INVALID_PARAMETER;
  if (!ch->ch_xids) {
    ch->ch_xids = calloc(KMCL_XID_SLOTS, sizeof(*ch->ch_xids));
    if (!ch->ch_xids)
      return STATUS_INSUFFICIENT_RESOURCES;
  }
  ch->ch_fail = 0;
  ch->ch_started = false;
  const struct kmcl_bus_ops *ops = ch->ch_bus->kb_ops;
  int rc;
  if (ch->ch_server) {
    struct kmcl_bus_offer *o = &ch->ch_offer;
    memset(o, 0, sizeof(*o));
    o->bo_type = ch->ch_type;
    o->bo_instance = ch->ch_instance;
    o->bo_server_flags = ch->ch_srv_flags;
    o->bo_channel_flags = ch->ch_init_flags;
    o->bo_mmio_mb = ch->ch_mmio_mb;
    o->bo_mmio_mb_optional = ch->ch_mmio_mb_opt;
    o->bo_target_vtl = ch->ch_vtl;
    o->bo_restore =
        ch->ch_restored && !(ch->ch_srv_flags & VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL);
    /* FORCE_NEW_CHANNEL: a fresh offer; what was in the old rings is lost. */
    if (ch->ch_restored && !o->bo_restore)
      pkt_cancel_inflight(ch);
    ch->ch_conn = KC_ENABLED;
    rc = ops->offer(ch->ch_bus, ch, o);
  } else {
    memset(&ch->ch_offer, 0, sizeof(ch->ch_offer));
    ch->ch_conn = KC_ENABLED;
    rc = ops->attach(ch->ch_bus, ch, &ch->ch_type, ch->ch_have_instance ? &ch->ch_instance : NULL);
  }
  if (rc) {
    ch->ch_conn = KC_DISABLED;
    pr_warn("kmcl %s: enable failed (%d)\n", ch->ch_name, rc);
    return chan_errno_status(rc);
  }
  ch->ch_restored = false;
  return STATUS_SUCCESS;
}

static bool chan_not_closing(void *arg) {
  struct kmcl_channel *ch = arg;
  return ch->ch_conn != KC_CLOSING || ch->ch_outstanding == 0;
}

VOID VmbChannelDisable(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !chan_can_block(ch, "VmbChannelDisable"))
    return;
  const struct kmcl_bus_ops *ops = ch->ch_bus ? ch->ch_bus->kb_ops : NULL;
  switch (ch->ch_conn) {
  case KC_DISABLED:
    return;
  case KC_ENABLED:
    if (ch->ch_server)
      ops->rescind(ch->ch_bus, ch, ch->ch_saved);
    else
      ops->detach(ch->ch_bus, ch);
    pkt_cancel_all(ch);
    ch->ch_conn = KC_DISABLED;
    chan_reset_run_state(ch);
    break;
  case KC_OPENING:
    /* Client waiting for OPENCHANNEL_RESULT: close and drop the rings. */
    ops->close(ch->ch_bus, ch);
    chan_client_release_rings(ch);
    ops->detach(ch->ch_bus, ch);
    pkt_cancel_all(ch);
    ch->ch_conn = KC_DISABLED;
    chan_reset_run_state(ch);
    break;
  case KC_OPEN:
    chan_begin_close(ch, false);
    /* fall through */
  case KC_CLOSING:
    ch->ch_close_peer = false; /* this call finishes the close, not the work item */
    ev_cancel(&ch->ch_close_work);
    if (chan_wait(chan_not_closing, ch, kmcl_test_disable_wait_ms))
      pr_err("kmcl %s: disable: %u incoming packets never completed; closing anyway\n", ch->ch_name,
             ch->ch_outstanding);
    chan_finish_close(ch, true);
    break;
  }
  ev_cancel(&ch->ch_close_work);
  ch->ch_saved = false;
  pkt_run_done(ch);
}

VOID VmbChannelPause(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !chan_can_block(ch, "VmbChannelPause"))
    return;
  if (ch->ch_paused)
    return;
  ch->ch_paused = true; /* while Disabled: armed for the next Enable */
  if (!ch->ch_started)
    return;
  chan_suspend(ch);
  if (chan_wait(chan_no_outstanding, ch, kmcl_test_disable_wait_ms))
    pr_err("kmcl %s: pause: %u incoming packets still outstanding\n", ch->ch_name,
           ch->ch_outstanding);
}

VOID VmbChannelStart(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !chan_can_block(ch, "VmbChannelStart"))
    return;
  if (!ch->ch_paused)
    return;
  ch->ch_paused = false;
  ch->ch_saved = false; /* running again: a save taken before is moot */
  chan_go_started(ch);
}

VOID VmbChannelCleanup(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !chan_can_block(ch, "VmbChannelCleanup"))
    return;
  if (ch->ch_conn != KC_DISABLED) {
    pr_err("kmcl %s: cleanup of a channel that is not disabled; ignored\n", ch->ch_name);
    return;
  }
  ev_cancel(&ch->ch_rx_dpc);
  ev_cancel(&ch->ch_rx_work);
  ev_cancel(&ch->ch_close_work);
  pkt_cancel_all(ch);
  pkt_run_done(ch);
  save_channel_free(ch);
  gpadl_channel_release(ch);
  pkt_channel_free(ch);
  free(ch->ch_xids);
  free(ch->ch_scratch);
  ch->ch_magic = 0;
  kmcl_live_channels--;
  free(ch);
}

/* ---- DPC and work item ------------------------------------------------------- */

/** Dispatch level: run completion routines, drain queued sends, and read
 * the incoming ring unless the channel processes at passive level. */
static void chan_dpc(void *arg) {
  struct kmcl_channel *ch = arg;
  kmcl_dispatch_depth++;
  pkt_run_done(ch);
  if (chan_tx_enabled(ch))
    pkt_tx_drain(ch);
  if (chan_rx_enabled(ch)) {
    if (!TAILQ_EMPTY(&ch->ch_defer)) /* deferred: redeliver at passive level first */
      ev_work_queue(&ch->ch_rx_work);
    if (ch->ch_passive)
      ev_work_queue(&ch->ch_rx_work);
    else
      pkt_rx_process(ch, false);
  }
  pkt_run_done(ch);
  kmcl_dispatch_depth--;
}

/** Passive level: redeliver deferred packets, then read the ring when the
 * channel asked for passive processing. */
static void chan_work(void *arg) {
  struct kmcl_channel *ch = arg;
  pkt_rx_deferred(ch);
  if (ch->ch_passive && chan_rx_enabled(ch))
    pkt_rx_process(ch, true);
  pkt_run_done(ch);
}

/* ---- bus up-calls ------------------------------------------------------------ */

static void chan_client_open_failed(struct kmcl_channel *ch, NTSTATUS st, bool close) {
  if (close)
    ch->ch_bus->kb_ops->close(ch->ch_bus, ch);
  chan_client_release_rings(ch);
  ch->ch_bus->kb_ops->detach(ch->ch_bus, ch);
  ch->ch_conn = KC_DISABLED;
  pkt_cancel_all(ch);
  pkt_run_done(ch);
  pr_warn("kmcl %s: open failed (status 0x%08x)\n", ch->ch_name, (unsigned)st);
  if (ch->ch_pnp_fail)
    ch->ch_pnp_fail(ch, st);
}

void kmcl_bus_offer_arrived(VMBCHANNEL ch, const struct kmcl_bus_offer *offer) {
  if (!chan_valid(ch) || ch->ch_server || ch->ch_conn != KC_ENABLED || !offer)
    return;
  ch->ch_offer = *offer;
  uint32_t min = chan_min_ring_pages(ch);
  uint32_t outp = ch->ch_out_pages > min ? ch->ch_out_pages : min;
  uint32_t inp = ch->ch_in_pages > min ? ch->ch_in_pages : min;
  uint32_t n = outp + inp;
  uint8_t *mem = page_alloc(n);
  uint64_t *pfns = malloc(sizeof(uint64_t) * n);
  if (!mem || !pfns) {
    if (mem)
      page_free(mem, n);
    free(pfns);
    ch->ch_conn = KC_OPENING;
    chan_client_open_failed(ch, STATUS_INSUFFICIENT_RESOURCES, false);
    return;
  }
  ch->ch_ring_mem = mem;
  ch->ch_ring_pages = n;
  /* Our outgoing ring first: [out ctl][out data][in ctl][in data]. */
  ring_reset_ctl(mem);
  ring_reset_ctl(mem + (size_t)outp * PAGE_SIZE);
  ring_init(&ch->ch_out, mem, mem + PAGE_SIZE, (outp - 1) * PAGE_SIZE);
  ring_init(&ch->ch_in, mem + (size_t)outp * PAGE_SIZE, mem + (size_t)(outp + 1) * PAGE_SIZE,
            (inp - 1) * PAGE_SIZE);
  for (uint32_t i = 0; i < n; i++)
    pfns[i] = hw_virt_to_phys(mem + (size_t)i * PAGE_SIZE) >> PAGE_SHIFT;
  ch->ch_conn = KC_OPENING;
  uint32_t h = 0;
  int rc = ch->ch_bus->kb_ops->gpadl_create(ch->ch_bus, ch, pfns, n, 0, n * PAGE_SIZE, false, &h);
  free(pfns);
  if (rc) {
    if (rc == -ETIMEDOUT) {
      /* No answer: the host holds the PFNs and may map them at any time.
       * The pages were shared once, so they are leaked, never reused
       * (PERF-RELIABILITY 2.4 F1, the CVE-2024-36909 class). */
      pr_err("kmcl %s: ring GPADL unanswered; leaking %u pages\n", ch->ch_name, ch->ch_ring_pages);
      ch->ch_ring_mem = NULL;
      ch->ch_ring_pages = 0;
    }
    chan_client_open_failed(ch, chan_errno_status(rc), false);
    return;
  }
  ch->ch_ring_gpadl = h;
  memset(&ch->ch_open, 0, sizeof(ch->ch_open));
  ch->ch_open.bp_ring_gpadl = h;
  ch->ch_open.bp_downstream_offset = outp;
  rc = ch->ch_bus->kb_ops->open(ch->ch_bus, ch, &ch->ch_open);
  if (rc)
    chan_client_open_failed(ch, chan_errno_status(rc), false);
}

void kmcl_bus_open_result(VMBCHANNEL ch, int32_t status) {
  if (!chan_valid(ch) || ch->ch_server || ch->ch_conn != KC_OPENING)
    return;
  if (status != 0) {
    chan_client_open_failed(ch, NT_SUCCESS(status) ? STATUS_UNSUCCESSFUL : status, false);
    return;
  }
  ch->ch_rings_up = true;
  NTSTATUS st = chan_cb_opened(ch);
  if (!NT_SUCCESS(st)) {
    /* Section (e): undo the open, close with the host, back to Disabled,
     * PnpFailure with the returned status. */
    chan_client_open_failed(ch, st, true);
    return;
  }
  ch->ch_conn = KC_OPEN;
  chan_kick(ch); /* sends queued before the open go out now */
  chan_go_started(ch);
}

void kmcl_bus_rescinded(VMBCHANNEL ch) {
  if (!chan_valid(ch) || ch->ch_server)
    return;
  switch (ch->ch_conn) {
  case KC_ENABLED:
    /* Waiting for an offer: keep waiting (the bus may offer again). */
    break;
  case KC_OPENING:
    chan_client_open_failed(ch, STATUS_DEVICE_REMOVED, true);
    break;
  case KC_OPEN:
    chan_begin_close(ch, true);
    break;
  default:
    break;
  }
}

void kmcl_bus_open_request(VMBCHANNEL ch, const struct kmcl_bus_open *req) {
  if (!chan_valid(ch) || !ch->ch_server || !req)
    return;
  const struct kmcl_bus_ops *ops = ch->ch_bus->kb_ops;
  if (ch->ch_conn != KC_ENABLED) {
    ops->open_complete(ch->ch_bus, ch, (int32_t)STATUS_INVALID_DEVICE_STATE);
    return;
  }
  ch->ch_open = *req;
  NTSTATUS st = chan_server_map_rings(ch, req);
  if (!NT_SUCCESS(st)) {
    pr_warn("kmcl %s: open request refused: rings (0x%08x)\n", ch->ch_name, (unsigned)st);
    ops->open_complete(ch->ch_bus, ch, st);
    return;
  }
  ch->ch_fail = 0;
  ch->ch_conn = KC_OPENING;
  st = chan_cb_opened(ch);
  if (!NT_SUCCESS(st)) {
    chan_server_release_rings(ch);
    ch->ch_conn = KC_ENABLED; /* rolled back: still offered, no traffic */
    ops->open_complete(ch->ch_bus, ch, st);
    return;
  }
  ch->ch_conn = KC_OPEN;
  ops->open_complete(ch->ch_bus, ch, 0);
  chan_kick(ch);
  chan_go_started(ch);
}

void kmcl_bus_close_request(VMBCHANNEL ch) {
  if (!chan_valid(ch) || !ch->ch_server)
    return;
  if (ch->ch_conn == KC_OPEN)
    chan_begin_close(ch, true);
}

void kmcl_bus_interrupt(VMBCHANNEL ch) {
  if (chan_valid(ch))
    ev_dpc_queue(&ch->ch_rx_dpc);
}

void chan_outstanding_dropped(struct kmcl_channel *ch) {
  if (ch->ch_conn == KC_CLOSING && ch->ch_outstanding == 0 && ch->ch_close_peer)
    ev_work_queue(&ch->ch_close_work);
}
