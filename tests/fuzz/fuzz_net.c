/* tests/fuzz/fuzz_net.c: network bytes into the whole receive path of net/
 * (net_input: Ethernet, ARP, IPv4, ICMP echo, UDP echo and the DHCP
 * client's parser and state machine), the production objects over the real
 * in-process NIC (sim/sim.h), so every reply the stack sends goes
 * down through netvsc to the NetVSP device as in the kernel.
 *
 * Two stacks share the NIC: the fixture's static 192.0.2.2/24 and one
 * in DHCP mode (ip=dhcp, gateway from the lease). Input:
 *   [u8 flags][frame]
 * flags bit 0: the DHCP stack, else the static one; bit 1: the host says
 * the IPv4 header checksum is good; bit 2: the UDP checksum is good; bit 3:
 * the frame came with a VLAN tag; bit 4 (DHCP stack): write the client's
 * current xid and MAC into the BOOTP header at offsets 42+4 and 42+28 (an
 * untagged IPv4 frame without options), so OFFER/ACK/NAK get past the
 * "is it ours" check and reach the state machine, and set the IPv4 total
 * and UDP lengths to the frame's end; bit 5: run the stack's
 * timers now (retransmissions, T1/T2 and expiry on the fuzzer's clock are
 * not simulated: the real clock runs); bit 6 (DHCP stack): first give it a
 * well-formed OFFER for its xid when it is selecting, so the frame meets
 * the REQUESTING state (ACK and NAK parsing, the lease checks); bit 7: a
 * network change on the NIC first (the client starts again). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "host/netvsp.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "kernel/timer.h"
#include "net/net.h"
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

static struct sim fz;
static struct net *fz_dhcp;
static bool fz_ready;

static void fz_setup(void) {
  fuzz_quiet();
  struct sim_config cfg = {.sc_nic = true};
  if (sim_start(&fz, &cfg, SIM_NIC))
    abort();
  struct net_config nc;
  if (net_config_parse(&nc, "dhcp") || net_config_set_hostname(&nc, "fuzz"))
    abort();
  fz_dhcp = net_attach(fz.s_nic.sn_nv, &nc); /* takes the NIC's callbacks; fine */
  if (!fz_dhcp)
    abort();
  fz_ready = true;
}

static void fz_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A valid OFFER of 192.0.2.77 from 192.0.2.1 for the client's exchange
 * (checksums left to the "host verified" flags). */
static void fz_offer(void) {
  static const uint8_t hdr[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x15, 0x5d, 0x00, 0x00,
                                  0x01, 0x08, 0x00, 0x45, 0,    0x01, 0x2c, 0,    0,    0,    0,
                                  64,   17,   0,    0,    192,  0,    2,    1,    255,  255,  255,
                                  255,  0,    67,   0,    68,   0x01, 0x18, 0,    0};
  uint8_t f[42 + 272];
  memset(f, 0, sizeof(f));
  memcpy(f, hdr, sizeof(hdr));
  uint8_t *b = f + 42;
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  fz_put32(b + 4, dhcp_xid(net_dhcp(fz_dhcp)));
  b[16] = 192;
  b[18] = 2;
  b[19] = 77;
  netvsc_mac(fz.s_nic.sn_nv, b + 28);
  static const uint8_t opts[] = {99, 130, 83, 99, 53, 1, 2, 54, 4, 192, 0, 2, 1, 255};
  memcpy(b + 236, opts, sizeof(opts));
  struct netvsc_rx_info ri = {.ri_csum_ip_ok = true, .ri_csum_l4_ok = true};
  net_input(fz_dhcp, f, sizeof(f), &ri);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (!fz_ready)
    fz_setup();
  if (len < 1 || len > 9100)
    return 0;
  uint8_t flags = in[0];
  uint32_t flen = (uint32_t)(len - 1);
  /* A private copy the size of the frame, so ASan sees any over-read. */
  uint8_t *f = malloc(flen ? flen : 1);
  if (!f)
    return 0;
  memcpy(f, in + 1, flen);
  struct net *n = (flags & 1u) ? fz_dhcp : fz.s_nic.sn_net;
  if (flags & 0x80u) {
    netvsp_network_change(fz.s_nic.sn_dev);
    for (unsigned k = 0; k < 64 && ev_run_pending(); k++)
      ;
  }
  if ((flags & 0x41u) == 0x41u && net_dhcp(fz_dhcp)->c_state == DHCP_SELECTING)
    fz_offer();
  if ((flags & 0x11u) == 0x11u && flen >= 42u + 34u) {
    const struct dhcp_client *c = net_dhcp(fz_dhcp);
    uint8_t mac[6];
    netvsc_mac(fz.s_nic.sn_nv, mac);
    fz_put32(f + 42 + 4, dhcp_xid(c));
    memcpy(f + 42 + 28, mac, 6);
    /* the IPv4 and UDP lengths end where the frame ends, so an option
     * running past the message runs past the buffer (ASan sees it) */
    uint32_t ip_len = flen - 14u, udp_len = flen - 34u;
    f[16] = (uint8_t)(ip_len >> 8);
    f[17] = (uint8_t)ip_len;
    f[38] = (uint8_t)(udp_len >> 8);
    f[39] = (uint8_t)udp_len;
  }
  struct netvsc_rx_info ri;
  memset(&ri, 0, sizeof(ri));
  ri.ri_csum_ip_ok = (flags & 2u) != 0;
  ri.ri_csum_l4_ok = (flags & 4u) != 0;
  if (flags & 8u) {
    ri.ri_vlan = true;
    ri.ri_vlan_id = 42;
  }
  net_input(n, f, flen, &ri);
  free(f);
  if (flags & 0x20u)
    timer_run_due();
  for (unsigned k = 0; k < 64 && ev_run_pending(); k++)
    ;
  return 0;
}
