/* net/dhcp.c: the DHCPv4 client state machine (net/dhcp.h).
 *
 * What a reply may say (every case has one outcome, and a unit test):
 * - shorter than 240 bytes, not op 2 / htype 1 / hlen 6, no magic cookie,
 *   no option 53: dropped (drop_short, drop_proto);
 * - another client's xid or chaddr (a LAN's other clients), or anything
 *   while the client is OFF or waiting in INIT: drop_not_ours;
 * - an option whose length runs past its area (the options field, or the
 *   file/sname fields under option 52), an option 52 that is not 1..3:
 *   the whole message is dropped (drop_options); pad is skipped, end ends
 *   an area, a missing end is accepted when everything fits; of a repeated
 *   option the first counts;
 * - a type the state does not expect (an OFFER after we chose, an ACK or
 *   NAK in SELECTING or BOUND): drop_state; an OFFER from a second server
 *   while we request from the first is one of these;
 * - an ACK or NAK in REQUESTING or RENEWING from a server other than the
 *   chosen one: drop_server (REBINDING takes any server);
 * - an OFFER without server id, an ACK without lease time or with lease 0:
 *   drop_bad_lease; lease 0xffffffff: infinite, never renewed;
 * - yiaddr 0, 0.x, 127.x, multicast or above, or an ACK in REQUESTING for
 *   another address than the one offered: drop_bad_addr;
 * - T1/T2 absent, not below the lease, or T1 >= T2: the RFC defaults
 *   (lease/2, lease*7/8) (ignored_timers);
 * - a mask that is not contiguous (or /0): the classful default
 *   (ignored_mask); a router outside the subnet, or our address, or the
 *   subnet's network or broadcast address: no router (ignored_router); an
 *   MTU below 576: none, above the NIC's: the NIC's (ignored_mtu).
 */
#include "net/dhcp.h"

#include <string.h>

#include "kernel/log.h"
#include "net/inet.h"
#include "net/wire.h"

#define NS_PER_S 1000000000ull

/* ---- helpers ------------------------------------------------------------------------- */

static uint64_t dhcp_rand(struct dhcp_client *c) {
  uint64_t x = c->c_rand; /* xorshift64 */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  c->c_rand = x;
  return x;
}

/** Retransmission delay for the n-th send (0-based): 4 << n s capped at 64,
 * plus a uniform jitter of -1..+1 s. */
static uint64_t dhcp_backoff_ns(struct dhcp_client *c, unsigned n) {
  uint64_t s = n >= 4 ? DHCP_BACKOFF_MAX_S : (uint64_t)DHCP_BACKOFF_FIRST_S << n;
  if (s > DHCP_BACKOFF_MAX_S)
    s = DHCP_BACKOFF_MAX_S;
  uint64_t jitter = dhcp_rand(c) % (2u * NS_PER_S + 1u);
  return s * NS_PER_S - NS_PER_S + jitter;
}

static void dhcp_arm(struct dhcp_client *c, uint64_t deadline) {
  c->c_next_ns = deadline;
  if (c->c_ops.do_arm)
    c->c_ops.do_arm(c->c_arg, deadline);
}

const char *dhcp_state_name(enum dhcp_state s) {
  static const char *const names[] = {"off",   "init",     "selecting", "requesting",
                                      "bound", "renewing", "rebinding"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void ip_str(char *b, const uint8_t ip[4]) {
  static const char digits[] = "0123456789";
  char *o = b;
  for (int i = 0; i < 4; i++) {
    unsigned v = ip[i];
    if (v >= 100)
      *o++ = digits[v / 100];
    if (v >= 10)
      *o++ = digits[(v / 10) % 10];
    *o++ = digits[v % 10];
    *o++ = i < 3 ? '.' : '\0';
  }
}

/* ---- sending ------------------------------------------------------------------------- */

/** Build a BOOTREQUEST of `type` in c_buf; returns its length. */
static uint32_t dhcp_build(struct dhcp_client *c, uint8_t type, uint64_t now) {
  uint8_t *b = c->c_buf;
  memset(b, 0, sizeof(c->c_buf));
  struct dhcp_msg *m = (struct dhcp_msg *)b;
  m->dm_op = BOOTP_REQUEST;
  m->dm_htype = 1;
  m->dm_hlen = 6;
  inet_put32(m->dm_xid, c->c_xid);
  uint64_t secs = (now - c->c_start_ns) / NS_PER_S;
  inet_put16(m->dm_secs, (uint16_t)(secs > 0xffff ? 0xffff : secs));
  bool renew = c->c_state == DHCP_RENEWING || c->c_state == DHCP_REBINDING;
  if (renew)
    memcpy(m->dm_ciaddr, c->c_lease.dl_ip, 4);
  else
    inet_put16(m->dm_flags, BOOTP_FLAG_BROADCAST); /* no address yet: answer by broadcast */
  memcpy(m->dm_chaddr, c->c_mac, 6);
  inet_put32(m->dm_magic, DHCP_MAGIC);
  uint8_t *o = b + DHCP_OPTS_OFF;
  *o++ = DHO_MSG_TYPE;
  *o++ = 1;
  *o++ = type;
  *o++ = DHO_CLIENT_ID; /* type 1 (Ethernet) + MAC */
  *o++ = 7;
  *o++ = 1;
  memcpy(o, c->c_mac, 6);
  o += 6;
  *o++ = DHO_MAX_MSG_SIZE;
  *o++ = 2;
  inet_put16(o, DHCP_MSG_MAX);
  o += 2;
  if (type == DHCPREQUEST && c->c_state == DHCP_REQUESTING) {
    *o++ = DHO_REQUESTED_IP;
    *o++ = 4;
    memcpy(o, c->c_offer_ip, 4);
    o += 4;
    *o++ = DHO_SERVER_ID;
    *o++ = 4;
    memcpy(o, c->c_offer_server, 4);
    o += 4;
  }
  size_t hn = strlen(c->c_hostname);
  if (hn) {
    *o++ = DHO_HOSTNAME;
    *o++ = (uint8_t)hn;
    memcpy(o, c->c_hostname, hn);
    o += hn;
  }
  static const uint8_t prl[] = {DHO_SUBNET_MASK, DHO_ROUTER,    DHO_DNS, DHO_MTU,
                                DHO_LEASE_TIME,  DHO_SERVER_ID, DHO_T1,  DHO_T2};
  *o++ = DHO_PARAM_LIST;
  *o++ = sizeof(prl);
  memcpy(o, prl, sizeof(prl));
  o += sizeof(prl);
  *o++ = DHO_END;
  uint32_t len = (uint32_t)(o - b);
  return len < DHCP_MIN_LEN ? DHCP_MIN_LEN : len; /* zero padding up to 300 (RFC 951) */
}

/** Send the state's message now and arm its retransmission. */
static void dhcp_send(struct dhcp_client *c, uint64_t now) {
  uint8_t type = c->c_state == DHCP_SELECTING ? DHCPDISCOVER : DHCPREQUEST;
  uint32_t len = dhcp_build(c, type, now);
  const uint8_t *dst = NULL;
  if (c->c_state == DHCP_SELECTING)
    c->c_st.discovers++;
  else if (c->c_state == DHCP_REQUESTING)
    c->c_st.requests++;
  else if (c->c_state == DHCP_RENEWING) {
    c->c_st.renew_requests++;
    dst = c->c_lease.dl_server; /* unicast to the server (RFC 2131 4.4.5) */
  } else
    c->c_st.rebind_requests++;
  if (type == DHCPREQUEST)
    c->c_req_ns = now; /* the lease counts from the REQUEST (RFC 2131 4.4.1) */
  c->c_ops.do_send(c->c_arg, c->c_buf, len, dst);
  uint64_t next = now + dhcp_backoff_ns(c, c->c_tries);
  c->c_tries++;
  if (c->c_state == DHCP_RENEWING && next > c->c_t2_ns)
    next = c->c_t2_ns;
  if (c->c_state == DHCP_REBINDING && next > c->c_end_ns)
    next = c->c_end_ns;
  dhcp_arm(c, next);
}

/** A new exchange in `st`: fresh xid, counters reset, first send now. */
static void dhcp_exchange(struct dhcp_client *c, enum dhcp_state st, uint64_t now) {
  c->c_state = st;
  c->c_xid = (uint32_t)(dhcp_rand(c) >> 16);
  c->c_tries = 0;
  c->c_start_ns = now;
  dhcp_send(c, now);
}

static void dhcp_unbind(struct dhcp_client *c) {
  if (!c->c_bound)
    return;
  c->c_bound = false;
  c->c_ops.do_bind(c->c_arg, NULL);
}

static void dhcp_discover(struct dhcp_client *c, uint64_t now) {
  dhcp_exchange(c, DHCP_SELECTING, now);
  pr_info("net: DHCP discover (xid %#lx)\n", (unsigned long)c->c_xid);
}

/* ---- public state changes ------------------------------------------------------------ */

void dhcp_init(struct dhcp_client *c, const uint8_t mac[6], const char *hostname, uint32_t mtu_cap,
               uint64_t seed, const struct dhcp_ops *ops, void *arg) {
  memset(c, 0, sizeof(*c));
  memcpy(c->c_mac, mac, 6);
  if (hostname) {
    size_t n = strlen(hostname);
    if (n > DHCP_HOSTNAME_MAX)
      n = DHCP_HOSTNAME_MAX;
    memcpy(c->c_hostname, hostname, n);
  }
  c->c_mtu_cap = mtu_cap;
  c->c_rand = seed ? seed : 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 6; i++)
    c->c_rand = (c->c_rand ^ mac[i]) * 0x100000001b3ull;
  if (!c->c_rand)
    c->c_rand = 1;
  c->c_ops = *ops;
  c->c_arg = arg;
  c->c_next_ns = UINT64_MAX;
}

void dhcp_start(struct dhcp_client *c, uint64_t now_ns) {
  if (c->c_state != DHCP_OFF)
    c->c_st.restarts++;
  dhcp_unbind(c);
  c->c_naks = 0;
  dhcp_discover(c, now_ns);
}

void dhcp_stop(struct dhcp_client *c) {
  c->c_state = DHCP_OFF;
  dhcp_arm(c, UINT64_MAX);
}

void dhcp_timeout(struct dhcp_client *c, uint64_t now) {
  if (now < c->c_next_ns)
    return;
  switch (c->c_state) {
  case DHCP_INIT:
    dhcp_discover(c, now);
    return;
  case DHCP_SELECTING:
    dhcp_send(c, now);
    return;
  case DHCP_REQUESTING:
    if (c->c_tries >= DHCP_REQUEST_TRIES) {
      pr_info("net: DHCP no answer to the request; starting again\n");
      dhcp_discover(c, now);
    } else {
      dhcp_send(c, now);
    }
    return;
  case DHCP_BOUND: {
    char s[16];
    ip_str(s, c->c_lease.dl_server);
    dhcp_exchange(c, DHCP_RENEWING, now);
    pr_info("net: DHCP renewing with %s\n", s);
    return;
  }
  case DHCP_RENEWING:
    if (now >= c->c_t2_ns) {
      dhcp_exchange(c, DHCP_REBINDING, now);
      pr_info("net: DHCP rebinding (no answer from the server by T2)\n");
    } else {
      dhcp_send(c, now);
    }
    return;
  case DHCP_REBINDING:
    if (now >= c->c_end_ns) {
      char s[16];
      ip_str(s, c->c_lease.dl_ip);
      c->c_st.expiries++;
      dhcp_unbind(c);
      pr_info("net: DHCP lease of %s expired; starting again\n", s);
      dhcp_discover(c, now);
    } else {
      dhcp_send(c, now);
    }
    return;
  default:
    return;
  }
}

/* ---- input ----------------------------------------------------------------------------- */

struct dhcp_opts {
  uint8_t type;
  bool has_mask, has_router, has_dns, has_lease, has_server, has_mtu, has_t1, has_t2;
  uint8_t mask[4], router[4], dns[4], server[4];
  uint32_t lease, t1, t2;
  uint16_t mtu;
  uint8_t overload;
};

/** Keep the first well-formed (`ok`) occurrence of an address option. */
static void dhcp_take_addr(bool ok, bool *has, uint8_t dst[4], const uint8_t *v) {
  if (ok && !*has) {
    memcpy(dst, v, 4);
    *has = true;
  }
}

/** Keep the first well-formed (`ok`) occurrence of a 32-bit option. */
static void dhcp_take32(bool ok, bool *has, uint32_t *dst, const uint8_t *v) {
  if (ok && !*has) {
    *dst = inet_get32(v);
    *has = true;
  }
}

/** Walk one option area; first occurrence wins. 0, or -1 when an option runs
 * past the area. */
static int dhcp_opts_area(const uint8_t *p, uint32_t len, struct dhcp_opts *o, bool main_area) {
  uint32_t i = 0;
  while (i < len) {
    uint8_t code = p[i];
    if (code == DHO_PAD) {
      i++;
      continue;
    }
    if (code == DHO_END)
      return 0;
    if (len - i < 2u || p[i + 1] > len - i - 2u)
      return -1;
    uint8_t l = p[i + 1];
    const uint8_t *v = p + i + 2;
    switch (code) {
    case DHO_MSG_TYPE:
      if (l == 1 && !o->type)
        o->type = v[0];
      break;
    case DHO_SUBNET_MASK:
      dhcp_take_addr(l == 4, &o->has_mask, o->mask, v);
      break;
    case DHO_ROUTER: /* a list: the first entry is the preferred one */
      dhcp_take_addr(l >= 4 && l % 4 == 0, &o->has_router, o->router, v);
      break;
    case DHO_DNS:
      dhcp_take_addr(l >= 4 && l % 4 == 0, &o->has_dns, o->dns, v);
      break;
    case DHO_SERVER_ID:
      dhcp_take_addr(l == 4, &o->has_server, o->server, v);
      break;
    case DHO_LEASE_TIME:
      dhcp_take32(l == 4, &o->has_lease, &o->lease, v);
      break;
    case DHO_T1:
      dhcp_take32(l == 4, &o->has_t1, &o->t1, v);
      break;
    case DHO_T2:
      dhcp_take32(l == 4, &o->has_t2, &o->t2, v);
      break;
    case DHO_MTU:
      if (l == 2 && !o->has_mtu) {
        o->mtu = inet_get16(v);
        o->has_mtu = true;
      }
      break;
    case DHO_OVERLOAD:
      if (!main_area)
        break; /* only the options field may overload the others */
      if (l != 1 || v[0] < 1 || v[0] > 3)
        return -1;
      if (!o->overload)
        o->overload = v[0];
      break;
    default:
      break;
    }
    i += 2u + l;
  }
  return 0;
}

static int dhcp_opts_parse(const uint8_t *msg, uint32_t len, struct dhcp_opts *o) {
  memset(o, 0, sizeof(*o));
  const struct dhcp_msg *m = (const struct dhcp_msg *)msg;
  if (dhcp_opts_area(msg + DHCP_OPTS_OFF, len - DHCP_OPTS_OFF, o, true))
    return -1;
  if ((o->overload & DHCP_OVERLOAD_FILE) &&
      dhcp_opts_area(m->dm_file, sizeof(m->dm_file), o, false))
    return -1;
  if ((o->overload & DHCP_OVERLOAD_SNAME) &&
      dhcp_opts_area(m->dm_sname, sizeof(m->dm_sname), o, false))
    return -1;
  return 0;
}

/** A unicast address a host may hold. */
static bool dhcp_addr_ok(const uint8_t a[4]) { return a[0] != 0 && a[0] != 127 && a[0] < 224; }

static uint8_t dhcp_classful(const uint8_t a[4]) { return a[0] < 128 ? 8 : a[0] < 192 ? 16 : 24; }

/** Prefix length of a contiguous mask (1..32), or -1. */
static int dhcp_mask_prefix(const uint8_t m[4]) {
  uint32_t v = inet_get32(m);
  if (v == 0 || (~v & (~v + 1u)) != 0)
    return -1; /* zero, or the ones are not all at the top */
  int p = 0;
  while (v) {
    p++;
    v <<= 1;
  }
  return p;
}

/** Turn a valid ACK's options into c_lease (the checks of the header
 * comment). */
static void dhcp_lease_from(struct dhcp_client *c, const uint8_t yi[4], const struct dhcp_opts *o) {
  struct dhcp_lease *l = &c->c_lease;
  memset(l, 0, sizeof(*l));
  memcpy(l->dl_ip, yi, 4);
  int p = o->has_mask ? dhcp_mask_prefix(o->mask) : -1;
  if (p < 0) {
    if (o->has_mask)
      c->c_st.ignored_mask++;
    p = dhcp_classful(yi);
  }
  l->dl_prefix = (uint8_t)p;
  if (o->has_router) {
    uint32_t mask = p >= 32 ? 0xffffffffu : ~(0xffffffffu >> p);
    uint32_t r = inet_get32(o->router), me = inet_get32(yi);
    bool in = (r & mask) == (me & mask) && r != me && dhcp_addr_ok(o->router) &&
              (p >= 31 || ((r & ~mask) != 0 && (r & ~mask) != ~mask));
    if (in) {
      l->dl_has_router = true;
      memcpy(l->dl_router, o->router, 4);
    } else {
      c->c_st.ignored_router++;
    }
  }
  memcpy(l->dl_server, o->server, 4);
  if (o->has_dns) {
    l->dl_has_dns = true;
    memcpy(l->dl_dns, o->dns, 4);
  }
  if (o->has_mtu) {
    if (o->mtu < 576u) {
      c->c_st.ignored_mtu++;
    } else if (o->mtu > c->c_mtu_cap) {
      c->c_st.ignored_mtu++;
      l->dl_mtu = c->c_mtu_cap;
    } else {
      l->dl_mtu = o->mtu;
    }
  }
  l->dl_lease_s = o->lease;
  if (o->lease == DHCP_LEASE_INFINITE) {
    l->dl_t1_s = l->dl_t2_s = DHCP_LEASE_INFINITE;
    return;
  }
  uint32_t t1 = o->has_t1 ? o->t1 : o->lease / 2u;
  uint32_t t2 = o->has_t2 ? o->t2 : (uint32_t)((uint64_t)o->lease * 7u / 8u);
  if (t1 >= o->lease || t2 >= o->lease || t1 >= t2) {
    if (o->has_t1 || o->has_t2)
      c->c_st.ignored_timers++;
    t1 = o->lease / 2u;
    t2 = (uint32_t)((uint64_t)o->lease * 7u / 8u);
  }
  l->dl_t1_s = t1;
  l->dl_t2_s = t2;
}

static void dhcp_bound(struct dhcp_client *c, uint64_t now, const uint8_t yi[4],
                       const struct dhcp_opts *o) {
  bool renewal = c->c_state == DHCP_RENEWING || c->c_state == DHCP_REBINDING;
  dhcp_lease_from(c, yi, o);
  const struct dhcp_lease *l = &c->c_lease;
  c->c_state = DHCP_BOUND;
  c->c_naks = 0;
  c->c_st.acks++;
  if (renewal)
    c->c_st.renewals++;
  else
    c->c_st.leases++;
  if (!c->c_bound_ns)
    c->c_bound_ns = now;
  c->c_bound = true;
  c->c_ops.do_bind(c->c_arg, l);
  char ip[16], rt[16], sv[16];
  ip_str(ip, l->dl_ip);
  ip_str(sv, l->dl_server);
  if (l->dl_has_router)
    ip_str(rt, l->dl_router);
  else
    memcpy(rt, "none", 5);
  if (l->dl_lease_s == DHCP_LEASE_INFINITE) {
    c->c_t1_ns = c->c_t2_ns = c->c_end_ns = UINT64_MAX;
    pr_info("net: DHCP %s %s/%u router %s server %s for ever\n", renewal ? "renewed" : "lease", ip,
            l->dl_prefix, rt, sv);
    dhcp_arm(c, UINT64_MAX);
    return;
  }
  uint64_t base = c->c_req_ns;
  c->c_t1_ns = base + (uint64_t)l->dl_t1_s * NS_PER_S;
  c->c_t2_ns = base + (uint64_t)l->dl_t2_s * NS_PER_S;
  c->c_end_ns = base + (uint64_t)l->dl_lease_s * NS_PER_S;
  pr_info("net: DHCP %s %s/%u router %s server %s for %lu s (renew in %lu s)\n",
          renewal ? "renewed" : "lease", ip, l->dl_prefix, rt, sv, (unsigned long)l->dl_lease_s,
          (unsigned long)l->dl_t1_s);
  dhcp_arm(c, c->c_t1_ns > now ? c->c_t1_ns : now);
}

static void dhcp_nak(struct dhcp_client *c, uint64_t now, const struct dhcp_opts *o) {
  char sv[16];
  ip_str(sv, o->has_server ? o->server : c->c_offer_server);
  c->c_st.naks++;
  dhcp_unbind(c);
  /* Start again after the back-off of the NAKs so far: a server that NAKs
   * everything gets one exchange per 4..64 s, not a storm. */
  uint64_t wait = c->c_naks == 0 ? 0 : dhcp_backoff_ns(c, c->c_naks - 1u);
  c->c_naks++;
  c->c_state = DHCP_INIT;
  pr_info("net: DHCP NAK from %s; starting again\n", sv);
  if (wait)
    dhcp_arm(c, now + wait);
  else
    dhcp_discover(c, now);
}

/* ---- input: the checks every reply passes, then one handler per type ----------------- */

/**
 * The checks every reply passes before its type matters: long enough, a
 * BOOTP reply for Ethernet with the DHCP magic, ours (a state that waits,
 * our xid and MAC), options that parse, and an OFFER, ACK or NAK that this
 * state waits for. Anything else is counted under its drop reason.
 * @ret true with *o filled.
 */
static bool dhcp_reply_wanted(struct dhcp_client *c, const uint8_t *msg, uint32_t len,
                              struct dhcp_opts *o) {
  if (len < DHCP_OPTS_OFF) {
    c->c_st.drop_short++;
    return false;
  }
  const struct dhcp_msg *m = (const struct dhcp_msg *)msg;
  if (m->dm_op != BOOTP_REPLY || m->dm_htype != 1 || m->dm_hlen != 6 ||
      inet_get32(m->dm_magic) != DHCP_MAGIC) {
    c->c_st.drop_proto++;
    return false;
  }
  if (c->c_state == DHCP_OFF || c->c_state == DHCP_INIT || inet_get32(m->dm_xid) != c->c_xid ||
      memcmp(m->dm_chaddr, c->c_mac, 6) != 0) {
    c->c_st.drop_not_ours++;
    return false;
  }
  if (dhcp_opts_parse(msg, len, o)) {
    c->c_st.drop_options++;
    return false;
  }
  if (o->type != DHCPOFFER && o->type != DHCPACK && o->type != DHCPNAK) {
    c->c_st.drop_proto++;
    return false;
  }
  bool want_offer = c->c_state == DHCP_SELECTING;
  bool want_ack =
      c->c_state == DHCP_REQUESTING || c->c_state == DHCP_RENEWING || c->c_state == DHCP_REBINDING;
  if ((o->type == DHCPOFFER && !want_offer) || (o->type != DHCPOFFER && !want_ack)) {
    c->c_st.drop_state++;
    return false;
  }
  return true;
}

/** The server whose answer this state waits for: the one we chose
 * (REQUESTING) or hold the lease from (RENEWING); NULL when any server may
 * answer (SELECTING, REBINDING). */
static const uint8_t *dhcp_chosen_server(const struct dhcp_client *c) {
  return c->c_state == DHCP_REQUESTING ? c->c_offer_server
         : c->c_state == DHCP_RENEWING ? c->c_lease.dl_server
                                       : NULL;
}

/** An OFFER or ACK names its server, comes from the `chosen` one (when
 * there is one) and gives a usable address `yi`; else counted, false. */
static bool dhcp_lease_source_ok(struct dhcp_client *c, const uint8_t *chosen, const uint8_t yi[4],
                                 const struct dhcp_opts *o) {
  if (!o->has_server) {
    c->c_st.drop_bad_lease++;
    return false;
  }
  if (chosen && memcmp(o->server, chosen, 4) != 0) {
    c->c_st.drop_server++;
    return false;
  }
  if (!dhcp_addr_ok(yi) || yi[0] == 255) {
    c->c_st.drop_bad_addr++;
    return false;
  }
  return true;
}

/** An OFFER (SELECTING): remember the address and its server, and REQUEST
 * it with the same xid. */
static void dhcp_offer(struct dhcp_client *c, uint64_t now, const uint8_t yi[4],
                       const struct dhcp_opts *o) {
  c->c_st.offers++;
  memcpy(c->c_offer_ip, yi, 4);
  memcpy(c->c_offer_server, o->server, 4);
  char ip[16], sv[16];
  ip_str(ip, c->c_offer_ip);
  ip_str(sv, c->c_offer_server);
  c->c_state = DHCP_REQUESTING;
  c->c_tries = 0; /* same xid: the REQUEST answers this OFFER */
  dhcp_send(c, now);
  pr_info("net: DHCP offer %s from %s; requesting\n", ip, sv);
}

/** An ACK (REQUESTING, RENEWING, REBINDING): it must carry a lease time and
 * the address we asked for (the offered one, or the one we hold); then bound. */
static void dhcp_ack(struct dhcp_client *c, uint64_t now, const uint8_t yi[4],
                     const struct dhcp_opts *o) {
  if (!o->has_lease || o->lease == 0) {
    c->c_st.drop_bad_lease++;
    return;
  }
  const uint8_t *want = c->c_state == DHCP_REQUESTING ? c->c_offer_ip : c->c_lease.dl_ip;
  if (memcmp(yi, want, 4) != 0) {
    c->c_st.drop_bad_addr++;
    return;
  }
  dhcp_bound(c, now, yi, o);
}

void dhcp_input(struct dhcp_client *c, uint64_t now, const uint8_t *msg, uint32_t len) {
  struct dhcp_opts o;
  if (!dhcp_reply_wanted(c, msg, len, &o))
    return;
  const uint8_t *yi = ((const struct dhcp_msg *)msg)->dm_yiaddr;
  const uint8_t *chosen = dhcp_chosen_server(c);
  if (o.type == DHCPNAK) {
    /* Only the server we wait for may take our address away. */
    if (chosen && (!o.has_server || memcmp(o.server, chosen, 4) != 0))
      c->c_st.drop_server++;
    else
      dhcp_nak(c, now, &o);
    return;
  }
  if (!dhcp_lease_source_ok(c, chosen, yi, &o))
    return;
  if (o.type == DHCPOFFER)
    dhcp_offer(c, now, yi, &o);
  else
    dhcp_ack(c, now, yi, &o);
}
