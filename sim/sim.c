/* sim/sim.c: the in-process system in phases (see sim.h). */
#include "sim/sim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host/echo_dev.h"
#include "host/inproc_hw.h"
#include "host/netpeer.h"
#include "hv/hv.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "net/net.h"

static const char *const sim_phase_name[SIM_NPHASES] = {"off", "host", "hv", "connected", "nic"};

static int sim_fail(int err, const char *what) {
  fprintf(stderr, "sim: %s failed (%d)\n", what, err);
  return err;
}

void sim_settle(void) {
  for (unsigned i = 0; i < 10000 && ev_run_pending(); i++)
    ;
}

/* ---- leak baselines ------------------------------------------------------------ */

void sim_counts_take(struct sim_counts *c) {
  c->ct_pages = page_free_count();
  c->ct_channels = kmcl_live_channels;
  c->ct_packets = kmcl_live_packets;
  c->ct_tokens = kmcl_live_tokens;
  c->ct_gpadls = kmcl_live_gpadls;
}

static unsigned sim_diff(const char *what, const char *name, uint64_t was, uint64_t now) {
  if (was == now)
    return 0;
  printf("leak: %s: %s %lu -> %lu\n", what, name, (unsigned long)was, (unsigned long)now);
  return 1;
}

unsigned sim_counts_check(const struct sim_counts *base, bool pages, bool pooled,
                          const char *what) {
  struct sim_counts n;
  sim_counts_take(&n);
  unsigned bad = pages ? sim_diff(what, "free pages", base->ct_pages, n.ct_pages) : 0;
  bad += sim_diff(what, "KMCL channels", base->ct_channels, n.ct_channels);
  bad += sim_diff(what, "KMCL GPADLs", base->ct_gpadls, n.ct_gpadls);
  if (pooled) {
    bad += sim_diff(what, "KMCL packets", base->ct_packets, n.ct_packets);
    bad += sim_diff(what, "KMCL tokens", base->ct_tokens, n.ct_tokens);
  }
  return bad;
}

/* ---- the NIC ------------------------------------------------------------------ */

int sim_nic_host(struct sim_nic *n, PDEVICE_OBJECT bus, const struct netvsp_config *cfg,
                 const struct netvsp_backend *be) {
  memset(n, 0, sizeof(*n));
  struct netvsp_backend peer_be;
  if (!be) {
    if (!(n->sn_peer = netpeer_create(NULL, NULL, NULL)))
      return -ENOMEM;
    peer_be = netpeer_backend(n->sn_peer);
    be = &peer_be;
  }
  if (!(n->sn_dev = netvsp_create(bus, cfg, be)))
    return -ENOMEM;
  if (n->sn_peer)
    netpeer_attach(n->sn_peer, n->sn_dev);
  return 0;
}

int sim_nic_guest(struct sim_nic *n, PDEVICE_OBJECT bus, const struct netvsc_config *cfg) {
  int rc = netvsc_probe(bus, cfg, &n->sn_nv);
  if (rc)
    n->sn_nv = NULL;
  return rc;
}

int sim_nic_net(struct sim_nic *n, const char *ip) {
  struct net_config nc;
  if (net_config_parse(&nc, ip) != 0)
    return -EINVAL;
  return (n->sn_net = net_attach(n->sn_nv, &nc)) ? 0 : -ENOMEM;
}

void sim_nic_guest_down(struct sim_nic *n) {
  if (n->sn_net)
    net_detach(n->sn_net);
  if (n->sn_nv)
    netvsc_halt(n->sn_nv);
  n->sn_net = NULL;
  n->sn_nv = NULL;
}

void sim_nic_down(struct sim_nic *n) {
  sim_nic_guest_down(n);
  sim_settle();
  if (n->sn_dev)
    netvsp_destroy(n->sn_dev);
  if (n->sn_peer)
    netpeer_destroy(n->sn_peer);
  memset(n, 0, sizeof(*n));
}

/* ---- phases up ------------------------------------------------------------------ */

static int sim_host_up(struct sim *s) {
  const struct sim_config *c = &s->s_cfg;
  if (!inproc_mem_base() && inproc_mem_setup(c->sc_mem ? c->sc_mem : SIM_MEM_DEFAULT))
    return sim_fail(-ENOMEM, "mapping guest memory");
  sim_settle();
  sim_counts_take(&s->s_base[SIM_OFF]);
  if (inproc_part_init(&s->s_part))
    return sim_fail(-ENODEV, "the partition");
  if (!(s->s_emu = hvemu_create(&s->s_part, &c->sc_emu)))
    return sim_fail(-ENOMEM, "the Hyper-V emulator");
  inproc_attach(s->s_emu);
  if (c->sc_no_vmbus)
    return 0;
  if (!(s->s_srv = vmbsrv_create(s->s_emu, &c->sc_srv)))
    return sim_fail(-EINVAL, "the VMBus server (memory, or its version cap)");
  for (unsigned i = 0; i < c->sc_echo && i < SIM_MAX_ECHO; i++)
    if (!(s->s_echo[i] = echo_dev_create(vmbsrv_device(s->s_srv), c->sc_echo_tag + i)))
      return sim_fail(-ENOMEM, "an echo device");
  if (c->sc_nic) {
    int rc = sim_nic_host(&s->s_nic, vmbsrv_device(s->s_srv), &c->sc_nic_host, NULL);
    if (rc)
      return sim_fail(rc, "the NetVSP device");
  }
  return 0;
}

static int sim_hv_up(void) {
  struct hv_info info;
  bool earlier = false;
  int rc = hv_detect(&info);
  if (rc)
    return sim_fail(rc, "the guest's Hyper-V detection");
  if ((rc = hv_init(&earlier)))
    return sim_fail(rc, "the guest's Hyper-V set-up");
  return 0;
}

static int sim_nic_up(struct sim *s) {
  int rc = sim_nic_guest(&s->s_nic, vmbus_device(), &s->s_cfg.sc_nic_guest);
  if (rc)
    return sim_fail(rc, "the guest's netvsc probe");
  if ((rc = sim_nic_net(&s->s_nic, s->s_cfg.sc_ip)))
    return sim_fail(rc, "net_attach");
  return 0;
}

static void sim_host_down(struct sim *s);

/* Reach phase s_phase + 1; a step that fails undoes what it did. */
static int sim_step_up(struct sim *s) {
  int rc;
  switch (s->s_phase) {
  case SIM_OFF:
    if ((rc = sim_host_up(s)))
      sim_host_down(s);
    break;
  case SIM_HOST:
    if ((rc = sim_hv_up()))
      hv_shutdown();
    break;
  case SIM_HV:
    return sim_connect(s, NULL);
  default:
    if ((rc = sim_nic_up(s)))
      sim_nic_guest_down(&s->s_nic);
    break;
  }
  if (rc)
    return rc;
  s->s_phase++;
  sim_settle();
  sim_counts_take(&s->s_base[s->s_phase]);
  return 0;
}

int sim_up(struct sim *s, enum sim_phase to) {
  while (s->s_phase < to) {
    int rc = sim_step_up(s);
    if (rc)
      return rc;
  }
  return 0;
}

int sim_start(struct sim *s, const struct sim_config *cfg, enum sim_phase to) {
  memset(s, 0, sizeof(*s));
  if (cfg)
    s->s_cfg = *cfg;
  return sim_up(s, to);
}

int sim_connect(struct sim *s, const struct vmbus_options *o) {
  s->s_connect_tried = true;
  int rc = vmbus_connect(o ? o : &s->s_cfg.sc_vmbus);
  if (rc)
    return rc;
  s->s_phase = SIM_CONNECTED;
  sim_settle();
  sim_counts_take(&s->s_base[SIM_CONNECTED]);
  return 0;
}

/* ---- phases down ------------------------------------------------------------------ */

static void sim_host_down(struct sim *s) {
  if (s->s_fake[0])
    hw_hypercall_set_page(NULL);
  for (unsigned i = 0; i < 3; i++)
    if (s->s_fake[i])
      page_free(s->s_fake[i], 1);
  memset(s->s_fake, 0, sizeof(s->s_fake));
  sim_nic_down(&s->s_nic);
  for (unsigned i = 0; i < SIM_MAX_ECHO; i++)
    if (s->s_echo[i])
      echo_dev_destroy(s->s_echo[i]);
  memset(s->s_echo, 0, sizeof(s->s_echo));
  sim_settle();
  if (s->s_srv)
    vmbsrv_destroy(s->s_srv);
  s->s_srv = NULL;
  inproc_detach();
  if (s->s_emu)
    hvemu_destroy(s->s_emu);
  s->s_emu = NULL;
  part_destroy(&s->s_part);
}

/* Leave phase s_phase for the one below. */
static void sim_step_down(struct sim *s) {
  switch (s->s_phase) {
  case SIM_NIC:
    sim_nic_guest_down(&s->s_nic);
    break;
  case SIM_CONNECTED:
    if (s->s_srv)
      vmbsrv_clear_faults(s->s_srv);
    if (vmbus_connected())
      vmbus_disconnect();
    break;
  case SIM_HV:
    hv_shutdown();
    break;
  default:
    sim_host_down(s);
    break;
  }
  s->s_phase--;
  sim_settle();
}

unsigned sim_down(struct sim *s, enum sim_phase to) {
  if (s->s_phase <= to)
    return 0;
  while (s->s_phase > to)
    sim_step_down(s);
  if (s->s_cfg.sc_quiet)
    return 0;
  char what[48];
  snprintf(what, sizeof(what), "sim down to %s", sim_phase_name[to]);
  return sim_counts_check(&s->s_base[to], to >= SIM_CONNECTED || !s->s_connect_tried, to == SIM_OFF,
                          what);
}

unsigned sim_leaks(struct sim *s) {
  sim_settle();
  char what[48];
  snprintf(what, sizeof(what), "sim at %s", sim_phase_name[s->s_phase]);
  return sim_counts_check(&s->s_base[s->s_phase],
                          s->s_phase >= SIM_CONNECTED || !s->s_connect_tried, s->s_phase == SIM_OFF,
                          what);
}

/* ---- a fake guest's SynIC --------------------------------------------------------- */

int sim_fake_synic(struct sim *s, uint8_t vector) {
  for (unsigned i = 0; i < 3; i++) {
    if (!s->s_fake[i] && !(s->s_fake[i] = page_alloc(1)))
      return -ENOMEM;
    memset(s->s_fake[i], 0, PAGE_SIZE);
  }
  uint64_t hc = hw_virt_to_phys(s->s_fake[0]), simp = hw_virt_to_phys(s->s_fake[1]),
           siefp = hw_virt_to_phys(s->s_fake[2]);
  if (hw_wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, HV_GUEST_OS_ID_OPEN_SOURCE | 1) ||
      hw_wrmsr_safe(HV_X64_MSR_HYPERCALL, hc | HV_MSR_ENABLE))
    return -EIO;
  hw_hypercall_set_page(s->s_fake[0]);
  if (hw_wrmsr_safe(HV_X64_MSR_SIMP, simp | HV_MSR_ENABLE) ||
      hw_wrmsr_safe(HV_X64_MSR_SIEFP, siefp | HV_MSR_ENABLE) ||
      hw_wrmsr_safe(HV_X64_MSR_SINT0 + HV_VMBUS_SINT, vector) ||
      hw_wrmsr_safe(HV_X64_MSR_SCONTROL, HV_SCONTROL_ENABLE))
    return -EIO;
  return 0;
}
