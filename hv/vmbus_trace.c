/* hv/vmbus_trace.c: decode VMBus channel messages into one readable line. */
#include "hv/vmbus_trace.h"

#include <stdio.h>
#include <string.h>

static const char *const vt_names[VMBUS_MSG_COUNT] = {
    [VMBUS_MSG_INVALID] = "INVALID",
    [VMBUS_MSG_OFFERCHANNEL] = "OFFERCHANNEL",
    [VMBUS_MSG_RESCIND_CHANNELOFFER] = "RESCIND_CHANNELOFFER",
    [VMBUS_MSG_REQUESTOFFERS] = "REQUESTOFFERS",
    [VMBUS_MSG_ALLOFFERS_DELIVERED] = "ALLOFFERS_DELIVERED",
    [VMBUS_MSG_OPENCHANNEL] = "OPENCHANNEL",
    [VMBUS_MSG_OPENCHANNEL_RESULT] = "OPENCHANNEL_RESULT",
    [VMBUS_MSG_CLOSECHANNEL] = "CLOSECHANNEL",
    [VMBUS_MSG_GPADL_HEADER] = "GPADL_HEADER",
    [VMBUS_MSG_GPADL_BODY] = "GPADL_BODY",
    [VMBUS_MSG_GPADL_CREATED] = "GPADL_CREATED",
    [VMBUS_MSG_GPADL_TEARDOWN] = "GPADL_TEARDOWN",
    [VMBUS_MSG_GPADL_TORNDOWN] = "GPADL_TORNDOWN",
    [VMBUS_MSG_RELID_RELEASED] = "RELID_RELEASED",
    [VMBUS_MSG_INITIATE_CONTACT] = "INITIATE_CONTACT",
    [VMBUS_MSG_VERSION_RESPONSE] = "VERSION_RESPONSE",
    [VMBUS_MSG_UNLOAD] = "UNLOAD",
    [VMBUS_MSG_UNLOAD_RESPONSE] = "UNLOAD_RESPONSE",
    [VMBUS_MSG_OPEN_RESERVED_CHANNEL] = "OPEN_RESERVED_CHANNEL",
    [VMBUS_MSG_CLOSE_RESERVED_CHANNEL] = "CLOSE_RESERVED_CHANNEL",
    [VMBUS_MSG_CLOSE_RESERVED_RESPONSE] = "CLOSE_RESERVED_RESPONSE",
    [VMBUS_MSG_TL_CONNECT_REQUEST] = "TL_CONNECT_REQUEST",
    [VMBUS_MSG_MODIFYCHANNEL] = "MODIFYCHANNEL",
    [VMBUS_MSG_TL_CONNECT_RESULT] = "TL_CONNECT_RESULT",
    [VMBUS_MSG_MODIFYCHANNEL_RESPONSE] = "MODIFYCHANNEL_RESPONSE",
    [VMBUS_MSG_MODIFY_CONNECTION] = "MODIFY_CONNECTION",
    [VMBUS_MSG_MODIFY_CONNECTION_RESPONSE] = "MODIFY_CONNECTION_RESPONSE",
    [VMBUS_MSG_PAUSE] = "PAUSE",
    [VMBUS_MSG_PAUSE_RESPONSE] = "PAUSE_RESPONSE",
    [VMBUS_MSG_RESUME] = "RESUME",
};

const char *vmbus_msg_name(uint32_t msgtype) {
  static char unknown[24];
  if (msgtype < VMBUS_MSG_COUNT && vt_names[msgtype])
    return vt_names[msgtype];
  snprintf(unknown, sizeof(unknown), "UNKNOWN(%u)", msgtype);
  return unknown;
}

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
static uint32_t vt_u32(const uint8_t *m, size_t len, size_t off) {
  uint32_t v = 0;
  if (off <= len && 4 <= len - off)
    memcpy(&v, m + off, 4);
  return v;
}
static unsigned vt_u8(const uint8_t *m, size_t len, size_t off) { return off < len ? m[off] : 0u; }
static uint64_t vt_u64(const uint8_t *m, size_t len, size_t off) {
  uint64_t v = 0;
  if (off <= len && 8 <= len - off)
    memcpy(&v, m + off, 8);
  return v;
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
  char *p = buf + n;
  size_t room = bufsz - (size_t)n;
  char ver[12], guid[37];
  switch (type) {
  case VMBUS_MSG_INITIATE_CONTACT: {
    uint32_t v = vt_u32(m, len, 8);
    vmbus_version_format(v, ver);
    if (v >= VMBUS_VERSION_WIN10_V5)
      snprintf(p, room, " version=%s target_vcpu=%u msg_sint=%u features=%#x", ver,
               vt_u32(m, len, 12), vt_u8(m, len, 16), vt_u32(m, len, 20));
    else
      snprintf(p, room, " version=%s target_vcpu=%u interrupt_page=%#lx", ver, vt_u32(m, len, 12),
               (unsigned long)vt_u64(m, len, 16));
    break;
  }
  case VMBUS_MSG_VERSION_RESPONSE:
    snprintf(p, room, " supported=%u state=%u conn_id=%u", vt_u8(m, len, 8), vt_u8(m, len, 9),
             vt_u32(m, len, 12));
    break;
  case VMBUS_MSG_OFFERCHANNEL: {
    struct vmbus_guid g;
    memset(&g, 0, sizeof(g));
    if (len >= 24)
      memcpy(&g, m + 8, sizeof(g));
    vmbus_guid_format(&g, guid);
    const char *name = vmbus_guid_name(&g);
    snprintf(p, room, " relid=%u class=%s (%s) sub=%u monitor=%u/%u conn_id=%u",
             vt_u32(m, len, 184), guid, name ? name : "unknown",
             (unsigned)(vt_u32(m, len, 180) & 0xffff), vt_u8(m, len, 189) & 1u, vt_u8(m, len, 188),
             vt_u32(m, len, 192));
    break;
  }
  case VMBUS_MSG_RESCIND_CHANNELOFFER:
  case VMBUS_MSG_CLOSECHANNEL:
  case VMBUS_MSG_RELID_RELEASED:
    snprintf(p, room, " relid=%u", vt_u32(m, len, 8));
    break;
  case VMBUS_MSG_OPENCHANNEL:
    snprintf(p, room, " relid=%u openid=%u gpadl=%#x target_vp=%u downstream_offset=%u",
             vt_u32(m, len, 8), vt_u32(m, len, 12), vt_u32(m, len, 16), vt_u32(m, len, 20),
             vt_u32(m, len, 24));
    break;
  case VMBUS_MSG_OPENCHANNEL_RESULT:
    snprintf(p, room, " relid=%u openid=%u status=%#x", vt_u32(m, len, 8), vt_u32(m, len, 12),
             vt_u32(m, len, 16));
    break;
  case VMBUS_MSG_GPADL_HEADER:
    snprintf(p, room, " relid=%u gpadl=%#x range_buflen=%u rangecount=%u", vt_u32(m, len, 8),
             vt_u32(m, len, 12), vt_u32(m, len, 16) & 0xffff, vt_u32(m, len, 16) >> 16);
    break;
  case VMBUS_MSG_GPADL_BODY:
    snprintf(p, room, " msgnumber=%u gpadl=%#x pfns=%lu", vt_u32(m, len, 8), vt_u32(m, len, 12),
             (unsigned long)(len > 16 ? (len - 16) / 8 : 0));
    break;
  case VMBUS_MSG_GPADL_CREATED:
    snprintf(p, room, " relid=%u gpadl=%#x status=%#x", vt_u32(m, len, 8), vt_u32(m, len, 12),
             vt_u32(m, len, 16));
    break;
  case VMBUS_MSG_GPADL_TEARDOWN:
    snprintf(p, room, " relid=%u gpadl=%#x", vt_u32(m, len, 8), vt_u32(m, len, 12));
    break;
  case VMBUS_MSG_GPADL_TORNDOWN:
    snprintf(p, room, " gpadl=%#x", vt_u32(m, len, 8));
    break;
  case VMBUS_MSG_MODIFYCHANNEL:
    snprintf(p, room, " relid=%u target_vp=%u", vt_u32(m, len, 8), vt_u32(m, len, 12));
    break;
  case VMBUS_MSG_MODIFYCHANNEL_RESPONSE:
    snprintf(p, room, " relid=%u status=%#x", vt_u32(m, len, 8), vt_u32(m, len, 12));
    break;
  default:
    break;
  }
}

int vmbus_trace_format(char *buf, size_t len, bool to_host, const void *msg, uint32_t size) {
  if (len == 0)
    return 0;
  vmbus_msg_describe(buf, len, to_host ? VMBUS_DIR_TO_HOST : VMBUS_DIR_TO_GUEST, msg, size);
  return (int)strlen(buf);
}
