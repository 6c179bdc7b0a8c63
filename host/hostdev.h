/* host/hostdev.h: what hvhost and hvsim set up on the VMBus server from the
 * shared options (host/hostopt.h): the fault switches, and the network
 * device (NetVSP, host/netvsp.c) with its back end (the built-in switch:
 * router 192.0.2.1 with a DHCP server, host/dhcpsrv.c, and the peer
 * 198.51.100.7 behind it, host/netpeer.c; or with --tap a Linux TAP device,
 * host/nettap.c, read by an emulator poller), the --pcap capture of every
 * frame beside either (host/netpcap.c), link flapping, a timed network
 * change and a timed rescind. */
#ifndef HOST_HOSTDEV_H
#define HOST_HOSTDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host/hostopt.h"

/** Placeholders at most: the Gen1 set (7) and late offers. */
#define HOSTDEV_MAX_PLACEHOLDERS 12

struct vmbsrv;
struct vmbsrv_config;
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
/** The source address the guest last sent from (the summary's guest_ip);
 * false when none. */
bool hostdev_guest_ip(const struct hostdev *d, uint8_t ip[4]);
/** hw_now_ns() of that first link-up, 0 when none. */
uint64_t hostdev_link_up_ns(const struct hostdev *d);
/** Echo replies the built-in peer has received so far (0 without it). */
uint64_t hostdev_echo_replies(const struct hostdev *d);
/** Counters of the NIC and its back ends (peer or TAP, capture), one line
 * each (nothing without a NIC). */
void hostdev_print_stats(const struct hostdev *d, FILE *f, const char *prog);

/** The VMBus server settings the offer set needs (before vmbsrv_create):
 * gen1 monitors the NIC only and uses Hyper-V-style connection ids. */
void hostdev_vmbsrv_config(const struct hostopt *o, struct vmbsrv_config *sc);
/** Heartbeat answers counted by the heartbeat IC (0 without one). */
uint64_t hostdev_heartbeats(const struct hostdev *d);
/** The guest's IPv4 address as KVP reported it ("" when none). */
const char *hostdev_kvp_ip(const struct hostdev *d);
/** The ICs the guest opened during the run, comma-separated ("" none). */
void hostdev_ics(const struct hostdev *d, char *buf, size_t len);
/** Stop-VM: ask the guest to shut down through the shutdown IC. 0 sent (or
 * queued behind a request in flight), -ENOTCONN when the guest has not
 * opened and negotiated it. */
int hostdev_request_shutdown(struct hostdev *d);
/** hw_now_ns() when the shutdown request went out, 0 none. */
uint64_t hostdev_shutdown_sent_ns(const struct hostdev *d);
/** One line per IC (versions, counters) and the KVP items. */
void hostdev_print_ics(const struct hostdev *d, FILE *f, const char *prog);

#endif
