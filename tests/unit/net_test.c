/* tests/unit/net_test.c: net/ (ARP, ICMP echo, UDP echo) end to end with the
 * built-in peer (host/netpeer.c) through the real NetVSP device and the
 * netvsc driver over the loopback bus. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "drivers/netvsc/nvsp.h"
#include "drivers/netvsc/rndis.h"
#include "host/dhcpsrv.h"
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "net/net.h"
#include "tests/unit/lib/kmcl_harness.h"

/** The peer resolves the guest's address by ARP; the answer is pumped back. */
static void peer_resolve(struct netpeer *p) {
  assert_int_equal(netpeer_arp_resolve(p), 0);
  lb_pump();
}

/** `n` echo requests of 56 bytes from the peer (ids 0..n-1), each pumped
 * through before the next. */
static void peer_ping_n(struct netpeer *p, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    assert_int_equal(netpeer_ping(p, (uint16_t)i, 56), 0);
    lb_pump();
  }
}

/** peer_resolve, then peer_ping_n: every one of the `n` answered intact. */
static void peer_pings_ok(struct netpeer *p, unsigned n) {
  uint64_t ok = netpeer_stats(p)->echo_ok, bad = netpeer_stats(p)->echo_bad;
  peer_resolve(p);
  peer_ping_n(p, n);
  assert_int_equal(netpeer_stats(p)->echo_ok - ok, n);
  assert_int_equal(netpeer_stats(p)->echo_bad - bad, 0);
}

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
  peer_resolve(w.n.sn_peer);
  assert_true(netpeer_guest_resolved(w.n.sn_peer));
  assert_int_equal(net_stats(w.n.sn_net)->arp_requests, 1);
  assert_int_equal(net_stats(w.n.sn_net)->peers_seen, 1);
  kh_nic_down(&w);
}

static void test_ping_100(void **state) {
  (void)state;
  struct kh_nic w;
  kh_nic_up(&w, 21, NULL);
  peer_pings_ok(w.n.sn_peer, 100);
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
  static const uint32_t caps[] = NVSP_VERSIONS_NEWEST_FIRST_INIT;
  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
    struct kh_nic w;
    struct netvsp_config hc = {.cf_max_nvsp = caps[c]};
    kh_nic_up(&w, 21, &hc);
    peer_resolve(w.n.sn_peer);
    /* Every UDP payload size from 1 to MTU - 28 (1472). */
    for (uint32_t n = 1; n <= 1472; n++) {
      assert_int_equal(netpeer_udp(w.n.sn_peer, (uint16_t)(1000 + n), n), 0);
      lb_pump();
    }
    assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1472);
    assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_bad, 0);
    peer_ping_n(w.n.sn_peer, 1000);
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
  peer_resolve(w.n.sn_peer);
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
  peer_resolve(w.n.sn_peer);
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
  peer_resolve(w.n.sn_peer);
  assert_int_equal(netpeer_ping(w.n.sn_peer, 1, 9000 - 28), 0);
  assert_int_equal(netpeer_udp(w.n.sn_peer, 9, 9000 - 28), 0);
  lb_pump();
  assert_int_equal(netpeer_stats(w.n.sn_peer)->echo_ok, 1);
  assert_int_equal(netpeer_stats(w.n.sn_peer)->udp_ok, 1);
  /* 9014-byte frames do not fit a 6144-byte section: GPA direct. */
  assert_true(netvsc_stats(w.n.sn_nv)->tx_direct >= 2);
  kh_nic_down(&w);
}

/* ---- the switch: DHCP, routing, gratuitous ARP, a LAN's noise ----------------------- */

struct world {
  struct kh_nic k;
  struct dhcpsrv *dhcp;
  struct netpeer *peer;
  struct netvsp *dev;
  struct netvsc *nv;
  struct net *net;
};

static const uint8_t router[4] = {192, 0, 2, 1}, remote[4] = {198, 51, 100, 7};

/* The NIC over the loopback bus (kh_nic) and net/ configured by `ip` (NULL:
 * the default static address) and `gw`. `sw`: the peer is the switch
 * (router 192.0.2.1, requests from 198.51.100.7 behind it); `dhcp`: with its
 * DHCP server, offering `mtu` (0: none). */
static void world_up_mtu(struct world *w, const char *ip, const char *gw, bool sw, bool dhcp,
                         uint16_t mtu) {
  memset(w, 0, sizeof(*w));
  kh_nic_host(&w->k, 21, NULL, NULL);
  w->peer = w->k.n.sn_peer;
  w->dev = w->k.n.sn_dev;
  if (sw) {
    struct dhcpsrv_config dc = {
        .dc_net = {192, 0, 2, 0}, .dc_prefix = 24, .dc_lease_s = 600, .dc_mtu = mtu};
    if (dhcp)
      assert_non_null(w->dhcp = dhcpsrv_create(&dc));
    netpeer_set_switch(w->peer, router, w->dhcp, remote);
  }
  kh_nic_guest(&w->k, NULL, false);
  w->nv = w->k.n.sn_nv;
  struct net_config nc;
  assert_int_equal(net_config_parse(&nc, ip), 0);
  if (gw)
    assert_int_equal(net_config_set_gw(&nc, gw), 0);
  assert_non_null(w->net = w->k.n.sn_net = net_attach(w->nv, &nc));
  lb_pump();
}

static void world_up_with(struct world *w, const char *ip, const char *gw, bool sw, bool dhcp) {
  world_up_mtu(w, ip, gw, sw, dhcp, 0);
}

/** net/ holds the address `want`/24 (the switch's network). */
static void assert_address(const struct world *w, const uint8_t want[4]) {
  uint8_t ip[4], p;
  assert_true(net_address(w->net, ip, &p));
  assert_memory_equal(ip, want, 4);
  assert_int_equal(p, 24);
}

static void world_down(struct world *w) {
  kh_nic_down(&w->k);
  dhcpsrv_destroy(w->dhcp);
}

/* Several replies wait for one resolution (Linux sent from a MAC the
 * kernel never saw): all of them go out when the answer comes. */
static void test_replies_wait_for_resolution(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, NULL, NULL, false, false);
  for (uint16_t i = 0; i < NET_ARP_PENDING + 2u; i++)
    assert_int_equal(netpeer_ping(w.peer, i, 32), 0); /* before any ARP answer */
  lb_pump();
  assert_int_equal(netpeer_stats(w.peer)->echo_ok, NET_ARP_PENDING);
  assert_int_equal(net_stats(w.net)->drop_no_arp, 2);
  world_down(&w);
}

/* DHCP from the built-in server, then 1,000 pings from the other subnet:
 * every reply goes back through the router's MAC to the original sender. */
static void test_dhcp_lease_and_pings_through_router(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, "dhcp", NULL, true, true);
  static const uint8_t want[4] = {192, 0, 2, 2};
  assert_address(&w, want);
  assert_int_equal(net_dhcp(w.net)->c_state, DHCP_BOUND);
  assert_true(netpeer_guest_known(w.peer));
  assert_int_equal(net_stats(w.net)->garp_sent, 1);
  assert_int_equal(netpeer_stats(w.peer)->garp_seen, 1);
  assert_int_equal(dhcpsrv_stats(w.dhcp)->acks, 1);
  peer_pings_ok(w.peer, 1000);
  assert_int_equal(netpeer_udp(w.peer, 4000, 100), 0);
  lb_pump();
  assert_int_equal(netpeer_stats(w.peer)->udp_ok, 1);
  uint8_t gip[4];
  assert_true(netvsp_guest_ip(w.dev, gip));
  assert_memory_equal(gip, want, 4);
  world_down(&w);
}

/* The lease's MTU (576 here, below the NIC's 1500) bounds the replies. */
static void test_lease_mtu_bounds_replies(void **state) {
  (void)state;
  struct world w;
  world_up_mtu(&w, "dhcp", NULL, true, true, 576);
  assert_int_equal(net_dhcp(w.net)->c_lease.dl_mtu, 576);
  peer_resolve(w.peer);
  assert_int_equal(netpeer_ping(w.peer, 1, 1000), 0);
  assert_int_equal(netpeer_udp(w.peer, 5000, 1000), 0);
  assert_int_equal(netpeer_ping(w.peer, 2, 500), 0);
  lb_pump();
  assert_int_equal(net_stats(w.net)->drop_too_big, 2);
  assert_int_equal(netpeer_stats(w.peer)->echo_ok, 1);
  world_down(&w);
}

/* A static address with gw=: routed the same way. */
static void test_static_with_gateway(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, "192.0.2.9/24", "192.0.2.1", true, false);
  assert_true(netpeer_guest_known(w.peer)); /* it announced itself */
  peer_pings_ok(w.peer, 10);
  world_down(&w);
}

/* No gateway: an off-link reply is dropped and counted, never sent to a
 * wrong MAC. */
static void test_offlink_without_gateway_dropped(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, "192.0.2.9/24", NULL, true, false);
  peer_resolve(w.peer);
  uint64_t tx = net_stats(w.net)->tx_frames;
  peer_ping_n(w.peer, 5);
  assert_int_equal(net_stats(w.net)->drop_no_route, 5);
  assert_int_equal(net_stats(w.net)->tx_frames, tx);
  assert_int_equal(netpeer_stats(w.peer)->echo_ok, 0);
  world_down(&w);
}

/* A network change: the carrier goes off and on, DHCP runs again and takes
 * the new lease, and the new address is announced. */
static void test_network_change_new_lease(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, "dhcp", NULL, true, true);
  dhcpsrv_new_network(w.dhcp);
  netvsp_network_change(w.dev);
  lb_pump();
  assert_address(&w, (const uint8_t[]){192, 0, 2, 3});
  assert_true(net_stats(w.net)->garp_sent >= 2);
  assert_true(dhcpsrv_stats(w.dhcp)->acks >= 2);
  peer_pings_ok(w.peer, 3);
  world_down(&w);
}

/* An RNDIS status indication from the host, as the device sends it. */
static void indicate(struct world *w, uint32_t status) {
  uint64_t drops = netvsp_stats(w->dev)->ctrl_drop;
  netvsp_indicate(w->dev, status);
  assert_int_equal(netvsp_stats(w->dev)->ctrl_drop, drops);
  lb_pump();
}

/* A repeated media connect (link up while up) and a network change each
 * announce the address again with a gratuitous ARP. */
static void test_repeated_connect_announces(void **state) {
  (void)state;
  struct world w;
  world_up_with(&w, "192.0.2.9/24", NULL, false, false);
  assert_int_equal(net_stats(w.net)->garp_sent, 1); /* on attach */
  indicate(&w, RNDIS_STATUS_MEDIA_CONNECT);
  assert_int_equal(net_stats(w.net)->garp_sent, 2);
  indicate(&w, RNDIS_STATUS_NETWORK_CHANGE); /* carrier off and on */
  assert_int_equal(net_stats(w.net)->garp_sent, 3);
  assert_true(net_link_up(w.net));
  world_down(&w);
}

static uint32_t frame_eth(uint8_t *f, const uint8_t dst[6], uint16_t type) {
  static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x99};
  memcpy(f, dst, 6);
  memcpy(f + 6, other, 6);
  f[12] = (uint8_t)(type >> 8);
  f[13] = (uint8_t)type;
  return 14;
}

/** The header checksum of the 20-byte IPv4 header at `ip`, written in
 * place (computed here by hand, not with the stack's net/inet.h). */
static void ip_hdr_csum(uint8_t *ip) {
  ip[10] = ip[11] = 0;
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2)
    s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  ip[10] = (uint8_t)(~s >> 8);
  ip[11] = (uint8_t)~s;
}

/* A LAN's noise: dropped, counted by reason, our configuration unchanged,
 * nothing sent. */
static void test_lan_noise(void **state) {
  (void)state;
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  static const uint8_t mdns[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
  static const uint8_t v6mc[6] = {0x33, 0x33, 0, 0, 0, 1};
  static const uint8_t nic[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  struct world w;
  world_up_with(&w, "dhcp", NULL, true, true);
  uint8_t ip0[4], p0;
  assert_true(net_address(w.net, ip0, &p0));
  const struct net_stats *st = net_stats(w.net);
  uint64_t tx = st->tx_frames;
  uint8_t f[400];
  memset(f, 0, sizeof(f));
  /* IPv6 router advertisement to all nodes */
  uint32_t o = frame_eth(f, v6mc, 0x86dd);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 60), 0);
  /* IPv6 to us */
  o = frame_eth(f, nic, 0x86dd);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 60), 0);
  /* mDNS */
  o = frame_eth(f, mdns, 0x0800);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 60), 0);
  /* ARP between two other hosts, broadcast */
  o = frame_eth(f, bcast, 0x0806);
  static const uint8_t arp[28] = {0,   1, 8, 0,  6, 4, 0, 1, 2, 0, 0,   0, 0, 0x99,
                                  192, 0, 2, 50, 0, 0, 0, 0, 0, 0, 192, 0, 2, 51};
  memcpy(f + o, arp, 28);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 28), 0);
  /* another host claiming our address (gratuitous ARP) */
  memcpy(f + o + 14, ip0, 4);
  memcpy(f + o + 24, ip0, 4);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 28), 0);
  /* a broadcast IPv4 UDP datagram to port 137 (NetBIOS), checksum 0 */
  o = frame_eth(f, bcast, 0x0800);
  static const uint8_t ip[20] = {0x45, 0, 0,   36, 0, 0,  0,   0,   64,  17,
                                 0,    0, 192, 0,  2, 50, 255, 255, 255, 255};
  memcpy(f + o, ip, 20);
  ip_hdr_csum(f + o);
  static const uint8_t udp[8] = {0, 137, 0, 137, 0, 16, 0, 0};
  memcpy(f + o + 20, udp, 8);
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 36), 0);
  /* another client's DHCP OFFER (other xid, other chaddr), broadcast */
  f[o + 2] = 0x01;
  f[o + 3] = 0x2c; /* total length 300 */
  ip_hdr_csum(f + o);
  static const uint8_t dhcp_udp[8] = {0, 67, 0, 68, 0x01, 0x18, 0, 0};
  memcpy(f + o + 20, dhcp_udp, 8);
  uint8_t *b = f + o + 28;
  memset(b, 0, 272);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  b[4] = 0xde;
  b[16] = 192;
  b[17] = 0;
  b[18] = 2;
  b[19] = 77;
  b[28] = 0x02;
  b[236] = 99;
  b[237] = 130;
  b[238] = 83;
  b[239] = 99;
  b[240] = 53;
  b[241] = 1;
  b[242] = 5;
  b[243] = 255;
  assert_int_equal(netvsp_rx_frame(w.dev, f, o + 300), 0);
  lb_pump();
  assert_int_equal(st->drop_ipv6, 1);
  assert_int_equal(st->drop_mcast, 2);
  assert_int_equal(st->drop_arp_other, 1);
  assert_int_equal(st->arp_conflicts, 1);
  assert_int_equal(st->drop_bcast, 1);
  assert_int_equal(net_dhcp(w.net)->c_st.drop_not_ours, 1);
  assert_int_equal(st->tx_frames, tx);
  uint8_t ip1[4], p1;
  assert_true(net_address(w.net, ip1, &p1));
  assert_memory_equal(ip0, ip1, 4);
  assert_int_equal(p0, p1);
  world_down(&w);
}

static void test_config_keys(void **state) {
  (void)state;
  struct net_config c;
  assert_int_equal(net_config_parse(&c, "dhcp"), 0);
  assert_true(c.nc_dhcp);
  assert_int_equal(net_config_parse(&c, "192.0.2.9/24"), 0);
  assert_int_equal(net_config_set_gw(&c, "192.0.2.1"), 0);
  assert_true(c.nc_has_gw);
  assert_int_equal(net_config_set_gw(&c, "192.0.2"), -EINVAL);
  assert_int_equal(net_config_set_gw(&c, "224.0.0.1"), -EINVAL);
  assert_int_equal(net_config_set_gw(&c, "1.2.3.4.5"), -EINVAL);
  assert_int_equal(net_config_set_hostname(&c, "kernel-7"), 0);
  assert_string_equal(c.nc_hostname, "kernel-7");
  assert_int_equal(net_config_set_hostname(&c, "a b"), -EINVAL);
  assert_int_equal(net_config_set_hostname(&c, ""), -EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dhcp_lease_and_pings_through_router),
    cmocka_unit_test(test_lease_mtu_bounds_replies),
    cmocka_unit_test(test_static_with_gateway),
    cmocka_unit_test(test_offlink_without_gateway_dropped),
    cmocka_unit_test(test_network_change_new_lease),
    cmocka_unit_test(test_repeated_connect_announces),
    cmocka_unit_test(test_lan_noise),
    cmocka_unit_test(test_config_keys),
    cmocka_unit_test(test_config_parse),
    cmocka_unit_test(test_arp_resolution),
    cmocka_unit_test(test_ping_100),
    cmocka_unit_test(test_resolve_for_reply),
    cmocka_unit_test(test_replies_wait_for_resolution),
    cmocka_unit_test(test_every_version_1000_pings_every_udp_size),
    cmocka_unit_test(test_udp_bad_checksum_dropped),
    cmocka_unit_test(test_vlan_echo),
    cmocka_unit_test(test_jumbo_ping),
};

UNIT_MAIN("net", tests)
