/* host/netpcap.h: --pcap FILE (prefix netpcap_): every frame of the NIC, in
 * both directions, written to a classic libpcap file (LINKTYPE_ETHERNET,
 * microsecond wall-clock timestamps) that tcpdump, Wireshark and tshark
 * read. It is a netvsp monitor (host/netvsp.h), so it sits beside whichever
 * back end is in use (the built-in peer or a TAP) and records exactly the
 * frames the device counts: its frame count equals the NIC's tx_frames +
 * rx_frames.
 *
 * Written by Debian's libpcap (pcap_open_dead with DLT_EN10MB and a
 * 65535-byte snaplen, pcap_dump_fopen, pcap_dump): the classic format, a
 * 24-byte global header (magic 0xa1b2c3d4 in host byte order, version 2.4)
 * and per frame a 16-byte record header and the frame's bytes. Each record
 * is flushed as it is written, so the file is readable while the VM runs
 * and complete after a kill.
 */
#ifndef HOST_NETPCAP_H
#define HOST_NETPCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/netvsp.h"

#define NETPCAP_SNAPLEN 65535u
#define NETPCAP_LINKTYPE_ETHERNET 1u

struct netpcap_stats {
  uint64_t frames;       /* records written */
  uint64_t to_guest;     /* of which injected into the guest */
  uint64_t from_guest;   /* of which sent by the guest */
  uint64_t bytes;        /* frame bytes written (incl_len) */
  uint64_t truncated;    /* frames longer than the snaplen */
  uint64_t write_errors; /* records lost to a failed write */
};

struct netpcap;

/** Create (truncate) `path` and write the global header. NULL with the
 * cause in err (e.g. "cannot create capture file X: Permission denied"). */
struct netpcap *netpcap_open(const char *path, char *err, size_t errlen);
/** Flush and close. */
void netpcap_close(struct netpcap *pc);
/** One record; `to_guest` only feeds the counters. 0 or -errno. */
int netpcap_write(struct netpcap *pc, bool to_guest, const uint8_t *frame, uint32_t len);
/** The monitor to give netvsp_set_monitor. */
struct netvsp_monitor netpcap_monitor(struct netpcap *pc);
const struct netpcap_stats *netpcap_stats(const struct netpcap *pc);
const char *netpcap_path(const struct netpcap *pc);

#endif
