/* tests/unit/net_dhcp_test.c: the DHCP client state machine (net/dhcp.c)
 * against a scripted server, on the test's own clock: every path of RFC
 * 2131's client (DISCOVER/OFFER/REQUEST/ACK/NAK, renew at T1 by unicast,
 * rebind at T2 by broadcast, expiry, back-off with jitter) and every
 * hostile reply the issue lists. Messages are built from the layout of RFC
 * 2131 section 2 (offsets written here, not taken from net/wire.h). */
#include "tests/unit/unit.h"

#include <string.h>

#include "net/dhcp.h"

#define S 1000000000ull
#define T0 (1000ull * S) /* the test clock starts here */

/* RFC 2131 figure 1, offsets */
#define O_OP 0
#define O_XID 4
#define O_SECS 8
#define O_FLAGS 10
#define O_CIADDR 12
#define O_YIADDR 16
#define O_CHADDR 28
#define O_SNAME 44
#define O_FILE 108
#define O_COOKIE 236
#define O_OPTS 240

static const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x12, 0x34, 0x56};
static const uint8_t srv1[4] = {10, 1, 0, 1}, srv2[4] = {10, 1, 0, 2};
static const uint8_t addr[4] = {10, 1, 2, 3};

struct fx {
  struct dhcp_client c;
  uint8_t sent[DHCP_MSG_MAX];
  uint32_t sent_len;
  unsigned nsent;
  bool sent_unicast;
  uint8_t sent_dst[4];
  bool bound;
  struct dhcp_lease lease;
  unsigned binds, unbinds;
  uint64_t deadline;
  uint64_t now;
};

static void fx_send(void *arg, const uint8_t *m, uint32_t len, const uint8_t *dst) {
  struct fx *f = arg;
  assert_true(len <= sizeof(f->sent));
  memcpy(f->sent, m, len);
  f->sent_len = len;
  f->nsent++;
  f->sent_unicast = dst != NULL;
  if (dst)
    memcpy(f->sent_dst, dst, 4);
}

static void fx_bind(void *arg, const struct dhcp_lease *l) {
  struct fx *f = arg;
  f->bound = l != NULL;
  if (l) {
    f->lease = *l;
    f->binds++;
  } else {
    f->unbinds++;
  }
}

static void fx_arm(void *arg, uint64_t d) { ((struct fx *)arg)->deadline = d; }

static void fx_init(struct fx *f, const char *hostname) {
  memset(f, 0, sizeof(*f));
  static const struct dhcp_ops ops = {fx_send, fx_bind, fx_arm};
  dhcp_init(&f->c, mac, hostname, 1500, 42, &ops, f);
  f->now = T0;
}

/** Run the clock to the armed deadline and fire it. */
static void fx_fire(struct fx *f) {
  assert_true(f->deadline != UINT64_MAX);
  if (f->deadline > f->now)
    f->now = f->deadline;
  dhcp_timeout(&f->c, f->now);
}

static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/** Find option `code` in what the client sent; its length or -1. */
static int sent_opt(const struct fx *f, uint8_t code, const uint8_t **val) {
  uint32_t i = O_OPTS;
  while (i < f->sent_len && f->sent[i] != 255) {
    if (f->sent[i] == 0) {
      i++;
      continue;
    }
    if (f->sent[i] == code) {
      *val = f->sent + i + 2;
      return f->sent[i + 1];
    }
    i += 2u + f->sent[i + 1];
  }
  return -1;
}

static int sent_type(const struct fx *f) {
  const uint8_t *v;
  return sent_opt(f, 53, &v) == 1 ? v[0] : -1;
}

/* ---- the scripted server ------------------------------------------------------------- */

struct reply {
  uint8_t b[700];
  uint32_t len;
};

/** A BOOTREPLY to the client's last message, with `opts` (no end added). */
static void reply_raw(struct reply *r, const struct fx *f, const uint8_t yi[4], const uint8_t *opts,
                      uint32_t olen) {
  memset(r, 0, sizeof(*r));
  r->b[O_OP] = 2;
  r->b[1] = 1;
  r->b[2] = 6;
  memcpy(r->b + O_XID, f->sent + O_XID, 4);
  if (yi)
    memcpy(r->b + O_YIADDR, yi, 4);
  memcpy(r->b + O_CHADDR, mac, 6);
  r->b[O_COOKIE] = 99;
  r->b[O_COOKIE + 1] = 130;
  r->b[O_COOKIE + 2] = 83;
  r->b[O_COOKIE + 3] = 99;
  memcpy(r->b + O_OPTS, opts, olen);
  r->len = O_OPTS + olen;
}

static uint8_t *put4(uint8_t *o, uint8_t code, const uint8_t v[4]) {
  *o++ = code;
  *o++ = 4;
  memcpy(o, v, 4);
  return o + 4;
}

static uint8_t *put32o(uint8_t *o, uint8_t code, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  return put4(o, code, b);
}

/** The options every reply starts with: message type and server id. */
static uint8_t *opt_head(uint8_t *o, uint8_t type, const uint8_t server[4]) {
  *o++ = 53;
  *o++ = 1;
  *o++ = type;
  return put4(o, 54, server);
}

/** The options of an ACK from srv1 for `lease` s, up to the lease time. */
static uint8_t *ack_head(uint8_t *o, uint32_t lease) {
  return put32o(opt_head(o, 5, srv1), 51, lease);
}

/** A well-formed reply: type, server id, lease, mask /16, router 10.1.0.1. */
static void reply_std(struct reply *r, const struct fx *f, uint8_t type, const uint8_t server[4],
                      uint32_t lease) {
  static const uint8_t mask[4] = {255, 255, 0, 0};
  uint8_t o[64], *p = opt_head(o, type, server);
  if (type != 6) {
    p = put32o(p, 51, lease);
    p = put4(p, 1, mask);
    p = put4(p, 3, srv1);
  }
  *p++ = 255;
  reply_raw(r, f, type == 6 ? NULL : addr, o, (uint32_t)(p - o));
}

static void give(struct fx *f, const struct reply *r) { dhcp_input(&f->c, f->now, r->b, r->len); }

/** The scripted server answers the client's last message (reply_std). */
static void fx_answer(struct fx *f, uint8_t type, const uint8_t server[4], uint32_t lease) {
  struct reply r;
  reply_std(&r, f, type, server, lease);
  give(f, &r);
}

/** The client, in state `want`, drops the scripted server's answer (`type`
 * from `server`, fx_answer): the counter `drop` (a field of f->c.c_st)
 * goes up by one, and the state (still `want`), the lease held and the
 * number of binds stay as they were. */
static void fx_answer_dropped(struct fx *f, uint8_t type, const uint8_t server[4], uint32_t lease,
                              const uint64_t *drop, enum dhcp_state want) {
  assert_int_equal(f->c.c_state, want);
  uint64_t drops = *drop;
  bool bound = f->bound;
  unsigned binds = f->binds;
  fx_answer(f, type, server, lease);
  assert_int_equal(*drop, drops + 1);
  assert_int_equal(f->c.c_state, want);
  assert_int_equal(f->bound, bound);
  assert_int_equal(f->binds, binds);
}

/** A reply offering `addr` with the options `o` (reply_raw). */
static void give_opts(struct fx *f, const uint8_t *o, uint32_t olen) {
  struct reply r;
  reply_raw(&r, f, addr, o, olen);
  give(f, &r);
}

/** A fresh client (no hostname) that has sent its DISCOVER: SELECTING. */
static void fx_selecting(struct fx *f) {
  fx_init(f, NULL);
  dhcp_start(&f->c, f->now);
}

/** A fresh client that took srv1's OFFER of `lease` s: REQUESTING. */
static void fx_requesting(struct fx *f, uint32_t lease) {
  fx_selecting(f);
  fx_answer(f, 2, srv1, lease);
  assert_int_equal(f->c.c_state, DHCP_REQUESTING);
}

/** From OFF to BOUND with a lease of `lease` s from srv1. */
static void fx_bound(struct fx *f, uint32_t lease) {
  fx_requesting(f, lease);
  fx_answer(f, 5, srv1, lease);
  assert_int_equal(f->c.c_state, DHCP_BOUND);
  assert_true(f->bound);
}

/* ---- paths --------------------------------------------------------------------------- */

static void test_discover_fields(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, "unikernel-1");
  dhcp_start(&f.c, f.now);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
  assert_int_equal(f.nsent, 1);
  assert_false(f.sent_unicast);
  assert_true(f.sent_len >= 300);
  assert_int_equal(f.sent[O_OP], 1);
  assert_int_equal(f.sent[1], 1);
  assert_int_equal(f.sent[2], 6);
  assert_int_equal(f.sent[O_FLAGS] & 0x80, 0x80); /* broadcast flag */
  assert_memory_equal(f.sent + O_CHADDR, mac, 6);
  assert_int_equal(rd32(f.sent + O_COOKIE), 0x63825363u);
  assert_int_equal(sent_type(&f), 1);
  const uint8_t *v;
  assert_int_equal(sent_opt(&f, 61, &v), 7);
  assert_int_equal(v[0], 1);
  assert_memory_equal(v + 1, mac, 6);
  int n = sent_opt(&f, 55, &v);
  assert_true(n >= 8);
  static const uint8_t want[] = {1, 3, 6, 26, 51, 54, 58, 59};
  for (size_t i = 0; i < sizeof(want); i++)
    assert_non_null(memchr(v, want[i], (size_t)n));
  assert_int_equal(sent_opt(&f, 12, &v), 11);
  assert_memory_equal(v, "unikernel-1", 11);
  assert_true(f.deadline >= f.now + 3 * S && f.deadline <= f.now + 5 * S);
}

static void test_no_hostname_option_without_key(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  const uint8_t *v;
  assert_int_equal(sent_opt(&f, 12, &v), -1);
}

static void test_full_exchange(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  uint32_t xid = rd32(f.sent + O_XID);
  struct reply r;
  reply_std(&r, &f, 2, srv1, 600);
  f.now += S / 10;
  give(&f, &r);
  assert_int_equal(f.c.c_state, DHCP_REQUESTING);
  assert_int_equal(sent_type(&f), 3);
  assert_int_equal(rd32(f.sent + O_XID), xid); /* the REQUEST answers this OFFER */
  assert_int_equal(f.sent[O_FLAGS] & 0x80, 0x80);
  assert_false(f.sent_unicast);
  const uint8_t *v;
  assert_int_equal(sent_opt(&f, 50, &v), 4);
  assert_memory_equal(v, addr, 4);
  assert_int_equal(sent_opt(&f, 54, &v), 4);
  assert_memory_equal(v, srv1, 4);
  uint64_t req = f.now;
  reply_std(&r, &f, 5, srv1, 600);
  f.now += S / 10;
  give(&f, &r);
  assert_int_equal(f.c.c_state, DHCP_BOUND);
  assert_true(f.bound);
  assert_memory_equal(f.lease.dl_ip, addr, 4);
  assert_int_equal(f.lease.dl_prefix, 16);
  assert_true(f.lease.dl_has_router);
  assert_memory_equal(f.lease.dl_router, srv1, 4);
  assert_memory_equal(f.lease.dl_server, srv1, 4);
  assert_int_equal(f.lease.dl_lease_s, 600);
  assert_int_equal(f.lease.dl_t1_s, 300);
  assert_int_equal(f.lease.dl_t2_s, 525);
  assert_true(f.deadline == req + 300 * S); /* T1 counts from the REQUEST */
  assert_int_equal(f.c.c_st.leases, 1);
}

static void test_backoff_with_jitter(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  uint32_t xid = rd32(f.sent + O_XID);
  static const unsigned base[] = {4, 8, 16, 32, 64, 64, 64};
  for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
    uint64_t d = f.deadline - f.now;
    assert_true(d >= (base[i] - 1) * S && d <= (base[i] + 1) * S);
    fx_fire(&f);
    assert_int_equal(f.nsent, i + 2);
    assert_int_equal(rd32(f.sent + O_XID), xid); /* retransmission: same exchange */
    assert_true(rd32(f.sent + O_SECS) >> 16 > 0);
  }
  assert_int_equal(f.c.c_st.discovers, 8);
}

static void test_random_xid_per_exchange(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  uint32_t x1 = rd32(f.sent + O_XID);
  fx_fire(&f); /* T1: a new exchange */
  uint32_t x2 = rd32(f.sent + O_XID);
  dhcp_start(&f.c, f.now);
  uint32_t x3 = rd32(f.sent + O_XID);
  assert_true(x1 != x2 && x2 != x3 && x1 != x3);
  struct fx g;
  memset(&g, 0, sizeof(g));
  static const struct dhcp_ops ops = {fx_send, fx_bind, fx_arm};
  dhcp_init(&g.c, mac, NULL, 1500, 43, &ops, &g);
  dhcp_start(&g.c, T0);
  fx_init(&f, NULL);
  dhcp_start(&f.c, T0);
  assert_true(rd32(g.sent + O_XID) != rd32(f.sent + O_XID)); /* other seed, other xid */
}

static void test_renew_at_t1_unicast(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  unsigned n = f.nsent;
  f.now += 299 * S;
  dhcp_timeout(&f.c, f.now); /* early: nothing */
  assert_int_equal(f.nsent, n);
  fx_fire(&f);
  assert_int_equal(f.c.c_state, DHCP_RENEWING);
  assert_int_equal(sent_type(&f), 3);
  assert_true(f.sent_unicast);
  assert_memory_equal(f.sent_dst, srv1, 4);
  assert_memory_equal(f.sent + O_CIADDR, addr, 4);
  assert_int_equal(f.sent[O_FLAGS] & 0x80, 0);
  const uint8_t *v;
  assert_int_equal(sent_opt(&f, 50, &v), -1); /* RFC 2131 4.3.2: not in RENEWING */
  assert_int_equal(sent_opt(&f, 54, &v), -1);
  fx_answer(&f, 5, srv1, 600);
  assert_int_equal(f.c.c_state, DHCP_BOUND);
  assert_int_equal(f.c.c_st.renewals, 1);
  assert_int_equal(f.unbinds, 0);
  assert_true(f.deadline == f.now + 300 * S);
}

static void test_rebind_at_t2_broadcast_any_server(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  fx_fire(&f); /* T1 */
  uint64_t t2 = T0 + 525 * S;
  while (f.c.c_state == DHCP_RENEWING) {
    assert_true(f.deadline <= t2); /* retransmissions never pass T2 */
    fx_fire(&f);
  }
  assert_int_equal(f.c.c_state, DHCP_REBINDING);
  assert_true(f.now == t2);
  assert_false(f.sent_unicast);
  assert_memory_equal(f.sent + O_CIADDR, addr, 4);
  fx_answer(&f, 5, srv2, 600); /* another server may answer a rebind */
  assert_int_equal(f.c.c_state, DHCP_BOUND);
  assert_memory_equal(f.lease.dl_server, srv2, 4);
}

static void test_expiry_drops_address(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  while (f.c.c_state != DHCP_SELECTING) {
    assert_true(f.deadline <= T0 + 600 * S);
    fx_fire(&f);
  }
  assert_true(f.now == T0 + 600 * S);
  assert_false(f.bound);
  assert_int_equal(f.unbinds, 1);
  assert_int_equal(f.c.c_st.expiries, 1);
  assert_int_equal(sent_type(&f), 1);
}

static void test_request_unanswered_restarts(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 600);
  for (unsigned i = 1; i < DHCP_REQUEST_TRIES; i++) {
    fx_fire(&f);
    assert_int_equal(sent_type(&f), 3);
  }
  fx_fire(&f);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
  assert_int_equal(sent_type(&f), 1);
}

static void test_infinite_lease(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 0xffffffffu);
  assert_true(f.deadline == UINT64_MAX);
  assert_int_equal(f.lease.dl_lease_s, DHCP_LEASE_INFINITE);
}

static void test_stop_and_restart(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  dhcp_stop(&f.c);
  assert_int_equal(f.c.c_state, DHCP_OFF);
  assert_true(f.deadline == UINT64_MAX);
  assert_true(f.bound); /* kept until the link comes back */
  fx_answer_dropped(&f, 5, srv1, 600, &f.c.c_st.drop_not_ours, DHCP_OFF);
  dhcp_start(&f.c, f.now); /* link up again, or a network change */
  assert_false(f.bound);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
  assert_int_equal(f.c.c_st.restarts, 0); /* from OFF: a start, not a restart */
  dhcp_start(&f.c, f.now);
  assert_int_equal(f.c.c_st.restarts, 1);
}

/* ---- NAKs ---------------------------------------------------------------------------- */

static void test_nak_in_requesting(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 600);
  fx_answer(&f, 6, srv1, 0);
  assert_int_equal(f.c.c_st.naks, 1);
  assert_int_equal(f.c.c_state, DHCP_SELECTING); /* first NAK: again at once */
  fx_answer(&f, 2, srv1, 600);
  fx_answer(&f, 6, srv1, 0);
  assert_int_equal(f.c.c_state, DHCP_INIT); /* the next ones back off */
  assert_true(f.deadline >= f.now + 3 * S && f.deadline <= f.now + 5 * S);
  fx_fire(&f);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
}

static void test_nak_in_renewing_drops_lease(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  fx_fire(&f);
  fx_answer(&f, 6, srv1, 0);
  assert_false(f.bound);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
}

static void test_nak_where_not_expected(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  fx_answer_dropped(&f, 6, srv1, 0, &f.c.c_st.drop_state, DHCP_SELECTING);
  fx_bound(&f, 600);
  fx_answer_dropped(&f, 6, srv1, 0, &f.c.c_st.drop_state, DHCP_BOUND);
  assert_true(f.bound);
}

static void test_nak_from_other_server(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 600);
  fx_answer_dropped(&f, 6, srv2, 0, &f.c.c_st.drop_server, DHCP_REQUESTING);
}

/* ---- hostile replies ----------------------------------------------------------------- */

static void test_second_server(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  struct reply r1, r2;
  reply_std(&r1, &f, 2, srv1, 600);
  reply_std(&r2, &f, 2, srv2, 600);
  give(&f, &r1);
  give(&f, &r2); /* a second OFFER after we chose: ignored */
  assert_int_equal(f.c.c_st.drop_state, 1);
  const uint8_t *v;
  assert_int_equal(sent_opt(&f, 54, &v), 4);
  assert_memory_equal(v, srv1, 4);
  fx_answer_dropped(&f, 5, srv2, 600, &f.c.c_st.drop_server, DHCP_REQUESTING); /* its ACK too */
  assert_false(f.bound);
  fx_answer(&f, 5, srv1, 600);
  assert_true(f.bound);
}

static void test_not_ours(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  struct reply r;
  reply_std(&r, &f, 2, srv1, 600);
  r.b[O_XID] ^= 1;
  give(&f, &r);
  reply_std(&r, &f, 2, srv1, 600);
  r.b[O_CHADDR + 5] ^= 1;
  give(&f, &r);
  assert_int_equal(f.c.c_st.drop_not_ours, 2);
  reply_std(&r, &f, 2, srv1, 600);
  r.b[O_OP] = 1; /* another client's request, broadcast on the LAN */
  give(&f, &r);
  reply_std(&r, &f, 2, srv1, 600);
  r.b[O_COOKIE] = 0;
  give(&f, &r);
  assert_int_equal(f.c.c_st.drop_proto, 2);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
}

static void test_truncated(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  struct reply r;
  reply_std(&r, &f, 2, srv1, 600);
  for (uint32_t len = 0; len < O_OPTS; len += 7)
    dhcp_input(&f.c, f.now, r.b, len);
  assert_int_equal(f.c.c_st.drop_short, (O_OPTS + 6) / 7);
  dhcp_input(&f.c, f.now, r.b, O_OPTS); /* no options at all: no type */
  assert_int_equal(f.c.c_st.drop_proto, 1);
  dhcp_input(&f.c, f.now, r.b, O_OPTS + 2); /* option 53 cut after its length */
  assert_int_equal(f.c.c_st.drop_options, 1);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
}

static void test_option_past_end(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  uint8_t o[] = {53, 1, 2, 54, 4, 10, 1, 0, 1, 51, 200, 0, 0};
  give_opts(&f, o, sizeof(o));
  assert_int_equal(f.c.c_st.drop_options, 1);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
}

static void test_pad_end_and_no_end(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  /* pads between options, then end, then garbage that must not count */
  uint8_t o[] = {0, 0, 53, 1, 2, 0, 54, 4, 10, 1, 0, 1, 255, 53, 1, 6, 1, 200};
  give_opts(&f, o, sizeof(o));
  assert_int_equal(f.c.c_state, DHCP_REQUESTING);
  /* an ACK without an end option: accepted when everything fits */
  uint8_t a[] = {53, 1, 5, 54, 4, 10, 1, 0, 1, 51, 4, 0, 0, 2, 88};
  give_opts(&f, a, sizeof(a));
  assert_int_equal(f.c.c_state, DHCP_BOUND);
  assert_int_equal(f.lease.dl_prefix, 8); /* no mask: classful (10/8) */
  assert_false(f.lease.dl_has_router);
}

static void test_overload(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 600);
  struct reply r;
  /* option 52 = 3: the lease and mask in the file field, router in sname */
  uint8_t o[] = {53, 1, 5, 54, 4, 10, 1, 0, 1, 52, 1, 3, 255};
  reply_raw(&r, &f, addr, o, sizeof(o));
  uint8_t *fl = r.b + O_FILE, *sn = r.b + O_SNAME;
  fl = put32o(fl, 51, 900);
  fl = put32o(fl, 1, 0xffffff00u);
  *fl = 255;
  sn = put4(sn, 3, (const uint8_t[]){10, 1, 2, 1});
  *sn = 255;
  give(&f, &r);
  assert_int_equal(f.c.c_state, DHCP_BOUND);
  assert_int_equal(f.lease.dl_lease_s, 900);
  assert_int_equal(f.lease.dl_prefix, 24);
  assert_true(f.lease.dl_has_router);
}

static void test_overload_hostile(void **state) {
  (void)state;
  struct fx f;
  fx_selecting(&f);
  struct reply r;
  uint8_t bad_val[] = {53, 1, 2, 54, 4, 10, 1, 0, 1, 52, 1, 4, 255};
  give_opts(&f, bad_val, sizeof(bad_val));
  uint8_t ok[] = {53, 1, 2, 54, 4, 10, 1, 0, 1, 52, 1, 1, 255};
  reply_raw(&r, &f, addr, ok, sizeof(ok));
  r.b[O_FILE + 126] = 3; /* a router option running past the file field */
  r.b[O_FILE + 127] = 4;
  give(&f, &r);
  assert_int_equal(f.c.c_st.drop_options, 2);
  /* option 52 inside an overloaded field is not followed again */
  reply_raw(&r, &f, addr, ok, sizeof(ok));
  r.b[O_FILE] = 52;
  r.b[O_FILE + 1] = 1;
  r.b[O_FILE + 2] = 2;
  r.b[O_SNAME] = 3;
  r.b[O_SNAME + 1] = 200; /* would fail if sname were parsed */
  give(&f, &r);
  assert_int_equal(f.c.c_state, DHCP_REQUESTING);
}

static void test_lease_zero(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 600);
  fx_answer_dropped(&f, 5, srv1, 0, &f.c.c_st.drop_bad_lease, DHCP_REQUESTING);
  uint8_t o[] = {53, 1, 5, 54, 4, 10, 1, 0, 1, 255}; /* no lease time at all */
  give_opts(&f, o, sizeof(o));
  assert_int_equal(f.c.c_st.drop_bad_lease, 2);
  uint8_t n[] = {53, 1, 5, 51, 4, 0, 0, 1, 0, 255}; /* no server id */
  give_opts(&f, n, sizeof(n));
  assert_int_equal(f.c.c_st.drop_bad_lease, 3);
  assert_false(f.bound);
}

static void test_t1_above_t2(void **state) {
  (void)state;
  struct fx f;
  fx_requesting(&f, 1000);
  uint8_t o[64], *p = ack_head(o, 1000);
  p = put32o(p, 58, 900);
  p = put32o(p, 59, 800);
  *p++ = 255;
  give_opts(&f, o, (uint32_t)(p - o));
  assert_true(f.bound);
  assert_int_equal(f.lease.dl_t1_s, 500);
  assert_int_equal(f.lease.dl_t2_s, 875);
  assert_int_equal(f.c.c_st.ignored_timers, 1);
  /* T2 beyond the lease: defaults too */
  fx_fire(&f);
  p = put32o(ack_head(o, 1000), 58, 100);
  p = put32o(p, 59, 5000);
  *p++ = 255;
  give_opts(&f, o, (uint32_t)(p - o));
  assert_int_equal(f.lease.dl_t2_s, 875);
  assert_int_equal(f.c.c_st.ignored_timers, 2);
}

static void ack_with(struct fx *f, const uint8_t mask[4], const uint8_t router[4], int mtu) {
  fx_requesting(f, 600);
  uint8_t o[64], *p = ack_head(o, 600);
  if (mask)
    p = put4(p, 1, mask);
  if (router)
    p = put4(p, 3, router);
  if (mtu >= 0) {
    *p++ = 26;
    *p++ = 2;
    *p++ = (uint8_t)(mtu >> 8);
    *p++ = (uint8_t)mtu;
  }
  *p++ = 255;
  give_opts(f, o, (uint32_t)(p - o));
  assert_true(f->bound);
}

static void test_mask_not_contiguous(void **state) {
  (void)state;
  struct fx f;
  ack_with(&f, (const uint8_t[]){255, 0, 255, 0}, NULL, -1);
  assert_int_equal(f.lease.dl_prefix, 8); /* classful for 10.x */
  assert_int_equal(f.c.c_st.ignored_mask, 1);
  ack_with(&f, (const uint8_t[]){0, 0, 0, 0}, NULL, -1);
  assert_int_equal(f.lease.dl_prefix, 8);
  assert_int_equal(f.c.c_st.ignored_mask, 1);
  ack_with(&f, (const uint8_t[]){255, 255, 240, 0}, NULL, -1);
  assert_int_equal(f.lease.dl_prefix, 20);
}

static void test_router_outside_subnet(void **state) {
  (void)state;
  static const uint8_t m24[4] = {255, 255, 255, 0};
  struct fx f;
  ack_with(&f, m24, (const uint8_t[]){10, 9, 9, 1}, -1);
  assert_false(f.lease.dl_has_router);
  assert_int_equal(f.c.c_st.ignored_router, 1);
  ack_with(&f, m24, addr, -1); /* our own address */
  assert_false(f.lease.dl_has_router);
  ack_with(&f, m24, (const uint8_t[]){10, 1, 2, 255}, -1); /* the broadcast address */
  assert_false(f.lease.dl_has_router);
  ack_with(&f, m24, (const uint8_t[]){10, 1, 2, 254}, -1);
  assert_true(f.lease.dl_has_router);
}

static void test_mtu(void **state) {
  (void)state;
  struct fx f;
  ack_with(&f, NULL, NULL, 500);
  assert_int_equal(f.lease.dl_mtu, 0);
  ack_with(&f, NULL, NULL, 9000);
  assert_int_equal(f.lease.dl_mtu, 1500); /* capped by the NIC's */
  ack_with(&f, NULL, NULL, 1400);
  assert_int_equal(f.lease.dl_mtu, 1400);
}

static void test_bad_yiaddr(void **state) {
  (void)state;
  static const uint8_t bad[][4] = {
      {0, 0, 0, 0}, {0, 1, 2, 3}, {127, 0, 0, 1}, {224, 0, 0, 1}, {255, 255, 255, 255}};
  struct fx f;
  fx_selecting(&f);
  struct reply r;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    reply_std(&r, &f, 2, srv1, 600);
    memcpy(r.b + O_YIADDR, bad[i], 4);
    give(&f, &r);
  }
  assert_int_equal(f.c.c_st.drop_bad_addr, 5);
  assert_int_equal(f.c.c_state, DHCP_SELECTING);
  fx_answer(&f, 2, srv1, 600);
  reply_std(&r, &f, 5, srv1, 600);
  r.b[O_YIADDR + 3] = 99; /* an ACK for another address than offered */
  give(&f, &r);
  assert_int_equal(f.c.c_st.drop_bad_addr, 6);
  assert_false(f.bound);
}

static void test_ack_in_bound_ignored(void **state) {
  (void)state;
  struct fx f;
  fx_bound(&f, 600);
  fx_answer_dropped(&f, 5, srv1, 9999, &f.c.c_st.drop_state, DHCP_BOUND);
  assert_int_equal(f.lease.dl_lease_s, 600); /* configuration unchanged */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_discover_fields),
    cmocka_unit_test(test_no_hostname_option_without_key),
    cmocka_unit_test(test_full_exchange),
    cmocka_unit_test(test_backoff_with_jitter),
    cmocka_unit_test(test_random_xid_per_exchange),
    cmocka_unit_test(test_renew_at_t1_unicast),
    cmocka_unit_test(test_rebind_at_t2_broadcast_any_server),
    cmocka_unit_test(test_expiry_drops_address),
    cmocka_unit_test(test_request_unanswered_restarts),
    cmocka_unit_test(test_infinite_lease),
    cmocka_unit_test(test_stop_and_restart),
    cmocka_unit_test(test_nak_in_requesting),
    cmocka_unit_test(test_nak_in_renewing_drops_lease),
    cmocka_unit_test(test_nak_where_not_expected),
    cmocka_unit_test(test_nak_from_other_server),
    cmocka_unit_test(test_second_server),
    cmocka_unit_test(test_not_ours),
    cmocka_unit_test(test_truncated),
    cmocka_unit_test(test_option_past_end),
    cmocka_unit_test(test_pad_end_and_no_end),
    cmocka_unit_test(test_overload),
    cmocka_unit_test(test_overload_hostile),
    cmocka_unit_test(test_lease_zero),
    cmocka_unit_test(test_t1_above_t2),
    cmocka_unit_test(test_mask_not_contiguous),
    cmocka_unit_test(test_router_outside_subnet),
    cmocka_unit_test(test_mtu),
    cmocka_unit_test(test_bad_yiaddr),
    cmocka_unit_test(test_ack_in_bound_ignored),
};

UNIT_MAIN("net_dhcp", tests)
