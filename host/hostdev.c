/* host/hostdev.c: devices and faults from the host tools' options. */
#include "host/hostdev.h"

#include <stdlib.h>
#include <string.h>

#include "host/netpeer.h"
#include "host/netvsp.h"
#include "host/vmbus_server.h"
#include "kernel/event.h"
#include "kernel/timer.h"

struct hostdev {
  struct netvsp *hd_nic;
  struct netpeer *hd_peer;
  uint64_t hd_flap_ms;
  struct timer hd_flap;
  struct timer hd_rescind_timer;
  struct ev_item hd_rescind_work; /* netvsp_rescind runs at passive level */
  bool hd_rescinded;
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

struct hostdev *hostdev_create(struct vmbsrv *srv, const struct hostopt *o, char *err,
                               size_t errlen) {
  hostdev_faults(srv, o->ho_fault);
  struct hostdev *d = calloc(1, sizeof(*d));
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (o->ho_no_net)
    return d;
  if (o->ho_tap || o->ho_pcap) {
    snprintf(err, errlen,
             "--tap and --pcap are not implemented yet (issue 6); the built-in "
             "peer 192.0.2.1 is the only back end");
    free(d);
    return NULL;
  }
  struct netvsp_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  if (o->ho_nvsp_version) {
    cfg.cf_max_nvsp = netvsp_version_from((uint16_t)(o->ho_nvsp_version >> 16),
                                          (uint16_t)(o->ho_nvsp_version & 0xffff));
    if (!cfg.cf_max_nvsp) {
      snprintf(err, errlen, "--nvsp-version %u.%u is not an NVSP version (6.1 6 5 4 2 1)",
               o->ho_nvsp_version >> 16, o->ho_nvsp_version & 0xffff);
      free(d);
      return NULL;
    }
  }
  memcpy(cfg.cf_mac, o->ho_mac, 6);
  d->hd_peer = netpeer_create(NULL, NULL, NULL);
  struct netvsp_backend be = netpeer_backend(d->hd_peer);
  d->hd_nic = d->hd_peer ? netvsp_create(vmbsrv_device(srv), &cfg, &be) : NULL;
  if (!d->hd_nic) {
    snprintf(err, errlen, "cannot create the network device");
    hostdev_destroy(d);
    return NULL;
  }
  netpeer_attach(d->hd_peer, d->hd_nic);
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
  return d;
}

void hostdev_destroy(struct hostdev *d) {
  if (!d)
    return;
  if (d->hd_flap_ms)
    timer_cancel(&d->hd_flap);
  timer_cancel(&d->hd_rescind_timer);
  ev_cancel(&d->hd_rescind_work);
  if (d->hd_nic)
    netvsp_destroy(d->hd_nic);
  if (d->hd_peer)
    netpeer_destroy(d->hd_peer);
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

void hostdev_print_stats(const struct hostdev *d, FILE *f, const char *prog) {
  if (!d || !d->hd_nic)
    return;
  const struct netvsp_stats *n = netvsp_stats(d->hd_nic);
  const struct netpeer_stats *p = netpeer_stats(d->hd_peer);
  fprintf(f,
          "%s: nic nvsp=%#x tx_frames=%lu tx_bytes=%lu rx_frames=%lu rx_bytes=%lu tx_bad=%lu "
          "rx_drop_down=%lu rx_drop_busy=%lu rx_nack=%lu%s\n",
          prog, netvsp_version(d->hd_nic), (unsigned long)n->tx_frames, (unsigned long)n->tx_bytes,
          (unsigned long)n->rx_frames, (unsigned long)n->rx_bytes, (unsigned long)n->tx_bad,
          (unsigned long)n->rx_drop_down, (unsigned long)n->rx_drop_busy, (unsigned long)n->rx_nack,
          d->hd_rescinded ? " (rescinded)" : "");
  fprintf(f, "%s: peer arp_answered=%lu echo_ok=%lu udp_ok=%lu rx_other=%lu\n", prog,
          (unsigned long)p->arp_requests_answered, (unsigned long)p->echo_ok,
          (unsigned long)p->udp_ok, (unsigned long)p->rx_other);
}
