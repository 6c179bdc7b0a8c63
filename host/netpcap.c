/* host/netpcap.c: the --pcap capture, written by libpcap (pcap_open_dead
 * and pcap_dump; see netpcap.h). */
#include "host/netpcap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <pcap/pcap.h>

struct netpcap {
  pcap_t *pc_pcap;        /* pcap_open_dead: the link type and snaplen */
  pcap_dumper_t *pc_dump; /* the file */
  char *pc_path;
  bool pc_failed; /* a write failed: said once, later frames counted only */
  struct netpcap_stats pc_st;
};

/* The capture's dumper on a file we create (fopen ourselves, so the message
 * carries errno's words), its header written through: 0, or -1 with err set. */
static int netpcap_start_file(struct netpcap *pc, const char *path, char *err, size_t errlen) {
  pc->pc_pcap = pcap_open_dead(DLT_EN10MB, NETPCAP_SNAPLEN);
  if (!pc->pc_pcap) {
    snprintf(err, errlen, "--pcap: out of memory");
    return -1;
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "--pcap: cannot create capture file %s: %s", path, strerror(errno));
    return -1;
  }
  pc->pc_dump = pcap_dump_fopen(pc->pc_pcap, f);
  if (!pc->pc_dump) {
    snprintf(err, errlen, "--pcap: %s: %s", path, pcap_geterr(pc->pc_pcap));
    fclose(f);
    return -1;
  }
  if (pcap_dump_flush(pc->pc_dump) != 0) {
    snprintf(err, errlen, "--pcap: cannot write capture file %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

struct netpcap *netpcap_open(const char *path, char *err, size_t errlen) {
  struct netpcap *pc = calloc(1, sizeof(*pc));
  char *copy = path ? strdup(path) : NULL;
  if (!pc || !copy) {
    snprintf(err, errlen, "--pcap: out of memory");
    free(pc);
    free(copy);
    return NULL;
  }
  pc->pc_path = copy;
  if (netpcap_start_file(pc, path, err, errlen) != 0) {
    netpcap_close(pc); /* takes a partial one apart */
    return NULL;
  }
  return pc;
}

void netpcap_close(struct netpcap *pc) {
  if (!pc)
    return;
  if (pc->pc_dump) {
    if (pcap_dump_flush(pc->pc_dump) != 0 && !pc->pc_failed)
      fprintf(stderr, "netpcap: closing %s: %s\n", pc->pc_path, strerror(errno));
    pcap_dump_close(pc->pc_dump);
  }
  if (pc->pc_pcap)
    pcap_close(pc->pc_pcap);
  free(pc->pc_path);
  free(pc);
}

int netpcap_write(struct netpcap *pc, bool to_guest, const uint8_t *frame, uint32_t len) {
  if (!pc || !pc->pc_dump || (!frame && len))
    return -EINVAL;
  if (pc->pc_failed) {
    pc->pc_st.write_errors++;
    return -EIO;
  }
  struct timeval tv;
  gettimeofday(&tv, NULL);
  uint32_t incl = len > NETPCAP_SNAPLEN ? NETPCAP_SNAPLEN : len;
  struct pcap_pkthdr h = {.ts = tv, .caplen = incl, .len = len};
  static const uint8_t none[1];
  errno = 0;
  pcap_dump((u_char *)pc->pc_dump, &h, frame ? frame : none);
  if (pcap_dump_flush(pc->pc_dump) != 0 || ferror(pcap_dump_file(pc->pc_dump))) {
    int e = errno ? errno : EIO;
    fprintf(stderr, "netpcap: writing %s failed (%s); capture stops here\n", pc->pc_path,
            strerror(e));
    pc->pc_failed = true;
    pc->pc_st.write_errors++;
    return -e;
  }
  pc->pc_st.frames++;
  if (to_guest)
    pc->pc_st.to_guest++;
  else
    pc->pc_st.from_guest++;
  pc->pc_st.bytes += incl;
  if (incl < len)
    pc->pc_st.truncated++;
  return 0;
}

static void netpcap_on_frame(void *ctx, bool to_guest, const uint8_t *frame, uint32_t len) {
  netpcap_write(ctx, to_guest, frame, len);
}

struct netvsp_monitor netpcap_monitor(struct netpcap *pc) {
  struct netvsp_monitor m = {.nm_frame = netpcap_on_frame, .nm_ctx = pc};
  return m;
}

const struct netpcap_stats *netpcap_stats(const struct netpcap *pc) { return &pc->pc_st; }
const char *netpcap_path(const struct netpcap *pc) { return pc->pc_path; }
