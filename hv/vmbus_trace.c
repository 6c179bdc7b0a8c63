/* hv/vmbus_trace.c: the VMBus message table (name, minimum size, sender and
 * formatter per type) that the guest's client, the host's server and the
 * trace share; the version parser; and the one-line decoder. */
#include "hv/vmbus_trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Device classes (PROTOCOL-REFERENCE 2.4). */
static const struct {
  struct vmbus_guid g;
  const char *name;
} vt_classes[] = {
    {VMBUS_GUID_NETWORK, "network"},
    {VMBUS_GUID(0xba6163d9, 0x04a1, 0x4d29, 0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f),
     "storage (SCSI)"},
    {VMBUS_GUID(0x32412632, 0x86cb, 0x44a2, 0x9b, 0x5c, 0x50, 0xd1, 0x41, 0x73, 0x54, 0xf5),
     "storage (IDE)"},
    {VMBUS_GUID(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb),
     "shutdown"},
    {VMBUS_GUID(0x9527e630, 0xd0ae, 0x497b, 0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf),
     "time sync"},
    {VMBUS_GUID(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d),
     "heartbeat"},
    {VMBUS_GUID(0xa9a0f4e7, 0x5a45, 0x4d96, 0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6), "KVP"},
    {VMBUS_GUID(0x35fa2e29, 0xea23, 0x4236, 0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40), "VSS"},
    {VMBUS_GUID(0x525074dc, 0x8985, 0x46e2, 0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02),
     "dynamic memory"},
    {VMBUS_GUID(0xda0a7802, 0xe377, 0x4aac, 0x8e, 0x77, 0x05, 0x58, 0xeb, 0x10, 0x73, 0xf8),
     "video"},
    {VMBUS_GUID(0xf912ad6d, 0x2b17, 0x48ea, 0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84),
     "keyboard"},
    {VMBUS_GUID(0xcfa8b69e, 0x5b4a, 0x4cc0, 0xb9, 0x8b, 0x8b, 0xa1, 0xa1, 0xf3, 0xf9, 0x5a),
     "mouse"},
    {VMBUS_GUID(0x44c4f61d, 0x4444, 0x4400, 0x9d, 0x52, 0x80, 0x2e, 0x27, 0xed, 0xe1, 0x9f),
     "PCI pass-through"},
    {VMBUS_GUID(0x34d14be3, 0xdee4, 0x41c8, 0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92),
     "file copy"},
    {VMBUS_GUID(0x8c2eaf3d, 0x32a7, 0x4b09, 0xab, 0x99, 0xbd, 0x1f, 0x1c, 0x86, 0xb5, 0x01),
     "NetworkDirect"},
    {VMBUS_GUID(0x2f9bcc4a, 0x0069, 0x4af3, 0xb7, 0x6b, 0x6f, 0xd0, 0xbe, 0x52, 0x8c, 0xda),
     "fibre channel"},
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
