/* drivers/netvsc/netvsc.c: the synthetic NIC: KMCL client channel, NVSP
 * (version negotiation, NDIS config, receive and send buffers), the
 * transmit path (send-buffer sections, GPA-direct fallback, bounded
 * transaction table, back-pressure), the receive path (transfer-page
 * packets parsed range by range, completion always sent), clean stop and
 * rescind. RNDIS lives in rndis.c. PROTOCOL-REFERENCE.md section 4;
 * hostile-host rules from PERF-RELIABILITY-REFERENCE.md 2.4 D and E.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/netvsc/netvsc_priv.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "net/wire.h" /* the Ethernet header lengths only: layouts, no code */

static const GUID netvsc_guid = NVSP_GUID_NETWORK_INIT;

/** NVSP versions tried, newest first (4.3 step 2; rule 8: a const array). */
static const uint32_t netvsc_versions[] = NVSP_VERSIONS_NEWEST_FIRST_INIT;

/** Largest packet accepted from the host (kmcl_channel_init_set_max_incoming). */
#define NETVSC_MAX_INCOMING 8192u

/** A GPA-direct bounce buffer, in whole pages: the RNDIS header room and the
 * largest frame (the MTU, the Ethernet header and one 802.1Q tag); also the
 * largest external data a send describes. */
#define NETVSC_DIRECT_BYTES                                                                        \
  ((NETVSC_TX_HDR_ROOM + NETVSC_MTU_MAX + ETH_VLAN_HLEN + PAGE_SIZE - 1u) & ~(PAGE_SIZE - 1u))

static struct netvsc *netvsc_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static void netvsc_release(struct netvsc *nv);

/* ---- state-change callbacks --------------------------------------------------- */

static NTSTATUS netvsc_opened(VMBCHANNEL ch) {
  (void)ch;
  return STATUS_SUCCESS;
}

static VOID netvsc_post_started(VMBCHANNEL ch) { netvsc_of(ch)->nv_started = true; }

/** The NIC is gone (rescind or a failed channel): drop the link, and let a
 * passive work item release the buffers and the channel. */
static void netvsc_gone(struct netvsc *nv, const char *why) {
  if (nv->nv_state == NV_GONE || nv->nv_state == NV_HALTING)
    return;
  bool was_up = nv->nv_state == NV_UP;
  nv->nv_state = NV_GONE;
  pr_info("netvsc: NIC removed (%s); the kernel keeps running without it\n", why);
  if (nv->nv_link) {
    nv->nv_link = false;
    nv->nv_st.link_changes++;
  }
  if (was_up && nv->nv_linkcb)
    nv->nv_linkcb(nv->nv_cb_arg, false);
  /* During the probe, the probe itself fails and releases (it still uses
   * the channel); afterwards a work item does it. */
  if (was_up)
    ev_work_queue(&nv->nv_gone_work);
}

static VOID netvsc_closed(VMBCHANNEL ch) {
  struct netvsc *nv = netvsc_of(ch);
  nv->nv_closed = true;
  netvsc_gone(nv, "channel closed by the host");
}

static VOID netvsc_pnp_failure(VMBCHANNEL ch, NTSTATUS st) {
  struct netvsc *nv = netvsc_of(ch);
  nv->nv_pnp_failed = true;
  pr_err("netvsc: the host refused to open the NIC channel: status 0x%lx\n", (unsigned long)st);
}

static void netvsc_gone_work(void *arg) { netvsc_release(arg); }

/* ---- shared buffers ---------------------------------------------------------------- */

/** Copy between `p` and bytes [off, off+len) of a shared buffer whose GPADL
 * page i is page perm[i] of `base` (perm NULL: in order), page by page.
 * The caller has bounded the range by the buffer's size. */
static void netvsc_buf_copy(uint8_t *base, const uint32_t *perm, uint64_t off, void *p,
                            uint32_t len, bool to_buf) {
  uint8_t *b = p;
  while (len) {
    uint32_t n = PAGE_SIZE - (uint32_t)(off % PAGE_SIZE);
    if (!perm)
      n = len;
    else if (n > len)
      n = len;
    uint64_t page = perm ? perm[off / PAGE_SIZE] : off / PAGE_SIZE;
    uint8_t *at = base + page * PAGE_SIZE + off % PAGE_SIZE;
    if (to_buf)
      memcpy(at, b, n);
    else
      memcpy(b, at, n);
    off += n;
    b += n;
    len -= n;
  }
}

/* ---- transmit ---------------------------------------------------------------------- */

static int32_t netvsc_section_alloc(struct netvsc *nv) {
  uint32_t words = (nv->nv_tx_sec_count + 63u) / 64u;
  for (uint32_t w = 0; w < words; w++) {
    uint64_t v = nv->nv_tx_free[w];
    if (!v)
      continue;
    uint32_t bit = (uint32_t)__builtin_ctzll(v);
    uint32_t idx = w * 64u + bit;
    if (idx >= nv->nv_tx_sec_count)
      return -1;
    nv->nv_tx_free[w] &= ~(1ull << bit);
    return (int32_t)idx;
  }
  return -1;
}

static void netvsc_section_free(struct netvsc *nv, uint32_t idx) {
  if (idx < nv->nv_tx_sec_count)
    nv->nv_tx_free[idx / 64u] |= 1ull << (idx % 64u);
}

/* Give back what a send slot holds: its section or bounce buffer. */
static void netvsc_tx_slot_release(struct netvsc *nv, struct netvsc_tx_slot *ts) {
  if (ts->ts_section != NVSP_INVALID_SECTION_INDEX)
    netvsc_section_free(nv, ts->ts_section);
  if (ts->ts_direct >= 0)
    nv->nv_direct_busy[ts->ts_direct] = false;
  ts->ts_section = NVSP_INVALID_SECTION_INDEX;
  ts->ts_direct = -1;
}

/** Completion of one of our sends: release its section or bounce buffer and
 * its slot. A failure status still releases everything (reference D.10). */
static VOID netvsc_tx_done(VMBPACKET pkt, NTSTATUS status, PVOID buf, UINT32 len) {
  struct netvsc_tx_slot *ts = VmbPacketGetPointer(pkt);
  if (!ts || !ts->ts_busy)
    return;
  struct netvsc *nv = ts->ts_nv;
  if (status == STATUS_CANCELLED) {
    nv->nv_st.tx_cancelled++;
  } else {
    struct nvsp_send_rndis_pkt_complete c;
    memset(&c, 0, sizeof(c));
    if (buf && len >= sizeof(c))
      memcpy(&c, buf, sizeof(c));
    if (!NT_SUCCESS(status) || c.msg_type != NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE ||
        c.status != NVSP_STAT_SUCCESS) {
      nv->nv_st.tx_host_fail++;
      if (log_ratelimit_ok(&nv->nv_rl))
        pr_warn("netvsc: send completed with NVSP type %lu status %lu\n", (unsigned long)c.msg_type,
                (unsigned long)c.status);
    }
  }
  netvsc_tx_slot_release(nv, ts);
  ts->ts_busy = false;
  nv->nv_tx_busy--;
}

/* A free send slot, or NULL (counted as tx_busy). */
static struct netvsc_tx_slot *netvsc_tx_slot_get(struct netvsc *nv) {
  for (uint32_t i = 0; nv->nv_tx_busy < NETVSC_TX_SLOTS && i < NETVSC_TX_SLOTS; i++) {
    if (!nv->nv_tx[i].ts_busy) {
      nv->nv_tx[i].ts_section = NVSP_INVALID_SECTION_INDEX;
      nv->nv_tx[i].ts_direct = -1;
      return &nv->nv_tx[i];
    }
  }
  nv->nv_st.tx_busy++;
  return NULL;
}

/* Option A: a send-buffer section, when the host's size holds the whole
 * message (total bytes) and the RNDIS header (hlen) stays inside one 4 KiB
 * page (4.4; openvmm #1590: a host stopped the channel on a header crossing
 * a page). The section index, or -1. */
static int32_t netvsc_tx_section(struct netvsc *nv, uint32_t hlen, uint32_t total) {
  if (!nv->nv_tx_sec_size || total > nv->nv_tx_sec_size)
    return -1;
  int32_t sec = netvsc_section_alloc(nv);
  if (sec >= 0 && ((uint64_t)(uint32_t)sec * nv->nv_tx_sec_size % PAGE_SIZE) + hlen > PAGE_SIZE) {
    netvsc_section_free(nv, (uint32_t)sec);
    return -1;
  }
  return sec;
}

/* Option B: a free bounce buffer for GPA direct (page aligned, so the
 * header never crosses a page), or -1. */
static int32_t netvsc_tx_direct(struct netvsc *nv) {
  for (uint32_t i = 0; i < NETVSC_DIRECT_BUFS; i++)
    if (nv->nv_direct[i] && !nv->nv_direct_busy[i])
      return (int32_t)i;
  return -1;
}

int netvsc_tx_rndis(struct netvsc *nv, uint32_t channel_type, const void *hdr, uint32_t hlen,
                    const void *frame, uint32_t flen) {
  if (nv->nv_state == NV_GONE || nv->nv_closed || kmcl_channel_failed(nv->nv_ch))
    return -ENETDOWN;
  if (hlen > NETVSC_TX_HDR_ROOM || hlen > nv->nv_direct_size || flen > nv->nv_direct_size - hlen)
    return -EMSGSIZE;
  uint32_t total = hlen + flen;
  struct netvsc_tx_slot *ts = netvsc_tx_slot_get(nv);
  if (!ts)
    return -EAGAIN;
  union nvsp_msg m;
  memset(&m, 0, sizeof(m)); /* rule 5.8 */
  m.rndis.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT;
  m.rndis.channel_type = channel_type;
  m.rndis.send_buf_section_index = NVSP_INVALID_SECTION_INDEX;
  NTSTATUS st;
  int32_t sec = netvsc_tx_section(nv, hlen, total);
  if (sec >= 0) {
    uint64_t at = (uint64_t)(uint32_t)sec * nv->nv_tx_sec_size;
    netvsc_buf_copy(nv->nv_txbuf, nv->nv_tx_perm, at, (void *)(uintptr_t)hdr, hlen, true);
    if (flen)
      netvsc_buf_copy(nv->nv_txbuf, nv->nv_tx_perm, at + hlen, (void *)(uintptr_t)frame, flen,
                      true);
    m.rndis.send_buf_section_index = (uint32_t)sec;
    m.rndis.send_buf_section_size = total;
    ts->ts_section = (uint32_t)sec;
    st = VmbPacketSend(ts->ts_pkt, &m, sizeof(m), NULL,
                       VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  } else {
    int32_t b = netvsc_tx_direct(nv);
    if (b < 0) {
      nv->nv_st.tx_busy++;
      return -EAGAIN;
    }
    uint8_t *dst = nv->nv_direct[b];
    memcpy(dst, hdr, hlen);
    if (flen)
      memcpy(dst + hlen, frame, flen);
    nv->nv_direct_busy[b] = true;
    ts->ts_direct = b;
    st = VmbPacketSendWithExternalMdl(ts->ts_pkt, &m, sizeof(m), nv->nv_direct_mdl[b], 0, total,
                                      VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  }
  if (!NT_SUCCESS(st)) {
    netvsc_tx_slot_release(nv, ts);
    if (log_ratelimit_ok(&nv->nv_rl))
      pr_warn("netvsc: send refused by KMCL: status 0x%lx\n", (unsigned long)st);
    nv->nv_st.tx_busy++;
    return st == STATUS_DEVICE_REMOVED ? -ENETDOWN : -EAGAIN;
  }
  ts->ts_busy = true;
  ts->ts_bytes = flen;
  nv->nv_tx_busy++;
  if (sec >= 0)
    nv->nv_st.tx_section++;
  else
    nv->nv_st.tx_direct++;
  return 0;
}

int netvsc_send(struct netvsc *nv, const void *frame, uint32_t len,
                const struct netvsc_tx_info *ti) {
  if (!nv)
    return -ENETDOWN;
  if (nv->nv_state == NV_UP && kmcl_channel_failed(nv->nv_ch))
    netvsc_gone(nv, "the host broke the VMBus protocol");
  if (nv->nv_state != NV_UP || !nv->nv_link) {
    nv->nv_st.tx_drop_down++;
    return -ENETDOWN;
  }
  /* An Ethernet header at least; at most the MTU plus header and tag. */
  if (len < ETH_HLEN || len > nv->nv_mtu + ETH_VLAN_HLEN) {
    nv->nv_st.tx_drop_size++;
    return -EMSGSIZE;
  }
  uint8_t hdr[NETVSC_TX_HDR_ROOM];
  uint32_t hlen = rndis_build_packet(nv, hdr, len, ti);
  int rc = netvsc_tx_rndis(nv, NVSP_RNDIS_CHANNEL_DATA, hdr, hlen, frame, len);
  if (rc == -EMSGSIZE)
    nv->nv_st.tx_drop_size++;
  else if (rc == -ENETDOWN)
    nv->nv_st.tx_drop_down++;
  if (rc)
    return rc;
  nv->nv_st.tx_frames++;
  nv->nv_st.tx_bytes += len;
  return 0;
}

/* ---- receive ----------------------------------------------------------------------- */

/**
 * Where one transfer-page range (an MDL of the packet's external data) lies
 * in our receive buffer. KMCL already bounded the range by the GPADL; this
 * checks it again against our own view (the PFNs must be the buffer's own,
 * in order) and against the sub-allocation size the host announced
 * (reference D.6). @ret true and *off.
 */
static bool netvsc_range(const struct netvsc *nv, const MDL *m, uint32_t *off) {
  uint32_t count = m->ByteCount;
  if (count == 0 || count > nv->nv_rx_sub_size || m->ByteOffset >= PAGE_SIZE)
    return false;
  /* Each PFN names a page of the buffer; their places in the GPADL (the
   * buffer's pages, or their nc_scatter_bufs order) must follow on. */
  uint64_t base = nv->nv_rxbuf_pa / PAGE_SIZE, pages = nv->nv_rxbuf_size / PAGE_SIZE;
  uint32_t np = kmcl_mdl_page_count(m);
  uint64_t first = 0;
  for (uint32_t i = 0; i < np; i++) {
    uint64_t pfn = m->PfnArray[i];
    if (pfn < base || pfn - base >= pages)
      return false;
    uint64_t at = nv->nv_rx_inv ? nv->nv_rx_inv[pfn - base] : pfn - base;
    if (i == 0)
      first = at;
    else if (at != first + i)
      return false;
  }
  uint64_t o = first * PAGE_SIZE + m->ByteOffset;
  if (o > nv->nv_rxbuf_size || count > nv->nv_rxbuf_size - o)
    return false;
  *off = (uint32_t)o;
  return true;
}

/** A transfer-page packet: NVSP SEND_RNDIS_PKT, one RNDIS message per
 * range. @ret the NVSP status for the completion. */
static uint32_t netvsc_rx_xfer(struct netvsc *nv, VMBPACKETCOMPLETION pkt, const void *buf,
                               uint32_t len) {
  nv->nv_st.rx_packets++;
  struct nvsp_send_rndis_pkt m;
  if (len < sizeof(m)) {
    nv->nv_st.rx_drop_nvsp++;
    return NVSP_STAT_FAIL;
  }
  memcpy(&m, buf, sizeof(m));
  if (m.msg_type != NVSP_MSG1_TYPE_SEND_RNDIS_PKT) {
    nv->nv_st.rx_drop_nvsp++;
    return NVSP_STAT_FAIL;
  }
  PMDL mdl = NULL;
  NTSTATUS st = VmbChannelPacketGetExternalData(pkt, 0, &mdl);
  if (!NT_SUCCESS(st) || !mdl) {
    /* Unknown page set (NOT_FOUND), or a range KMCL found outside the
     * page set: then the channel has failed (sticky) and nothing more can
     * be sent; the caller notices. */
    if (kmcl_channel_failed(nv->nv_ch))
      nv->nv_st.rx_drop_range++;
    else
      nv->nv_st.rx_drop_nvsp++;
    return NVSP_STAT_FAIL;
  }
  uint32_t status = NVSP_STAT_SUCCESS, n = 0;
  for (const MDL *r = mdl; r; r = r->Next, n++) {
    if (n >= NVSP_MAX_RANGES) {
      nv->nv_st.rx_drop_range++;
      status = NVSP_STAT_FAIL;
      break;
    }
    uint32_t off;
    if (!netvsc_range(nv, r, &off)) {
      nv->nv_st.rx_drop_range++;
      status = NVSP_STAT_FAIL;
      continue;
    }
    /* Copy out of shared memory before parsing (STYLE.md rule 5.2). */
    netvsc_buf_copy(nv->nv_rxbuf, nv->nv_rx_perm, off, nv->nv_rx_copy, r->ByteCount, false);
    if (rndis_rx_msg(nv, nv->nv_rx_copy, r->ByteCount) != 0)
      status = NVSP_STAT_FAIL;
  }
  return status;
}

/** ProcessPacket: every packet is completed, transfer pages with NVSP 108
 * and a status (FAIL for any bad range or message). */
static VOID netvsc_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                           UINT32 flags) {
  struct netvsc *nv = netvsc_of(ch);
  if (!(flags & VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA)) {
    /* In-band from the host: VF association (128), send indirection table
     * (134) and the like. Nothing here uses them; a bad one costs nothing. */
    uint32_t type = 0;
    if (len >= 4)
      memcpy(&type, buf, 4);
    if (type == NVSP_MSG1_TYPE_SEND_RNDIS_PKT) {
      /* A receive without transfer pages: malformed; NACK it. */
      nv->nv_st.rx_drop_nvsp++;
      nv->nv_st.rx_nack++;
      struct nvsp_send_rndis_pkt_complete c = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE,
                                               NVSP_STAT_FAIL};
      VmbChannelPacketComplete(pkt, &c, sizeof(c));
      return;
    }
    VmbChannelPacketComplete(pkt, NULL, 0);
    return;
  }
  uint32_t status = netvsc_rx_xfer(nv, pkt, buf, len);
  if (status != NVSP_STAT_SUCCESS) {
    nv->nv_st.rx_nack++;
    if (log_ratelimit_ok(&nv->nv_rl))
      pr_warn("netvsc: bad receive packet from the host; completed with FAIL\n");
  }
  struct nvsp_send_rndis_pkt_complete c;
  memset(&c, 0, sizeof(c));
  c.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE;
  c.status = status;
  VmbChannelPacketComplete(pkt, &c, sizeof(c));
  if (kmcl_channel_failed(ch))
    netvsc_gone(nv, "the host broke the VMBus protocol");
}

static VOID netvsc_processing_complete(VMBCHANNEL ch, UINT32 n) {
  (void)n;
  struct netvsc *nv = netvsc_of(ch);
  if (kmcl_channel_failed(ch))
    netvsc_gone(nv, "the host broke the VMBus protocol");
}

/* ---- link -------------------------------------------------------------------------- */

void netvsc_set_link(struct netvsc *nv, bool up, const char *why) {
  if (nv->nv_link == up) {
    /* A repeated media connect: net/ announces itself again (gratuitous
     * ARP), as Linux netvsc does. */
    if (up && nv->nv_state == NV_UP && nv->nv_linkcb)
      nv->nv_linkcb(nv->nv_cb_arg, true);
    return;
  }
  nv->nv_link = up;
  nv->nv_st.link_changes++;
  pr_info("netvsc: link %s (%s)\n", up ? "up" : "down", why);
  if (nv->nv_state == NV_UP && nv->nv_linkcb)
    nv->nv_linkcb(nv->nv_cb_arg, up);
}

/* ---- NVSP initialization ---------------------------------------------------------- */

/* The teaching trace (vmbus.trace=1): one line per NVSP control message. */
static const char *nvsp_type_name(uint32_t t) {
  switch (t) {
  case NVSP_MSG_TYPE_INIT:
    return "INIT";
  case NVSP_MSG_TYPE_INIT_COMPLETE:
    return "INIT_COMPLETE";
  case NVSP_MSG1_TYPE_SEND_NDIS_VER:
    return "SEND_NDIS_VERSION";
  case NVSP_MSG1_TYPE_SEND_RECV_BUF:
    return "SEND_RECEIVE_BUFFER";
  case NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE:
    return "SEND_RECEIVE_BUFFER_COMPLETE";
  case NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
    return "REVOKE_RECEIVE_BUFFER";
  case NVSP_MSG1_TYPE_SEND_SEND_BUF:
    return "SEND_SEND_BUFFER";
  case NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE:
    return "SEND_SEND_BUFFER_COMPLETE";
  case NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
    return "REVOKE_SEND_BUFFER";
  case NVSP_MSG1_TYPE_SEND_RNDIS_PKT:
    return "SEND_RNDIS_PACKET";
  case NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE:
    return "SEND_RNDIS_PACKET_COMPLETE";
  case NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
    return "SEND_NDIS_CONFIG";
  default:
    return "NVSP";
  }
}

void nvsp_trace(const struct netvsc *nv, bool to_host, const void *msg, uint32_t len) {
  if (!nv->nv_cfg.nc_trace || len < 4)
    return;
  uint32_t w[3] = {0, 0, 0};
  memcpy(w, msg, len < sizeof(w) ? len : sizeof(w));
  printf("nvsp: %s %s (type %u) %#x %#x\n", to_host ? "->" : "<-", nvsp_type_name(w[0]), w[0], w[1],
         w[2]);
}

/** One NVSP request with a completion; *resp gets the host's answer.
 * @ret 0, -ETIMEDOUT, -ENODEV (channel gone), -EIO. */
static int nvsp_request(struct netvsc *nv, union nvsp_msg *req, union nvsp_msg *resp,
                        uint32_t *resp_len) {
  LARGE_INTEGER to;
  to.QuadPart = -(int64_t)NETVSC_REQ_WAIT_MS * 10000;
  UINT32 n = sizeof(*resp);
  memset(resp, 0, sizeof(*resp));
  nvsp_trace(nv, true, req, sizeof(*req));
  NTSTATUS st = VmbChannelSendSynchronousRequest(nv->nv_ch, req, sizeof(*req), NULL,
                                                 VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION,
                                                 resp, &n, &to);
  *resp_len = n;
  if (NT_SUCCESS(st))
    nvsp_trace(nv, false, resp, n);
  if (st == STATUS_BUFFER_OVERFLOW) /* longer than any response we parse: truncated */
    return 0;
  if (st == STATUS_CANCELLED)
    return -ETIMEDOUT;
  if (st == STATUS_DEVICE_REMOVED)
    return -ENODEV;
  return NT_SUCCESS(st) ? 0 : -EIO;
}

/** nvsp_request, then the check every caller needs: the completion is of
 * type `type` and holds at least `min` bytes (else -EPROTO, logged with
 * `what`). @ret 0, -EPROTO (the host got the request but its answer is
 * malformed), or nvsp_request's errors. */
static int nvsp_call(struct netvsc *nv, union nvsp_msg *req, union nvsp_msg *resp, uint32_t type,
                     uint32_t min, const char *what) {
  uint32_t n;
  int rc = nvsp_request(nv, req, resp, &n);
  if (rc)
    return rc;
  if (n < min || resp->hdr.msg_type != type) {
    pr_err("netvsc: malformed %s completion (%lu bytes)\n", what, (unsigned long)n);
    return -EPROTO;
  }
  return 0;
}

/** An NVSP message without a completion (NDIS version, config, revoke). */
static int nvsp_note(struct netvsc *nv, union nvsp_msg *m) {
  LARGE_INTEGER to;
  to.QuadPart = -(int64_t)NETVSC_REQ_WAIT_MS * 10000;
  nvsp_trace(nv, true, m, sizeof(*m));
  NTSTATUS st =
      VmbChannelSendSynchronousRequest(nv->nv_ch, m, sizeof(*m), NULL, 0, NULL, NULL, &to);
  return NT_SUCCESS(st) ? 0 : -EIO;
}

static int nvsp_negotiate(struct netvsc *nv) {
  uint32_t max = nv->nv_cfg.nc_max_nvsp ? nv->nv_cfg.nc_max_nvsp : NVSP_PROTOCOL_VERSION_61;
  for (size_t i = 0; i < sizeof(netvsc_versions) / sizeof(netvsc_versions[0]); i++) {
    uint32_t v = netvsc_versions[i];
    if (v > max)
      continue;
    union nvsp_msg req, resp;
    memset(&req, 0, sizeof(req));
    req.init.msg_type = NVSP_MSG_TYPE_INIT;
    req.init.min_protocol_ver = v;
    req.init.max_protocol_ver = v;
    /* As strict as Linux's netvsc: Hyper-V sends NVSP messages at their
     * full size, and Linux rejects an INIT completion shorter than the
     * version-1 message (28 bytes; issue 17 found our host sent 16). */
    int rc = nvsp_call(nv, &req, &resp, NVSP_MSG_TYPE_INIT_COMPLETE, NVSP_MSG_SIZE_V1, "NVSP INIT");
    if (rc)
      return rc;
    if (resp.init_complete.status == NVSP_STAT_SUCCESS) {
      nv->nv_nvsp_ver = v;
      return 0;
    }
  }
  pr_err("netvsc: the host accepted no NVSP version\n");
  return -EPROTO;
}

static int nvsp_ndis_setup(struct netvsc *nv) {
  union nvsp_msg m;
  if (nv->nv_nvsp_ver >= NVSP_PROTOCOL_VERSION_2) {
    memset(&m, 0, sizeof(m));
    m.ndis_config.msg_type = NVSP_MSG2_TYPE_SEND_NDIS_CONFIG;
    m.ndis_config.mtu = nv->nv_cfg.nc_mtu + ETH_HLEN;
    uint64_t cap = NVSP_NDIS_CAP_IEEE8021Q;
    if (nv->nv_nvsp_ver >= NVSP_PROTOCOL_VERSION_5)
      cap |= NVSP_NDIS_CAP_TEAMING; /* link speed updates */
    m.ndis_config.capability_lo = (uint32_t)cap;
    m.ndis_config.capability_hi = (uint32_t)(cap >> 32);
    if (nvsp_note(nv, &m))
      return -EIO;
  }
  uint32_t ndis =
      nv->nv_nvsp_ver <= NVSP_PROTOCOL_VERSION_4 ? NVSP_NDIS_VERSION_6_1 : NVSP_NDIS_VERSION_6_30;
  memset(&m, 0, sizeof(m));
  m.ndis_ver.msg_type = NVSP_MSG1_TYPE_SEND_NDIS_VER;
  m.ndis_ver.ndis_major = ndis >> 16;
  m.ndis_ver.ndis_minor = ndis & 0xffffu;
  return nvsp_note(nv, &m) ? -EIO : 0;
}

/** nc_scatter_bufs: a GPADL of the `size` bytes at `buf` whose page i is
 * page (i * k) mod n of the buffer (n pages, k odd and prime to n, k > 1:
 * no two neighbours adjacent), that order into *perm (malloc'ed, kept by
 * nv). Linux's netvsc shares vmalloc'ed buffers, scattered like this. */
static NTSTATUS netvsc_scatter_gpadl(struct netvsc *nv, uint8_t *buf, uint32_t size, UINT32 *gh,
                                     uint32_t **perm) {
  uint32_t n = size / PAGE_SIZE, k = 3;
  while (k < n) {
    uint32_t a = k, b = n;
    while (b) {
      uint32_t t = a % b;
      a = b;
      b = t;
    }
    if (a == 1)
      break;
    k += 2;
  }
  PMDL mdl = kmcl_mdl_alloc(buf, size);
  *perm = malloc(sizeof(uint32_t) * (n ? n : 1));
  NTSTATUS st = STATUS_INSUFFICIENT_RESOURCES;
  if (mdl && *perm) {
    uint64_t pfn0 = mdl->PfnArray[0];
    for (uint32_t i = 0; i < n; i++) {
      (*perm)[i] = k < n ? (uint32_t)(((uint64_t)i * k) % n) : n - 1u - i;
      mdl->PfnArray[i] = pfn0 + (*perm)[i];
    }
    st = VmbChannelCreateGpadlFromMdl(nv->nv_ch, 0, mdl, 0, size, gh);
  }
  if (mdl)
    kmcl_mdl_free(mdl);
  return st;
}

/** A buffer the host shares: `size` bytes of pages into *buf (kept by nv,
 * freed at release even on failure) and their GPADL into *gh. 0, -ENOMEM,
 * or -EIO (logged, naming `what`). */
static int netvsc_buf_share(struct netvsc *nv, uint32_t size, const char *what, uint8_t **buf,
                            UINT32 *gh, uint32_t **perm) {
  *buf = page_alloc(size / PAGE_SIZE);
  if (!*buf)
    return -ENOMEM;
  *gh = 0;
  NTSTATUS st;
  if (nv->nv_cfg.nc_scatter_bufs)
    st = netvsc_scatter_gpadl(nv, *buf, size, gh, perm);
  else
    st = VmbChannelCreateGpadlFromBuffer(nv->nv_ch, 0, *buf, size, gh);
  if (!NT_SUCCESS(st)) {
    pr_err("netvsc: %s buffer GPADL failed: status 0x%lx\n", what, (unsigned long)st);
    return -EIO;
  }
  return 0;
}

/** Receive buffer: GPADL, page set binding, SEND_RECV_BUF, section table
 * validated (4.3 step 5; reference D.4). */
static int nvsp_recv_buf(struct netvsc *nv) {
  uint32_t size = nv->nv_cfg.nc_recv_buf_size;
  UINT32 gh;
  int rc = netvsc_buf_share(nv, size, "receive", &nv->nv_rxbuf, &gh, &nv->nv_rx_perm);
  if (nv->nv_rxbuf) {
    nv->nv_rxbuf_size = size;
    nv->nv_rxbuf_pa = hw_virt_to_phys(nv->nv_rxbuf);
  }
  if (!rc && nv->nv_rx_perm) {
    nv->nv_rx_inv = malloc(sizeof(uint32_t) * (size / PAGE_SIZE));
    if (!nv->nv_rx_inv)
      return -ENOMEM;
    for (uint32_t i = 0; i < size / PAGE_SIZE; i++)
      nv->nv_rx_inv[nv->nv_rx_perm[i]] = i;
  }
  if (rc)
    return rc;
  nv->nv_rx_gpadl = gh;
  if (!NT_SUCCESS(kmcl_channel_bind_xfer_pageset(nv->nv_ch, NVSP_RECV_BUF_ID, gh)))
    return -EIO;
  union nvsp_msg req, resp;
  memset(&req, 0, sizeof(req));
  req.send_buf.msg_type = NVSP_MSG1_TYPE_SEND_RECV_BUF;
  req.send_buf.gpadl_handle = gh;
  req.send_buf.id = NVSP_RECV_BUF_ID;
  const struct nvsp_send_recv_buf_complete *c = &resp.recv_buf_complete;
  rc = nvsp_call(nv, &req, &resp, NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE, sizeof(*c),
                 "SEND_RECV_BUF");
  if (rc == 0 || rc == -EPROTO)
    nv->nv_rx_revoke = true; /* whatever it said, revoke at halt */
  if (rc)
    return rc;
  if (c->status != NVSP_STAT_SUCCESS) {
    pr_err("netvsc: the host refused the receive buffer (status %lu)\n", (unsigned long)c->status);
    return -EPROTO;
  }
  const struct nvsp_recv_section *s = &c->section[0];
  if (c->num_sections != 1 || s->offset != 0 || s->sub_alloc_size < NVSP_SECTION_MIN ||
      s->num_sub_allocs == 0 || (uint64_t)s->sub_alloc_size * s->num_sub_allocs > (uint64_t)size) {
    pr_err("netvsc: bad receive section table (count %lu offset %lu size %lu x %lu)\n",
           (unsigned long)c->num_sections, (unsigned long)s->offset,
           (unsigned long)s->sub_alloc_size, (unsigned long)s->num_sub_allocs);
    return -EPROTO;
  }
  nv->nv_rx_sub_size = s->sub_alloc_size;
  nv->nv_rx_sub_count = s->num_sub_allocs;
  nv->nv_rx_copy = malloc(s->sub_alloc_size);
  return nv->nv_rx_copy ? 0 : -ENOMEM;
}

/** Send buffer: GPADL, SEND_SEND_BUF, section size validated (4.3 step 6;
 * reference D.5). An unusable size is not fatal: GPA direct only. */
static int nvsp_send_buf(struct netvsc *nv) {
  if (nv->nv_cfg.nc_no_send_buf)
    return 0;
  uint32_t size = nv->nv_cfg.nc_send_buf_size;
  UINT32 gh;
  int rc = netvsc_buf_share(nv, size, "send", &nv->nv_txbuf, &gh, &nv->nv_tx_perm);
  if (nv->nv_txbuf)
    nv->nv_txbuf_size = size;
  if (rc)
    return rc;
  nv->nv_tx_gpadl = gh;
  union nvsp_msg req, resp;
  memset(&req, 0, sizeof(req));
  req.send_buf.msg_type = NVSP_MSG1_TYPE_SEND_SEND_BUF;
  req.send_buf.gpadl_handle = gh;
  req.send_buf.id = 0;
  const struct nvsp_send_send_buf_complete *c = &resp.send_buf_complete;
  rc = nvsp_call(nv, &req, &resp, NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE, sizeof(*c),
                 "SEND_SEND_BUF");
  if (rc == 0 || rc == -EPROTO)
    nv->nv_tx_revoke = true;
  if (rc)
    return rc;
  if (c->status != NVSP_STAT_SUCCESS || c->section_size < NVSP_SECTION_MIN ||
      c->section_size > size) {
    pr_warn("netvsc: send buffer unusable (status %lu, section size %lu): GPA direct only\n",
            (unsigned long)c->status, (unsigned long)c->section_size);
    return 0;
  }
  nv->nv_tx_sec_size = c->section_size;
  nv->nv_tx_sec_count = size / c->section_size;
  uint32_t words = (nv->nv_tx_sec_count + 63u) / 64u;
  nv->nv_tx_free = calloc(words, sizeof(uint64_t));
  if (!nv->nv_tx_free)
    return -ENOMEM;
  for (uint32_t i = 0; i < nv->nv_tx_sec_count; i++)
    netvsc_section_free(nv, i);
  return 0;
}

/** Bounce buffers for GPA-direct sends and the packet object of every slot. */
static int netvsc_tx_setup(struct netvsc *nv) {
  uint32_t pages = NETVSC_DIRECT_BYTES / PAGE_SIZE;
  nv->nv_direct_size = NETVSC_DIRECT_BYTES;
  for (uint32_t i = 0; i < NETVSC_DIRECT_BUFS; i++) {
    nv->nv_direct[i] = page_alloc(pages);
    if (!nv->nv_direct[i])
      return -ENOMEM;
    nv->nv_direct_mdl[i] = kmcl_mdl_alloc(nv->nv_direct[i], nv->nv_direct_size);
    if (!nv->nv_direct_mdl[i])
      return -ENOMEM;
  }
  for (uint32_t i = 0; i < NETVSC_TX_SLOTS; i++) {
    struct netvsc_tx_slot *ts = &nv->nv_tx[i];
    ts->ts_nv = nv;
    ts->ts_section = NVSP_INVALID_SECTION_INDEX;
    ts->ts_direct = -1;
    ts->ts_pkt = VmbPacketAllocate(nv->nv_ch);
    if (!ts->ts_pkt)
      return -ENOMEM;
    VmbPacketSetPointer(ts->ts_pkt, ts);
    VmbPacketSetCompletionRoutine(ts->ts_pkt, netvsc_tx_done);
  }
  return 0;
}

/* ---- probe, halt, release ---------------------------------------------------------- */

static bool netvsc_open_done(void *arg) {
  struct netvsc *nv = arg;
  return nv->nv_started || nv->nv_pnp_failed || nv->nv_closed;
}

static int netvsc_channel_setup(struct netvsc *nv, PDEVICE_OBJECT bus_dev) {
  NTSTATUS st = VmbChannelAllocate(bus_dev, FALSE, &nv->nv_ch);
  if (!NT_SUCCESS(st)) {
    nv->nv_ch = NULL;
    return -ENOMEM;
  }
  VmbChannelSetPointer(nv->nv_ch, nv);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = netvsc_opened;
  cb.EvtChannelClosed = netvsc_closed;
  cb.EvtChannelPostStarted = netvsc_post_started;
  st = VmbChannelInitSetStateChangeCallbacks(nv->nv_ch, &cb);
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetProcessPacketCallbacks(nv->nv_ch, netvsc_process,
                                                 netvsc_processing_complete);
  if (NT_SUCCESS(st))
    st = VmbClientChannelInitSetTargetPnp(nv->nv_ch, &netvsc_guid, NULL, netvsc_pnp_failure);
  if (NT_SUCCESS(st))
    st = VmbClientChannelInitSetRingBufferPageCount(nv->nv_ch, nv->nv_cfg.nc_ring_pages,
                                                    nv->nv_cfg.nc_ring_pages);
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetMaximumPacketSize(nv->nv_ch, NVSP_MSG_SIZE);
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetMaximumExternalData(nv->nv_ch, NETVSC_DIRECT_BYTES, 1);
  /* What the host sends is larger than what we send: transfer-page headers
   * of up to NVSP's 562 RSC ranges, the send indirection table. */
  if (NT_SUCCESS(st))
    st = kmcl_channel_init_set_max_incoming(nv->nv_ch, NETVSC_MAX_INCOMING);
  if (NT_SUCCESS(st))
    st = VmbChannelEnable(nv->nv_ch);
  if (!NT_SUCCESS(st)) {
    pr_err("netvsc: channel set-up failed: status 0x%lx\n", (unsigned long)st);
    return -EIO;
  }
  uint32_t wait = nv->nv_cfg.nc_open_wait_ms ? nv->nv_cfg.nc_open_wait_ms : NETVSC_OPEN_WAIT_MS;
  if (ev_wait(netvsc_open_done, nv, wait) || !nv->nv_started) {
    pr_err("netvsc: no network adapter opened within %lu ms\n", (unsigned long)wait);
    return -ENODEV;
  }
  return 0;
}

/** The configuration's zeros become the defaults; sizes are rounded up to
 * whole pages and the MTU capped at NETVSC_MTU_MAX. */
static void netvsc_config_defaults(struct netvsc_config *c) {
  if (!c->nc_recv_buf_size)
    c->nc_recv_buf_size = NETVSC_RECV_BUF_DEFAULT;
  if (!c->nc_send_buf_size)
    c->nc_send_buf_size = NETVSC_SEND_BUF_DEFAULT;
  c->nc_recv_buf_size = (c->nc_recv_buf_size + PAGE_SIZE - 1u) & ~(PAGE_SIZE - 1u);
  c->nc_send_buf_size = (c->nc_send_buf_size + PAGE_SIZE - 1u) & ~(PAGE_SIZE - 1u);
  if (!c->nc_mtu)
    c->nc_mtu = NETVSC_MTU_DEFAULT;
  if (c->nc_ring_pages < 2)
    c->nc_ring_pages = NETVSC_RING_PAGES;
  if (c->nc_mtu > NETVSC_MTU_MAX)
    c->nc_mtu = NETVSC_MTU_MAX;
}

/** The bring-up once the channel is open, in order (PROTOCOL-REFERENCE.md
 * 4.3): NVSP version, NDIS config, receive and send buffers, the transmit
 * slots, RNDIS. Each returns 0 or a negative errno; the first error stops it. */
static int (*const netvsc_bringup[])(struct netvsc *nv) = {
    nvsp_negotiate, nvsp_ndis_setup, nvsp_recv_buf, nvsp_send_buf, netvsc_tx_setup, rndis_dev_init,
};

int netvsc_probe(PDEVICE_OBJECT bus_dev, const struct netvsc_config *cfg, struct netvsc **out) {
  *out = NULL;
  struct netvsc *nv = calloc(1, sizeof(*nv));
  if (!nv)
    return -ENOMEM;
  if (cfg)
    nv->nv_cfg = *cfg;
  netvsc_config_defaults(&nv->nv_cfg);
  nv->nv_state = NV_PROBING;
  nv->nv_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
  ev_item_init(&nv->nv_gone_work, netvsc_gone_work, nv);
  for (uint32_t i = 0; i < NETVSC_TX_SLOTS; i++)
    nv->nv_tx[i].ts_nv = nv;

  int rc = netvsc_channel_setup(nv, bus_dev);
  for (size_t i = 0; !rc && i < sizeof(netvsc_bringup) / sizeof(netvsc_bringup[0]); i++)
    rc = netvsc_bringup[i](nv);
  if (!rc && (nv->nv_closed || kmcl_channel_failed(nv->nv_ch)))
    rc = -ENODEV;
  if (rc) {
    pr_err("netvsc: NIC bring-up failed (%d)\n", rc);
    nv->nv_state = NV_HALTING;
    ev_cancel(&nv->nv_gone_work);
    netvsc_release(nv);
    free(nv);
    return rc;
  }
  nv->nv_state = NV_UP;
  pr_info("netvsc: NVSP %lu.%lu, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %lu, "
          "send sections %lu x %lu, receive %lu x %lu, link %s\n",
          (unsigned long)(nv->nv_nvsp_ver >> 16), (unsigned long)(nv->nv_nvsp_ver & 0xffffu),
          nv->nv_mac[0], nv->nv_mac[1], nv->nv_mac[2], nv->nv_mac[3], nv->nv_mac[4], nv->nv_mac[5],
          (unsigned long)nv->nv_mtu, (unsigned long)nv->nv_tx_sec_count,
          (unsigned long)nv->nv_tx_sec_size, (unsigned long)nv->nv_rx_sub_count,
          (unsigned long)nv->nv_rx_sub_size, nv->nv_link ? "up" : "down");
  *out = nv;
  return 0;
}

static bool netvsc_tx_drained(void *arg) {
  const struct netvsc *nv = arg;
  return nv->nv_tx_busy == 0 || nv->nv_closed || kmcl_channel_failed(nv->nv_ch);
}

/** Close the channel and give back every resource. Idempotent. Passive. */
static void netvsc_release(struct netvsc *nv) {
  if (nv->nv_cleaned)
    return;
  nv->nv_cleaned = true;
  if (nv->nv_ch) {
    /* Closing first: the server's mappings go with the close, so the
     * GPADL teardowns below do not wait on a host that ignores revokes. */
    VmbChannelDisable(nv->nv_ch);
    if (nv->nv_rx_gpadl)
      VmbChannelDeleteGpadl(nv->nv_ch, nv->nv_rx_gpadl);
    if (nv->nv_tx_gpadl)
      VmbChannelDeleteGpadl(nv->nv_ch, nv->nv_tx_gpadl);
    for (uint32_t i = 0; i < NETVSC_TX_SLOTS; i++) {
      if (nv->nv_tx[i].ts_pkt)
        VmbPacketFree(nv->nv_tx[i].ts_pkt);
      nv->nv_tx[i].ts_pkt = NULL;
    }
    VmbChannelCleanup(nv->nv_ch);
    nv->nv_ch = NULL;
  }
  if (nv->nv_rxbuf)
    page_free(nv->nv_rxbuf, nv->nv_rxbuf_size / PAGE_SIZE);
  if (nv->nv_txbuf)
    page_free(nv->nv_txbuf, nv->nv_txbuf_size / PAGE_SIZE);
  nv->nv_rxbuf = nv->nv_txbuf = NULL;
  free(nv->nv_rx_perm);
  free(nv->nv_rx_inv);
  free(nv->nv_tx_perm);
  nv->nv_rx_perm = nv->nv_rx_inv = nv->nv_tx_perm = NULL;
  for (uint32_t i = 0; i < NETVSC_DIRECT_BUFS; i++) {
    if (nv->nv_direct_mdl[i])
      kmcl_mdl_free(nv->nv_direct_mdl[i]);
    if (nv->nv_direct[i])
      page_free(nv->nv_direct[i], nv->nv_direct_size / PAGE_SIZE);
    nv->nv_direct_mdl[i] = NULL;
    nv->nv_direct[i] = NULL;
  }
  free(nv->nv_tx_free);
  nv->nv_tx_free = NULL;
  free(nv->nv_rx_copy);
  nv->nv_rx_copy = NULL;
  nv->nv_tx_sec_count = 0;
  nv->nv_tx_sec_size = 0;
}

void netvsc_halt(struct netvsc *nv) {
  if (!nv)
    return;
  ev_cancel(&nv->nv_gone_work);
  if (nv->nv_state != NV_GONE && !nv->nv_cleaned) {
    bool was_up = nv->nv_state == NV_UP;
    nv->nv_state = NV_HALTING;
    if (was_up && nv->nv_link && nv->nv_linkcb)
      nv->nv_linkcb(nv->nv_cb_arg, false);
    if (!nv->nv_closed && !kmcl_channel_failed(nv->nv_ch)) {
      rndis_dev_halt(nv);
      ev_wait(netvsc_tx_drained, nv, NETVSC_DRAIN_WAIT_MS);
      union nvsp_msg m;
      if (nv->nv_rx_revoke) {
        memset(&m, 0, sizeof(m));
        m.revoke.msg_type = NVSP_MSG1_TYPE_REVOKE_RECV_BUF;
        m.revoke.id = NVSP_RECV_BUF_ID;
        nvsp_note(nv, &m);
      }
      if (nv->nv_tx_revoke) {
        memset(&m, 0, sizeof(m));
        m.revoke.msg_type = NVSP_MSG1_TYPE_REVOKE_SEND_BUF;
        m.revoke.id = 0;
        nvsp_note(nv, &m);
      }
    }
    pr_info("netvsc: halted (tx %lu frames, rx %lu frames)\n", (unsigned long)nv->nv_st.tx_frames,
            (unsigned long)nv->nv_st.rx_frames);
  }
  netvsc_release(nv);
  free(nv);
}

/* ---- accessors --------------------------------------------------------------------- */

void netvsc_set_receiver(struct netvsc *nv, netvsc_rx_fn *rx, netvsc_link_fn *link, void *arg) {
  nv->nv_rx = rx;
  nv->nv_linkcb = link;
  nv->nv_cb_arg = arg;
}

/* A channel that failed (KMCL found the host breaking the protocol, e.g. a
 * completion for an unknown transaction) counts as gone at once, even
 * before the next receive or send notices it and releases the resources. */
bool netvsc_link_up(const struct netvsc *nv) {
  return nv && nv->nv_state == NV_UP && nv->nv_link && !kmcl_channel_failed(nv->nv_ch);
}
bool netvsc_alive(const struct netvsc *nv) {
  return nv && nv->nv_state != NV_GONE && !nv->nv_cleaned && !kmcl_channel_failed(nv->nv_ch);
}
void netvsc_mac(const struct netvsc *nv, uint8_t mac[6]) { memcpy(mac, nv->nv_mac, 6); }
uint32_t netvsc_mtu(const struct netvsc *nv) { return nv->nv_mtu; }
uint32_t netvsc_nvsp_version(const struct netvsc *nv) { return nv->nv_nvsp_ver; }
uint32_t netvsc_offloads(const struct netvsc *nv) { return nv->nv_offloads; }
uint32_t netvsc_send_section_size(const struct netvsc *nv) { return nv->nv_tx_sec_size; }
uint32_t netvsc_tx_outstanding(const struct netvsc *nv) { return nv->nv_tx_busy; }
const struct netvsc_stats *netvsc_stats(const struct netvsc *nv) { return &nv->nv_st; }
VMBCHANNEL netvsc_channel(const struct netvsc *nv) { return nv->nv_ch; }

void netvsc_dump(const struct netvsc *nv) {
  const struct netvsc_stats *s = &nv->nv_st;
  pr_info("netvsc: state %d link %d nvsp %lx tx %lu/%lu B (sec %lu direct %lu busy %lu "
          "fail %lu) rx %lu/%lu B (range %lu nvsp %lu rndis %lu ppi %lu csum %lu nack %lu) "
          "outstanding %lu\n",
          (int)nv->nv_state, (int)nv->nv_link, (unsigned long)nv->nv_nvsp_ver,
          (unsigned long)s->tx_frames, (unsigned long)s->tx_bytes, (unsigned long)s->tx_section,
          (unsigned long)s->tx_direct, (unsigned long)s->tx_busy, (unsigned long)s->tx_host_fail,
          (unsigned long)s->rx_frames, (unsigned long)s->rx_bytes, (unsigned long)s->rx_drop_range,
          (unsigned long)s->rx_drop_nvsp, (unsigned long)s->rx_drop_rndis,
          (unsigned long)s->rx_drop_ppi, (unsigned long)s->rx_drop_csum, (unsigned long)s->rx_nack,
          (unsigned long)nv->nv_tx_busy);
}
