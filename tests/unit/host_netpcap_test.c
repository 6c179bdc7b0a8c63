/* tests/unit/host_netpcap_test.c: the --pcap capture (host/netpcap.c): the
 * file format read back byte for byte, and, as a NetVSP monitor beside the
 * built-in peer over the loopback bus, exactly the frames the device counts
 * in both directions. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/netvsc/netvsc.h"
#include "host/netpcap.h"
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "net/net.h"
#include "tests/unit/lib/kmcl_harness.h"
#include "tests/unit/lib/le_bytes.h"

/* The whole file, read back. */
static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static uint8_t buf[1u << 20];
  *len = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  return buf;
}

/** A capture file at this process's temporary path (left in `path`). */
static struct netpcap *tmp_open(char path[64]) {
  snprintf(path, 64, "/tmp/netpcap_test_%d.pcap", (int)getpid());
  char err[256];
  struct netpcap *pc = netpcap_open(path, err, sizeof(err));
  assert_non_null(pc);
  return pc;
}

static void test_format(void **state) {
  (void)state;
  char path[64];
  struct netpcap *pc = tmp_open(path);
  uint8_t a[60], b[1514];
  for (unsigned i = 0; i < sizeof(a); i++)
    a[i] = (uint8_t)i;
  for (unsigned i = 0; i < sizeof(b); i++)
    b[i] = (uint8_t)(i * 7u);
  assert_int_equal(netpcap_write(pc, true, a, sizeof(a)), 0);
  assert_int_equal(netpcap_write(pc, false, b, sizeof(b)), 0);
  assert_int_equal(netpcap_write(pc, false, NULL, 5), -EINVAL);
  const struct netpcap_stats *st = netpcap_stats(pc);
  assert_int_equal(st->frames, 2);
  assert_int_equal(st->to_guest, 1);
  assert_int_equal(st->from_guest, 1);
  assert_int_equal(st->bytes, sizeof(a) + sizeof(b));
  netpcap_close(pc);

  size_t len;
  const uint8_t *f = slurp(path, &len);
  assert_int_equal(len, 24 + 16 + sizeof(a) + 16 + sizeof(b));
  assert_int_equal(get32(f), 0xa1b2c3d4u); /* microsecond timestamps */
  assert_int_equal(get16(f + 4), 2);
  assert_int_equal(get16(f + 6), 4);
  assert_int_equal(get32(f + 16), 65535); /* snaplen */
  assert_int_equal(get32(f + 20), 1);     /* LINKTYPE_ETHERNET */
  const uint8_t *r = f + 24;
  assert_true(get32(r) > 1600000000u); /* wall clock seconds */
  assert_true(get32(r + 4) < 1000000u);
  assert_int_equal(get32(r + 8), sizeof(a));
  assert_int_equal(get32(r + 12), sizeof(a));
  assert_memory_equal(r + 16, a, sizeof(a));
  r += 16 + sizeof(a);
  assert_int_equal(get32(r + 8), sizeof(b));
  assert_memory_equal(r + 16, b, sizeof(b));
  unlink(path);
}

static void test_open_errors(void **state) {
  (void)state;
  char err[256];
  assert_null(netpcap_open("/nonexistent-dir/x.pcap", err, sizeof(err)));
  assert_non_null(strstr(err, "cannot create capture file /nonexistent-dir/x.pcap"));
  assert_non_null(strstr(err, "No such file or directory"));
}

/* The monitor sees what the device counts: pings and UDP both ways. */
static void test_monitor_counts(void **state) {
  (void)state;
  char path[64];
  struct netpcap *pc = tmp_open(path);

  struct kh_nic k;
  kh_nic_host(&k, 21, NULL, NULL);
  struct netpeer *peer = k.n.sn_peer;
  struct netvsp *dev = k.n.sn_dev;
  struct netvsp_monitor m = netpcap_monitor(pc);
  netvsp_set_monitor(dev, &m);
  kh_nic_guest(&k, NULL, true);

  assert_int_equal(netpeer_arp_resolve(peer), 0);
  lb_pump();
  for (uint16_t i = 0; i < 20; i++) {
    assert_int_equal(netpeer_ping(peer, i, 56u + i), 0);
    lb_pump();
    assert_int_equal(netpeer_udp(peer, (uint16_t)(2000u + i), 1u + i * 70u), 0);
    lb_pump();
  }
  assert_int_equal(netpeer_stats(peer)->echo_ok, 20);
  assert_int_equal(netpeer_stats(peer)->udp_ok, 20);
  const struct netvsp_stats *ds = netvsp_stats(dev);
  const struct netpcap_stats *ps = netpcap_stats(pc);
  assert_int_equal(ps->to_guest, ds->rx_frames);
  assert_int_equal(ps->from_guest, ds->tx_frames);
  assert_int_equal(ps->frames, ds->rx_frames + ds->tx_frames);
  assert_true(ps->frames >= 82); /* ARP both ways, 20 pings, 20 datagrams */
  uint64_t frames = ps->frames;

  sim_nic_guest_down(&k.n);
  lb_pump();
  netvsp_set_monitor(dev, NULL);
  kh_nic_down(&k);
  netpcap_close(pc);

  /* Walk the records: as many as counted, each an Ethernet frame. */
  size_t len;
  const uint8_t *f = slurp(path, &len);
  size_t off = 24;
  uint64_t n = 0;
  while (off + 16 <= len) {
    uint32_t incl = get32(f + off + 8);
    assert_true(incl >= 14 && incl == get32(f + off + 12));
    assert_true(off + 16 + incl <= len);
    uint16_t type = (uint16_t)((f[off + 16 + 12] << 8) | f[off + 16 + 13]);
    assert_true(type == 0x0800 || type == 0x0806);
    off += 16 + incl;
    n++;
  }
  assert_int_equal(off, len);
  assert_int_equal(n, frames);
  unlink(path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_monitor_counts),
};

UNIT_MAIN("host_netpcap", tests)
