/* host/inproc_stack.h: the whole in-process system in one call, for tests,
 * benchmarks and fuzzers: guest memory arena, partition, Hyper-V emulator,
 * VMBus server, optionally the NetVSP device with the built-in peer, and on
 * the guest side Hyper-V set-up, the VMBus connection and, with the NIC,
 * netvsc + net/ (hvsim does the same through guest_main). */
#ifndef HOST_INPROC_STACK_H
#define HOST_INPROC_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "host/partition.h"

struct hvemu;
struct vmbsrv;
struct netpeer;
struct netvsp;
struct netvsc;
struct net;

struct inproc_stack {
  struct partition is_part;
  struct hvemu *is_emu;
  struct vmbsrv *is_srv;
  struct netpeer *is_peer; /* with the NIC */
  struct netvsp *is_nic;
  struct netvsc *is_nv; /* the guest's driver */
  struct net *is_net;
};

/** Bring it all up: `mem` bytes of guest memory, with the NIC when `nic`.
 * Returns 0, or a negative step number (which step failed) with a message
 * on stderr; what came up stays up for inproc_stack_down. */
int inproc_stack_up(struct inproc_stack *s, size_t mem, bool nic);
/** Take everything down in reverse (also after a failed up). */
void inproc_stack_down(struct inproc_stack *s);

#endif
