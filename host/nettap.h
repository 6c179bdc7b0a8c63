/* host/nettap.h: --tap NAME (prefix nettap_), a NetVSP back end on an
 * existing Linux TAP device, so the guest's frames reach the Linux network
 * stack of the namespace the host tool runs in (and Linux's ping reaches the
 * guest).
 *
 * The device must exist (created by the caller, e.g. `ip tuntap add dev NAME
 * mode tap`); nettap_open attaches to it through /dev/net/tun with
 * IFF_TAP | IFF_NO_PI, so one read or write is one Ethernet frame.
 *
 * Frames the guest sends (nb_tx) are written to the TAP at once. Frames
 * Linux sends are read by nettap_poll, a hvemu poller that the host tools
 * run from their one event loop (hvsim: hw_poll before idling; hvhost: between KVM
 * exits): the fd is non-blocking and O_ASYNC, so a frame arriving raises
 * SIGIO, which ends a KVM_RUN (or hvsim's idle sleep) at once and the poller
 * reads it; without a signal the poller still reads at least every
 * NETTAP_POLL_NS. A frame the NIC cannot take yet (every receive section in
 * flight) waits for the next poll, up to NETTAP_HOLD_NS, before it is
 * dropped; meanwhile Linux queues the rest (the TAP's txqueuelen).
 *
 * The guest is untrusted: frames shorter than an Ethernet header or longer
 * than NETTAP_MAX_FRAME are dropped and counted.
 */
#ifndef HOST_NETTAP_H
#define HOST_NETTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/netvsp.h"

#define NETTAP_MAX_FRAME 65535u
#define NETTAP_BURST 64u             /* frames read per poll */
#define NETTAP_POLL_NS 10000000ull   /* read at least this often without SIGIO */
#define NETTAP_HOLD_NS 1000000000ull /* a frame waits this long for a section */

struct nettap_stats {
  uint64_t rx_frames, rx_bytes; /* read from the TAP and taken by the NIC */
  uint64_t rx_drop_down;        /* NIC refused: link down or data path closed */
  uint64_t rx_drop_size;        /* NIC refused: too long for its MTU */
  uint64_t rx_drop_busy;        /* held past NETTAP_HOLD_NS without a section */
  uint64_t rx_deferred;         /* frames that had to wait for a section */
  uint64_t tx_frames, tx_bytes; /* guest frames written to the TAP */
  uint64_t tx_drop_size;        /* guest frame of a bad length */
  uint64_t tx_errors;           /* write failed (TAP down, queue full) */
  uint64_t read_errors;
  uint64_t sigio; /* SIGIO wake-ups seen */
};

struct nettap;

/** Attach to the TAP device `name`. NULL with the cause in err: no
 * /dev/net/tun, no such device, not a TAP, busy, not permitted (not root
 * and not the device's owner). A TAP that is down gets a warning only. */
struct nettap *nettap_open(const char *name, char *err, size_t errlen);
void nettap_close(struct nettap *t);
/** The device frames from the TAP go to (NULL: read and drop). */
void nettap_attach(struct nettap *t, struct netvsp *dev);
/** The back end to give netvsp_create. */
struct netvsp_backend nettap_backend(struct nettap *t);
/** Read what the TAP has and inject it (a hvemu_poll_fn: ctx is the
 * nettap). True when it did something. */
bool nettap_poll(void *ctx);
const struct nettap_stats *nettap_stats(const struct nettap *t);
const char *nettap_name(const struct nettap *t);
int nettap_fd(const struct nettap *t);

#endif
