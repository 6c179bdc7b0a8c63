/* drivers/ic/ic.c: the IC framework (channels, NEGOTIATE, answers) and the
 * four services on it. Wire formats: drivers/ic/ic_proto.h. Behaviour
 * follows the peers (Linux drivers/hv/hv_util.c, hv_kvp.c and
 * tools/hv/hv_kvp_daemon.c; FreeBSD sys/dev/hyperv/utilities; OpenBSD
 * hypervic.c): the answer is the request modified in place, sent back with
 * the same length and transaction id.
 *
 * Outcomes for host input (every one counted in ic_svc_stats):
 *  - shorter than pipe + icmsg headers: dropped, no answer (nothing to
 *    answer with);
 *  - icmsgsize beyond the packet, a body too short for its type, a service
 *    message before NEGOTIATE, an unknown type, an unsupported request:
 *    answered with status E_FAIL;
 *  - NEGOTIATE with a version count above IC_NEGOTIATE_MAX_VERSIONS, a list
 *    beyond the packet, or no common version: answered with counts 0/0
 *    (Linux's refusal); a later NEGOTIATE renegotiates.
 */
#include "drivers/ic/ic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/ic/ic_proto.h"
#include "drivers/ic/ic_utf16.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"

#ifndef VERSION_STRING
#define VERSION_STRING "0.0.0"
#endif
#ifndef BUILD_STRING
#define BUILD_STRING "unknown"
#endif

/* Versions this guest speaks, newest first (Linux's tables). */
static const uint32_t ic_fw_versions[] = {IC_FW_VERSION_3, IC_FW_VERSION_1};
static const uint32_t ic_hb_versions[] = {IC_VER(3, 0), IC_VER(1, 0)};
static const uint32_t ic_kvp_versions[] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)};
static const uint32_t ic_sd_versions[] = {IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0)};
static const uint32_t ic_ts_versions[] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0)};

struct ic_desc {
  const char *name;
  GUID type;
  uint16_t msgtype;
  const uint32_t *versions;
  uint32_t nversions;
};

static const struct ic_desc ic_descs[IC_NSERVICES] = {
    [IC_HEARTBEAT] = {"heartbeat", VMBUS_GUID_HEARTBEAT, IC_MSGTYPE_HEARTBEAT, ic_hb_versions, 2},
    [IC_KVP] = {"kvp", VMBUS_GUID_KVP, IC_MSGTYPE_KVPEXCHANGE, ic_kvp_versions, 3},
    [IC_SHUTDOWN] = {"shutdown", VMBUS_GUID_SHUTDOWN, IC_MSGTYPE_SHUTDOWN, ic_sd_versions, 4},
    [IC_TIMESYNC] = {"timesync", VMBUS_GUID_TIMESYNC, IC_MSGTYPE_TIMESYNC, ic_ts_versions, 3},
};

struct ic_svc {
  struct ic *s_ic;
  enum ic_service s_id;
  VMBCHANNEL s_ch;
  uint8_t *s_buf; /* IC_MSG_MAX: the message copied out, answered in place */
  struct ic_svc_stats s_st;
  struct log_ratelimit s_rl;
  struct ev_item s_reattach; /* after a rescind: a fresh channel for a re-offer */
  bool s_stopping;
};

struct ic_kvp_item {
  bool used;
  char key[IC_KVP_STORE_KEY];
  char value[IC_KVP_STORE_VALUE];
};

struct ic {
  struct ic_config i_cfg;
  struct ic_kvp_item i_pool[IC_KVP_NPOOLS][IC_KVP_STORE_ITEMS]; /* the auto pool's row unused */
  PDEVICE_OBJECT i_bus;
  struct ic_svc i_svc[IC_NSERVICES];
  /* TimeSync: the host's time at a local instant */
  bool i_have_time;
  uint64_t i_time_host;  /* 100 ns since 1601 */
  uint64_t i_time_local; /* hw_now_ns() then */
  bool i_shutdown_done;
  int i_pending; /* a shutdown (1) or restart (2) accepted, its answer not yet sent */
};

const char *ic_service_name(enum ic_service s) {
  return (unsigned)s < IC_NSERVICES ? ic_descs[s].name : "?";
}

const struct ic_svc_stats *ic_stats(const struct ic *ic, enum ic_service s) {
  return &ic->i_svc[s].s_st;
}

/* ---- time ------------------------------------------------------------------------ */

bool ic_time_now(const struct ic *ic, uint64_t *t1601) {
  if (!ic->i_have_time)
    return false;
  *t1601 = ic->i_time_host + (hw_now_ns() - ic->i_time_local) / 100u;
  return true;
}

void ic_time_format(uint64_t t1601, char out[24]) {
  uint64_t secs = t1601 >= IC_WLTIMEDELTA ? (t1601 - IC_WLTIMEDELTA) / 10000000u : 0;
  uint64_t days = secs / 86400u, rem = secs % 86400u;
  /* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
  int64_t z = (int64_t)days + 719468;
  int64_t era = z / 146097;
  uint64_t doe = (uint64_t)(z - era * 146097);
  uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = (int64_t)yoe + era * 400;
  uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  uint64_t mp = (5 * doy + 2) / 153;
  unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  if (m <= 2)
    y++;
  if (y < 0 || y > 9999)
    y = 0;
  snprintf(out, 24, "%04u-%02u-%02u %02u:%02u:%02u UTC", (unsigned)y, m, d, (unsigned)(rem / 3600u),
           (unsigned)(rem / 60u % 60u), (unsigned)(rem % 60u));
}

/* ---- framework ------------------------------------------------------------------- */

static void ic_warn(struct ic_svc *s, const char *what) {
  if (log_ratelimit_ok(&s->s_rl))
    pr_warn("ic %s: %s\n", ic_descs[s->s_id].name, what);
}

/** Our versions of one kind, capped (tests), newest first. */
static bool ic_version_ok(uint32_t v, uint32_t cap) { return !cap || v <= cap; }

/**
 * NEGOTIATE (Linux vmbus_prep_negotiate_resp): for our versions newest
 * first, the first the host lists wins, framework then service. Answer:
 * counts 1/1 and the two versions, or 0/0 when there is none in common or
 * the list is malformed. icmsgsize becomes 16 either way.
 */
static void ic_negotiate(struct ic_svc *s, uint8_t *buf, uint32_t len, struct ic_msg_hdr *h) {
  const struct ic_desc *d = &ic_descs[s->s_id];
  s->s_st.negotiations++;
  uint8_t *body = buf + IC_HDR_SIZE;
  uint32_t room = len - (uint32_t)IC_HDR_SIZE;
  /* Linux answers with icmsgsize 16; never more than the packet holds. */
  h->icmsgsize = (uint16_t)(room < IC_NEGOTIATE_RESP_SIZE ? room : IC_NEGOTIATE_RESP_SIZE);
  if (room < sizeof(struct ic_negotiate)) {
    /* Not even the counts: nothing to answer inside; fail it. */
    h->status = IC_E_FAIL;
    s->s_st.failed++;
    ic_warn(s, "NEGOTIATE without its version counts: answered E_FAIL");
    return;
  }
  struct ic_negotiate n;
  memcpy(&n, body, sizeof(n));
  uint32_t nfw = n.icframe_vercnt, nsrv = n.icmsg_vercnt;
  uint32_t fw = 0, srv = 0;
  bool ok = nfw <= IC_NEGOTIATE_MAX_VERSIONS && nsrv <= IC_NEGOTIATE_MAX_VERSIONS &&
            (uint64_t)sizeof(n) + (uint64_t)(nfw + nsrv) * sizeof(struct ic_version) <= room;
  if (ok) {
    const uint8_t *list = body + sizeof(n);
    for (uint32_t i = 0; i < 2 && !fw; i++) {
      if (!ic_version_ok(ic_fw_versions[i], s->s_ic->i_cfg.icc_max_fw))
        continue;
      for (uint32_t j = 0; j < nfw && !fw; j++) {
        struct ic_version v;
        memcpy(&v, list + j * sizeof(v), sizeof(v));
        if (IC_VER(v.major, v.minor) == ic_fw_versions[i])
          fw = ic_fw_versions[i];
      }
    }
    for (uint32_t i = 0; i < d->nversions && fw && !srv; i++) {
      if (!ic_version_ok(d->versions[i], s->s_ic->i_cfg.icc_max_srv[s->s_id]))
        continue;
      for (uint32_t j = nfw; j < nfw + nsrv && !srv; j++) {
        struct ic_version v;
        memcpy(&v, list + j * sizeof(v), sizeof(v));
        if (IC_VER(v.major, v.minor) == d->versions[i])
          srv = d->versions[i];
      }
    }
  }
  /* The answer: the counts and, when the packet has room for them (the
   * host sized it for its own list), the two versions. */
  if (!fw || !srv) {
    n.icframe_vercnt = 0;
    n.icmsg_vercnt = 0;
    s->s_st.refused++;
    s->s_st.fw_version = s->s_st.srv_version = 0;
    ic_warn(s, ok ? "NEGOTIATE: no common version; refused (0/0)"
                  : "NEGOTIATE: malformed version list; refused (0/0)");
  } else {
    n.icframe_vercnt = 1;
    n.icmsg_vercnt = 1;
    bool again = s->s_st.fw_version != 0;
    if (!again || s->s_st.fw_version != fw || s->s_st.srv_version != srv)
      pr_info("ic %s: framework %u.%u, service %u.%u%s\n", d->name, IC_VER_MAJOR(fw),
              IC_VER_MINOR(fw), IC_VER_MAJOR(srv), IC_VER_MINOR(srv),
              again ? " (renegotiated)" : "");
    s->s_st.fw_version = fw;
    s->s_st.srv_version = srv;
  }
  memcpy(body, &n, sizeof(n));
  if (room >= sizeof(n) + 2 * sizeof(struct ic_version)) {
    struct ic_version v[2] = {{IC_VER_MAJOR(fw), IC_VER_MINOR(fw)},
                              {IC_VER_MAJOR(srv), IC_VER_MINOR(srv)}};
    memcpy(body + sizeof(n), v, sizeof(v));
  }
}

/* ---- heartbeat ------------------------------------------------------------------- */

static uint32_t ic_heartbeat(struct ic_svc *s, uint8_t *body, uint32_t size) {
  if (size < sizeof(struct ic_heartbeat)) {
    ic_warn(s, "heartbeat body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  struct ic_heartbeat hb;
  memcpy(&hb, body, sizeof(hb));
  hb.seq_num++;
  memcpy(body, &hb, sizeof(hb));
  return IC_S_OK;
}

/* ---- shutdown -------------------------------------------------------------------- */

/** @ret the status; *act 1 power off, 2 restart, 0 nothing. */
static uint32_t ic_shutdown(struct ic_svc *s, const uint8_t *body, uint32_t size, int *act) {
  *act = 0;
  if (size < offsetof(struct ic_shutdown, display_message)) {
    ic_warn(s, "shutdown body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  uint32_t flags;
  memcpy(&flags, body + offsetof(struct ic_shutdown, flags), sizeof(flags));
  switch (flags) { /* Linux: 0/1 shut down, 2/3 restart, 4/5 hibernate; bit 0 = force */
  case 0:
  case IC_SHUTDOWN_FLAG_FORCE:
    *act = 1;
    return IC_S_OK;
  case IC_SHUTDOWN_FLAG_RESTART:
  case IC_SHUTDOWN_FLAG_RESTART | IC_SHUTDOWN_FLAG_FORCE:
    *act = 2;
    return IC_S_OK;
  case IC_SHUTDOWN_FLAG_HIBERNATE:
  case IC_SHUTDOWN_FLAG_HIBERNATE | IC_SHUTDOWN_FLAG_FORCE:
    ic_warn(s, "hibernate request: not supported; answered E_FAIL");
    return IC_E_FAIL;
  default:
    ic_warn(s, "shutdown request with unknown flags: answered E_FAIL");
    return IC_E_FAIL;
  }
}

/* ---- timesync -------------------------------------------------------------------- */

static uint32_t ic_timesync(struct ic_svc *s, const uint8_t *body, uint32_t size) {
  struct ic *ic = s->s_ic;
  /* Both layouts start with parenttime; flags sit at their own offsets. */
  bool ref = s->s_st.srv_version >= IC_VER(4, 0);
  uint32_t need = ref ? sizeof(struct ic_timesync_ref) : sizeof(struct ic_timesync);
  if (size < need) {
    ic_warn(s, ref ? "timesync (4.0) body too short: answered E_FAIL"
                   : "timesync body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  uint64_t parent;
  memcpy(&parent, body, sizeof(parent));
  uint8_t flags =
      body[ref ? offsetof(struct ic_timesync_ref, flags) : offsetof(struct ic_timesync, flags)];
  if (flags & (IC_TIMESYNC_FLAG_SYNC | IC_TIMESYNC_FLAG_SAMPLE)) {
    bool first = !ic->i_have_time;
    ic->i_time_host = parent;
    ic->i_time_local = hw_now_ns();
    ic->i_have_time = true;
    if (first) {
      char when[24];
      ic_time_format(parent, when);
      pr_info("ic timesync: host time %s\n", when);
    }
  }
  return IC_S_OK;
}

/* ---- KVP ------------------------------------------------------------------------- */

static void ic_ip_str(char *out, size_t cap, const uint8_t a[4]) {
  snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

static bool ic_ipv4(struct ic *ic, struct ic_ipv4 *ip) {
  memset(ip, 0, sizeof(*ip));
  return ic->i_cfg.icc_ipv4 && ic->i_cfg.icc_ipv4(ic->i_cfg.icc_arg, ip);
}

/** "00:15:5D:00:00:02" in the host's adapter id matches our MAC; ':' or
 * '-' separators, either case. */
static bool ic_mac_match(const char *id, const uint8_t mac[6]) {
  char want[18];
  snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
           mac[4], mac[5]);
  for (unsigned i = 0; i < 17; i++) {
    char c = id[i];
    if (!c)
      return false;
    if (c == '-')
      c = ':';
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != want[i])
      return false;
  }
  return id[17] == 0;
}

static uint32_t ic_kvp_get_ip(struct ic_svc *s, uint8_t *body, uint32_t size) {
  if (size < sizeof(struct ic_kvp_ip_msg)) {
    ic_warn(s, "KVP GET_IP_INFO body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  char id[IC_KVP_ADAPTER_ID_SIZE + 1];
  ic_utf16_get(id, sizeof(id), body + offsetof(struct ic_kvp_ip_msg, adapter_id),
               IC_KVP_ADAPTER_ID_SIZE);
  struct ic_ipv4 ip;
  if (!ic_ipv4(s->s_ic, &ip) || !ic_mac_match(id, ip.mac)) {
    ic_warn(s, "KVP GET_IP_INFO for an adapter we do not have (or no address yet): E_FAIL");
    return IC_E_FAIL;
  }
  uint32_t mask = ip.prefix >= 32 ? 0xffffffffu : ip.prefix ? ~(0xffffffffu >> ip.prefix) : 0u;
  uint8_t maskb[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                      (uint8_t)mask};
  char a[16], n[16], g[16];
  ic_ip_str(a, sizeof(a), ip.addr);
  ic_ip_str(n, sizeof(n), maskb);
  g[0] = 0;
  if (ip.gw[0] | ip.gw[1] | ip.gw[2] | ip.gw[3])
    ic_ip_str(g, sizeof(g), ip.gw);
  body[offsetof(struct ic_kvp_ip_msg, addr_family)] = IC_KVP_ADDR_FAMILY_IPV4;
  body[offsetof(struct ic_kvp_ip_msg, dhcp_enabled)] = ip.dhcp ? 1 : 0;
  ic_utf16_put(body + offsetof(struct ic_kvp_ip_msg, ip_addr), IC_KVP_IP_ADDR_SIZE, a);
  ic_utf16_put(body + offsetof(struct ic_kvp_ip_msg, sub_net), IC_KVP_IP_ADDR_SIZE, n);
  ic_utf16_put(body + offsetof(struct ic_kvp_ip_msg, gate_way), IC_KVP_GATEWAY_SIZE, g);
  ic_utf16_put(body + offsetof(struct ic_kvp_ip_msg, dns_addr), IC_KVP_IP_ADDR_SIZE, "");
  return IC_S_OK;
}

/** The auto pool, in tools/hv/hv_kvp_daemon.c's index order. */
static bool ic_kvp_auto_item(struct ic *ic, uint32_t index, const char **key, char *val,
                             size_t cap) {
  static const char *const keys[] = {"FullyQualifiedDomainName",
                                     "IntegrationServicesVersion",
                                     "NetworkAddressIPv4",
                                     "NetworkAddressIPv6",
                                     "OSBuildNumber",
                                     "OSName",
                                     "OSMajorVersion",
                                     "OSMinorVersion",
                                     "OSVersion",
                                     "ProcessorArchitecture"};
  if (index >= sizeof(keys) / sizeof(keys[0]))
    return false;
  *key = keys[index];
  unsigned maj = 0, min = 0;
  sscanf(VERSION_STRING, "%u.%u", &maj, &min);
  struct ic_ipv4 ip;
  val[0] = 0;
  switch (index) {
  case 0:
    snprintf(val, cap, "%s", ic->i_cfg.icc_host_name ? ic->i_cfg.icc_host_name : "hvkernel");
    break;
  case 1:
    snprintf(val, cap, "3.1"); /* what Linux reports (HV_DRV_VERSION) */
    break;
  case 2:
    if (ic_ipv4(ic, &ip))
      ic_ip_str(val, cap, ip.addr);
    break;
  case 3:
    break; /* no IPv6 */
  case 4:
    snprintf(val, cap, "%s", BUILD_STRING);
    break;
  case 5:
    snprintf(val, cap, "hvkernel");
    break;
  case 6:
    snprintf(val, cap, "%u", maj);
    break;
  case 7:
    snprintf(val, cap, "%u", min);
    break;
  case 8:
    snprintf(val, cap, "%s", VERSION_STRING);
    break;
  default:
    snprintf(val, cap, "x86_64");
    break;
  }
  return true;
}

/** A UTF-16 string of a KVP field: `size` bytes as the host claims them,
 * bounded by the field's `field` bytes, up to its NUL, into ASCII (others
 * become '?'). False when it does not fit `cap` (NUL included). */
static bool ic_kvp_str(char *dst, uint32_t cap, const uint8_t *src, uint32_t size, uint32_t field) {
  uint32_t units = (size < field ? size : field) / 2u;
  uint32_t n = 0;
  for (; n < units; n++) {
    uint16_t c;
    memcpy(&c, src + 2 * n, 2);
    if (!c)
      break;
    if (n + 1 >= cap)
      return false;
    dst[n] = c < 0x80 ? (char)c : '?';
  }
  dst[n] = 0;
  return true;
}

/** Write key and value into a KVP value struct at `d` (REG_SZ, sizes in
 * bytes with the NUL, as Linux's daemon does). */
static void ic_kvp_put(uint8_t *d, const char *key, const char *val) {
  uint32_t ku = ic_utf16_put(d + offsetof(struct ic_kvp_value, key), IC_KVP_MAX_KEY_SIZE / 2, key);
  uint32_t vu =
      ic_utf16_put(d + offsetof(struct ic_kvp_value, value), IC_KVP_MAX_VALUE_SIZE / 2, val);
  uint32_t hdr[3] = {IC_KVP_REG_SZ, 2 * ku, 2 * vu};
  memcpy(d, hdr, sizeof(hdr));
}

static struct ic_kvp_item *ic_kvp_find(struct ic *ic, uint8_t pool, const char *key) {
  for (uint32_t i = 0; i < IC_KVP_STORE_ITEMS; i++)
    if (ic->i_pool[pool][i].used && strcmp(ic->i_pool[pool][i].key, key) == 0)
      return &ic->i_pool[pool][i];
  return NULL;
}

/** SET, GET, DELETE on a pool the host writes (or GET on the auto pool). */
static uint32_t ic_kvp_store(struct ic_svc *s, uint8_t op, uint8_t pool, uint8_t *body,
                             uint32_t size) {
  struct ic *ic = s->s_ic;
  char key[IC_KVP_STORE_KEY], val[IC_KVP_STORE_VALUE];
  if (op == IC_KVP_OP_DELETE) {
    if (size < sizeof(struct ic_kvp_delete)) {
      ic_warn(s, "KVP DELETE body too short: answered E_FAIL");
      return IC_E_FAIL;
    }
    uint32_t ks;
    memcpy(&ks, body + offsetof(struct ic_kvp_delete, key_size), 4);
    struct ic_kvp_item *it = NULL;
    if (pool != IC_KVP_POOL_AUTO &&
        ic_kvp_str(key, sizeof(key), body + offsetof(struct ic_kvp_delete, key), ks,
                   IC_KVP_MAX_KEY_SIZE))
      it = ic_kvp_find(ic, pool, key);
    if (!it)
      return IC_E_FAIL; /* no such key (Linux's daemon answers the same) */
    memset(it, 0, sizeof(*it));
    return IC_S_OK;
  }
  if (size < sizeof(struct ic_kvp_get_set)) {
    ic_warn(s, "KVP GET/SET body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  uint8_t *d = body + offsetof(struct ic_kvp_get_set, data);
  uint32_t sz[3];
  memcpy(sz, d, sizeof(sz)); /* value_type, key_size, value_size */
  if (!ic_kvp_str(key, sizeof(key), d + offsetof(struct ic_kvp_value, key), sz[1],
                  IC_KVP_MAX_KEY_SIZE) ||
      !key[0]) {
    ic_warn(s, "KVP key empty or longer than this guest stores: answered E_FAIL");
    return IC_E_FAIL;
  }
  if (op == IC_KVP_OP_GET) {
    if (pool == IC_KVP_POOL_AUTO) {
      const char *k;
      for (uint32_t i = 0; ic_kvp_auto_item(ic, i, &k, val, sizeof(val)); i++)
        if (strcmp(k, key) == 0) {
          ic_kvp_put(d, key, val);
          return IC_S_OK;
        }
      return IC_E_FAIL;
    }
    const struct ic_kvp_item *it = ic_kvp_find(ic, pool, key);
    if (!it)
      return IC_E_FAIL;
    ic_kvp_put(d, it->key, it->value);
    return IC_S_OK;
  }
  /* SET: the auto pool is the guest's own (generated, not stored). */
  if (pool == IC_KVP_POOL_AUTO ||
      !ic_kvp_str(val, sizeof(val), d + offsetof(struct ic_kvp_value, value), sz[2],
                  IC_KVP_MAX_VALUE_SIZE)) {
    ic_warn(s, "KVP SET to the auto pool or of a value longer than this guest stores: E_FAIL");
    return IC_E_FAIL;
  }
  struct ic_kvp_item *it = ic_kvp_find(ic, pool, key);
  for (uint32_t i = 0; i < IC_KVP_STORE_ITEMS && !it; i++)
    if (!ic->i_pool[pool][i].used)
      it = &ic->i_pool[pool][i];
  if (!it) {
    ic_warn(s, "KVP pool full: SET answered E_FAIL");
    return IC_E_FAIL;
  }
  it->used = true;
  memcpy(it->key, key, sizeof(key));
  memcpy(it->value, val, sizeof(val));
  return IC_S_OK;
}

static uint32_t ic_kvp(struct ic_svc *s, uint8_t *body, uint32_t size) {
  if (size < sizeof(struct ic_kvp_hdr)) {
    ic_warn(s, "KVP body without its header: answered E_FAIL");
    return IC_E_FAIL;
  }
  uint8_t op = body[0], pool = body[1];
  if (op == IC_KVP_OP_GET_IP_INFO)
    return ic_kvp_get_ip(s, body, size);
  if (op > IC_KVP_OP_SET_IP_INFO || op == IC_KVP_OP_SET_IP_INFO || pool >= IC_KVP_NPOOLS) {
    /* SET_IP_INFO: this guest never changes its address on the host's
     * word; unknown operations and pools. */
    ic_warn(s, "KVP operation or pool not supported: answered E_FAIL");
    return IC_E_FAIL;
  }
  if (op != IC_KVP_OP_ENUMERATE)
    return ic_kvp_store(s, op, pool, body, size);
  if (size < sizeof(struct ic_kvp_enumerate)) {
    ic_warn(s, "KVP ENUMERATE body too short: answered E_FAIL");
    return IC_E_FAIL;
  }
  uint32_t index;
  memcpy(&index, body + offsetof(struct ic_kvp_enumerate, index), 4);
  uint8_t *d = body + offsetof(struct ic_kvp_enumerate, data);
  if (pool == IC_KVP_POOL_AUTO) {
    const char *key;
    char val[64];
    if (!ic_kvp_auto_item(s->s_ic, index, &key, val, sizeof(val)))
      return IC_S_CONT; /* no item there: the end of the enumeration */
    ic_kvp_put(d, key, val);
    return IC_S_OK;
  }
  for (uint32_t i = 0, n = 0; i < IC_KVP_STORE_ITEMS; i++) {
    const struct ic_kvp_item *it = &s->s_ic->i_pool[pool][i];
    if (it->used && n++ == index) {
      ic_kvp_put(d, it->key, it->value);
      return IC_S_OK;
    }
  }
  return IC_S_CONT;
}

/* ---- one message ----------------------------------------------------------------- */

uint32_t ic_handle_message(struct ic *ic, enum ic_service sid, uint8_t *buf, uint32_t len) {
  struct ic_svc *s = &ic->i_svc[sid];
  s->s_st.msgs++;
  if (len < IC_HDR_SIZE) {
    s->s_st.dropped++;
    ic_warn(s, "message shorter than its headers: dropped");
    return 0;
  }
  if (len > IC_MSG_MAX) { /* the channel's maximum packet size keeps these out */
    s->s_st.dropped++;
    ic_warn(s, "message larger than any IC message: dropped");
    return 0;
  }
  /* The ring pads packets to 8 bytes: the pipe header says how much of
   * it is the message (a size beyond the packet is ignored). */
  struct ic_pipe_hdr ph;
  memcpy(&ph, buf, sizeof(ph));
  if (ph.msgsize >= sizeof(struct ic_msg_hdr) && ph.msgsize <= len - sizeof(ph))
    len = (uint32_t)sizeof(ph) + ph.msgsize;
  struct ic_msg_hdr h;
  memcpy(&h, buf + sizeof(struct ic_pipe_hdr), sizeof(h));
  uint32_t room = len - (uint32_t)IC_HDR_SIZE;
  uint8_t *body = buf + IC_HDR_SIZE;
  uint32_t status = IC_S_OK;
  int act = 0;
  if (h.icmsgtype == IC_MSGTYPE_NEGOTIATE) {
    h.status = IC_S_OK; /* whatever the request carried; ic_negotiate may fail it */
    ic_negotiate(s, buf, len, &h);
    status = h.status == IC_E_FAIL ? IC_E_FAIL : IC_S_OK;
  } else if (h.icmsgsize > room) {
    status = IC_E_FAIL;
    ic_warn(s, "icmsgsize beyond the packet: answered E_FAIL");
  } else if (h.icmsgtype != ic_descs[sid].msgtype) {
    status = IC_E_FAIL;
    ic_warn(s, "message type not of this service: answered E_FAIL");
  } else if (!s->s_st.srv_version) {
    status = IC_E_FAIL;
    ic_warn(s, "service message before NEGOTIATE: answered E_FAIL");
  } else {
    /* The body is what icmsgsize says, within the packet. */
    uint32_t size = h.icmsgsize;
    switch (sid) {
    case IC_HEARTBEAT:
      status = ic_heartbeat(s, body, size);
      break;
    case IC_SHUTDOWN:
      status = ic_shutdown(s, body, size, &act);
      break;
    case IC_TIMESYNC:
      status = ic_timesync(s, body, size);
      break;
    case IC_KVP:
      status = ic_kvp(s, body, size);
      break;
    default:
      status = IC_E_FAIL;
      break;
    }
  }
  if (status == IC_E_FAIL)
    s->s_st.failed++;
  h.status = status;
  h.icflags = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
  memcpy(buf + sizeof(struct ic_pipe_hdr), &h, sizeof(h));
  ph.msgsize = len - (uint32_t)sizeof(ph);
  memcpy(buf, &ph, sizeof(ph));
  if (act && !ic->i_shutdown_done) {
    ic->i_shutdown_done = true;
    ic->i_pending = act; /* acted on once the answer is queued (ic_process) */
    pr_info("ic shutdown: %s requested by the host\n", act == 2 ? "restart" : "shutdown");
  }
  s->s_st.answered++;
  return len;
}

/* ---- channels -------------------------------------------------------------------- */

static struct ic_svc *ic_svc_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static VOID ic_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                       UINT32 flags) {
  struct ic_svc *s = ic_svc_of(ch);
  if ((flags & VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA) || len > IC_MSG_MAX) {
    s->s_st.msgs++;
    s->s_st.dropped++;
    ic_warn(s, "packet with external data or oversized: dropped");
    VmbChannelPacketComplete(pkt, NULL, 0);
    return;
  }
  memcpy(s->s_buf, buf, len); /* our copy (STYLE.md rule 5.2) */
  uint32_t n = ic_handle_message(s->s_ic, s->s_id, s->s_buf, len);
  if (!n) {
    VmbChannelPacketComplete(pkt, NULL, 0);
    return;
  }
  NTSTATUS st = kmcl_packet_reply(pkt, s->s_buf, n);
  if (!NT_SUCCESS(st))
    ic_warn(s, "answer could not be queued");
  struct ic *ic = s->s_ic;
  int act = ic->i_pending;
  ic->i_pending = 0;
  if (act && ic->i_cfg.icc_shutdown)
    ic->i_cfg.icc_shutdown(ic->i_cfg.icc_arg, act == 2);
}

static VOID ic_post_started(VMBCHANNEL ch) {
  struct ic_svc *s = ic_svc_of(ch);
  s->s_st.open = true;
  s->s_st.opens++;
  pr_info("ic %s: channel open\n", ic_descs[s->s_id].name);
}

static VOID ic_closed(VMBCHANNEL ch) {
  struct ic_svc *s = ic_svc_of(ch);
  bool was = s->s_st.open;
  s->s_st.open = false;
  s->s_st.fw_version = s->s_st.srv_version = 0;
  if (!s->s_stopping) {
    if (was)
      pr_info("ic %s: channel closed by the host (rescinded)\n", ic_descs[s->s_id].name);
    ev_work_queue(&s->s_reattach); /* wait for a new offer on a fresh channel */
  }
}

static VOID ic_pnp_failure(VMBCHANNEL ch, NTSTATUS st) {
  struct ic_svc *s = ic_svc_of(ch);
  if (log_ratelimit_ok(&s->s_rl))
    pr_warn("ic %s: the host refused the open: status 0x%lx\n", ic_descs[s->s_id].name,
            (unsigned long)(uint32_t)st);
  if (!s->s_stopping)
    ev_work_queue(&s->s_reattach);
}

static int ic_channel_setup(struct ic_svc *s) {
  NTSTATUS st = VmbChannelAllocate(s->s_ic->i_bus, FALSE, &s->s_ch);
  if (!NT_SUCCESS(st)) {
    s->s_ch = NULL;
    return -ENOMEM;
  }
  VmbChannelSetPointer(s->s_ch, s);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelClosed = ic_closed;
  cb.EvtChannelPostStarted = ic_post_started;
  st = VmbChannelInitSetStateChangeCallbacks(s->s_ch, &cb);
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetProcessPacketCallbacks(s->s_ch, ic_process, NULL);
  if (NT_SUCCESS(st))
    st = VmbClientChannelInitSetTargetPnp(s->s_ch, &ic_descs[s->s_id].type, NULL, ic_pnp_failure);
  if (NT_SUCCESS(st))
    st = VmbClientChannelInitSetRingBufferPageCount(s->s_ch, IC_RING_PAGES, IC_RING_PAGES);
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetMaximumPacketSize(s->s_ch, (UINT32)IC_MSG_MAX);
  if (NT_SUCCESS(st))
    st = VmbChannelEnable(s->s_ch);
  if (!NT_SUCCESS(st)) {
    pr_err("ic %s: channel set-up failed: status 0x%lx\n", ic_descs[s->s_id].name,
           (unsigned long)(uint32_t)st);
    VmbChannelCleanup(s->s_ch);
    s->s_ch = NULL;
    return -EIO;
  }
  return 0;
}

/** After a rescind or a refused open: the old channel is disabled; a fresh
 * one waits for the next offer of the service (passive level). */
static void ic_reattach(void *arg) {
  struct ic_svc *s = arg;
  if (s->s_stopping || !s->s_ch)
    return;
  VmbChannelDisable(s->s_ch);
  VmbChannelCleanup(s->s_ch);
  s->s_ch = NULL;
  if (ic_channel_setup(s) != 0)
    pr_err("ic %s: cannot wait for a new offer\n", ic_descs[s->s_id].name);
}

int ic_start(PDEVICE_OBJECT bus_dev, const struct ic_config *cfg, struct ic **out) {
  *out = NULL;
  struct ic *ic = calloc(1, sizeof(*ic));
  if (!ic)
    return -ENOMEM;
  if (cfg)
    ic->i_cfg = *cfg;
  ic->i_bus = bus_dev;
  int rc = 0;
  for (unsigned i = 0; i < IC_NSERVICES && !rc; i++) {
    struct ic_svc *s = &ic->i_svc[i];
    s->s_ic = ic;
    s->s_id = (enum ic_service)i;
    s->s_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, IC_LOG_BURST);
    ev_item_init(&s->s_reattach, ic_reattach, s);
    s->s_buf = malloc(IC_MSG_MAX);
    if (!s->s_buf)
      rc = -ENOMEM;
    else if (bus_dev)
      rc = ic_channel_setup(s);
  }
  if (rc) {
    ic_stop(ic);
    return rc;
  }
  *out = ic;
  return 0;
}

void ic_stop(struct ic *ic) {
  if (!ic)
    return;
  for (unsigned i = 0; i < IC_NSERVICES; i++) {
    struct ic_svc *s = &ic->i_svc[i];
    s->s_stopping = true;
    ev_cancel(&s->s_reattach);
    if (s->s_ch) {
      VmbChannelDisable(s->s_ch);
      VmbChannelCleanup(s->s_ch);
      s->s_ch = NULL;
    }
    free(s->s_buf);
    s->s_buf = NULL;
  }
  free(ic);
}
