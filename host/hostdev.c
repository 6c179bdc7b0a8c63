/* host/hostdev.c: devices and faults from the host tools' options. */
#include "host/hostdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vmbus_proto.h"
#include "host/dhcpsrv.h"
#include "host/hvemu.h"
#include "host/icdev.h"
#include "host/netpcap.h"
#include "host/netpeer.h"
#include "host/nettap.h"
#include "host/peertest.h"
#include "host/netvsp.h"
#include "host/vmbus_server.h"
#include "kernel/event.h"
#include "kernel/timer.h"

struct hostdev {
  struct netvsp *hd_nic;
  struct netpeer *hd_peer; /* the back end without --tap */
  struct nettap *hd_tap;   /* --tap */
  struct netpcap *hd_pcap; /* --pcap, beside either back end */
  struct hvemu *hd_emu;    /* runs the TAP's poller */
  bool hd_polling;
  uint64_t hd_flap_ms;
  struct timer hd_flap;
  struct timer hd_rescind_timer;
  struct ev_item hd_rescind_work; /* netvsp_rescind runs at passive level */
  bool hd_rescinded;
  struct peertest *hd_test; /* --peer-traffic */
  struct vmbsrv *hd_srv;
  /* --offers gen1: the ICs and the devices offered but not implemented */
  struct icdev *hd_ic[ICDEV_NKINDS];
  struct icdev_placeholder *hd_ph[HOSTDEV_MAX_PLACEHOLDERS];
  unsigned hd_nph;
  struct timer hd_late_timer; /* --late-offer */
  struct ev_item hd_late_work;
  bool hd_late_armed;
  /* --reoffer-net-after: what it takes to offer the NIC again */
  struct netvsp_config hd_nic_cfg;
  uint64_t hd_reoffer_ms;
  struct timer hd_reoffer_timer;
  struct ev_item hd_reoffer_work;
  unsigned hd_reoffers;
  uint64_t hd_first_link_ns; /* the first link-up, kept across a re-offer */
  struct dhcpsrv *hd_dhcp;   /* the built-in switch's DHCP server */
  struct timer hd_change;    /* --net-change-after */
  uint64_t hd_changes;
};

/* The Gen1 offer set (HYPERV-REAL.md section 1), in its relid order: these
 * come before the ICs, the NIC after them, SCSI last. */
struct hostdev_ph_desc {
  GUID type, instance;
};
static const struct hostdev_ph_desc hostdev_gen1_devs[] = {
    {VMBUS_GUID_DYNMEM,
     VMBUS_GUID(0x1eccfd72, 0x4b41, 0x45ef, 0xb7, 0x3a, 0x4a, 0x6e, 0x44, 0xc1, 0x29, 0x24)},
    {VMBUS_GUID_IDE,
     VMBUS_GUID(0x00000000, 0x0000, 0x8899, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)},
    {VMBUS_GUID_IDE,
     VMBUS_GUID(0x00000000, 0x0001, 0x8899, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)},
    {VMBUS_GUID_MOUSE,
     VMBUS_GUID(0x58f75a6d, 0xd949, 0x4320, 0x99, 0xe1, 0xa2, 0xa2, 0x57, 0x6d, 0x58, 0x1c)},
    {VMBUS_GUID_KEYBOARD,
     VMBUS_GUID(0xd34b2567, 0xb9b6, 0x42b9, 0x87, 0x78, 0x0a, 0x4e, 0xc0, 0xb9, 0x55, 0xbf)},
    {VMBUS_GUID_VIDEO,
     VMBUS_GUID(0x5620e0c7, 0x8062, 0x4dce, 0xae, 0xb7, 0x52, 0x0c, 0x7e, 0xf7, 0x61, 0x71)},
};
static const struct hostdev_ph_desc hostdev_gen1_scsi = {
    VMBUS_GUID_SCSI,
    VMBUS_GUID(0xf8b3781a, 0x1e82, 0x4818, 0xa1, 0xc3, 0x63, 0xd8, 0x06, 0xec, 0x15, 0xbb)};
static const struct hostdev_ph_desc hostdev_pci = {
    VMBUS_GUID_PCI,
    VMBUS_GUID(0x7a1d3c55, 0x0b2f, 0x4e8a, 0x9c, 0x11, 0x2d, 0x6e, 0x5f, 0x00, 0x00, 0x01)};

static const GUID hostdev_net_type = VMBUS_GUID_NETWORK;

void hostdev_vmbsrv_config(const struct hostopt *o, struct vmbsrv_config *sc) {
  if (o->ho_offers_minimal)
    return;
  sc->vc_monitored_offers = true;
  sc->vc_monitored_type = &hostdev_net_type;
  sc->vc_conn_base = VMBSRV_CONN_BASE_HYPERV;
}

static int hostdev_placeholder(struct hostdev *d, struct vmbsrv *srv,
                               const struct hostdev_ph_desc *p) {
  if (d->hd_nph >= HOSTDEV_MAX_PLACEHOLDERS)
    return -1;
  d->hd_ph[d->hd_nph] = icdev_placeholder_create(vmbsrv_device(srv), &p->type, &p->instance);
  return d->hd_ph[d->hd_nph] ? (int)d->hd_nph++ : -1;
}

static bool hostdev_kvp_ready(void *arg) {
  const struct hostdev *d = arg;
  return d->hd_nic && netvsp_link_up_ns(d->hd_nic) != 0;
}

/* Gen1: the devices before the NIC (placeholders, then the ICs). */
static int hostdev_gen1_first(struct hostdev *d, struct vmbsrv *srv, const struct hostopt *o) {
  for (unsigned i = 0; i < sizeof(hostdev_gen1_devs) / sizeof(hostdev_gen1_devs[0]); i++)
    if (hostdev_placeholder(d, srv, &hostdev_gen1_devs[i]) < 0)
      return -1;
  struct icdev_config ic;
  memset(&ic, 0, sizeof(ic));
  memcpy(ic.cf_mac, o->ho_mac, 6);
  ic.cf_kvp_ready = hostdev_kvp_ready;
  ic.cf_arg = d;
  for (unsigned k = 0; k < ICDEV_NKINDS; k++) {
    d->hd_ic[k] = icdev_create(vmbsrv_device(srv), (enum icdev_kind)k, &ic);
    if (!d->hd_ic[k])
      return -1;
  }
  return 0;
}

static void hostdev_late_work(void *arg) {
  struct hostdev *d = arg;
  fprintf(stderr, "hostdev: offering a PCI pass-through device (--late-offer)\n");
  if (hostdev_placeholder(d, d->hd_srv, &hostdev_pci) < 0)
    fprintf(stderr, "hostdev: the late offer failed\n");
}

static void hostdev_late_due(void *arg) {
  struct hostdev *d = arg;
  ev_work_queue(&d->hd_late_work);
}

/* Gen1: SCSI after the NIC; --late-offer armed. */
static int hostdev_gen1_last(struct hostdev *d, struct vmbsrv *srv, const struct hostopt *o) {
  if (o->ho_offers_minimal)
    return 0;
  if (hostdev_placeholder(d, srv, &hostdev_gen1_scsi) < 0)
    return -1;
  if (o->ho_late_offer_s) {
    ev_item_init(&d->hd_late_work, hostdev_late_work, d);
    timer_init(&d->hd_late_timer, hostdev_late_due, d);
    timer_arm_ms(&d->hd_late_timer, o->ho_late_offer_s * 1000u);
    d->hd_late_armed = true;
  }
  return 0;
}

/* The built-in switch: the peer 198.51.100.7 (TEST-NET-2) on a second
 * subnet behind the router, the subnet's first address. */
static const uint8_t hostdev_remote[4] = {198, 51, 100, 7};

static void hostdev_faults(struct vmbsrv *srv, enum hostopt_fault f) {
  struct vmbsrv_fault fa;
  memset(&fa, 0, sizeof(fa));
  fa.fa_nth = 1;
  fa.fa_action = VMBSRV_FAULT_DROP;
  switch (f) {
  case HOSTOPT_FAULT_SILENT_CONTACT: /* the first contact is never answered */
    fa.fa_to_guest = false;
    fa.fa_msgtype = VMBUS_MSG_INITIATE_CONTACT;
    vmbsrv_add_fault(srv, &fa);
    break;
  case HOSTOPT_FAULT_NO_ALLOFFERS:
    fa.fa_to_guest = true;
    fa.fa_msgtype = VMBUS_MSG_ALLOFFERS_DELIVERED;
    vmbsrv_add_fault(srv, &fa);
    break;
  case HOSTOPT_FAULT_REFUSE_VERSIONS: {
    static const uint32_t all[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
    for (unsigned i = 0; i < VMBUS_NUM_VERSIONS; i++)
      vmbsrv_refuse_version(srv, all[i]);
    break;
  }
  default:
    break;
  }
}

static void hostdev_flap(void *arg) {
  struct hostdev *d = arg;
  bool up = !netvsp_link(d->hd_nic);
  netvsp_set_link(d->hd_nic, up);
  fprintf(stderr, "hostdev: link %s (--link-flap)\n", up ? "up" : "down");
  timer_arm_ms(&d->hd_flap, d->hd_flap_ms);
}

/* --peer-traffic: the built-in peer's test ended (host/peertest.c). */
static void hostdev_test_done(void *arg, const struct peertest_result *r) {
  (void)arg;
  char line[256];
  peertest_format(r, line, sizeof(line));
  fprintf(stderr, "hostdev: %s: %s\n", line, r->pr_ok ? "ok" : "FAILED");
}

static void hostdev_net_change(void *arg) {
  struct hostdev *d = arg;
  fprintf(stderr, "hostdev: network change (--net-change-after)\n");
  d->hd_changes++;
  if (d->hd_dhcp)
    dhcpsrv_new_network(d->hd_dhcp);
  netvsp_network_change(d->hd_nic);
}

/* The built-in peer as a small Default Switch (router, DHCP, remote peer). */
static int hostdev_switch(struct hostdev *d, const struct hostopt *o, char *err, size_t errlen) {
  struct dhcpsrv_config dc;
  memset(&dc, 0, sizeof(dc));
  memcpy(dc.dc_net, o->ho_subnet, 4);
  dc.dc_prefix = o->ho_subnet_prefix;
  dc.dc_lease_s = (uint32_t)o->ho_dhcp_lease_s;
  struct dhcpsrv *srv = dhcpsrv_create(&dc);
  if (!srv) {
    snprintf(err, errlen, "cannot create the DHCP server (bad --subnet)");
    return -1;
  }
  uint8_t router[4];
  dhcpsrv_router(srv, router);
  if (o->ho_no_dhcp)
    dhcpsrv_destroy(srv); /* the router address was all we needed */
  else
    d->hd_dhcp = srv;
  netpeer_set_switch(d->hd_peer, router, d->hd_dhcp, hostdev_remote);
  static const uint8_t none[4];
  if (memcmp(o->ho_guest_ip, none, 4) != 0)
    netpeer_set_guest_ip(d->hd_peer, o->ho_guest_ip);
  return 0;
}

static void hostdev_rescind_work(void *arg) {
  struct hostdev *d = arg;
  fprintf(stderr, "hostdev: rescinding the NIC (--rescind-net-after)\n");
  netvsp_rescind(d->hd_nic);
  d->hd_rescinded = true;
  if (d->hd_reoffer_ms)
    timer_arm_ms(&d->hd_reoffer_timer, d->hd_reoffer_ms);
}

static struct netvsp_backend hostdev_backend(struct hostdev *d) {
  return d->hd_tap ? nettap_backend(d->hd_tap) : netpeer_backend(d->hd_peer);
}

/* --reoffer-net-after: a new NIC device with the same settings and back
 * end (the host hot-adds the adapter again). Passive level. */
static void hostdev_reoffer_work(void *arg) {
  struct hostdev *d = arg;
  fprintf(stderr, "hostdev: offering the NIC again (--reoffer-net-after)\n");
  if (!d->hd_first_link_ns)
    d->hd_first_link_ns = netvsp_link_up_ns(d->hd_nic);
  netvsp_set_monitor(d->hd_nic, NULL);
  netvsp_destroy(d->hd_nic);
  struct netvsp_backend be = hostdev_backend(d);
  d->hd_nic = netvsp_create(vmbsrv_device(d->hd_srv), &d->hd_nic_cfg, &be);
  if (!d->hd_nic) {
    fprintf(stderr, "hostdev: the NIC could not be offered again\n");
    return;
  }
  if (d->hd_pcap) {
    struct netvsp_monitor m = netpcap_monitor(d->hd_pcap);
    netvsp_set_monitor(d->hd_nic, &m);
  }
  if (d->hd_peer)
    netpeer_attach(d->hd_peer, d->hd_nic);
  if (d->hd_tap)
    nettap_attach(d->hd_tap, d->hd_nic);
  d->hd_rescinded = false;
  d->hd_reoffers++;
}

static void hostdev_reoffer_due(void *arg) {
  struct hostdev *d = arg;
  ev_work_queue(&d->hd_reoffer_work);
}

static void hostdev_rescind_due(void *arg) {
  struct hostdev *d = arg;
  ev_work_queue(&d->hd_rescind_work);
}

/* The back end (a TAP device with --tap, else the built-in peer) into *be,
 * and the --pcap capture beside it. 0, or -1 with the reason in err. */
static int hostdev_open_backend(struct hostdev *d, const struct hostopt *o,
                                struct netvsp_backend *be, char *err, size_t errlen) {
  if (o->ho_tap) {
    if (!d->hd_emu) {
      snprintf(err, errlen, "--tap needs the host's event loop (no emulator given)");
      return -1;
    }
    d->hd_tap = nettap_open(o->ho_tap, err, errlen);
    if (!d->hd_tap)
      return -1;
    *be = nettap_backend(d->hd_tap);
  } else {
    d->hd_peer = netpeer_create(NULL, NULL, NULL);
    if (!d->hd_peer) {
      snprintf(err, errlen, "cannot create the built-in network peer");
      return -1;
    }
    *be = netpeer_backend(d->hd_peer);
    if (hostdev_switch(d, o, err, errlen))
      return -1;
  }
  if (o->ho_pcap) {
    d->hd_pcap = netpcap_open(o->ho_pcap, err, errlen);
    if (!d->hd_pcap)
      return -1;
  }
  return 0;
}

/* The NIC on srv with back end be, the capture as its monitor, the back end
 * attached (the TAP's poller on the emulator). 0, or -1 with err. */
static int hostdev_start_nic(struct hostdev *d, struct vmbsrv *srv, const struct hostopt *o,
                             const struct netvsp_backend *be, char *err, size_t errlen) {
  struct netvsp_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  if (o->ho_nvsp_version) {
    cfg.cf_max_nvsp = netvsp_version_from((uint16_t)(o->ho_nvsp_version >> 16),
                                          (uint16_t)(o->ho_nvsp_version & 0xffff));
    if (!cfg.cf_max_nvsp) {
      snprintf(err, errlen, "--nvsp-version %u.%u is not an NVSP version (6.1 6 5 4 2 1)",
               o->ho_nvsp_version >> 16, o->ho_nvsp_version & 0xffff);
      return -1;
    }
  }
  memcpy(cfg.cf_mac, o->ho_mac, 6);
  cfg.cf_trace = o->ho_trace;
  cfg.cf_refuse_send_buf = o->ho_refuse_send_buf;
  d->hd_nic_cfg = cfg;
  d->hd_nic = netvsp_create(vmbsrv_device(srv), &cfg, be);
  if (!d->hd_nic) {
    snprintf(err, errlen, "cannot create the network device");
    return -1;
  }
  if (d->hd_pcap) {
    struct netvsp_monitor m = netpcap_monitor(d->hd_pcap);
    netvsp_set_monitor(d->hd_nic, &m);
  }
  if (d->hd_peer)
    netpeer_attach(d->hd_peer, d->hd_nic);
  if (d->hd_tap) {
    nettap_attach(d->hd_tap, d->hd_nic);
    if (hvemu_add_poller(d->hd_emu, nettap_poll, d->hd_tap) != 0) {
      snprintf(err, errlen, "--tap: no poller slot left in the emulator");
      return -1;
    }
    d->hd_polling = true;
  }
  return 0;
}

/* What runs on its own once the NIC is there: --peer-traffic's test,
 * --link-flap, --net-change-after and --rescind-net-after timers. 0, or -1
 * with err. */
static int hostdev_start_scenarios(struct hostdev *d, const struct hostopt *o, char *err,
                                   size_t errlen) {
  if (o->ho_peer_traffic) {
    if (!d->hd_peer) {
      snprintf(err, errlen, "--peer-traffic needs the built-in peer (not with --tap)");
      return -1;
    }
    netpeer_set_guest_mac(d->hd_peer, o->ho_mac);
    d->hd_test = peertest_start(d->hd_peer, d->hd_nic, (unsigned)o->ho_peer_traffic,
                                o->ho_peer_no_udp ? PEERTEST_NO_UDP : 0, hostdev_test_done, d);
    if (!d->hd_test) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
  }
  if (o->ho_link_flap_s) {
    d->hd_flap_ms = o->ho_link_flap_s * 1000u;
    timer_init(&d->hd_flap, hostdev_flap, d);
    timer_arm_ms(&d->hd_flap, d->hd_flap_ms);
  }
  if (o->ho_net_change_s) {
    timer_init(&d->hd_change, hostdev_net_change, d);
    timer_arm_ms(&d->hd_change, o->ho_net_change_s * 1000u);
  }
  if (o->ho_rescind_net_s) {
    if (o->ho_reoffer_net_s) {
      d->hd_reoffer_ms = o->ho_reoffer_net_s * 1000u;
      ev_item_init(&d->hd_reoffer_work, hostdev_reoffer_work, d);
      timer_init(&d->hd_reoffer_timer, hostdev_reoffer_due, d);
    }
    ev_item_init(&d->hd_rescind_work, hostdev_rescind_work, d);
    timer_init(&d->hd_rescind_timer, hostdev_rescind_due, d);
    timer_arm_ms(&d->hd_rescind_timer, o->ho_rescind_net_s * 1000u);
  }
  return 0;
}

struct hostdev *hostdev_create(struct vmbsrv *srv, struct hvemu *emu, const struct hostopt *o,
                               char *err, size_t errlen) {
  hostdev_faults(srv, o->ho_fault);
  struct hostdev *d = calloc(1, sizeof(*d));
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  d->hd_srv = srv;
  d->hd_emu = emu;
  /* --offers gen1: the devices before the NIC, the NIC, then SCSI. */
  if (!o->ho_offers_minimal && hostdev_gen1_first(d, srv, o) != 0) {
    snprintf(err, errlen, "cannot create the Gen1 offer set");
    hostdev_destroy(d);
    return NULL;
  }
  struct netvsp_backend be;
  if ((!o->ho_no_net && (hostdev_open_backend(d, o, &be, err, errlen) != 0 ||
                         hostdev_start_nic(d, srv, o, &be, err, errlen) != 0 ||
                         hostdev_start_scenarios(d, o, err, errlen) != 0))) {
    hostdev_destroy(d); /* takes a partial one apart */
    return NULL;
  }
  if (hostdev_gen1_last(d, srv, o) != 0) {
    snprintf(err, errlen, "cannot create the Gen1 offer set");
    hostdev_destroy(d);
    return NULL;
  }
  return d;
}

void hostdev_destroy(struct hostdev *d) {
  if (!d)
    return;
  if (d->hd_flap_ms)
    timer_cancel(&d->hd_flap);
  timer_cancel(&d->hd_rescind_timer);
  timer_cancel(&d->hd_change);
  ev_cancel(&d->hd_rescind_work);
  if (d->hd_reoffer_ms) {
    timer_cancel(&d->hd_reoffer_timer);
    ev_cancel(&d->hd_reoffer_work);
  }
  peertest_stop(d->hd_test);
  if (d->hd_late_armed) {
    timer_cancel(&d->hd_late_timer);
    ev_cancel(&d->hd_late_work);
  }
  for (unsigned k = 0; k < ICDEV_NKINDS; k++)
    icdev_destroy(d->hd_ic[k]);
  for (unsigned i = 0; i < d->hd_nph; i++)
    icdev_placeholder_destroy(d->hd_ph[i]);
  if (d->hd_polling)
    hvemu_remove_poller(d->hd_emu, nettap_poll, d->hd_tap);
  if (d->hd_nic) {
    netvsp_set_monitor(d->hd_nic, NULL);
    netvsp_destroy(d->hd_nic);
  }
  if (d->hd_peer)
    netpeer_destroy(d->hd_peer);
  nettap_close(d->hd_tap);
  netpcap_close(d->hd_pcap);
  dhcpsrv_destroy(d->hd_dhcp);
  free(d);
}

int hostdev_link(const struct hostdev *d) {
  if (!d || !d->hd_nic)
    return -1;
  return hostdev_link_up_ns(d) ? 1 : 0;
}

bool hostdev_guest_ip(const struct hostdev *d, uint8_t ip[4]) {
  return d && d->hd_nic && netvsp_guest_ip(d->hd_nic, ip);
}

uint64_t hostdev_link_up_ns(const struct hostdev *d) {
  if (d && d->hd_first_link_ns)
    return d->hd_first_link_ns;
  return d && d->hd_nic ? netvsp_link_up_ns(d->hd_nic) : 0;
}

uint64_t hostdev_echo_replies(const struct hostdev *d) {
  return d && d->hd_peer ? netpeer_stats(d->hd_peer)->echo_ok : 0;
}

void hostdev_print_stats(const struct hostdev *d, FILE *f, const char *prog) {
  if (!d || !d->hd_nic)
    return;
  const struct netvsp_stats *n = netvsp_stats(d->hd_nic);
  fprintf(f,
          "%s: nic nvsp=%#x tx_frames=%lu tx_bytes=%lu rx_frames=%lu rx_bytes=%lu tx_section=%lu "
          "tx_direct=%lu tx_bad=%lu rx_drop_down=%lu rx_drop_busy=%lu rx_nack=%lu%s\n",
          prog, netvsp_version(d->hd_nic), (unsigned long)n->tx_frames, (unsigned long)n->tx_bytes,
          (unsigned long)n->rx_frames, (unsigned long)n->rx_bytes, (unsigned long)n->tx_section,
          (unsigned long)n->tx_direct, (unsigned long)n->tx_bad, (unsigned long)n->rx_drop_down,
          (unsigned long)n->rx_drop_busy, (unsigned long)n->rx_nack,
          d->hd_rescinded ? " (rescinded)" : "");
  if (d->hd_peer) {
    const struct netpeer_stats *p = netpeer_stats(d->hd_peer);
    fprintf(f,
            "%s: peer arp_answered=%lu echo_sent=%lu echo_ok=%lu echo_bad=%lu udp_sent=%lu "
            "udp_ok=%lu udp_bad=%lu tx_refused=%lu rx_other=%lu\n",
            prog, (unsigned long)p->arp_requests_answered, (unsigned long)p->echo_sent,
            (unsigned long)p->echo_ok, (unsigned long)p->echo_bad, (unsigned long)p->udp_sent,
            (unsigned long)p->udp_ok, (unsigned long)p->udp_bad, (unsigned long)p->tx_refused,
            (unsigned long)p->rx_other);
    fprintf(f, "%s: switch garp_seen=%lu net_changes=%lu\n", prog, (unsigned long)p->garp_seen,
            (unsigned long)d->hd_changes);
  }
  if (d->hd_dhcp) {
    const struct dhcpsrv_stats *s = dhcpsrv_stats(d->hd_dhcp);
    uint64_t up = netvsp_link_up_ns(d->hd_nic);
    char t[24] = "-";
    if (s->first_ack_ns && up && s->first_ack_ns >= up)
      snprintf(t, sizeof(t), "%.1f", (double)(s->first_ack_ns - up) / 1e6);
    fprintf(f,
            "%s: dhcp discovers=%lu offers=%lu requests=%lu acks=%lu naks=%lu renewals=%lu "
            "rebinds=%lu bad=%lu link_to_ack_ms=%s\n",
            prog, (unsigned long)s->discovers, (unsigned long)s->offers, (unsigned long)s->requests,
            (unsigned long)s->acks, (unsigned long)s->naks, (unsigned long)s->renewals,
            (unsigned long)s->rebinds, (unsigned long)s->bad, t);
  }
  if (d->hd_tap) {
    const struct nettap_stats *t = nettap_stats(d->hd_tap);
    fprintf(f,
            "%s: tap %s to_guest=%lu to_guest_bytes=%lu from_guest=%lu from_guest_bytes=%lu "
            "drop_down=%lu drop_size=%lu drop_busy=%lu deferred=%lu tx_errors=%lu "
            "tx_drop_size=%lu read_errors=%lu sigio=%lu\n",
            prog, nettap_name(d->hd_tap), (unsigned long)t->rx_frames, (unsigned long)t->rx_bytes,
            (unsigned long)t->tx_frames, (unsigned long)t->tx_bytes, (unsigned long)t->rx_drop_down,
            (unsigned long)t->rx_drop_size, (unsigned long)t->rx_drop_busy,
            (unsigned long)t->rx_deferred, (unsigned long)t->tx_errors,
            (unsigned long)t->tx_drop_size, (unsigned long)t->read_errors, (unsigned long)t->sigio);
  }
  if (d->hd_pcap) {
    const struct netpcap_stats *c = netpcap_stats(d->hd_pcap);
    fprintf(f, "%s: pcap %s frames=%lu to_guest=%lu from_guest=%lu write_errors=%lu\n", prog,
            netpcap_path(d->hd_pcap), (unsigned long)c->frames, (unsigned long)c->to_guest,
            (unsigned long)c->from_guest, (unsigned long)c->write_errors);
  }
}

uint64_t hostdev_heartbeats(const struct hostdev *d) {
  return d && d->hd_ic[ICDEV_HEARTBEAT] ? icdev_stats(d->hd_ic[ICDEV_HEARTBEAT])->heartbeats : 0;
}

const char *hostdev_kvp_ip(const struct hostdev *d) {
  return d && d->hd_ic[ICDEV_KVP] ? icdev_kvp_ip(d->hd_ic[ICDEV_KVP]) : "";
}

void hostdev_ics(const struct hostdev *d, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (unsigned k = 0; d && k < ICDEV_NKINDS; k++) {
    if (!icdev_ever_opened(d->hd_ic[k]))
      continue;
    int n =
        snprintf(buf + used, len - used, "%s%s", used ? "," : "", icdev_name((enum icdev_kind)k));
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

int hostdev_request_shutdown(struct hostdev *d) {
  if (!d || !d->hd_ic[ICDEV_SHUTDOWN])
    return -ENOTCONN;
  return icdev_shutdown(d->hd_ic[ICDEV_SHUTDOWN], 0);
}

uint64_t hostdev_shutdown_sent_ns(const struct hostdev *d) {
  return d && d->hd_ic[ICDEV_SHUTDOWN] ? icdev_shutdown_sent_ns(d->hd_ic[ICDEV_SHUTDOWN]) : 0;
}

void hostdev_print_ics(const struct hostdev *d, FILE *f, const char *prog) {
  for (unsigned k = 0; d && k < ICDEV_NKINDS; k++) {
    const struct icdev *ic = d->hd_ic[k];
    if (!ic)
      continue;
    const struct icdev_stats *s = icdev_stats(ic);
    uint32_t fw = icdev_fw_version(ic), sv = icdev_srv_version(ic);
    fprintf(f,
            "%s: ic %s opened=%u framework=%u.%u service=%u.%u sent=%lu answers=%lu bad=%lu "
            "failed=%lu timeouts=%lu\n",
            prog, icdev_name((enum icdev_kind)k), s->opens, fw >> 16, fw & 0xffffu, sv >> 16,
            sv & 0xffffu, (unsigned long)s->sent, (unsigned long)s->answers,
            (unsigned long)s->bad_answers, (unsigned long)s->failed_answers,
            (unsigned long)s->timeouts);
  }
  if (d && d->hd_ic[ICDEV_KVP]) {
    const struct icdev *kvp = d->hd_ic[ICDEV_KVP];
    fprintf(f, "%s: kvp OSName=%s OSVersion=%s FullyQualifiedDomainName=%s NetworkAddressIPv4=%s\n",
            prog, icdev_kvp_item(kvp, "OSName"), icdev_kvp_item(kvp, "OSVersion"),
            icdev_kvp_item(kvp, "FullyQualifiedDomainName"),
            icdev_kvp_item(kvp, "NetworkAddressIPv4"));
  }
}
