/* hv/vmbus_trace.c: the VMBus message table (name, minimum size, sender and
 * formatter per type) that the guest's client, the host's server and the
 * trace share; the version parser; and the one-line decoder. */
#include "hv/vmbus_trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The name of each device class of hv/vmbus_proto.h. */
static const struct {
  struct vmbus_guid g;
  const char *name;
} vt_classes[] = {
    {VMBUS_GUID_NETWORK, "network"},
    {VMBUS_GUID_SCSI, "storage (SCSI)"},
    {VMBUS_GUID_IDE, "storage (IDE)"},
    {VMBUS_GUID_SHUTDOWN, "shutdown"},
    {VMBUS_GUID_TIMESYNC, "time sync"},
    {VMBUS_GUID_HEARTBEAT, "heartbeat"},
    {VMBUS_GUID_KVP, "KVP"},
    {VMBUS_GUID_VSS, "VSS"},
    {VMBUS_GUID_DYNMEM, "dynamic memory"},
    {VMBUS_GUID_VIDEO, "video"},
    {VMBUS_GUID_KEYBOARD, "keyboard"},
    {VMBUS_GUID_MOUSE, "mouse"},
    {VMBUS_GUID_PCI, "PCI pass-through"},
    {VMBUS_GUID_FCOPY, "file copy"},
    {VMBUS_GUID_ND, "NetworkDirect"},
    {VMBUS_GUID_FC, "fibre channel"},
};

const char *vmbus_guid_name(const struct vmbus_guid *g) {
  for (size_t i = 0; i < sizeof(vt_classes) / sizeof(vt_classes[0]); i++)
    if (memcmp(&vt_classes[i].g, g, sizeof(*g)) == 0)
      return vt_classes[i].name;
  return NULL;
}

void vmbus_guid_format(const struct vmbus_guid *g, char out[37]) {
  snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->data1, g->data2,
           g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3], g->data4[4], g->data4[5],
           g->data4[6], g->data4[7]);
}

void vmbus_version_format(uint32_t v, char out[12]) {
  snprintf(out, 12, "%u.%u", VMBUS_VERSION_MAJOR(v), VMBUS_VERSION_MINOR(v));
}

/* Little-endian field reads bounded by len: a missing field reads as 0 and
 * the line says "(short)". */
static uint64_t vt_le(const uint8_t *m, size_t len, size_t off, size_t width) {
  uint64_t v = 0;
  if (off <= len && width <= len - off)
    memcpy(&v, m + off, width);
  return v;
}
static uint32_t vt_u32(const uint8_t *m, size_t len, size_t off) {
  return (uint32_t)vt_le(m, len, off, 4);
}
static unsigned vt_u8(const uint8_t *m, size_t len, size_t off) {
  return (unsigned)vt_le(m, len, off, 1);
}

/* One 32-bit field of a message: " key=" then the value at off, decimal or
 * (hex set) as %#x. A list ends at a NULL key. */
struct vt_field {
  const char *key;
  uint8_t off;
  bool hex;
};

/* Appends " key=value" for every field of f to p (room bytes, truncated as
 * snprintf truncates). */
static void vt_fields(char *p, size_t room, const uint8_t *m, size_t len,
                      const struct vt_field *f) {
  size_t used = 0;
  if (room)
    p[0] = '\0';
  for (; f->key && used < room; f++) {
    int n = snprintf(p + used, room - used, f->hex ? " %s=%#x" : " %s=%u", f->key,
                     vt_u32(m, len, f->off));
    if (n < 0)
      return;
    used += (size_t)n;
  }
}

/* Defines the formatter fn that prints the listed fields. */
#define VT_FIELDS(fn, ...)                                                                         \
  static void fn(char *p, size_t room, const uint8_t *m, size_t len) {                             \
    static const struct vt_field f[] = {__VA_ARGS__, {NULL, 0, false}};                            \
    vt_fields(p, room, m, len, f);                                                                 \
  }
#define U(key, off)                                                                                \
  { key, off, false }
#define X(key, off)                                                                                \
  { key, off, true }

/* ---- one formatter per type: " key=value ..." after the name ---------------- */

static void vt_initiate_contact(char *p, size_t room, const uint8_t *m, size_t len) {
  char ver[12];
  uint32_t v = vt_u32(m, len, 8);
  vmbus_version_format(v, ver);
  if (v >= VMBUS_VERSION_WIN10_V5)
    snprintf(p, room, " version=%s target_vcpu=%u msg_sint=%u features=%#x", ver,
             vt_u32(m, len, 12), vt_u8(m, len, 16), vt_u32(m, len, 20));
  else
    snprintf(p, room, " version=%s target_vcpu=%u interrupt_page=%#lx", ver, vt_u32(m, len, 12),
             (unsigned long)vt_le(m, len, 16, 8));
}

static void vt_version_response(char *p, size_t room, const uint8_t *m, size_t len) {
  snprintf(p, room, " supported=%u state=%u conn_id=%u", vt_u8(m, len, 8), vt_u8(m, len, 9),
           vt_u32(m, len, 12));
}

static void vt_offer(char *p, size_t room, const uint8_t *m, size_t len) {
  char guid[37];
  struct vmbus_guid g;
  memset(&g, 0, sizeof(g));
  if (len >= 24)
    memcpy(&g, m + 8, sizeof(g));
  vmbus_guid_format(&g, guid);
  const char *name = vmbus_guid_name(&g);
  snprintf(p, room, " relid=%u class=%s (%s) sub=%u monitor=%u/%u conn_id=%u", vt_u32(m, len, 184),
           guid, name ? name : "unknown", (unsigned)(vt_u32(m, len, 180) & 0xffff),
           vt_u8(m, len, 189) & 1u, vt_u8(m, len, 188), vt_u32(m, len, 192));
}

VT_FIELDS(vt_relid, U("relid", 8))

VT_FIELDS(vt_open_channel, U("relid", 8), U("openid", 12), X("gpadl", 16), U("target_vp", 20),
          U("downstream_offset", 24))

VT_FIELDS(vt_open_result, U("relid", 8), U("openid", 12), X("status", 16))

static void vt_gpadl_header(char *p, size_t room, const uint8_t *m, size_t len) {
  snprintf(p, room, " relid=%u gpadl=%#x range_buflen=%u rangecount=%u", vt_u32(m, len, 8),
           vt_u32(m, len, 12), vt_u32(m, len, 16) & 0xffff, vt_u32(m, len, 16) >> 16);
}

static void vt_gpadl_body(char *p, size_t room, const uint8_t *m, size_t len) {
  snprintf(p, room, " msgnumber=%u gpadl=%#x pfns=%lu", vt_u32(m, len, 8), vt_u32(m, len, 12),
           (unsigned long)(len > 16 ? (len - 16) / 8 : 0));
}

VT_FIELDS(vt_gpadl_created, U("relid", 8), X("gpadl", 12), X("status", 16))

VT_FIELDS(vt_gpadl_teardown, U("relid", 8), X("gpadl", 12))

VT_FIELDS(vt_gpadl_torndown, X("gpadl", 8))

VT_FIELDS(vt_modify_channel, U("relid", 8), U("target_vp", 12))

VT_FIELDS(vt_modify_response, U("relid", 8), X("status", 12))

#undef U
#undef X

/* ---- the table ---------------------------------------------------------------- */

#define G VMBUS_MSG_BY_GUEST
#define H VMBUS_MSG_BY_HOST
/* name, minimum payload a receiver accepts (Linux min_payload_len; 0: not
 * accepted by either side here), sender, formatter (NULL: the name alone). */
const struct vmbus_msg_type vmbus_msg_types[VMBUS_MSG_COUNT] = {
    [VMBUS_MSG_INVALID] = {"INVALID", 0, 0, NULL},
    [VMBUS_MSG_OFFERCHANNEL] = {"OFFERCHANNEL", sizeof(struct vmbus_msg_offer), H, vt_offer},
    [VMBUS_MSG_RESCIND_CHANNELOFFER] = {"RESCIND_CHANNELOFFER", sizeof(struct vmbus_msg_relid), H,
                                        vt_relid},
    [VMBUS_MSG_REQUESTOFFERS] = {"REQUESTOFFERS", sizeof(struct vmbus_msg_header), G, NULL},
    [VMBUS_MSG_ALLOFFERS_DELIVERED] = {"ALLOFFERS_DELIVERED", sizeof(struct vmbus_msg_header), H,
                                       NULL},
    [VMBUS_MSG_OPENCHANNEL] = {"OPENCHANNEL", VMBUS_OPEN_CHANNEL_SIZE, G, vt_open_channel},
    [VMBUS_MSG_OPENCHANNEL_RESULT] = {"OPENCHANNEL_RESULT", sizeof(struct vmbus_msg_open_result), H,
                                      vt_open_result},
    [VMBUS_MSG_CLOSECHANNEL] = {"CLOSECHANNEL", sizeof(struct vmbus_msg_relid), G, vt_relid},
    [VMBUS_MSG_GPADL_HEADER] = {"GPADL_HEADER", sizeof(struct vmbus_msg_gpadl_header), G,
                                vt_gpadl_header},
    [VMBUS_MSG_GPADL_BODY] = {"GPADL_BODY", sizeof(struct vmbus_msg_gpadl_body), G, vt_gpadl_body},
    [VMBUS_MSG_GPADL_CREATED] = {"GPADL_CREATED", sizeof(struct vmbus_msg_gpadl_created), H,
                                 vt_gpadl_created},
    [VMBUS_MSG_GPADL_TEARDOWN] = {"GPADL_TEARDOWN", sizeof(struct vmbus_msg_gpadl_teardown), G,
                                  vt_gpadl_teardown},
    [VMBUS_MSG_GPADL_TORNDOWN] = {"GPADL_TORNDOWN", sizeof(struct vmbus_msg_gpadl_torndown), H,
                                  vt_gpadl_torndown},
    [VMBUS_MSG_RELID_RELEASED] = {"RELID_RELEASED", sizeof(struct vmbus_msg_relid), G, vt_relid},
    [VMBUS_MSG_INITIATE_CONTACT] = {"INITIATE_CONTACT", VMBUS_INITIATE_CONTACT_SIZE, G,
                                    vt_initiate_contact},
    [VMBUS_MSG_VERSION_RESPONSE] = {"VERSION_RESPONSE", VMBUS_VERSION_RESPONSE_SIZE, H,
                                    vt_version_response},
    [VMBUS_MSG_UNLOAD] = {"UNLOAD", sizeof(struct vmbus_msg_header), G, NULL},
    [VMBUS_MSG_UNLOAD_RESPONSE] = {"UNLOAD_RESPONSE", sizeof(struct vmbus_msg_header), H, NULL},
    [VMBUS_MSG_OPEN_RESERVED_CHANNEL] = {"OPEN_RESERVED_CHANNEL", 0, 0, NULL},
    [VMBUS_MSG_CLOSE_RESERVED_CHANNEL] = {"CLOSE_RESERVED_CHANNEL", 0, 0, NULL},
    [VMBUS_MSG_CLOSE_RESERVED_RESPONSE] = {"CLOSE_RESERVED_RESPONSE", 0, 0, NULL},
    [VMBUS_MSG_TL_CONNECT_REQUEST] = {"TL_CONNECT_REQUEST", 0, 0, NULL},
    [VMBUS_MSG_MODIFYCHANNEL] = {"MODIFYCHANNEL", sizeof(struct vmbus_msg_modify_channel), G,
                                 vt_modify_channel},
    [VMBUS_MSG_TL_CONNECT_RESULT] = {"TL_CONNECT_RESULT", 0, 0, NULL},
    [VMBUS_MSG_MODIFYCHANNEL_RESPONSE] = {"MODIFYCHANNEL_RESPONSE",
                                          sizeof(struct vmbus_msg_modify_channel), H,
                                          vt_modify_response},
    [VMBUS_MSG_MODIFY_CONNECTION] = {"MODIFY_CONNECTION", 0, 0, NULL},
    [VMBUS_MSG_MODIFY_CONNECTION_RESPONSE] = {"MODIFY_CONNECTION_RESPONSE", 0, 0, NULL},
    [VMBUS_MSG_PAUSE] = {"PAUSE", 0, 0, NULL},
    [VMBUS_MSG_PAUSE_RESPONSE] = {"PAUSE_RESPONSE", 0, 0, NULL},
    [VMBUS_MSG_RESUME] = {"RESUME", 0, 0, NULL},
};
#undef G
#undef H

const char *vmbus_msg_name(uint32_t msgtype) {
  static char unknown[24];
  if (msgtype < VMBUS_MSG_COUNT && vmbus_msg_types[msgtype].mt_name)
    return vmbus_msg_types[msgtype].mt_name;
  snprintf(unknown, sizeof(unknown), "UNKNOWN(%u)", msgtype);
  return unknown;
}

const char *vmbus_msg_check(enum vmbus_dir dir, const void *msg, size_t len, uint32_t *type) {
  *type = VMBUS_MSG_INVALID;
  if (len < sizeof(struct vmbus_msg_header))
    return "shorter than the header";
  memcpy(type, msg, sizeof(*type));
  if (*type >= VMBUS_MSG_COUNT || vmbus_msg_types[*type].mt_min_size == 0)
    return "a type not accepted";
  const struct vmbus_msg_type *t = &vmbus_msg_types[*type];
  if (t->mt_sender != (dir == VMBUS_DIR_TO_HOST ? VMBUS_MSG_BY_GUEST : VMBUS_MSG_BY_HOST))
    return dir == VMBUS_DIR_TO_HOST ? "a type only the host sends" : "a type only the guest sends";
  if (len < t->mt_min_size)
    return "shorter than its type";
  return NULL;
}

/* A decimal number below 65536 at *s; advances *s. -1 when none. */
static long vt_decimal(const char **s) {
  long v = 0;
  const char *p = *s;
  if (*p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (*p - '0');
    if (v > 0xffff)
      return -1;
  }
  *s = p;
  return v;
}

int vmbus_version_parse(const char *s, uint32_t *out) {
  if (!s)
    return -EINVAL;
  long maj = vt_decimal(&s), min = 0;
  if (maj < 0)
    return -EINVAL;
  if (*s == '.') {
    s++;
    if ((min = vt_decimal(&s)) < 0)
      return -EINVAL;
  }
  if (*s != '\0')
    return -EINVAL;
  *out = VMBUS_VERSION(maj, min);
  return 0;
}

bool vmbus_version_known(uint32_t v) {
  static const uint32_t all[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
  for (unsigned i = 0; i < VMBUS_NUM_VERSIONS; i++)
    if (all[i] == v)
      return true;
  return false;
}

void vmbus_msg_describe(char *buf, size_t bufsz, enum vmbus_dir dir, const void *msg, size_t len) {
  const uint8_t *m = msg;
  const char *arrow = dir == VMBUS_DIR_TO_HOST ? "->" : "<-";
  if (len < sizeof(struct vmbus_msg_header)) {
    snprintf(buf, bufsz, "vmbus: %s (runt message, %lu bytes)", arrow, (unsigned long)len);
    return;
  }
  uint32_t type = vt_u32(m, len, 0);
  int n = snprintf(buf, bufsz, "vmbus: %s %s", arrow, vmbus_msg_name(type));
  if (n < 0 || (size_t)n >= bufsz)
    return;
  if (type < VMBUS_MSG_COUNT && vmbus_msg_types[type].mt_describe)
    vmbus_msg_types[type].mt_describe(buf + n, bufsz - (size_t)n, m, len);
}

int vmbus_trace_format(char *buf, size_t len, bool to_host, const void *msg, uint32_t size) {
  if (len == 0)
    return 0;
  vmbus_msg_describe(buf, len, to_host ? VMBUS_DIR_TO_HOST : VMBUS_DIR_TO_GUEST, msg, size);
  return (int)strlen(buf);
}
