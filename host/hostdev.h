/* host/hostdev.h: what hvhost and hvsim set up on the VMBus server from the
 * shared options (host/hostopt.h): the fault switches, and the network
 * device (NetVSP, host/netvsp.c) with its back end (the built-in peer
 * 192.0.2.1, host/netpeer.c, or with --tap a Linux TAP device,
 * host/nettap.c, read by an emulator poller), the --pcap capture of every
 * frame beside either (host/netpcap.c), link flapping and a timed rescind. */
#ifndef HOST_HOSTDEV_H
#define HOST_HOSTDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host/hostopt.h"

struct vmbsrv;
struct hvemu;
struct hostdev;

/** Apply o's faults to srv and create its devices (none with --no-net);
 * `emu` runs the TAP back end's poller (hvemu_add_poller). NULL with a
 * message in err on failure (e.g. why the TAP or the capture file cannot be
 * opened). */
struct hostdev *hostdev_create(struct vmbsrv *srv, struct hvemu *emu, const struct hostopt *o,
                               char *err, size_t errlen);
void hostdev_destroy(struct hostdev *d);
/** The NIC as the summary line reports it: -1 no NIC, 1 the link came up
 * during the run (the guest opened its data path with the cable in), 0 it
 * never did. */
int hostdev_link(const struct hostdev *d);
/** hw_now_ns() of that first link-up, 0 when none. */
uint64_t hostdev_link_up_ns(const struct hostdev *d);
/** Echo replies the built-in peer has received so far (0 without it). */
uint64_t hostdev_echo_replies(const struct hostdev *d);
/** Counters of the NIC and its back ends (peer or TAP, capture), one line
 * each (nothing without a NIC). */
void hostdev_print_stats(const struct hostdev *d, FILE *f, const char *prog);

#endif
