/* host/hostdev.c: devices and faults from the host tools' options. */
#include "host/hostdev.h"

#include <stdlib.h>
#include <string.h>

#include "host/hvemu.h"
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
};

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

static void hostdev_rescind_work(void *arg) {
  struct hostdev *d = arg;
  fprintf(stderr, "hostdev: rescinding the NIC (--rescind-net-after)\n");
  netvsp_rescind(d->hd_nic);
  d->hd_rescinded = true;
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
 * --link-flap and --rescind-net-after timers. 0, or -1 with err. */
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
  if (o->ho_rescind_net_s) {
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
  if (o->ho_no_net)
    return d;
  d->hd_emu = emu;
  struct netvsp_backend be;
  if (hostdev_open_backend(d, o, &be, err, errlen) != 0 ||
      hostdev_start_nic(d, srv, o, &be, err, errlen) != 0 ||
      hostdev_start_scenarios(d, o, err, errlen) != 0) {
    hostdev_destroy(d); /* takes a partial one apart */
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
  ev_cancel(&d->hd_rescind_work);
  peertest_stop(d->hd_test);
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
  free(d);
}

int hostdev_link(const struct hostdev *d) {
  if (!d || !d->hd_nic)
    return -1;
  return netvsp_link_up_ns(d->hd_nic) ? 1 : 0;
}

uint64_t hostdev_link_up_ns(const struct hostdev *d) {
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
