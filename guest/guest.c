/* guest/guest.c: guest_main: Hyper-V, VMBus, serve, clean stop. */
#include "guest/guest.h"

#include <stdio.h>
#include <string.h>

#include "drivers/ic/ic.h"
#include "drivers/netvsc/netvsc.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "hv/vmbus_trace.h"
#include "kernel/cmdline.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/panic.h"
#include "net/net.h"

/* vmbus.max_version=X.Y and vmbus.trace=1 (DESIGN.md, kernel keys). */
static int guest_vmbus_options(struct vmbus_options *opt) {
  memset(opt, 0, sizeof(*opt));
  const char *mv = cmdline_get(&kernel_cmdline, "vmbus.max_version");
  if (mv) {
    if (vmbus_version_parse(mv, &opt->vo_max_version) != 0) {
      pr_err("cmdline: vmbus.max_version=%s is not X.Y\n", mv);
      return -1;
    }
  }
  const char *tr = cmdline_get(&kernel_cmdline, "vmbus.trace");
  opt->vo_trace = tr && strcmp(tr, "0") != 0;
  return 0;
}

/* Waiting for the NIC's link with exit-after=link (a policy bound: the
 * host reports media connect right after RNDIS set-up). */
#define GUEST_LINK_WAIT_MS 10000

static struct netvsc *guest_nic;
static struct net *guest_net;
static struct ic *guest_ic;

/* The clean stop (also after a shutdown request): NIC halted, IC channels
 * closed, VMBus UNLOAD, SynIC and hypercall page off. */
static void guest_stop_platform(void) {
  if (guest_net)
    net_detach(guest_net);
  if (guest_nic)
    netvsc_halt(guest_nic);
  guest_net = NULL;
  guest_nic = NULL;
  ic_stop(guest_ic);
  guest_ic = NULL;
  vmbus_disconnect();
  hv_shutdown();
}

static bool guest_link_is_up(void *arg) {
  (void)arg;
  return guest_nic && netvsc_link_up(guest_nic);
}

/* ip=ADDR/PREFIX [gw=ADDR] | ip=dhcp (the default), hostname=NAME. A bad
 * value is an error naming the key, and the kernel falls back to DHCP
 * rather than running with a half-parsed address. */
static void guest_net_config(struct net_config *nc) {
  const char *ip = cmdline_get(&kernel_cmdline, "ip");
  const char *gw = cmdline_get(&kernel_cmdline, "gw");
  const char *hn = cmdline_get(&kernel_cmdline, "hostname");
  if (net_config_parse(nc, ip ? ip : "dhcp") != 0) {
    pr_err("cmdline: ip=%s is not ADDR/PREFIX or dhcp; using DHCP\n", ip);
    net_config_parse(nc, "dhcp");
  } else if (gw && nc->nc_dhcp) {
    pr_warn("cmdline: gw=%s is ignored with DHCP (the lease names the router)\n", gw);
  } else if (gw && net_config_set_gw(nc, gw) != 0) {
    pr_err("cmdline: gw=%s is not an IPv4 address; using DHCP\n", gw);
    net_config_parse(nc, "dhcp");
  }
  if (hn && net_config_set_hostname(nc, hn) != 0)
    pr_err("cmdline: hostname=%s is not 1-63 letters, digits or '-'; sending none\n", hn);
}

/* The NIC, when the host offers one: netvsc + net/ (ARP, ICMP, UDP echo). */
static int guest_net_up(void) {
  struct net_config nc;
  guest_net_config(&nc);
  static const struct vmbus_guid net_type = VMBUS_GUID_NETWORK;
  if (!vmbus_has_offer(&net_type)) {
    printf("kernel: the host offers no network device\n");
    return 0;
  }
  struct netvsc_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  const char *tr = cmdline_get(&kernel_cmdline, "vmbus.trace");
  cfg.nc_trace = tr && strcmp(tr, "0") != 0;
  int rc = netvsc_probe(vmbus_device(), &cfg, &guest_nic);
  if (rc) {
    printf("kernel: network device set-up failed (%s)\n", hv_strerror(rc));
    guest_nic = NULL;
    return 0;
  }
  guest_net = net_attach(guest_nic, &nc);
  if (!guest_net)
    printf("kernel: no memory for the network stack\n");
  return 0;
}

/* The shutdown IC accepted a request (channel DPC): stop serving. */
static void guest_on_shutdown(void *arg, bool restart) {
  (void)arg;
  if (restart)
    guest_request_restart(); /* guest_end resets instead of powering off */
  ev_request_stop(EXIT_STATUS_OK);
}

/* KVP's view of the NIC: its MAC and net/'s address. */
static bool guest_ipv4(void *arg, struct ic_ipv4 *out) {
  (void)arg;
  struct net_ipv4_info ni;
  if (!guest_nic || !guest_net || !netvsc_alive(guest_nic) || !net_ipv4_info(guest_net, &ni))
    return false;
  netvsc_mac(guest_nic, out->mac);
  memcpy(out->addr, ni.addr, 4);
  out->prefix = ni.prefix;
  memcpy(out->gw, ni.gw, 4);
  out->dhcp = ni.dhcp;
  return true;
}

static void guest_ic_up(void) {
  struct ic_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.icc_shutdown = guest_on_shutdown;
  cfg.icc_ipv4 = guest_ipv4;
  int rc = ic_start(vmbus_device(), &cfg, &guest_ic);
  if (rc) {
    printf("kernel: integration services unavailable (%d)\n", rc);
    guest_ic = NULL;
  }
}

/* A NIC offered after connect, or offered again after a rescind: probe it
 * (again) and attach net/ to it. */
static void guest_net_recheck(void) {
  static const struct vmbus_guid net_type = VMBUS_GUID_NETWORK;
  static bool failed; /* a probe failed: no retry storm on a broken offer */
  if ((guest_nic && netvsc_alive(guest_nic)) || failed)
    return;
  if (!vmbus_has_offer(&net_type))
    return;
  if (guest_nic) {
    printf("kernel: the network device is offered again; probing it\n");
    if (guest_net)
      net_detach(guest_net);
    netvsc_halt(guest_nic);
    guest_net = NULL;
    guest_nic = NULL;
  }
  guest_net_up();
  failed = !guest_nic;
}

int guest_main(void) {
  const char *exit_after = cmdline_get(&kernel_cmdline, "exit-after");
  if (exit_after && strcmp(exit_after, "connect") != 0 && strcmp(exit_after, "link") != 0) {
    pr_err("cmdline: exit-after=%s (expected connect or link)\n", exit_after);
    return EXIT_STATUS_FAIL;
  }
  struct hv_info info;
  if (hv_detect(&info) != 0) {
    if (exit_after) {
      printf("kernel: exit-after=%s needs Hyper-V, which is not usable here\n", exit_after);
      return EXIT_STATUS_FAIL;
    }
    return EXIT_STATUS_OK;
  }
  struct vmbus_options opt;
  if (guest_vmbus_options(&opt) != 0)
    return EXIT_STATUS_FAIL;
  bool earlier_owner;
  int rc = hv_init(&earlier_owner);
  if (rc) {
    printf("kernel: Hyper-V set-up failed (%s); stopping\n", hv_strerror(rc));
    hv_shutdown();
    return EXIT_STATUS_FAIL;
  }
  opt.vo_unload_first = earlier_owner;
  rc = vmbus_connect(&opt);
  if (rc) {
    printf("kernel: VMBus connection failed (%s); stopping\n", hv_strerror(rc));
    hv_shutdown();
    return EXIT_STATUS_FAIL;
  }
  vmbus_offers_dump();

  if (exit_after && strcmp(exit_after, "connect") == 0) {
    guest_stop_platform();
    return EXIT_STATUS_OK;
  }
  guest_ic_up();
  if (guest_net_up() != 0) {
    guest_stop_platform();
    return EXIT_STATUS_FAIL;
  }
  if (exit_after && strcmp(exit_after, "link") == 0) {
    int st = EXIT_STATUS_OK;
    if (!guest_nic) {
      printf("kernel: exit-after=link: no network device\n");
      st = EXIT_STATUS_FAIL;
    } else if (ev_wait(guest_link_is_up, NULL, GUEST_LINK_WAIT_MS) != 0) {
      printf("kernel: exit-after=link: the link did not come up within %d ms\n",
             GUEST_LINK_WAIT_MS);
      st = EXIT_STATUS_FAIL;
    }
    guest_stop_platform();
    return st;
  }
  printf("kernel: serving (stop the VM to end)\n");
  int status = EXIT_STATUS_OK;
  bool nic_gone_said = false;
  while (!ev_stop_requested(&status)) {
    ev_loop_once(true);
    if (guest_nic && !netvsc_alive(guest_nic) && !nic_gone_said) {
      printf("kernel: the network device is gone (rescinded); still running\n");
      nic_gone_said = true;
    }
    if (!ev_stop_requested(NULL)) {
      bool had = guest_nic && netvsc_alive(guest_nic);
      guest_net_recheck();
      if (!had && guest_nic && netvsc_alive(guest_nic))
        nic_gone_said = false;
    }
  }
  guest_stop_platform();
  return status;
}

static bool guest_restart;

void guest_request_restart(void) { guest_restart = true; }

void guest_end(int status) {
  const char *end = cmdline_get(&kernel_cmdline, "test.end");
  if (guest_restart || (end && strcmp(end, "reset") == 0))
    hw_reset(status);
  hw_exit(status);
}
