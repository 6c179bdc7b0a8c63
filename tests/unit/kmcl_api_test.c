/* tests/unit/kmcl_api_test.c: every public KMCL function's documented
 * success and error returns (KMCL-REFERENCE.md section 2 and (e)): invalid
 * channel (STATUS_INVALID_PARAMETER_1), bad parameters (_2, _3), wrong
 * state, bad flags; constants and struct layouts; GPADL create/map/unmap/
 * delete with their wire effect on the bus; calls refused inside callbacks
 * and at dispatch level. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/hw.h"
#include "kernel/page.h"
#include "kernel/timer.h"
#include "tests/unit/lib/kmcl_harness.h"

static uint8_t msg[16] = "abcdefghijklmno";

static void test_constants(void **state) {
  (void)state;
  /* KMCL-REFERENCE.md 1.3, values from the header. */
  assert_int_equal(VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, 1);
  assert_int_equal(VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH, 2);
  assert_int_equal(VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER, 4);
  assert_int_equal(VMBUS_CHANNEL_FORMAT_FLAGS, 7);
  assert_int_equal(VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY, 1);
  assert_int_equal(VMBUS_CHANNEL_INIT_FLAG_IS_PIPE, 1);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER, 1);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE, 2);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE, 4);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL, 8);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER, 0x10);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_FLAGS, 0x1f);
  assert_int_equal(VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA, 1);
  assert_int_equal(VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAG_READ_ONLY, 1);
  assert_int_equal(VMBUS_SERVER_CHANNEL_INIT_MAXIMUM_OFFER_DATA, 120);
  /* NTSTATUS values (1.2). */
  assert_int_equal((uint32_t)STATUS_INVALID_PARAMETER_1, 0xC00000EFu);
  assert_int_equal((uint32_t)STATUS_INVALID_PARAMETER_2, 0xC00000F0u);
  assert_int_equal((uint32_t)STATUS_INVALID_PARAMETER_3, 0xC00000F1u);
  assert_int_equal((uint32_t)STATUS_BUFFER_OVERFLOW, 0x80000005u);
  assert_int_equal((uint32_t)STATUS_MORE_PROCESSING_REQUIRED, 0xC0000016u);
  assert_int_equal((uint32_t)STATUS_DEVICE_REMOVED, 0xC00002B6u);
  assert_false(NT_SUCCESS(STATUS_BUFFER_OVERFLOW));
  assert_true(NT_SUCCESS(STATUS_PENDING));
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  memset(&cb, 0x5a, sizeof(cb));
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  assert_int_equal(cb.Version, 1);
  assert_int_equal(cb.Size, 48);
  assert_null(cb.EvtChannelOpened);
  assert_null(cb.EvtChannelPostStarted);
  assert_int_equal(sizeof(MDL), 48);
}

static void test_allocate_and_init_errors(void **state) {
  (void)state;
  kh_setup();
  struct lb_bus *lb = lb_create(3);
  VMBCHANNEL c = NULL, s = NULL;
  assert_int_equal(VmbChannelAllocate(NULL, FALSE, &c), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelAllocate(lb_device(lb), FALSE, NULL), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbChannelAllocate(lb_device(lb), FALSE, &c), STATUS_SUCCESS);
  assert_int_equal(VmbChannelAllocate(lb_device(lb), TRUE, &s), STATUS_SUCCESS);
  assert_int_equal(c->ch_conn, KC_DISABLED);
  assert_false(c->ch_paused); /* the client is Active on Enable */
  assert_true(s->ch_paused);  /* the server must Start */

  /* Common Init calls. */
  assert_int_equal(VmbChannelInitSetFlags(NULL, 0), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetFlags(c, 2), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelInitSetFlags(c, 0), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(NULL, 1), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(c, 0), STATUS_INVALID_PARAMETER_2);
  UINT32 sz0 = VmbChannelSizeofPacket(c);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(c, 8192), STATUS_SUCCESS);
  assert_int_equal(VmbChannelSizeofPacket(c), sz0 + 4096);
  assert_int_equal(VmbChannelSizeofPacket(NULL), 0);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(NULL, 1, 1), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(c, 0, 1), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(c, 1, 0), STATUS_INVALID_PARAMETER_3);
  UINT32 sz1 = VmbChannelSizeofPacket(c);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(c, 65536, 4), STATUS_SUCCESS);
  /* The packet object holds the largest GPA-range list: fewer chained MDLs,
   * a smaller object (16 -> 4 ranges: 12 range heads and 24 PFNs fewer). */
  assert_int_equal(VmbChannelSizeofPacket(c), sz1 - 8 * 12 - 8 * 24);
  assert_int_equal(VmbChannelInitSetClientContextSize(NULL, 8), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetClientContextSize(c, 8), STATUS_SUCCESS);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(NULL, &cb), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c, NULL), STATUS_INVALID_PARAMETER_2);
  cb.Version = 2;
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c, &cb), STATUS_INVALID_PARAMETER_2);
  cb.Version = 1;
  cb.Size = 40;
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c, &cb), STATUS_INVALID_PARAMETER_2);
  cb.Size = sizeof(cb);
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c, &cb), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(NULL, NULL, NULL),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(c, NULL, NULL),
                   STATUS_INVALID_PARAMETER_2);
  WCHAR wname[4] = {'N', 'e', 't', 0};
  UNICODE_STRING name = {6, 8, wname};
  assert_int_equal(VmbChannelInitSetFriendlyName(NULL, &name), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetFriendlyName(c, NULL), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelInitSetFriendlyName(c, &name), STATUS_SUCCESS);
  wname[0] = 'X'; /* copied: the channel keeps its own */
  assert_string_equal(c->ch_name, "Net");

  /* Client-only Init calls. */
  assert_int_equal(VmbClientChannelInitSetRingBufferPageCount(s, 4, 4), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbClientChannelInitSetRingBufferPageCount(c, 1, 4), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbClientChannelInitSetRingBufferPageCount(c, 4, 1), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbClientChannelInitSetRingBufferPageCount(c, 8, 4), STATUS_SUCCESS);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(s, &kh_type, NULL, NULL),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(c, NULL, NULL, NULL),
                   STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(c, &kh_type, &kh_instance, NULL),
                   STATUS_SUCCESS);
  GUID g;
  VmbChannelGetInterfaceInstance(c, &g); /* the targeted instance before open */
  assert_memory_equal(&g, &kh_instance, sizeof(g));

  /* Server-only Init calls. */
  assert_int_equal(VmbServerChannelInitSetTargetInterfaceId(c, kh_type, kh_instance),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetTargetInterfaceId(s, kh_type, kh_instance),
                   STATUS_SUCCESS);
  assert_int_equal(VmbServerChannelInitSetFlags(c, 0), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetFlags(s, 0x20), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbServerChannelInitSetFlags(s, 0x2), STATUS_SUCCESS);
  assert_int_equal(VmbServerChannelInitSetMmioMegabytes(c, 1, 0), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetMmioMegabytes(s, 0, 0), STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbServerChannelInitSetMmioMegabytes(s, 0, 2), STATUS_SUCCESS);
  assert_int_equal(VmbServerChannelInitSetSaveRestorePacketCallbacks(c, NULL, NULL),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetSaveRestorePacketCallbacks(s, NULL, NULL),
                   STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbServerChannelInitSetTargetVtl(c, 0), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetTargetVtl(s, 3), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbServerChannelInitSetTargetVtl(s, 1), STATUS_SUCCESS);
  assert_int_equal(s->ch_vtl, 1); /* goes into the offer (bo_target_vtl) */

  /* VMBus handles: instance id -> registered bus. */
  HANDLE kh = NULL;
  assert_int_equal(VmbConvertVmbusHandleToKernelHandle((HANDLE)(uintptr_t)3, NULL),
                   STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbConvertVmbusHandleToKernelHandle((HANDLE)(uintptr_t)77, &kh),
                   STATUS_INVALID_HANDLE);
  assert_int_equal(VmbConvertVmbusHandleToKernelHandle((HANDLE)(uintptr_t)3, &kh), STATUS_SUCCESS);
  assert_ptr_equal(kh, lb_kbus(lb));
  assert_int_equal(VmbServerChannelInitSetVmbusHandle(c, kh), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetVmbusHandle(s, (HANDLE)&g), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbServerChannelInitSetVmbusHandle(s, kh), STATUS_SUCCESS);
  assert_ptr_equal(s->ch_bus, lb_kbus(lb)); /* offers go to that VMBus */

  /* Pointers. */
  VmbChannelSetPointer(c, &g);
  assert_ptr_equal(VmbChannelGetPointer(c), &g);
  assert_null(VmbChannelGetPointer(NULL));

  /* Enable: configuration is checked synchronously. */
  assert_int_equal(VmbChannelEnable(NULL), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelEnable(c), STATUS_INVALID_PARAMETER); /* no ProcessPacket */
  assert_int_equal(VmbChannelEnable(s), STATUS_INVALID_PARAMETER);
  VmbChannelCleanup(c);
  VmbChannelCleanup(s);
  lb_destroy(lb);
  assert_true(kh_no_leaks());
}

static void test_init_only_while_disabled(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_INVALID_DEVICE_STATE);
  /* Section (e): Init calls only while Disabled. */
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(p->s.ch, 100), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelInitSetFlags(p->s.ch, 0), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbServerChannelInitSetFlags(p->s.ch, 0), STATUS_INVALID_PARAMETER_1);
  VmbChannelDisable(p->s.ch);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(p->s.ch, 100), STATUS_SUCCESS);
}

static void test_duplicate_offer(void **state) {
  struct kh_pair *p = *state;
  struct kh_end s2;
  kh_alloc(p, &s2, true);
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  /* Same instance GUID: the bus refuses the second offer. */
  assert_int_equal(VmbChannelEnable(s2.ch), STATUS_INVALID_DEVICE_STATE);
  assert_int_equal(s2.ch->ch_conn, KC_DISABLED);
  VmbChannelCleanup(s2.ch);
}

static struct timer unmap_later;
static VMBCHANNEL unmap_ch;
static UINT32 unmap_h;
static void unmap_fn(void *arg) {
  (void)arg;
  VmbChannelUnmapGpadl(unmap_ch, unmap_h);
}

static void test_gpadl(void **state) {
  (void)state;
  kh_setup();
  struct kh_pair p;
  kh_pair_alloc(&p);
  uint8_t *buf = page_alloc(3);
  UINT32 h = 0;
  /* Before Opened: wrong state. */
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, buf, 8192, &h),
                   STATUS_INVALID_DEVICE_STATE);
  kh_pair_close(&p);
  assert_true(kh_pair_open(&p));
  uint32_t live0 = lb_stats(p.lb)->st_gpadls_live; /* the ring's GPADL */
  uint32_t maps0 = lb_stats(p.lb)->st_maps_live;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(NULL, 0, buf, 8192, &h),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.s.ch, 0, buf, 8192, &h),
                   STATUS_INVALID_PARAMETER_1); /* the guest donates memory */
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 2, buf, 8192, &h),
                   STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, NULL, 8192, &h),
                   STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, buf, 0, &h),
                   STATUS_INVALID_PARAMETER);
  uint8_t stackbuf[64];
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, stackbuf, 64, &h),
                   STATUS_INVALID_PARAMETER); /* not guest memory */
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, buf + 16, 8192, &h), STATUS_SUCCESS);
  assert_int_equal(lb_stats(p.lb)->st_gpadls_live, live0 + 1);
  /* The server maps it: an MDL of the guest's pages, no virtual address. */
  PMDL m = NULL;
  assert_int_equal(VmbChannelMapGpadl(p.c.ch, 0, h, &m), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 4, h, &m), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h + 1000, &m), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h, NULL), STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h, &m), STATUS_SUCCESS);
  assert_null(m->StartVa);
  assert_int_equal(m->ByteOffset, 16);
  assert_int_equal(m->ByteCount, 8192);
  assert_int_equal(kmcl_mdl_page_count(m), 3);
  for (int i = 0; i < 3; i++)
    assert_int_equal(m->PfnArray[i], hw_virt_to_phys(buf + i * 4096) >> 12);
  uint8_t *mapped = kmcl_mdl_map(p.s.ch, m, 0, 8192);
  assert_ptr_equal(mapped, buf + 16); /* same memory (one process) */
  assert_null(kmcl_mdl_map(p.s.ch, m, 1, 8192));
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h, &m), STATUS_INVALID_DEVICE_STATE);
  /* Delete blocks while mapped: the server unmaps 30 ms later. */
  unmap_ch = p.s.ch;
  unmap_h = h;
  timer_init(&unmap_later, unmap_fn, NULL);
  timer_arm_ms(&unmap_later, 30);
  uint64_t t0 = hw_now_ns();
  VmbChannelDeleteGpadl(p.c.ch, h);
  assert_true(hw_now_ns() - t0 >= 25000000ull);
  assert_int_equal(lb_stats(p.lb)->st_gpadls_live, live0);
  assert_int_equal(lb_stats(p.lb)->st_maps_live, maps0);

  /* Read-only: a writable mapping is refused; a read-only one is fine. */
  assert_int_equal(
      VmbChannelCreateGpadlFromBuffer(p.c.ch, VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY, buf, 4096, &h),
      STATUS_SUCCESS);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h, &m), STATUS_ACCESS_DENIED);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY, h, &m),
                   STATUS_SUCCESS);
  VmbChannelUnmapGpadl(p.s.ch, h);
  VmbChannelDeleteGpadl(p.c.ch, h);

  /* From an MDL chain: two whole pages then part of a third. */
  PMDL m1 = kmcl_mdl_alloc(buf, 8192), m2 = kmcl_mdl_alloc(buf + 8192, 100);
  m1->Next = m2;
  assert_int_equal(VmbChannelCreateGpadlFromMdl(p.c.ch, 0, NULL, 0, 0, &h),
                   STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbChannelCreateGpadlFromMdl(p.c.ch, 0, m1, 9000, 0, &h),
                   STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbChannelCreateGpadlFromMdl(p.c.ch, 0, m1, 4096, 0, &h), STATUS_SUCCESS);
  assert_int_equal(VmbChannelMapGpadl(p.s.ch, 0, h, &m), STATUS_SUCCESS);
  assert_int_equal(m->ByteCount, 4096 + 100);
  assert_int_equal(kmcl_mdl_page_count(m), 2);
  assert_int_equal(m->PfnArray[1], hw_virt_to_phys(buf + 8192) >> 12);
  /* Left mapped on purpose: Closed's clean-up unmaps it (with a warning). */
  kmcl_mdl_free(m1);
  kmcl_mdl_free(m2);
  /* Lib-fail: the bus refuses. */
  lb_set_fail_gpadl(p.lb, -EIO);
  UINT32 h2;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p.c.ch, 0, buf, 4096, &h2), STATUS_UNSUCCESSFUL);
  lb_set_fail_gpadl(p.lb, 0);
  VmbChannelDisable(p.s.ch);
  VmbChannelDeleteGpadl(p.c.ch, h); /* inside or after Closed: the mapping is gone */
  kh_pair_close(&p);
  page_free(buf, 3);
  assert_true(kh_no_leaks());
}

/* Calls that would deadlock are refused inside callbacks (section (e)). */
static NTSTATUS sync_in_started;
static bool paused_in_started;
static void started_cb(VMBCHANNEL ch) {
  UINT32 rl = 0;
  sync_in_started = VmbChannelSendSynchronousRequest(
      ch, msg, 8, NULL, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, NULL, &rl, NULL);
  VmbChannelPause(ch);
  paused_in_started = ch->ch_paused;
}
static NTSTATUS sync_in_post;
static void post_started_cb(VMBCHANNEL ch) {
  UINT8 resp[16];
  UINT32 rl = sizeof(resp);
  LARGE_INTEGER to = {.QuadPart = -10000000};
  sync_in_post = VmbChannelSendSynchronousRequest(
      ch, msg, 8, NULL, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, resp, &rl, &to);
}
static int disable_in_process;
static void process_cb(VMBCHANNEL ch, VMBPACKETCOMPLETION t, PVOID b, UINT32 l, UINT32 f) {
  (void)f;
  VmbChannelDisable(ch); /* dispatch level: refused */
  disable_in_process = ch->ch_conn;
  VmbChannelPacketComplete(t, b, l);
}

static void test_refused_in_callbacks(void **state) {
  struct kh_pair *p = *state;
  /* A client with its own callbacks. */
  VmbChannelCleanup(p->c.ch);
  VMBCHANNEL c;
  assert_int_equal(VmbChannelAllocate(lb_device(p->lb), FALSE, &c), STATUS_SUCCESS);
  p->c.ch = c;
  VmbChannelSetPointer(c, &p->c);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelStarted = started_cb;
  cb.EvtChannelPostStarted = post_started_cb;
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c, &cb), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(c, process_cb, NULL), STATUS_SUCCESS);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(c, &kh_type, NULL, NULL), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  VmbChannelStart(p->s.ch);
  assert_int_equal(VmbChannelEnable(c), STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(sync_in_started, STATUS_INVALID_DEVICE_STATE);
  assert_false(paused_in_started);
  /* PostStarted is the place for synchronous traffic: the server echoes. */
  assert_int_equal(sync_in_post, STATUS_SUCCESS);
  assert_int_equal(kh_send(&p->s, msg, 8, 0), STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(disable_in_process, KC_OPEN);
}

static void test_token_api_errors(void **state) {
  struct kh_pair *p = *state;
  PMDL m;
  assert_int_equal(VmbChannelPacketGetExternalData(NULL, 0, &m), STATUS_INVALID_PARAMETER_1);
  kh_held_requests(p, msg, 8, 1);
  VMBPACKETCOMPLETION t = p->s.held[0];
  assert_int_equal(VmbChannelPacketGetExternalData(t, 2, &m), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelPacketGetExternalData(t, 0, NULL), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbChannelPacketGetExternalData(t, 0, &m), STATUS_NOT_FOUND); /* inband */
  assert_null(VmbChannelPacketGetClientContext(t)); /* no context size */
  VmbChannelPacketDeferToPassive(t);                /* not inline: ignored */
  assert_int_equal(t->in_state, KI_OUTSTANDING);
  VmbChannelPacketComplete(NULL, NULL, 0); /* logged, no crash */
  kh_complete_held(&p->s);
  assert_true(kh_wait_comp(&p->c, 1));
}

#define UPQ_N 1000
static int32_t upq_seen[UPQ_N + 1];
static uint32_t upq_n;

/** Gate that records each event and vetoes it (the channels are fake). */
static bool upq_record(void *ctx, const struct kmcl_up_event *e) {
  (void)ctx;
  if (upq_n <= UPQ_N)
    upq_seen[upq_n] = e->ue_type == KMCL_UP_OPEN_RESULT ? e->ue_u.status : -1;
  upq_n++;
  return false;
}

/* The up-call queue of kmcl/bus.h (every bus uses it): far more events than
 * the old fixed FIFOs held (256, 64) are all delivered, in post order, with
 * their payloads copied at post time; forget removes exactly the events of
 * one channel and type; bad posts are refused. */
static void test_upcall_queue_keeps_every_event(void **state) {
  (void)state;
  lb_pump();
  struct kmcl_upq q;
  kmcl_upq_init(&q, upq_record, NULL);
  VMBCHANNEL a = (VMBCHANNEL)(uintptr_t)0x1000, b = (VMBCHANNEL)(uintptr_t)0x2000;
  for (int32_t i = 0; i < UPQ_N; i++)
    assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OPEN_RESULT, (i % 2) ? b : a, &i), 0);
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_OFFER, a, NULL), -EINVAL); /* payload missing */
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_RESCINDED, NULL, NULL), -EINVAL);
  assert_int_equal(q.uq_len, UPQ_N);
  kmcl_upq_forget(&q, b, 1u << KMCL_UP_RESCINDED); /* no such event: nothing goes */
  assert_int_equal(q.uq_len, UPQ_N);
  kmcl_upq_forget(&q, b, 1u << KMCL_UP_OPEN_RESULT);
  assert_int_equal(q.uq_len, UPQ_N / 2);
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_RESCINDED, a, NULL), 0);
  upq_n = 0;
  lb_pump(); /* the work item delivers */
  assert_int_equal(upq_n, UPQ_N / 2 + 1);
  for (uint32_t i = 0; i < UPQ_N / 2; i++)
    assert_int_equal(upq_seen[i], (int32_t)(2 * i));
  assert_int_equal(upq_seen[UPQ_N / 2], -1);
  assert_int_equal(q.uq_len, 0);
  assert_int_equal(q.uq_high, UPQ_N);
  assert_int_equal(q.uq_vetoed, UPQ_N / 2 + 1);
  assert_int_equal(q.uq_failed, 0);
  assert_int_equal(kmcl_upq_post(&q, KMCL_UP_RESCINDED, a, NULL), 0);
  kmcl_upq_fini(&q); /* frees what is still queued (ASan checks) */
  lb_pump();
  assert_int_equal(upq_n, UPQ_N / 2 + 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_constants),
    cmocka_unit_test(test_allocate_and_init_errors),
    KH_TEST_ALLOC(test_init_only_while_disabled),
    KH_TEST_ALLOC(test_duplicate_offer),
    cmocka_unit_test(test_gpadl),
    KH_TEST_ALLOC(test_refused_in_callbacks),
    KH_TEST_OPEN(test_token_api_errors),
    cmocka_unit_test(test_upcall_queue_keeps_every_event),
};

UNIT_MAIN("kmcl_api", tests)
