/* drivers/netvsc/rndis.c: RNDIS over NVSP for the synthetic NIC: control
 * requests (INITIALIZE, QUERY, SET, HALT) matched by request id through a
 * bounded table, received messages parsed with every length and offset
 * checked (PERF-RELIABILITY-REFERENCE.md 2.4 E), per-packet info walked with
 * a loop that always advances, and the PACKET header built for transmit.
 * PROTOCOL-REFERENCE.md sections 4.3 (steps 7-10), 4.5-4.7.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/netvsc/rndis_build.h"
#include "drivers/netvsc/netvsc_priv.h"
#include "net/wire.h" /* the Ethernet header length only: layouts, no code */

/** RNDIS INITIALIZE's max_transfer_size (4.3 step 7: at least 0x4000). */
#define RNDIS_MAX_XFER_SIZE 0x4000u
/** Bounds applied to the host's max_pkt_per_msg (reference E.6; policy). */
#define RNDIS_MAX_PKT_CLAMP 64u

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* ---- control requests ---------------------------------------------------------------- */

struct rndis_wait {
  struct netvsc *nv;
  struct netvsc_rndis_req *rq;
};

static bool rndis_req_done(void *arg) {
  const struct rndis_wait *w = arg;
  return w->rq->rq_done || w->nv->nv_state == NV_GONE || w->nv->nv_closed ||
         kmcl_channel_failed(w->nv->nv_ch);
}

static bool rndis_tx_room(void *arg) {
  const struct netvsc *nv = arg;
  return nv->nv_tx_busy < NETVSC_TX_SLOTS || nv->nv_closed;
}

/* The teaching trace (vmbus.trace=1): one line per RNDIS control message:
 * type, request id and, for queries and sets, the OID. */
static void rndis_trace(const struct netvsc *nv, bool to_host, const uint8_t *m, uint32_t len) {
  if (!nv->nv_cfg.nc_trace || len < 12)
    return;
  uint32_t type, id, oid_or_status = 0;
  memcpy(&type, m, 4);
  memcpy(&id, m + 8, 4);
  if (len >= 16)
    memcpy(&oid_or_status, m + 12, 4);
  const char *name = "RNDIS";
  switch (type & 0x7fffffffu) {
  case RNDIS_MSG_INIT:
    name = "INITIALIZE";
    break;
  case RNDIS_MSG_QUERY:
    name = "QUERY";
    break;
  case RNDIS_MSG_SET:
    name = "SET";
    break;
  case RNDIS_MSG_HALT:
    name = "HALT";
    break;
  case RNDIS_MSG_RESET:
    name = "RESET";
    break;
  case RNDIS_MSG_KEEPALIVE:
    name = "KEEPALIVE";
    break;
  default:
    break;
  }
  bool cmplt = (type & 0x80000000u) != 0;
  /* Byte 12: the status of a completion, the OID of a query or set, the
   * major version of INITIALIZE. */
  const char *what = cmplt ? "status" : (type == RNDIS_MSG_INIT ? "major" : "oid");
  printf("rndis: %s %s%s req_id=%u %s=%#x\n", to_host ? "->" : "<-", name, cmplt ? "_COMPLETE" : "",
         id, what, oid_or_status);
}

/**
 * Send a control message (its req_id at byte 8 is filled here) and wait for
 * the completion of type `cmplt_type` with the same id.
 * @ret 0 with the completion in *resp (*resp_len bytes, at most `cap`),
 *      -ETIMEDOUT, -ENETDOWN, -EBUSY (table full), -EMSGSIZE (response
 *      larger than the table keeps).
 */
static int rndis_request(struct netvsc *nv, uint8_t *msg, uint32_t len, uint32_t cmplt_type,
                         uint8_t *resp, uint32_t cap, uint32_t *resp_len) {
  struct netvsc_rndis_req *rq = NULL;
  for (uint32_t i = 0; i < NETVSC_RNDIS_REQS; i++) {
    if (nv->nv_req[i].rq_id == 0) {
      rq = &nv->nv_req[i];
      break;
    }
  }
  if (!rq)
    return -EBUSY;
  if (++nv->nv_rndis_next_id == 0) /* req_id must be non-zero (4.6) */
    nv->nv_rndis_next_id = 1;
  memset(rq, 0, sizeof(*rq));
  rq->rq_id = nv->nv_rndis_next_id;
  rq->rq_type = cmplt_type;
  memcpy(msg + 8, &rq->rq_id, 4);
  rndis_trace(nv, true, msg, len);
  int rc = netvsc_tx_rndis(nv, NVSP_RNDIS_CHANNEL_CONTROL, msg, len, NULL, 0);
  if (rc == -EAGAIN) {
    ev_wait(rndis_tx_room, nv, NETVSC_REQ_WAIT_MS);
    rc = netvsc_tx_rndis(nv, NVSP_RNDIS_CHANNEL_CONTROL, msg, len, NULL, 0);
  }
  if (!rc) {
    struct rndis_wait w = {nv, rq};
    if (ev_wait(rndis_req_done, &w, NETVSC_REQ_WAIT_MS) || !rq->rq_done)
      rc = rq->rq_done ? 0 : (nv->nv_state == NV_GONE || nv->nv_closed) ? -ENETDOWN : -ETIMEDOUT;
  }
  if (!rc)
    rndis_trace(nv, false, rq->rq_resp, rq->rq_len < cap ? rq->rq_len : cap);
  if (!rc) {
    if (rq->rq_len > cap) {
      rc = -EMSGSIZE;
    } else {
      memcpy(resp, rq->rq_resp, rq->rq_len);
      *resp_len = rq->rq_len;
    }
  }
  rq->rq_id = 0;
  rq->rq_done = false;
  return rc;
}

/**
 * OID query. @ret bytes of information copied to `out` (at most `cap`), or
 * -errno: -EPROTO for a malformed completion (offsets past the message,
 * reference E.5), -EIO for a failure status.
 */
static int rndis_query(struct netvsc *nv, uint32_t oid, void *out, uint32_t cap) {
  uint8_t msg[sizeof(struct rndis_query_req)];
  struct rndis_query_req q;
  memset(&q, 0, sizeof(q));
  q.hdr.msg_type = RNDIS_MSG_QUERY;
  q.hdr.msg_len = sizeof(q);
  q.oid = oid;
  q.info_buflen = 0;
  q.info_buf_offset = RNDIS_QUERY_INFO_OFFSET;
  memcpy(msg, &q, sizeof(q));
  uint8_t resp[NETVSC_RNDIS_RESP_MAX];
  uint32_t n = 0;
  int rc = rndis_request(nv, msg, sizeof(msg), RNDIS_MSG_QUERY_C, resp, sizeof(resp), &n);
  if (rc)
    return rc;
  struct rndis_query_cmplt c;
  if (n < sizeof(c))
    return -EPROTO;
  memcpy(&c, resp, sizeof(c));
  if (c.status != RNDIS_STATUS_SUCCESS)
    return -EIO;
  /* Offsets relative to byte 8: the body is n - 8 bytes. */
  uint32_t body = n - 8u;
  if (c.info_buf_offset < sizeof(c) - 8u || c.info_buf_offset > body ||
      c.info_buflen > body - c.info_buf_offset || c.info_buflen > cap)
    return -EPROTO;
  memcpy(out, resp + 8u + c.info_buf_offset, c.info_buflen);
  return (int)c.info_buflen;
}

int netvsc_query_oid(struct netvsc *nv, uint32_t oid, void *out, uint32_t cap) {
  return rndis_query(nv, oid, out, cap);
}

/** OID set. @ret 0, -EIO (failure status; -ENOTSUP for NOT_SUPPORTED). */
static int rndis_set(struct netvsc *nv, uint32_t oid, const void *data, uint32_t len) {
  uint8_t msg[sizeof(struct rndis_set_req) + 64];
  if (len > 64)
    return -EMSGSIZE;
  struct rndis_set_req s;
  memset(&s, 0, sizeof(s));
  s.hdr.msg_type = RNDIS_MSG_SET;
  s.hdr.msg_len = (uint32_t)sizeof(s) + len;
  s.oid = oid;
  s.info_buflen = len;
  s.info_buf_offset = RNDIS_QUERY_INFO_OFFSET;
  memset(msg, 0, sizeof(msg));
  memcpy(msg, &s, sizeof(s));
  memcpy(msg + sizeof(s), data, len);
  uint8_t resp[NETVSC_RNDIS_RESP_MAX];
  uint32_t n = 0;
  int rc = rndis_request(nv, msg, s.hdr.msg_len, RNDIS_MSG_SET_C, resp, sizeof(resp), &n);
  if (rc)
    return rc;
  struct rndis_set_cmplt c;
  if (n < sizeof(c))
    return -EPROTO;
  memcpy(&c, resp, sizeof(c));
  if (c.status == RNDIS_STATUS_NOT_SUPPORTED)
    return -ENOTSUP;
  return c.status == RNDIS_STATUS_SUCCESS ? 0 : -EIO;
}

/** NDIS_OFFLOAD_PARAMETERS (4.6): header {type 0x80, revision, size}, then
 * u8 knobs at 4..14. Knob values: 3 RX only, 4 TX and RX. */
#define NDIS_OBJECT_TYPE_DEFAULT 0x80u
#define NDIS_OFFLOAD_PARAMS_IP4_CSUM 4u  /* ip_v4_csum */
#define NDIS_OFFLOAD_PARAMS_UDP4_CSUM 6u /* udp_ip_v4_csum */
#define NDIS_OFFLOAD_PARAMS_SIZE_V4 22u  /* VERSION_4_OFFLOAD_SIZE */
#define NDIS_OFFLOAD_PARAMS_SIZE_V5 24u  /* revision 3 */
#define NDIS_OFFLOAD_CSUM_RX 3u
#define NDIS_OFFLOAD_CSUM_TX_RX 4u

/** Checksum offloads: IPv4 header both ways; UDP both ways from NVSP 5 on,
 * receive only below (Linux enables no UDP offload for NVSP <= 4). A host
 * that refuses leaves us computing checksums ourselves. */
static void rndis_offloads(struct netvsc *nv) {
  uint8_t p[NDIS_OFFLOAD_PARAMS_SIZE_V5];
  bool v5 = nv->nv_nvsp_ver >= NVSP_PROTOCOL_VERSION_5;
  uint16_t size = v5 ? NDIS_OFFLOAD_PARAMS_SIZE_V5 : NDIS_OFFLOAD_PARAMS_SIZE_V4;
  memset(p, 0, sizeof(p));
  p[0] = NDIS_OBJECT_TYPE_DEFAULT;
  p[1] = v5 ? 3 : 2;
  memcpy(p + 2, &size, 2);
  p[NDIS_OFFLOAD_PARAMS_IP4_CSUM] = NDIS_OFFLOAD_CSUM_TX_RX;
  p[NDIS_OFFLOAD_PARAMS_UDP4_CSUM] = v5 ? NDIS_OFFLOAD_CSUM_TX_RX : NDIS_OFFLOAD_CSUM_RX;
  int rc = rndis_set(nv, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, p, size);
  if (rc) {
    pr_info("netvsc: checksum offload not available (%d)\n", rc);
    return;
  }
  nv->nv_offloads |= NETVSC_OFF_TX_CSUM_IP4 | NETVSC_OFF_RX_CSUM;
  if (v5)
    nv->nv_offloads |= NETVSC_OFF_TX_CSUM_UDP4;
}

int rndis_dev_init(struct netvsc *nv) {
  /* INITIALIZE (4.3 step 7). */
  uint8_t msg[sizeof(struct rndis_init_req)];
  struct rndis_init_req ir;
  memset(&ir, 0, sizeof(ir));
  ir.hdr.msg_type = RNDIS_MSG_INIT;
  ir.hdr.msg_len = sizeof(ir);
  ir.major = 1;
  ir.minor = 0;
  ir.max_xfer_size = RNDIS_MAX_XFER_SIZE;
  memcpy(msg, &ir, sizeof(ir));
  uint8_t resp[NETVSC_RNDIS_RESP_MAX];
  uint32_t n = 0;
  int rc = rndis_request(nv, msg, sizeof(msg), RNDIS_MSG_INIT_C, resp, sizeof(resp), &n);
  if (rc) {
    pr_err("netvsc: RNDIS INITIALIZE got no answer (%d)\n", rc);
    return rc;
  }
  struct rndis_init_cmplt ic;
  if (n < sizeof(ic)) {
    pr_err("netvsc: RNDIS INITIALIZE completion too short (%lu bytes)\n", (unsigned long)n);
    return -EPROTO;
  }
  memcpy(&ic, resp, sizeof(ic));
  if (ic.status != RNDIS_STATUS_SUCCESS) {
    pr_err("netvsc: RNDIS INITIALIZE failed: status 0x%lx\n", (unsigned long)ic.status);
    return -EPROTO;
  }
  /* Host-controlled shift count and batch size: clamp (reference E.6). */
  nv->nv_rndis_align = ic.pkt_alignment_factor > NETVSC_ALIGN_SHIFT_MAX ? NETVSC_ALIGN_SHIFT_MAX
                                                                        : ic.pkt_alignment_factor;
  nv->nv_rndis_max_pkt = ic.max_pkt_per_msg == 0                    ? 1
                         : ic.max_pkt_per_msg > RNDIS_MAX_PKT_CLAMP ? RNDIS_MAX_PKT_CLAMP
                                                                    : ic.max_pkt_per_msg;

  /* Queries (4.3 step 8): maximum frame size, MAC, media state. */
  uint32_t v = 0;
  rc = rndis_query(nv, RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, &v, sizeof(v));
  if (rc != 4 || v < 576u) {
    pr_err("netvsc: bad OID_GEN_MAXIMUM_FRAME_SIZE answer (%d, %lu)\n", rc, (unsigned long)v);
    return rc < 0 ? rc : -EPROTO;
  }
  /* Jumbo frames up to the host's maximum, but no more than we asked for
   * (our bounce buffers and NDIS config were sized from it). */
  nv->nv_mtu = v < nv->nv_cfg.nc_mtu ? v : nv->nv_cfg.nc_mtu;
  uint8_t mac[8];
  rc = rndis_query(nv, RNDIS_OID_802_3_PERMANENT_ADDRESS, mac, sizeof(mac));
  if (rc != 6) {
    pr_err("netvsc: MAC address query answered %d bytes, not 6\n", rc);
    return rc < 0 ? rc : -EPROTO;
  }
  memcpy(nv->nv_mac, mac, 6);
  rc = rndis_query(nv, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, &v, sizeof(v));
  if (rc != 4) {
    pr_err("netvsc: media state query failed (%d)\n", rc);
    return rc < 0 ? rc : -EPROTO;
  }
  nv->nv_link = v == RNDIS_MEDIA_STATE_CONNECTED;
  if (nv->nv_nvsp_ver >= NVSP_PROTOCOL_VERSION_2)
    nv->nv_offloads |= NETVSC_OFF_VLAN; /* NDIS config sent with ieee8021q */
  rndis_offloads(nv);

  /* Open the data path (4.3 step 10). */
  uint32_t filter = RNDIS_FILTER_DEFAULT;
  rc = rndis_set(nv, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, sizeof(filter));
  if (rc) {
    pr_err("netvsc: setting the packet filter failed (%d)\n", rc);
    return rc;
  }
  return 0;
}

void rndis_dev_halt(struct netvsc *nv) {
  uint32_t filter = 0;
  rndis_set(nv, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, sizeof(filter));
  struct rndis_halt_req h;
  memset(&h, 0, sizeof(h));
  h.hdr.msg_type = RNDIS_MSG_HALT;
  h.hdr.msg_len = sizeof(h);
  if (++nv->nv_rndis_next_id == 0)
    nv->nv_rndis_next_id = 1;
  h.req_id = nv->nv_rndis_next_id;
  netvsc_tx_rndis(nv, NVSP_RNDIS_CHANNEL_CONTROL, &h, sizeof(h), NULL, 0);
}

/* ---- receive ---------------------------------------------------------------------- */

/** A control completion: hand it to the request with the same id and type. */
static int rndis_rx_cmplt(struct netvsc *nv, uint32_t type, const uint8_t *msg, uint32_t len) {
  if (len < 12) { /* no req_id (reference E.5) */
    nv->nv_st.rx_drop_rndis++;
    return -EPROTO;
  }
  uint32_t id = rd32(msg + 8);
  for (uint32_t i = 0; i < NETVSC_RNDIS_REQS; i++) {
    struct netvsc_rndis_req *rq = &nv->nv_req[i];
    if (rq->rq_id == 0 || rq->rq_id != id || rq->rq_type != type || rq->rq_done)
      continue;
    /* Longer than we keep: the requester sees -EMSGSIZE. */
    rq->rq_len = len <= NETVSC_RNDIS_RESP_MAX ? len : NETVSC_RNDIS_RESP_MAX + 1u;
    memcpy(rq->rq_resp, msg, len <= NETVSC_RNDIS_RESP_MAX ? len : NETVSC_RNDIS_RESP_MAX);
    rq->rq_done = true;
    return 0;
  }
  nv->nv_st.rx_ctrl_unknown++;
  if (log_ratelimit_ok(&nv->nv_rl))
    pr_warn("netvsc: RNDIS completion 0x%lx for unknown request id %lu; dropped\n",
            (unsigned long)type, (unsigned long)id);
  return -EPROTO;
}

/**
 * Copy the fixed part of a received RNDIS message (its first `size` bytes)
 * out of msg (`len` bytes) into `out`; a message shorter than that is
 * dropped and counted (rx_drop_rndis), nothing copied.
 * @ret 0 or -EPROTO.
 */
static int rndis_rx_fixed(struct netvsc *nv, const uint8_t *msg, uint32_t len, void *out,
                          size_t size) {
  if (len < size) {
    nv->nv_st.rx_drop_rndis++;
    return -EPROTO;
  }
  memcpy(out, msg, size);
  return 0;
}

/** INDICATE_STATUS: media connect/disconnect (reference E.7). */
static int rndis_rx_indicate(struct netvsc *nv, const uint8_t *msg, uint32_t len) {
  struct rndis_indicate_status is;
  if (rndis_rx_fixed(nv, msg, len, &is, sizeof(is)))
    return -EPROTO;
  switch (is.status) {
  case RNDIS_STATUS_MEDIA_CONNECT:
    netvsc_set_link(nv, true, "media connect indication");
    return 0;
  case RNDIS_STATUS_MEDIA_DISCONNECT:
    netvsc_set_link(nv, false, "media disconnect indication");
    return 0;
  case RNDIS_STATUS_LINK_SPEED_CHANGE: {
    uint32_t body = len - 8u;
    if (is.status_buf_offset > body || is.status_buflen > body - is.status_buf_offset ||
        is.status_buflen < 4) {
      nv->nv_st.rx_drop_rndis++;
      return -EPROTO;
    }
    pr_debug("netvsc: link speed %lu00 bps\n",
             (unsigned long)rd32(msg + 8u + is.status_buf_offset));
    return 0;
  }
  case RNDIS_STATUS_NETWORK_CHANGE:
    /* The switch changed: carrier off and on so DHCP runs again (Linux
     * netvsc_link_change, FreeBSD hn_change_network). */
    pr_info("netvsc: network change indication\n");
    if (nv->nv_link) {
      netvsc_set_link(nv, false, "network change");
      netvsc_set_link(nv, true, "network change");
    }
    return 0;
  default:
    /* TASK_OFFLOAD_CURRENT_CONFIG and the rest: ignored (WS2012R2 sends
     * the former with a length not covering its buffer: benign). */
    return 0;
  }
}

/**
 * The per-packet info of a received PACKET (the walk, its bounds and the
 * rule for short elements: rndis_ppi_next_known, rndis_build.h): the
 * checksum verdict and the VLAN tag.
 * @ret 0 or -EPROTO.
 */
static int rndis_rx_ppi(const uint8_t *ppi, uint32_t len, struct netvsc_rx_info *ri,
                        uint32_t *csum) {
  struct rndis_ppi_walk w = {ppi, len, 0};
  uint32_t type, v;
  int rc;
  while ((rc = rndis_ppi_next_known(&w, &type, &v)) > 0) {
    if (type == RNDIS_PPI_TCPIP_CHKSUM) {
      *csum = v;
    } else {
      ri->ri_vlan = true;
      ri->ri_vlan_id = (uint16_t)RNDIS_VLAN_ID(v);
      ri->ri_prio = (uint8_t)RNDIS_VLAN_PRIO(v);
    }
  }
  return rc;
}

/** A received PACKET: bounds (reference E.2), PPIs, checksum verdict, up. */
static int rndis_rx_packet(struct netvsc *nv, const uint8_t *msg, uint32_t len) {
  struct rndis_packet p;
  if (rndis_rx_fixed(nv, msg, len, &p, sizeof(p)))
    return -EPROTO;
  uint32_t body = len - 8u; /* offsets count from byte 8 */
  if (p.data_offset < RNDIS_PACKET_BODY || p.data_offset > body ||
      p.data_len > body - p.data_offset || p.data_len < ETH_HLEN) {
    nv->nv_st.rx_drop_rndis++;
    return -EPROTO;
  }
  struct netvsc_rx_info ri;
  memset(&ri, 0, sizeof(ri));
  uint32_t csum = 0;
  if (p.per_pkt_info_len) {
    if (p.per_pkt_info_offset < RNDIS_PACKET_BODY || p.per_pkt_info_offset > body ||
        p.per_pkt_info_len > body - p.per_pkt_info_offset ||
        rndis_rx_ppi(msg + 8u + p.per_pkt_info_offset, p.per_pkt_info_len, &ri, &csum)) {
      nv->nv_st.rx_drop_ppi++;
      return -EPROTO;
    }
  }
  if (csum & (RNDIS_RXCSUM_IP_FAILED | RNDIS_RXCSUM_UDP_FAILED | RNDIS_RXCSUM_TCP_FAILED)) {
    nv->nv_st.rx_drop_csum++;
    return 0; /* the host did its job; the frame is bad, not the message */
  }
  ri.ri_csum_ip_ok = (csum & RNDIS_RXCSUM_IP_OK) != 0;
  ri.ri_csum_l4_ok = (csum & (RNDIS_RXCSUM_UDP_OK | RNDIS_RXCSUM_TCP_OK)) != 0;
  if (nv->nv_state != NV_UP || !nv->nv_rx) {
    nv->nv_st.rx_drop_nocb++;
    return 0;
  }
  nv->nv_st.rx_frames++;
  nv->nv_st.rx_bytes += p.data_len;
  nv->nv_rx(nv->nv_cb_arg, msg + 8u + p.data_offset, p.data_len, &ri);
  return 0;
}

int rndis_rx_msg(struct netvsc *nv, const uint8_t *msg, uint32_t len) {
  struct rndis_msg_hdr h;
  if (rndis_rx_fixed(nv, msg, len, &h, sizeof(h)))
    return -EPROTO;
  if (h.msg_len < sizeof(h) || h.msg_len > len) { /* reference E.1 */
    nv->nv_st.rx_drop_rndis++;
    return -EPROTO;
  }
  len = h.msg_len;
  switch (h.msg_type) {
  case RNDIS_MSG_PACKET:
    return rndis_rx_packet(nv, msg, len);
  case RNDIS_MSG_INIT_C:
  case RNDIS_MSG_QUERY_C:
  case RNDIS_MSG_SET_C:
  case RNDIS_MSG_KEEPALIVE_C:
  case RNDIS_MSG_RESET_C:
    nv->nv_st.rx_ctrl++;
    return rndis_rx_cmplt(nv, h.msg_type, msg, len);
  case RNDIS_MSG_INDICATE:
    nv->nv_st.rx_ctrl++;
    return rndis_rx_indicate(nv, msg, len);
  case RNDIS_MSG_KEEPALIVE: {
    nv->nv_st.rx_ctrl++;
    struct rndis_keepalive_req k;
    if (rndis_rx_fixed(nv, msg, len, &k, sizeof(k)))
      return -EPROTO;
    struct rndis_set_cmplt c;
    rndis_status_cmplt(&c, RNDIS_MSG_KEEPALIVE_C, k.req_id, RNDIS_STATUS_SUCCESS);
    netvsc_tx_rndis(nv, NVSP_RNDIS_CHANNEL_CONTROL, &c, sizeof(c), NULL, 0);
    return 0;
  }
  default: /* reference E.8: drop and NACK */
    nv->nv_st.rx_drop_rndis++;
    if (log_ratelimit_ok(&nv->nv_rl))
      pr_warn("netvsc: unknown RNDIS message type 0x%lx\n", (unsigned long)h.msg_type);
    return -EPROTO;
  }
}

/* ---- transmit --------------------------------------------------------------------- */

uint32_t rndis_build_packet(const struct netvsc *nv, uint8_t *hdr, uint32_t flen,
                            const struct netvsc_tx_info *ti) {
  uint32_t ppi = 0;
  uint8_t *pp = hdr + sizeof(struct rndis_packet);
  if (ti && (ti->ti_csum_ip || ti->ti_csum_udp) &&
      (nv->nv_offloads & (NETVSC_OFF_TX_CSUM_IP4 | NETVSC_OFF_TX_CSUM_UDP4))) {
    uint32_t v = RNDIS_TXCSUM_IS_IPV4;
    if (ti->ti_csum_ip && (nv->nv_offloads & NETVSC_OFF_TX_CSUM_IP4))
      v |= RNDIS_TXCSUM_IP_HDR;
    if (ti->ti_csum_udp && (nv->nv_offloads & NETVSC_OFF_TX_CSUM_UDP4))
      v |= RNDIS_TXCSUM_UDP |
           ((uint32_t)(ti->ti_l4_off & 0x3ffu) << RNDIS_TXCSUM_TCP_HDR_OFFSET_SHIFT);
    ppi += rndis_put_ppi(pp + ppi, RNDIS_PPI_TCPIP_CHKSUM, v);
  }
  if (ti && ti->ti_vlan && (nv->nv_offloads & NETVSC_OFF_VLAN))
    ppi +=
        rndis_put_ppi(pp + ppi, RNDIS_PPI_IEEE_8021Q, RNDIS_VLAN_MAKE(ti->ti_vlan_id, ti->ti_prio));
  return rndis_packet_header(hdr, ppi, flen);
}
