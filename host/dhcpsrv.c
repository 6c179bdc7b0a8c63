/* host/dhcpsrv.c: the built-in network's DHCP server (host/dhcpsrv.h). */
#include "host/dhcpsrv.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/hw.h"
#include "net/inet.h"
#include "net/wire.h"

struct dhcpsrv_binding {
  bool b_used;
  uint8_t b_mac[6];
  uint32_t b_ip; /* host order */
};

struct dhcpsrv {
  struct dhcpsrv_config s_cfg;
  uint32_t s_net, s_mask, s_router; /* host order */
  uint32_t s_gen;                   /* networks so far: shifts the pool */
  struct dhcpsrv_binding s_bind[DHCPSRV_BINDINGS];
  bool s_have_last;
  uint32_t s_last;
  struct dhcpsrv_stats s_st;
};

static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

struct dhcpsrv *dhcpsrv_create(const struct dhcpsrv_config *cfg) {
  if (cfg->dc_prefix < 8 || cfg->dc_prefix > 29)
    return NULL;
  struct dhcpsrv *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->s_cfg = *cfg;
  if (!s->s_cfg.dc_lease_s)
    s->s_cfg.dc_lease_s = DHCPSRV_LEASE_DEFAULT;
  s->s_mask = ~(0xffffffffu >> cfg->dc_prefix);
  s->s_net = get32(cfg->dc_net) & s->s_mask;
  s->s_router = s->s_net + 1u;
  return s;
}

void dhcpsrv_destroy(struct dhcpsrv *s) { free(s); }

void dhcpsrv_router(const struct dhcpsrv *s, uint8_t ip[4]) { put32(ip, s->s_router); }

void dhcpsrv_new_network(struct dhcpsrv *s) {
  memset(s->s_bind, 0, sizeof(s->s_bind));
  s->s_gen++;
}

bool dhcpsrv_last_lease(const struct dhcpsrv *s, uint8_t ip[4]) {
  if (s->s_have_last)
    put32(ip, s->s_last);
  return s->s_have_last;
}

const struct dhcpsrv_stats *dhcpsrv_stats(const struct dhcpsrv *s) { return &s->s_st; }

/** The client's binding, made on first sight (the pool starts after the
 * router, shifted by the network generation). */
static struct dhcpsrv_binding *dhcpsrv_bind(struct dhcpsrv *s, const uint8_t mac[6], bool make) {
  struct dhcpsrv_binding *free_b = NULL;
  uint32_t hosts = ~s->s_mask - 1u; /* usable host numbers 1..hosts */
  for (uint32_t i = 0; i < DHCPSRV_BINDINGS; i++) {
    struct dhcpsrv_binding *b = &s->s_bind[i];
    if (b->b_used && memcmp(b->b_mac, mac, 6) == 0)
      return b;
    if (!b->b_used && !free_b) {
      free_b = b;
      /* host number 2 + generation + slot, kept inside 2..hosts */
      free_b->b_ip = s->s_net + 2u + (s->s_gen + i) % (hosts - 1u);
    }
  }
  if (!make || !free_b)
    return NULL;
  free_b->b_used = true;
  memcpy(free_b->b_mac, mac, 6);
  return free_b;
}

struct dhcpsrv_req {
  uint8_t type;
  bool has_req_ip, has_server;
  uint8_t req_ip[4], server[4];
};

/** The options we need; -1 when one runs past the end. */
static int dhcpsrv_opts(const uint8_t *p, uint32_t len, struct dhcpsrv_req *r) {
  memset(r, 0, sizeof(*r));
  for (uint32_t i = 0; i < len;) {
    uint8_t code = p[i];
    if (code == DHO_PAD) {
      i++;
      continue;
    }
    if (code == DHO_END)
      break;
    if (len - i < 2u || p[i + 1] > len - i - 2u)
      return -1;
    uint8_t l = p[i + 1];
    const uint8_t *v = p + i + 2;
    if (code == DHO_MSG_TYPE && l == 1)
      r->type = v[0];
    else if (code == DHO_REQUESTED_IP && l == 4) {
      memcpy(r->req_ip, v, 4);
      r->has_req_ip = true;
    } else if (code == DHO_SERVER_ID && l == 4) {
      memcpy(r->server, v, 4);
      r->has_server = true;
    }
    i += 2u + l;
  }
  return 0;
}

static uint8_t *opt4(uint8_t *o, uint8_t code, uint32_t v) {
  *o++ = code;
  *o++ = 4;
  put32(o, v);
  return o + 4;
}

/** The reply to `m`: type, and for OFFER/ACK the lease of `ip`. */
static uint32_t dhcpsrv_reply(struct dhcpsrv *s, const struct dhcp_msg *m, uint8_t type,
                              uint32_t ip, uint8_t *out, uint32_t cap) {
  if (cap < DHCP_MIN_LEN)
    return 0;
  memset(out, 0, DHCP_MIN_LEN);
  struct dhcp_msg *r = (struct dhcp_msg *)out;
  r->dm_op = BOOTP_REPLY;
  r->dm_htype = 1;
  r->dm_hlen = 6;
  memcpy(r->dm_xid, m->dm_xid, 4);
  memcpy(r->dm_flags, m->dm_flags, 2);
  memcpy(r->dm_giaddr, m->dm_giaddr, 4);
  memcpy(r->dm_chaddr, m->dm_chaddr, 16);
  put32(r->dm_magic, DHCP_MAGIC);
  uint8_t *o = out + DHCP_OPTS_OFF;
  *o++ = DHO_MSG_TYPE;
  *o++ = 1;
  *o++ = type;
  o = opt4(o, DHO_SERVER_ID, s->s_router);
  if (type != DHCPNAK) {
    memcpy(r->dm_ciaddr, m->dm_ciaddr, 4);
    put32(r->dm_yiaddr, ip);
    uint32_t lease = s->s_cfg.dc_lease_s;
    o = opt4(o, DHO_LEASE_TIME, lease);
    o = opt4(o, DHO_T1, lease / 2u);
    o = opt4(o, DHO_T2, (uint32_t)((uint64_t)lease * 7u / 8u));
    o = opt4(o, DHO_SUBNET_MASK, s->s_mask);
    o = opt4(o, DHO_ROUTER, s->s_router);
    o = opt4(o, DHO_DNS, s->s_router);
    if (s->s_cfg.dc_mtu) {
      *o++ = DHO_MTU;
      *o++ = 2;
      inet_put16(o, s->s_cfg.dc_mtu);
      o += 2;
    }
  }
  *o++ = DHO_END;
  return DHCP_MIN_LEN;
}

uint32_t dhcpsrv_handle(struct dhcpsrv *s, const uint8_t *msg, uint32_t len, bool broadcast,
                        uint8_t *out, uint32_t cap, uint8_t dst[4], bool *bcast) {
  const struct dhcp_msg *m = (const struct dhcp_msg *)msg;
  struct dhcpsrv_req q;
  if (len < DHCP_OPTS_OFF || m->dm_op != BOOTP_REQUEST || m->dm_htype != 1 || m->dm_hlen != 6 ||
      get32(m->dm_magic) != DHCP_MAGIC ||
      dhcpsrv_opts(msg + DHCP_OPTS_OFF, len - DHCP_OPTS_OFF, &q) != 0) {
    s->s_st.bad++;
    return 0;
  }
  uint32_t ciaddr = get32(m->dm_ciaddr);
  *bcast = ciaddr == 0; /* no address yet: broadcast (RFC 2131 4.1) */
  memset(dst, 0xff, 4);
  if (!*bcast)
    put32(dst, ciaddr);
  struct dhcpsrv_binding *b;
  switch (q.type) {
  case DHCPDISCOVER:
    s->s_st.discovers++;
    b = dhcpsrv_bind(s, m->dm_chaddr, true);
    if (!b)
      return 0; /* pool full: silence, as a real server */
    s->s_st.offers++;
    return dhcpsrv_reply(s, m, DHCPOFFER, b->b_ip, out, cap);
  case DHCPREQUEST: {
    s->s_st.requests++;
    if (q.has_server && get32(q.server) != s->s_router)
      return 0; /* the client chose another server */
    uint32_t want = q.has_req_ip ? get32(q.req_ip) : ciaddr;
    b = dhcpsrv_bind(s, m->dm_chaddr, false);
    if (!b || want != b->b_ip) {
      s->s_st.naks++;
      *bcast = true;
      memset(dst, 0xff, 4);
      return dhcpsrv_reply(s, m, DHCPNAK, 0, out, cap);
    }
    if (ciaddr && !q.has_server) {
      if (broadcast)
        s->s_st.rebinds++;
      else
        s->s_st.renewals++;
    }
    s->s_st.acks++;
    if (!s->s_st.first_ack_ns)
      s->s_st.first_ack_ns = hw_now_ns();
    s->s_have_last = true;
    s->s_last = b->b_ip;
    return dhcpsrv_reply(s, m, DHCPACK, b->b_ip, out, cap);
  }
  case DHCPRELEASE:
    s->s_st.releases++;
    b = dhcpsrv_bind(s, m->dm_chaddr, false);
    if (b)
      b->b_used = false;
    return 0;
  default:
    s->s_st.bad++;
    return 0;
  }
}
