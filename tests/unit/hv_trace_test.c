/* tests/unit/hv_trace_test.c: the decoded one-line trace of VMBus messages,
 * fed with messages laid out byte by byte from PROTOCOL-REFERENCE 2.2. */
#include <errno.h>
#include <string.h>

#include "hv/vmbus_trace.h"
#include "tests/unit/unit.h"

static void put32(uint8_t *m, size_t off, uint32_t v) { memcpy(m + off, &v, 4); }
static void put64(uint8_t *m, size_t off, uint64_t v) { memcpy(m + off, &v, 8); }

static void test_initiate_contact_v5_and_v4(void **state) {
  (void)state;
  uint8_t m[40] = {0};
  char line[200];
  put32(m, 0, 14);         /* INITIATE_CONTACT */
  put32(m, 8, 0x00050003); /* 5.3 */
  put32(m, 12, 0);         /* target_vcpu */
  m[16] = 2;               /* msg_sint */
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_HOST, m, sizeof(m));
  assert_string_equal(line,
                      "vmbus: -> INITIATE_CONTACT version=5.3 target_vcpu=0 msg_sint=2 features=0");
  memset(m, 0, sizeof(m));
  put32(m, 0, 14);
  put32(m, 8, 0x0000000d); /* 0.13 */
  put64(m, 16, 0x123000);  /* interrupt page */
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_HOST, m, sizeof(m));
  assert_string_equal(
      line, "vmbus: -> INITIATE_CONTACT version=0.13 target_vcpu=0 interrupt_page=0x123000");
}

static void test_offer_names_the_class(void **state) {
  (void)state;
  uint8_t m[196] = {0};
  char line[200];
  put32(m, 0, 1);
  /* network class, wire bytes from the reference */
  const uint8_t net[16] = {0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46,
                           0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e};
  memcpy(m + 8, net, 16);
  put32(m, 184, 7); /* child_relid */
  m[188] = 33;      /* monitorid */
  m[189] = 1;       /* monitor_allocated */
  put32(m, 192, 0x10007);
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_GUEST, m, sizeof(m));
  assert_string_equal(line,
                      "vmbus: <- OFFERCHANNEL relid=7 class=f8615163-df3e-46c5-913f-f2d2f965ed0e"
                      " (network) sub=0 monitor=1/33 conn_id=65543");
}

static void test_short_and_unknown_messages(void **state) {
  (void)state;
  char line[200];
  uint8_t m[12] = {0};
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_GUEST, m, 4);
  assert_string_equal(line, "vmbus: <- (runt message, 4 bytes)");
  put32(m, 0, 77);
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_GUEST, m, 8);
  assert_string_equal(line, "vmbus: <- UNKNOWN(77)");
  /* A GPADL_CREATED cut short: missing fields read as 0, never past len. */
  put32(m, 0, 10);
  put32(m, 8, 5);
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_GUEST, m, 12);
  assert_string_equal(line, "vmbus: <- GPADL_CREATED relid=5 gpadl=0 status=0");
  /* Tiny buffers are always terminated. */
  char tiny[8];
  vmbus_msg_describe(tiny, sizeof(tiny), VMBUS_DIR_TO_GUEST, m, 12);
  assert_int_equal(strlen(tiny), 7);
}

/* The field-list formatters: decimal and %#x fields in order, and a line cut
 * by a short buffer is the full line's prefix. */
static void test_open_channel_fields_and_cut(void **state) {
  (void)state;
  uint8_t m[VMBUS_OPEN_CHANNEL_SIZE] = {0};
  char line[200], cut[40];
  put32(m, 0, VMBUS_MSG_OPENCHANNEL);
  put32(m, 8, 3);
  put32(m, 12, 9);
  put32(m, 16, 0xe1e10);
  put32(m, 20, 1);
  put32(m, 24, 4096);
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_HOST, m, sizeof(m));
  assert_string_equal(
      line,
      "vmbus: -> OPENCHANNEL relid=3 openid=9 gpadl=0xe1e10 target_vp=1 downstream_offset=4096");
  vmbus_msg_describe(cut, sizeof(cut), VMBUS_DIR_TO_HOST, m, sizeof(m));
  assert_int_equal(strlen(cut), sizeof(cut) - 1);
  assert_memory_equal(cut, line, sizeof(cut) - 1);
}

static void test_version_response_and_names(void **state) {
  (void)state;
  uint8_t m[16] = {0};
  char line[200];
  put32(m, 0, 15);
  m[8] = 1;
  put32(m, 12, 4);
  vmbus_msg_describe(line, sizeof(line), VMBUS_DIR_TO_GUEST, m, sizeof(m));
  assert_string_equal(line, "vmbus: <- VERSION_RESPONSE supported=1 state=0 conn_id=4");
  assert_string_equal(vmbus_msg_name(8), "GPADL_HEADER");
  assert_string_equal(vmbus_msg_name(29), "RESUME");
  char v[12];
  vmbus_version_format(VMBUS_VERSION_WIN8, v);
  assert_string_equal(v, "2.4");
  struct vmbus_guid hb =
      VMBUS_GUID(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d);
  assert_string_equal(vmbus_guid_name(&hb), "heartbeat");
  hb.data1 ^= 1;
  assert_null(vmbus_guid_name(&hb));
}

/* The one VMBus version parser (guest command line, hvhost options, the
 * server's cap): "X.Y" or "X", each part below 65536. */
static void test_version_parse(void **state) {
  (void)state;
  uint32_t v;
  assert_int_equal(vmbus_version_parse("5.3", &v), 0);
  assert_int_equal(v, VMBUS_VERSION(5, 3));
  assert_int_equal(vmbus_version_parse("0.13", &v), 0);
  assert_int_equal(v, VMBUS_VERSION_WS2008);
  assert_int_equal(vmbus_version_parse("6", &v), 0);
  assert_int_equal(v, VMBUS_VERSION(6, 0));
  assert_int_equal(vmbus_version_parse("65535.65535", &v), 0);
  assert_int_equal(v, 0xffffffffu);
  const char *bad[] = {"",        "5.",   ".3",  "5.3.1", "a.b",  "65536.0",
                       "5.65536", "5.-1", "5,3", " 5.3",  "+5.3", "5.3 "};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(vmbus_version_parse(bad[i], &v), -EINVAL);
  assert_int_equal(vmbus_version_parse(NULL, &v), -EINVAL);
  static const uint32_t all[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
  for (unsigned i = 0; i < VMBUS_NUM_VERSIONS; i++)
    assert_true(vmbus_version_known(all[i]));
  assert_false(vmbus_version_known(VMBUS_VERSION(4, 2)));
  assert_false(vmbus_version_known(0));
}

/* The message table: every type a side accepts has a size and a sender,
 * and the checks drop runts, unknown types, the wrong direction and short
 * messages before anything reads a field. */
static void test_msg_table_and_check(void **state) {
  (void)state;
  unsigned by_guest = 0, by_host = 0;
  for (uint32_t t = 0; t < VMBUS_MSG_COUNT; t++) {
    const struct vmbus_msg_type *mt = &vmbus_msg_types[t];
    assert_non_null(mt->mt_name);
    assert_true(mt->mt_min_size == 0 || mt->mt_min_size >= sizeof(struct vmbus_msg_header));
    assert_true(mt->mt_min_size <= VMBUS_MAX_CHANNEL_MESSAGE);
    assert_true((mt->mt_min_size == 0) == (mt->mt_sender == 0));
    by_guest += mt->mt_sender == VMBUS_MSG_BY_GUEST;
    by_host += mt->mt_sender == VMBUS_MSG_BY_HOST;
  }
  assert_int_equal(by_guest, 10);
  assert_int_equal(by_host, 9);
  assert_int_equal(vmbus_msg_types[VMBUS_MSG_OFFERCHANNEL].mt_min_size, 196);
  assert_int_equal(vmbus_msg_types[VMBUS_MSG_OPENCHANNEL].mt_min_size, 148);
  assert_int_equal(vmbus_msg_types[VMBUS_MSG_INITIATE_CONTACT].mt_min_size, 40);
  assert_int_equal(vmbus_msg_types[VMBUS_MSG_VERSION_RESPONSE].mt_min_size, 16);
  uint8_t m[240] = {0};
  uint32_t type;
  assert_non_null(vmbus_msg_check(VMBUS_DIR_TO_HOST, m, 7, &type));
  assert_int_equal(type, VMBUS_MSG_INVALID);
  put32(m, 0, VMBUS_MSG_COUNT);
  assert_non_null(vmbus_msg_check(VMBUS_DIR_TO_GUEST, m, 8, &type));
  assert_int_equal(type, VMBUS_MSG_COUNT);
  put32(m, 0, VMBUS_MSG_PAUSE); /* known, accepted by neither side here */
  assert_non_null(vmbus_msg_check(VMBUS_DIR_TO_GUEST, m, 240, &type));
  put32(m, 0, VMBUS_MSG_INITIATE_CONTACT);
  assert_null(vmbus_msg_check(VMBUS_DIR_TO_HOST, m, 40, &type));
  assert_int_equal(type, VMBUS_MSG_INITIATE_CONTACT);
  assert_non_null(vmbus_msg_check(VMBUS_DIR_TO_HOST, m, 39, &type));
  assert_string_equal(vmbus_msg_check(VMBUS_DIR_TO_GUEST, m, 40, &type),
                      "a type only the guest sends");
  put32(m, 0, VMBUS_MSG_OFFERCHANNEL);
  assert_null(vmbus_msg_check(VMBUS_DIR_TO_GUEST, m, 196, &type));
  assert_string_equal(vmbus_msg_check(VMBUS_DIR_TO_GUEST, m, 195, &type), "shorter than its type");
  assert_string_equal(vmbus_msg_check(VMBUS_DIR_TO_HOST, m, 196, &type),
                      "a type only the host sends");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_version_parse),
    cmocka_unit_test(test_msg_table_and_check),
    cmocka_unit_test(test_initiate_contact_v5_and_v4),
    cmocka_unit_test(test_offer_names_the_class),
    cmocka_unit_test(test_short_and_unknown_messages),
    cmocka_unit_test(test_version_response_and_names),
    cmocka_unit_test(test_open_channel_fields_and_cut),
};
UNIT_MAIN("hv_trace", tests)
