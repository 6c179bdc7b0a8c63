/* tests/unit/net_test.c: net/ (ARP, ICMP echo, UDP echo) end to end with the
 * built-in peer (host/netpeer.c) through the real NetVSP device and the
 * netvsc driver over the loopback bus. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "drivers/netvsc/nvsp.h"
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "net/net.h"
#include "tests/unit/lib/kmcl_harness.h"

static void test_config_parse(void **state) {
  (void)state;
  struct net_config c;
  assert_int_equal(net_config_parse(&c, NULL), 0);
  static const uint8_t def[4] = {192, 0, 2, 2};
  assert_memory_equal(c.nc_ip, def, 4);
  assert_int_equal(c.nc_prefix, 24);
  assert_int_equal(net_config_parse(&c, "10.1.2.3/8"), 0);
  assert_int_equal(c.nc_ip[0], 10);
  assert_int_equal(c.nc_prefix, 8);
  assert_int_equal(net_config_parse(&c, "10.1.2/8"), -EINVAL);
}

static void test_arp_resolution(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  assert_int_equal(netpeer_arp_resolve(w.n.sn_peer), 0);
  lb_pump();
  assert_true(netpeer_guest_resolved(w.n.sn_peer));
  assert_int_equal(net_stats(w.n.sn_net)->arp_requests, 1);
  assert_int_equal(net_stats(w.n.sn_net)->peers_seen, 1);
  kh_nic_down(&w);
}

static void test_ping_100(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  assert_int_equal(netpeer_arp_resolve(w.n.sn_peer), 0);
  lb_pump();
  for (uint16_t i = 0; i < 100; i++) {
    assert_int_equal(netpeer_ping(w.n.sn_peer, i, 56), 0);
    lb_pump();
  }
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 100);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_bad, 0);
  assert_int_equal(net_stats(w.n.sn_net)->icmp_echo, 100);
  kh_nic_down(&w);
}

/* The guest resolves the peer itself before replying (no ARP from the
 * peer first): the reply waits for the ARP answer. */
static void test_resolve_for_reply(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  assert_int_equal(netpeer_ping(w.n.sn_peer, 7, 32), 0);
  lb_pump();
  assert_int_equal(net_stats(w.n.sn_net)->arp_resolves_sent, 1);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->arp_requests_answered, 1);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 1);
  kh_nic_down(&w);
}

/* Issue 6's in-process tier: at every NVSP version, 1,000 echo requests
 * and UDP datagrams of every size from 1 to the MTU, every reply intact. */
static void test_every_version_1000_pings_every_udp_size(void **state) {
  (void)state;
  static const uint32_t caps[] = {NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6,
                                  NVSP_PROTOCOL_VERSION_5,  NVSP_PROTOCOL_VERSION_4,
                                  NVSP_PROTOCOL_VERSION_2,  NVSP_PROTOCOL_VERSION_1};
  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
    struct kh_nic w;
    struct netvsp_config hc = {.cf_max_nvsp = caps[c]};
    kh_nic_up(&w, 21, &hc);
    netpeer_arp_resolve(w.n.sn_peer);
    lb_pump();
    /* Every UDP payload size from 1 to MTU - 28 (1472). */
    for (uint32_t n = 1; n <= 1472; n++) {
      assert_int_equal(netpeer_udp(w.n.sn_peer, (uint16_t)(1000 + n), n), 0);
      lb_pump();
    }
    assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1472);
    assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_bad, 0);
    for (uint32_t i = 0; i < 1000; i++) {
      assert_int_equal(netpeer_ping(w.n.sn_peer, (uint16_t)i, 56), 0);
      lb_pump();
    }
    assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 1000);
    assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_bad, 0);
    assert_int_equal(netvsc_nvsp_version(w.n.sn_nv), caps[c]);
    kh_nic_down(&w);
  }
}

static void test_udp_bad_checksum_dropped(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  netpeer_arp_resolve(w.n.sn_peer);
  lb_pump();
  netpeer_corrupt_next_udp(w.n.sn_peer);
  netpeer_udp(w.n.sn_peer, 5000, 100);
  lb_pump();
  assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 0);
  /* The host's receive checksum PPI said FAILED: the driver dropped it. */
  assert_int_equal(netvsc_stats(w.n.sn_nv)->rx_drop_csum, 1);
  netpeer_udp(w.n.sn_peer, 5001, 100);
  lb_pump();
  assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1);
  kh_nic_down(&w);
}

static void test_vlan_echo(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  netpeer_set_vlan(w.n.sn_peer, 42);
  netpeer_arp_resolve(w.n.sn_peer);
  lb_pump();
  assert_true(netpeer_guest_resolved(w.n.sn_peer));
  netpeer_ping(w.n.sn_peer, 1, 64);
  netpeer_udp(w.n.sn_peer, 77, 300);
  lb_pump();
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 1);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1);
  /* ARP reply, echo reply, UDP reply: all tagged with VLAN 42 again. */
  assert_int_equal(netpeer_stats(w.n.sn_peer)->rx_vlan, 3);
  assert_true(netvsp_stats(w.n.sn_dev)->tx_vlan >= 3);
  kh_nic_down(&w);
}

static void test_jumbo_ping(void **state) {
  (void)state;
  struct kh_nic w;
  struct netvsp_config hc = {.cf_mtu = 9000};
  kh_nic_host(&w, 22, &hc, NULL);
  struct netvsc_config gc = {.nc_mtu = 9000};
  kh_nic_guest(&w, &gc, true);
  assert_int_equal(netvsc_mtu(w.n.sn_nv), 9000);
  netpeer_arp_resolve(w.n.sn_peer);
  lb_pump();
  assert_int_equal(netpeer_ping(w.n.sn_peer, 1, 9000 - 28), 0);
  assert_int_equal(netpeer_udp(w.n.sn_peer, 9, 9000 - 28), 0);
  lb_pump();
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 1);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1);
  /* 9014-byte frames do not fit a 6144-byte section: GPA direct. */
  assert_true(netvsc_stats(w.n.sn_nv)->tx_direct >= 2);
  kh_nic_down(&w);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_parse),
    cmocka_unit_test(test_arp_resolution),
    cmocka_unit_test(test_ping_100),
    cmocka_unit_test(test_resolve_for_reply),
    cmocka_unit_test(test_every_version_1000_pings_every_udp_size),
    cmocka_unit_test(test_udp_bad_checksum_dropped),
    cmocka_unit_test(test_vlan_echo),
    cmocka_unit_test(test_jumbo_ping),
};

UNIT_MAIN("net", tests)
