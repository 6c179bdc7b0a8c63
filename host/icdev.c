/* host/icdev.c: integration-service devices and Gen1 placeholders (see
 * host/icdev.h). Wire formats: drivers/ic/ic_proto.h. */
#include "host/icdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/ic/ic_proto.h"
#include "drivers/ic/ic_utf16.h"
#include "host/srvchan.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/timer.h"

#define ICDEV_TICK_MS 250u
#define ICDEV_ANSWER_WAIT_MS 5000u /* an unanswered request is given up (counted) */
#define ICDEV_KVP_RETRY_MS 1000u   /* GET_IP_INFO failed: next round after this */
#define ICDEV_BUF (IC_MSG_MAX - sizeof(struct ic_pipe_hdr))

struct icdev_kind_desc {
  const char *name;
  GUID type, instance;
  uint16_t msgtype;
  uint32_t versions[4]; /* service versions the host lists, newest first */
  uint32_t nversions;
};

static const struct icdev_kind_desc icdev_kinds[ICDEV_NKINDS] = {
    [ICDEV_HEARTBEAT] = {"heartbeat",
                         VMBUS_GUID_HEARTBEAT,
                         IC_GUID_HEARTBEAT_INST,
                         IC_MSGTYPE_HEARTBEAT,
                         {IC_VER(3, 0), IC_VER(1, 0)},
                         2},
    [ICDEV_KVP] = {"kvp",
                   VMBUS_GUID_KVP,
                   IC_GUID_KVP_INST,
                   IC_MSGTYPE_KVPEXCHANGE,
                   {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)},
                   3},
    [ICDEV_SHUTDOWN] = {"shutdown",
                        VMBUS_GUID_SHUTDOWN,
                        IC_GUID_SHUTDOWN_INST,
                        IC_MSGTYPE_SHUTDOWN,
                        {IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0)},
                        4},
    [ICDEV_TIMESYNC] = {"timesync",
                        VMBUS_GUID_TIMESYNC,
                        IC_GUID_TIMESYNC_INST,
                        IC_MSGTYPE_TIMESYNC,
                        {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)},
                        3},
};
static const uint32_t icdev_fw[] = {IC_FW_VERSION_3, IC_FW_VERSION_1};

struct icdev_kvp_item {
  char key[40];
  char value[64];
};

struct icdev {
  enum icdev_kind d_kind;
  struct icdev_config d_cfg;
  VMBCHANNEL d_ch;
  bool d_open, d_ever_open;
  uint32_t d_fw, d_srv;
  bool d_negotiating;
  /* the one outstanding request */
  bool d_out;
  uint16_t d_out_type;
  uint8_t d_out_tid;
  uint64_t d_out_ns;
  uint8_t d_tid;
  uint64_t d_last_hb_ns, d_last_ts_ns, d_last_kvp_ns;
  uint64_t d_hb_seq;
  bool d_ts_synced;
  /* shutdown */
  uint32_t d_sd_flags;
  bool d_sd_pending; /* asked before the channel was ready: sent when it is */
  uint64_t d_sd_sent_ns;
  bool d_sd_answered;
  uint32_t d_sd_status;
  /* KVP */
  int32_t d_kvp_index; /* next ENUMERATE index, -1: GET_IP_INFO next */
  char d_kvp_ip[64];
  struct icdev_kvp_item d_items[ICDEV_KVP_ITEMS];
  uint32_t d_nitems;
  /* tests */
  uint8_t d_last[ICDEV_BUF];
  uint32_t d_last_len;
  uint64_t d_last_tid;
  uint64_t d_seen;
  struct icdev_stats d_st;
  struct timer d_tick;
  struct log_ratelimit d_rl;
  uint8_t d_msg[ICDEV_BUF];
};

const char *icdev_name(enum icdev_kind kind) {
  return (unsigned)kind < ICDEV_NKINDS ? icdev_kinds[kind].name : "?";
}

static struct icdev *icdev_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static bool icdev_in(uint32_t v, uint32_t lo, uint32_t hi) {
  return (!lo || v >= lo) && (!hi || v <= hi);
}

/** Send icmsg header + `body_len` bytes of d_msg's body as a request. */
static int icdev_send(struct icdev *d, uint16_t type, uint32_t body_len) {
  if (!d->d_open)
    return -ENOTCONN;
  struct ic_msg_hdr h;
  memset(&h, 0, sizeof(h));
  h.icverframe.major = IC_VER_MAJOR(d->d_fw ? d->d_fw : IC_FW_VERSION_1);
  h.icverframe.minor = IC_VER_MINOR(d->d_fw ? d->d_fw : IC_FW_VERSION_1);
  h.icmsgtype = type;
  h.icvermsg.major = IC_VER_MAJOR(d->d_srv ? d->d_srv : IC_VER(1, 0));
  h.icvermsg.minor = IC_VER_MINOR(d->d_srv ? d->d_srv : IC_VER(1, 0));
  h.icmsgsize = (uint16_t)body_len;
  h.ictransaction_id = ++d->d_tid;
  h.icflags = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST;
  memcpy(d->d_msg, &h, sizeof(h));
  VMBPACKET p = VmbPacketAllocate(d->d_ch);
  if (!p)
    return -ENOMEM;
  NTSTATUS st = VmbPacketSend(p, d->d_msg, (UINT32)(sizeof(h) + body_len), NULL, 0);
  if (!NT_SUCCESS(st)) {
    VmbPacketFree(p);
    return -EIO;
  }
  d->d_out = true;
  d->d_out_type = type;
  d->d_out_tid = h.ictransaction_id;
  d->d_out_ns = hw_now_ns();
  d->d_st.sent++;
  return 0;
}

static uint8_t *icdev_body(struct icdev *d) { return d->d_msg + sizeof(struct ic_msg_hdr); }

static int icdev_negotiate(struct icdev *d) {
  const struct icdev_kind_desc *k = &icdev_kinds[d->d_kind];
  uint8_t *b = icdev_body(d);
  struct ic_version list[8];
  uint16_t nfw = 0, nsrv = 0;
  for (unsigned i = 0; i < 2; i++)
    if (icdev_in(icdev_fw[i], d->d_cfg.cf_min_fw, d->d_cfg.cf_max_fw))
      list[nfw++] = (struct ic_version){IC_VER_MAJOR(icdev_fw[i]), IC_VER_MINOR(icdev_fw[i])};
  for (unsigned i = 0; i < k->nversions; i++)
    if (icdev_in(k->versions[i], d->d_cfg.cf_min_srv, d->d_cfg.cf_max_srv)) {
      list[nfw + nsrv++] =
          (struct ic_version){IC_VER_MAJOR(k->versions[i]), IC_VER_MINOR(k->versions[i])};
    }
  struct ic_negotiate n = {nfw, nsrv, 0};
  memcpy(b, &n, sizeof(n));
  memcpy(b + sizeof(n), list, (size_t)(nfw + nsrv) * sizeof(list[0]));
  d->d_negotiating = true;
  return icdev_send(d, IC_MSGTYPE_NEGOTIATE,
                    (uint32_t)(sizeof(n) + (size_t)(nfw + nsrv) * sizeof(list[0])));
}

/* The host's wall clock in 100 ns units since 1601 (host code: Linux's). */
static uint64_t icdev_now_1601(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return IC_WLTIMEDELTA + (uint64_t)ts.tv_sec * 10000000u + (uint64_t)ts.tv_nsec / 100u;
}

static int icdev_timesync(struct icdev *d) {
  uint8_t *b = icdev_body(d);
  uint8_t flags = d->d_ts_synced ? IC_TIMESYNC_FLAG_SAMPLE : IC_TIMESYNC_FLAG_SYNC;
  uint32_t len;
  if (d->d_srv >= IC_VER(4, 0)) {
    struct ic_timesync_ref t;
    memset(&t, 0, sizeof(t));
    t.parenttime = icdev_now_1601();
    t.vmreferencetime = hw_now_ns() / 100u;
    t.flags = flags;
    t.stratum = 2;
    memcpy(b, &t, sizeof(t));
    len = sizeof(t);
  } else {
    struct ic_timesync t;
    memset(&t, 0, sizeof(t));
    t.parenttime = icdev_now_1601();
    t.flags = flags;
    memcpy(b, &t, sizeof(t));
    len = sizeof(t);
  }
  d->d_last_ts_ns = hw_now_ns();
  return icdev_send(d, IC_MSGTYPE_TIMESYNC, len);
}

static int icdev_heartbeat(struct icdev *d) {
  struct ic_heartbeat hb;
  memset(&hb, 0, sizeof(hb));
  hb.seq_num = ++d->d_hb_seq * 1000u;
  memcpy(icdev_body(d), &hb, sizeof(hb));
  d->d_last_hb_ns = hw_now_ns();
  return icdev_send(d, IC_MSGTYPE_HEARTBEAT, sizeof(hb));
}

static int icdev_kvp_next(struct icdev *d) {
  uint8_t *b = icdev_body(d);
  if (d->d_kvp_index < 0) {
    static struct ic_kvp_ip_msg m; /* 7 KiB: not on the stack */
    memset(&m, 0, sizeof(m));
    m.operation = IC_KVP_OP_GET_IP_INFO;
    m.pool = IC_KVP_POOL_EXTERNAL;
    char id[18];
    const uint8_t *a = d->d_cfg.cf_mac;
    snprintf(id, sizeof(id), "%02X:%02X:%02X:%02X:%02X:%02X", a[0], a[1], a[2], a[3], a[4], a[5]);
    ic_utf16_put((uint8_t *)&m + offsetof(struct ic_kvp_ip_msg, adapter_id), IC_KVP_ADAPTER_ID_SIZE,
                 id);
    memcpy(b, &m, sizeof(m));
    return icdev_send(d, IC_MSGTYPE_KVPEXCHANGE, sizeof(m));
  }
  struct ic_kvp_enumerate e;
  memset(&e, 0, sizeof(e));
  e.hdr.operation = IC_KVP_OP_ENUMERATE;
  e.hdr.pool = IC_KVP_POOL_AUTO;
  e.index = (uint32_t)d->d_kvp_index;
  memcpy(b, &e, sizeof(e));
  return icdev_send(d, IC_MSGTYPE_KVPEXCHANGE, sizeof(e));
}

int icdev_kvp_query(struct icdev *d) {
  if (!d->d_open || !d->d_srv)
    return -ENOTCONN;
  if (d->d_out)
    return -EBUSY;
  d->d_kvp_index = -1;
  d->d_last_kvp_ns = hw_now_ns();
  return icdev_kvp_next(d);
}

/* The next KVP round ICDEV_KVP_RETRY_MS after the last one started,
 * instead of a whole period later. */
static void icdev_kvp_retry_soon(struct icdev *d) {
  uint64_t period = (uint64_t)d->d_cfg.cf_kvp_period_ms * 1000000ull;
  uint64_t retry = ICDEV_KVP_RETRY_MS * 1000000ull;
  if (period > retry && d->d_last_kvp_ns > period - retry)
    d->d_last_kvp_ns -= period - retry;
  else
    d->d_last_kvp_ns = 0;
}

/* What to send next, one request at a time (timer). */
static void icdev_tick(void *arg) {
  struct icdev *d = arg;
  if (!d->d_open)
    return;
  uint64_t now = hw_now_ns();
  timer_arm_ms(&d->d_tick, ICDEV_TICK_MS);
  if (d->d_out) {
    if (now - d->d_out_ns < ICDEV_ANSWER_WAIT_MS * 1000000ull)
      return;
    d->d_out = false; /* given up: counted */
    d->d_negotiating = false;
    d->d_st.timeouts++;
    if (d->d_kind == ICDEV_KVP && !d->d_kvp_ip[0])
      icdev_kvp_retry_soon(d); /* no address yet: ask again before the period */
    if (log_ratelimit_ok(&d->d_rl))
      fprintf(stderr, "icdev %s: no answer within %u ms\n", icdev_kinds[d->d_kind].name,
              ICDEV_ANSWER_WAIT_MS);
  }
  if (d->d_cfg.cf_scripted)
    return;
  if (!d->d_srv) {
    if (!d->d_negotiating && d->d_st.sent == 0)
      icdev_negotiate(d);
    return;
  }
  switch (d->d_kind) {
  case ICDEV_HEARTBEAT:
    if (now - d->d_last_hb_ns >= (uint64_t)d->d_cfg.cf_heartbeat_ms * 1000000ull)
      icdev_heartbeat(d);
    break;
  case ICDEV_TIMESYNC:
    if (!d->d_ts_synced || now - d->d_last_ts_ns >= (uint64_t)d->d_cfg.cf_timesync_ms * 1000000ull)
      icdev_timesync(d);
    break;
  case ICDEV_KVP:
    if ((!d->d_cfg.cf_kvp_ready || d->d_cfg.cf_kvp_ready(d->d_cfg.cf_arg)) &&
        (!d->d_last_kvp_ns ||
         now - d->d_last_kvp_ns >= (uint64_t)d->d_cfg.cf_kvp_period_ms * 1000000ull))
      icdev_kvp_query(d);
    break;
  case ICDEV_SHUTDOWN:
    if (d->d_sd_pending)
      icdev_shutdown(d, d->d_sd_flags);
    break;
  default:
    break;
  }
}

int icdev_shutdown(struct icdev *d, uint32_t flags) {
  if (d->d_kind != ICDEV_SHUTDOWN)
    return -EINVAL;
  d->d_sd_flags = flags;
  if (!d->d_open || !d->d_srv) {
    return -ENOTCONN;
  }
  if (d->d_out) {
    d->d_sd_pending = true; /* after the answer in flight */
    return 0;
  }
  d->d_sd_pending = false;
  struct ic_shutdown m;
  memset(&m, 0, sizeof(m));
  m.reason_code = 0;
  m.timeout_seconds = 0;
  m.flags = flags;
  snprintf((char *)m.display_message, sizeof(m.display_message), "Stop-VM");
  memcpy(icdev_body(d), &m, sizeof(m));
  int rc = icdev_send(d, IC_MSGTYPE_SHUTDOWN, sizeof(m));
  if (!rc) {
    d->d_sd_sent_ns = hw_now_ns();
    fprintf(stderr, "icdev shutdown: request sent (flags %u)\n", flags);
  }
  return rc;
}

/* ---- answers ------------------------------------------------------------------- */

static void icdev_bad(struct icdev *d, const char *why) {
  d->d_st.bad_answers++;
  if (log_ratelimit_ok(&d->d_rl))
    fprintf(stderr, "icdev %s: bad answer: %s\n", icdev_kinds[d->d_kind].name, why);
}

/* The answer's body: `room` bytes at `b`, after the icmsg header `h`. Each
 * handler checks `room` against what it reads. */
typedef void icdev_answer_fn(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                             uint32_t room);

/* NEGOTIATE: the one framework and one service version the guest chose. */
static void icdev_answer_negotiate(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                                   uint32_t room) {
  (void)h;
  d->d_negotiating = false;
  struct ic_negotiate n;
  struct ic_version v[2];
  if (room < sizeof(n) + sizeof(v)) {
    icdev_bad(d, "NEGOTIATE answer too short");
    return;
  }
  memcpy(&n, b, sizeof(n));
  memcpy(v, b + sizeof(n), sizeof(v));
  if (n.icframe_vercnt != 1 || n.icmsg_vercnt != 1) {
    fprintf(stderr, "icdev %s: the guest refused every version\n", icdev_kinds[d->d_kind].name);
    return;
  }
  d->d_fw = IC_VER(v[0].major, v[0].minor);
  d->d_srv = IC_VER(v[1].major, v[1].minor);
}

/* Heartbeat: counted when the guest answers OK with our sequence + 1. */
static void icdev_answer_heartbeat(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                                   uint32_t room) {
  struct ic_heartbeat hb;
  if (room < sizeof(hb)) {
    icdev_bad(d, "heartbeat answer too short");
    return;
  }
  memcpy(&hb, b, sizeof(hb));
  if (h->status == IC_S_OK && hb.seq_num == d->d_hb_seq * 1000u + 1u)
    d->d_st.heartbeats++;
  else
    icdev_bad(d, "heartbeat answer without seq + 1");
}

static void icdev_answer_timesync(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                                  uint32_t room) {
  (void)b, (void)room;
  if (h->status == IC_S_OK) {
    d->d_st.samples++;
    d->d_ts_synced = true;
  }
}

/* Shutdown: the guest's status is kept for icdev_shutdown_answered. */
static void icdev_answer_shutdown(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                                  uint32_t room) {
  (void)b, (void)room;
  d->d_sd_answered = true;
  d->d_sd_status = h->status;
  fprintf(stderr, "icdev shutdown: the guest answered status 0x%x after %lu ms\n", h->status,
          (unsigned long)((hw_now_ns() - d->d_sd_sent_ns) / 1000000u));
}

/* The index of the KVP item kept under `key`, or d_nitems when there is none. */
static uint32_t icdev_kvp_find(const struct icdev *d, const char *key) {
  uint32_t i = 0;
  while (i < d->d_nitems && strcmp(d->d_items[i].key, key) != 0)
    i++;
  return i;
}

/* The answer to GET_IP_INFO: the guest's IPv4 address, or none yet (its
 * stack comes up after the link): then the next round comes sooner. */
static void icdev_kvp_got_ip(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                             uint32_t room) {
  if (h->status == IC_S_OK && room >= sizeof(struct ic_kvp_ip_msg)) {
    char ip[64];
    ic_utf16_get(ip, sizeof(ip), b + offsetof(struct ic_kvp_ip_msg, ip_addr), IC_KVP_IP_ADDR_SIZE);
    if (strcmp(ip, d->d_kvp_ip) != 0)
      fprintf(stderr, "icdev kvp: the guest reports IPv4 %s\n", ip[0] ? ip : "(none)");
    memcpy(d->d_kvp_ip, ip, sizeof(ip));
  } else {
    icdev_kvp_retry_soon(d);
  }
}

/* The answer to ENUMERATE: one auto-pool item, kept (replacing the one of
 * the same key) while there is room for it. Other statuses end the round. */
static bool icdev_kvp_got_item(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                               uint32_t room) {
  if (h->status != IC_S_OK || room < sizeof(struct ic_kvp_enumerate))
    return false;
  const uint8_t *v = b + offsetof(struct ic_kvp_enumerate, data);
  char key[40];
  ic_utf16_get(key, sizeof(key), v + offsetof(struct ic_kvp_value, key), IC_KVP_MAX_KEY_SIZE / 2);
  uint32_t i = icdev_kvp_find(d, key);
  if (i == d->d_nitems && d->d_nitems < ICDEV_KVP_ITEMS)
    d->d_nitems++;
  if (i < d->d_nitems) {
    struct icdev_kvp_item *it = &d->d_items[i];
    snprintf(it->key, sizeof(it->key), "%s", key);
    ic_utf16_get(it->value, sizeof(it->value), v + offsetof(struct ic_kvp_value, value),
                 IC_KVP_MAX_VALUE_SIZE / 2);
  }
  return true;
}

/* KVP: a round is GET_IP_INFO, then ENUMERATE of index 0, 1, ... until the
 * guest has no more items or ICDEV_KVP_ITEMS were asked for. */
static void icdev_answer_kvp(struct icdev *d, const struct ic_msg_hdr *h, const uint8_t *b,
                             uint32_t room) {
  if (d->d_kvp_index < 0) {
    icdev_kvp_got_ip(d, h, b, room);
    d->d_kvp_index = 0;
    icdev_kvp_next(d);
  } else if (icdev_kvp_got_item(d, h, b, room)) {
    if (++d->d_kvp_index < (int32_t)ICDEV_KVP_ITEMS)
      icdev_kvp_next(d);
  }
}

/* One handler per message type the devices send (VSS is not one of them). */
static icdev_answer_fn *const icdev_answer_fns[] = {
    [IC_MSGTYPE_NEGOTIATE] = icdev_answer_negotiate,
    [IC_MSGTYPE_HEARTBEAT] = icdev_answer_heartbeat,
    [IC_MSGTYPE_KVPEXCHANGE] = icdev_answer_kvp,
    [IC_MSGTYPE_SHUTDOWN] = icdev_answer_shutdown,
    [IC_MSGTYPE_TIMESYNC] = icdev_answer_timesync,
};

/* Is `h` the answer to the request in flight (its type, its transaction id,
 * a RESPONSE of a transaction)? */
static bool icdev_awaited(const struct icdev *d, const struct ic_msg_hdr *h) {
  return d->d_out && h->icmsgtype == d->d_out_type && h->ictransaction_id == d->d_out_tid &&
         (h->icflags & (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE)) ==
             (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE);
}

/* The guest's packet `buf` (`len` bytes): checked against the request in
 * flight, counted, then handed to its type's handler. */
static void icdev_answer(struct icdev *d, const uint8_t *buf, uint32_t len) {
  if (len < sizeof(struct ic_msg_hdr)) {
    icdev_bad(d, "shorter than the icmsg header");
    return;
  }
  struct ic_msg_hdr h;
  memcpy(&h, buf, sizeof(h));
  if (!icdev_awaited(d, &h)) {
    icdev_bad(d, "not the answer to the request in flight");
    return;
  }
  d->d_out = false;
  d->d_st.answers++;
  if (h.status != IC_S_OK && !(h.status == IC_S_CONT && d->d_kind == ICDEV_KVP))
    d->d_st.failed_answers++;
  if (h.icmsgtype < sizeof(icdev_answer_fns) / sizeof(icdev_answer_fns[0]) &&
      icdev_answer_fns[h.icmsgtype])
    icdev_answer_fns[h.icmsgtype](d, &h, buf + sizeof(h), len - (uint32_t)sizeof(h));
}

static VOID icdev_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                          UINT32 flags) {
  (void)flags;
  struct icdev *d = icdev_of(ch);
  d->d_seen++;
  d->d_last_len = len;
  d->d_last_tid = kmcl_packet_trans_id(pkt);
  memcpy(d->d_last, buf, len < sizeof(d->d_last) ? len : sizeof(d->d_last));
  icdev_answer(d, d->d_last, len < sizeof(d->d_last) ? len : (uint32_t)sizeof(d->d_last));
  VmbChannelPacketComplete(pkt, NULL, 0);
}

static NTSTATUS icdev_opened(VMBCHANNEL ch) {
  struct icdev *d = icdev_of(ch);
  d->d_open = d->d_ever_open = true;
  d->d_st.opens++;
  d->d_fw = d->d_srv = 0;
  d->d_out = d->d_negotiating = false;
  d->d_st.sent = 0;
  d->d_ts_synced = false;
  d->d_last_kvp_ns = 0;
  timer_arm_ms(&d->d_tick, 1);
  return STATUS_SUCCESS;
}

static VOID icdev_closed(VMBCHANNEL ch) {
  struct icdev *d = icdev_of(ch);
  d->d_open = false;
  d->d_out = false;
  timer_cancel(&d->d_tick);
}

/* The integration services are pipes; their largest message is KVP's IP info. */
static const struct srvchan_ops icdev_ops = {
    .so_name = "icdev",
    .so_opened = icdev_opened,
    .so_closed = icdev_closed,
    .so_process = icdev_process,
    .so_max_packet = (UINT32)IC_MSG_MAX,
    .so_pipe = true,
};

struct icdev *icdev_create(PDEVICE_OBJECT parent, enum icdev_kind kind,
                           const struct icdev_config *cfg) {
  if ((unsigned)kind >= ICDEV_NKINDS)
    return NULL;
  struct icdev *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  d->d_kind = kind;
  if (cfg)
    d->d_cfg = *cfg;
  if (!d->d_cfg.cf_heartbeat_ms)
    d->d_cfg.cf_heartbeat_ms = ICDEV_HEARTBEAT_MS;
  if (!d->d_cfg.cf_timesync_ms)
    d->d_cfg.cf_timesync_ms = ICDEV_TIMESYNC_MS;
  if (!d->d_cfg.cf_kvp_period_ms)
    d->d_cfg.cf_kvp_period_ms = ICDEV_KVP_PERIOD_MS;
  d->d_kvp_index = -1;
  d->d_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 5);
  timer_init(&d->d_tick, icdev_tick, d);
  const struct icdev_kind_desc *k = &icdev_kinds[kind];
  d->d_ch = srvchan_create(parent, &icdev_ops, d, k->type, k->instance);
  if (!d->d_ch) {
    free(d);
    return NULL;
  }
  return d;
}

void icdev_destroy(struct icdev *d) {
  if (!d)
    return;
  timer_cancel(&d->d_tick); /* icdev_closed cancels it too, if the channel is open */
  srvchan_destroy(d->d_ch);
  free(d);
}

bool icdev_is_open(const struct icdev *d) { return d && d->d_open; }
bool icdev_ever_opened(const struct icdev *d) { return d && d->d_ever_open; }
uint32_t icdev_fw_version(const struct icdev *d) { return d->d_fw; }
uint32_t icdev_srv_version(const struct icdev *d) { return d->d_srv; }
const struct icdev_stats *icdev_stats(const struct icdev *d) { return &d->d_st; }
uint64_t icdev_shutdown_sent_ns(const struct icdev *d) { return d->d_sd_sent_ns; }
bool icdev_shutdown_answered(const struct icdev *d, uint32_t *status) {
  if (d->d_sd_answered && status)
    *status = d->d_sd_status;
  return d->d_sd_answered;
}
const char *icdev_kvp_ip(const struct icdev *d) { return d->d_kvp_ip; }
const char *icdev_kvp_item(const struct icdev *d, const char *key) {
  uint32_t i = icdev_kvp_find(d, key);
  return i < d->d_nitems ? d->d_items[i].value : "";
}

VMBCHANNEL icdev_channel(const struct icdev *d) { return d->d_ch; }

int icdev_send_raw(struct icdev *d, const void *buf, uint32_t len) {
  if (!d->d_open)
    return -ENOTCONN;
  if (len > sizeof(d->d_msg))
    return -EMSGSIZE;
  d->d_out = false; /* raw: not matched against a request */
  VMBPACKET p = VmbPacketAllocate(d->d_ch);
  if (!p)
    return -ENOMEM;
  if (!NT_SUCCESS(VmbPacketSend(p, (PVOID)(uintptr_t)buf, len, NULL, 0))) {
    VmbPacketFree(p);
    return -EIO;
  }
  return 0;
}

uint32_t icdev_last_answer(const struct icdev *d, void *buf, uint32_t cap, uint64_t *tid) {
  uint32_t n = d->d_last_len < cap ? d->d_last_len : cap;
  if (n > sizeof(d->d_last))
    n = sizeof(d->d_last);
  memcpy(buf, d->d_last, n);
  if (tid)
    *tid = d->d_last_tid;
  return d->d_last_len;
}

uint64_t icdev_answers_seen(const struct icdev *d) { return d->d_seen; }

/* ---- placeholders ----------------------------------------------------------------- */

struct icdev_placeholder {
  VMBCHANNEL p_ch;
  uint32_t p_opens;
};

static NTSTATUS icdev_ph_opened(VMBCHANNEL ch) {
  struct icdev_placeholder *p = VmbChannelGetPointer(ch);
  p->p_opens++;
  return STATUS_NOT_SUPPORTED; /* offered, not implemented: the open is refused */
}

static VOID icdev_ph_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                             UINT32 flags) {
  (void)ch, (void)buf, (void)len, (void)flags;
  VmbChannelPacketComplete(pkt, NULL, 0);
}

/* Offered, never started: icdev_ph_opened counts and refuses every open. */
static const struct srvchan_ops icdev_ph_ops = {
    .so_opened = icdev_ph_opened,
    .so_process = icdev_ph_process,
    .so_paused = true,
};

struct icdev_placeholder *icdev_placeholder_create(PDEVICE_OBJECT parent, const GUID *type,
                                                   const GUID *instance) {
  struct icdev_placeholder *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->p_ch = srvchan_create(parent, &icdev_ph_ops, p, *type, *instance);
  if (!p->p_ch) {
    free(p);
    return NULL;
  }
  return p;
}

void icdev_placeholder_destroy(struct icdev_placeholder *p) {
  if (!p)
    return;
  srvchan_destroy(p->p_ch);
  free(p);
}

uint32_t icdev_placeholder_opens(const struct icdev_placeholder *p) { return p->p_opens; }
