/* drivers/netvsc/rndis_build.h: building RNDIS data messages, shared by the
 * guest's driver (transmit) and the host's NetVSP device (receive path):
 * the per-packet-info elements and the RNDIS_PACKET header in front. */
#ifndef DRIVERS_NETVSC_RNDIS_BUILD_H
#define DRIVERS_NETVSC_RNDIS_BUILD_H

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

#endif
