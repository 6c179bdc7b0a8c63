/* host/inproc_stack.c: host and guest stacks in one process, in one call. */
#include "host/inproc_stack.h"

#include <stdio.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "host/vmbus_server.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "net/net.h"

static int is_fail(int step, const char *what) {
  fprintf(stderr, "inproc_stack: %s failed\n", what);
  return -step;
}

int inproc_stack_up(struct inproc_stack *s, size_t mem, bool nic) {
  memset(s, 0, sizeof(*s));
  if (inproc_mem_setup(mem) || inproc_part_init(&s->is_part))
    return is_fail(1, "guest memory");
  if (!(s->is_emu = hvemu_create(&s->is_part, NULL)))
    return is_fail(2, "the Hyper-V emulator");
  struct vmbsrv_config sc;
  memset(&sc, 0, sizeof(sc));
  if (!(s->is_srv = vmbsrv_create(s->is_emu, &sc)))
    return is_fail(3, "the VMBus server");
  inproc_attach(s->is_emu);
  if (nic) {
    s->is_peer = netpeer_create(NULL, NULL, NULL);
    struct netvsp_backend be = netpeer_backend(s->is_peer);
    struct netvsp_config nc;
    memset(&nc, 0, sizeof(nc));
    if (!s->is_peer || !(s->is_nic = netvsp_create(vmbsrv_device(s->is_srv), &nc, &be)))
      return is_fail(4, "the NetVSP device");
    netpeer_attach(s->is_peer, s->is_nic);
  }
  bool earlier;
  struct vmbus_options vo;
  memset(&vo, 0, sizeof(vo));
  if (hv_init(&earlier) || vmbus_connect(&vo))
    return is_fail(5, "the guest's Hyper-V set-up or VMBus connection");
  if (nic) {
    if (netvsc_probe(vmbus_device(), NULL, &s->is_nv))
      return is_fail(6, "the guest's netvsc probe");
    struct net_config cfg;
    net_config_parse(&cfg, NULL);
    if (!(s->is_net = net_attach(s->is_nv, &cfg)))
      return is_fail(7, "net_attach");
  }
  return 0;
}

void inproc_stack_down(struct inproc_stack *s) {
  if (s->is_net)
    net_detach(s->is_net);
  if (s->is_nv)
    netvsc_halt(s->is_nv);
  if (vmbus_connected())
    vmbus_disconnect();
  hv_shutdown();
  if (s->is_nic)
    netvsp_destroy(s->is_nic);
  if (s->is_peer)
    netpeer_destroy(s->is_peer);
  while (ev_run_pending())
    ;
  if (s->is_srv)
    vmbsrv_destroy(s->is_srv);
  inproc_detach();
  if (s->is_emu)
    hvemu_destroy(s->is_emu);
  part_destroy(&s->is_part);
  inproc_mem_teardown();
  memset(s, 0, sizeof(*s));
}
