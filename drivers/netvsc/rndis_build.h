/* drivers/netvsc/rndis_build.h: building and walking RNDIS data messages,
 * shared by the guest's driver and the host's NetVSP device: the
 * per-packet-info elements, the RNDIS_PACKET header in front, and the one
 * walk over a received PACKET's per-packet info (with the one rule for the
 * elements both ends know). */
#ifndef DRIVERS_NETVSC_RNDIS_BUILD_H
#define DRIVERS_NETVSC_RNDIS_BUILD_H

#include <errno.h>
#include <string.h>

#include "drivers/netvsc/rndis.h"

/** One 32-bit per-packet-info element at p; returns its size. */
static inline uint32_t rndis_put_ppi(uint8_t *p, uint32_t type, uint32_t value) {
  struct rndis_ppi_u32 e;
  memset(&e, 0, sizeof(e));
  e.hdr.size = sizeof(e);
  e.hdr.type = type;
  e.hdr.ppi_offset = sizeof(e.hdr);
  e.value = value;
  memcpy(p, &e, sizeof(e));
  return sizeof(e);
}

/** The RNDIS_PACKET header at hdr for `ppi` bytes of per-packet info (already
 * written right after it) and `flen` bytes of frame; returns the header
 * length including the per-packet info (the frame follows it). */
static inline uint32_t rndis_packet_header(uint8_t *hdr, uint32_t ppi, uint32_t flen) {
  struct rndis_packet p;
  memset(&p, 0, sizeof(p));
  p.hdr.msg_type = RNDIS_MSG_PACKET;
  p.hdr.msg_len = (uint32_t)sizeof(p) + ppi + flen;
  p.data_offset = RNDIS_PACKET_BODY + ppi;
  p.data_len = flen;
  if (ppi) {
    p.per_pkt_info_offset = RNDIS_PACKET_BODY;
    p.per_pkt_info_len = ppi;
  }
  memcpy(hdr, &p, sizeof(p));
  return (uint32_t)sizeof(p) + ppi;
}

/** A completion that carries only a status, for request `req_id`: SET_C and
 * KEEPALIVE_C (`type`) share this layout. Both ends answer a KEEPALIVE with
 * one; the device also answers SET with one. */
static inline void rndis_status_cmplt(struct rndis_set_cmplt *c, uint32_t type, uint32_t req_id,
                                      uint32_t status) {
  memset(c, 0, sizeof(*c));
  c->hdr.msg_type = type;
  c->hdr.msg_len = sizeof(*c);
  c->req_id = req_id;
  c->status = status;
}

/* A walk over the per-packet info of a received PACKET (4.7, reference
 * E.3): every element must fit what remains, its data offset must lie
 * inside it, and a size of 0 is an error, so the walk always advances or
 * stops. Start it with {ppi, ppi_len, 0}; ppi is the caller's copy. */
struct rndis_ppi_walk {
  const uint8_t *pw_p;
  uint32_t pw_len, pw_pos;
};

/** The next element: 1 with its type (bit 31: internal) and its data
 * (*data, *dlen bytes, inside the walked buffer); 0 after the last;
 * -EPROTO for a malformed element (the walk then ends). */
static inline int rndis_ppi_next(struct rndis_ppi_walk *w, uint32_t *type, const uint8_t **data,
                                 uint32_t *dlen) {
  if (w->pw_pos >= w->pw_len)
    return 0;
  uint32_t rem = w->pw_len - w->pw_pos;
  struct rndis_ppi h;
  memset(&h, 0, sizeof(h));
  if (rem >= sizeof(h))
    memcpy(&h, w->pw_p + w->pw_pos, sizeof(h));
  if (h.size == 0 || h.size > rem || h.ppi_offset < sizeof(h) || h.ppi_offset >= h.size) {
    w->pw_pos = w->pw_len;
    return -EPROTO;
  }
  *type = h.type;
  *data = w->pw_p + w->pw_pos + h.ppi_offset;
  *dlen = h.size - h.ppi_offset;
  w->pw_pos += h.size; /* h.size > ppi_offset >= 12: always advances */
  return 1;
}

/**
 * The next element either end acts on, with its value: the checksum info
 * (RNDIS_PPI_TCPIP_CHKSUM) and the 802.1Q tag (RNDIS_PPI_IEEE_8021Q), each
 * one 32-bit object; other types, internal ones included, are skipped. A
 * known element too short for its object makes the packet malformed: FreeBSD
 * hn (hn_rndis_rxinfo) and OpenVMM's netvsp drop such a packet, and Linux's
 * rndis_get_ppi never returns the element.
 * @ret 1 with *type and *value; 0 after the last; -EPROTO for a malformed
 * element or a short known one (the walk then ends).
 */
static inline int rndis_ppi_next_known(struct rndis_ppi_walk *w, uint32_t *type, uint32_t *value) {
  uint32_t t, dlen;
  const uint8_t *data;
  int rc;
  while ((rc = rndis_ppi_next(w, &t, &data, &dlen)) > 0) {
    if (t != RNDIS_PPI_TCPIP_CHKSUM && t != RNDIS_PPI_IEEE_8021Q)
      continue;
    if (dlen < sizeof(*value)) {
      w->pw_pos = w->pw_len;
      return -EPROTO;
    }
    memcpy(value, data, sizeof(*value));
    *type = t;
    return 1;
  }
  return rc;
}

#endif
