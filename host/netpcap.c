/* host/netpcap.c: the --pcap capture (see netpcap.h for the format). */
#include "host/netpcap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The classic libpcap file format, written in host byte order (readers
 * recognise the byte order from the magic). */
struct netpcap_file_hdr {
  uint32_t magic; /* 0xa1b2c3d4: microsecond timestamps */
  uint16_t version_major;
  uint16_t version_minor;
  int32_t thiszone;
  uint32_t sigfigs;
  uint32_t snaplen;
  uint32_t network;
};
_Static_assert(sizeof(struct netpcap_file_hdr) == 24, "pcap global header");

struct netpcap_rec_hdr {
  uint32_t ts_sec;
  uint32_t ts_usec;
  uint32_t incl_len;
  uint32_t orig_len;
};
_Static_assert(sizeof(struct netpcap_rec_hdr) == 16, "pcap record header");

#define NETPCAP_MAGIC 0xa1b2c3d4u

struct netpcap {
  FILE *pc_f;
  char *pc_path;
  bool pc_failed; /* a write failed: said once, later frames counted only */
  struct netpcap_stats pc_st;
};

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
  pc->pc_f = fopen(path, "wb");
  if (!pc->pc_f) {
    snprintf(err, errlen, "--pcap: cannot create capture file %s: %s", path, strerror(errno));
    netpcap_close(pc);
    return NULL;
  }
  struct netpcap_file_hdr h = {
      .magic = NETPCAP_MAGIC,
      .version_major = 2,
      .version_minor = 4,
      .thiszone = 0,
      .sigfigs = 0,
      .snaplen = NETPCAP_SNAPLEN,
      .network = NETPCAP_LINKTYPE_ETHERNET,
  };
  if (fwrite(&h, sizeof(h), 1, pc->pc_f) != 1 || fflush(pc->pc_f) != 0) {
    snprintf(err, errlen, "--pcap: cannot write capture file %s: %s", path, strerror(errno));
    netpcap_close(pc);
    return NULL;
  }
  return pc;
}

void netpcap_close(struct netpcap *pc) {
  if (!pc)
    return;
  if (pc->pc_f && fclose(pc->pc_f) != 0 && !pc->pc_failed)
    fprintf(stderr, "netpcap: closing %s: %s\n", pc->pc_path, strerror(errno));
  free(pc->pc_path);
  free(pc);
}

int netpcap_write(struct netpcap *pc, bool to_guest, const uint8_t *frame, uint32_t len) {
  if (!pc || !pc->pc_f || (!frame && len))
    return -EINVAL;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t incl = len > NETPCAP_SNAPLEN ? NETPCAP_SNAPLEN : len;
  struct netpcap_rec_hdr r = {
      .ts_sec = (uint32_t)ts.tv_sec,
      .ts_usec = (uint32_t)(ts.tv_nsec / 1000),
      .incl_len = incl,
      .orig_len = len,
  };
  if (pc->pc_failed) {
    pc->pc_st.write_errors++;
    return -EIO;
  }
  if (fwrite(&r, sizeof(r), 1, pc->pc_f) != 1 || (incl && fwrite(frame, incl, 1, pc->pc_f) != 1) ||
      fflush(pc->pc_f) != 0) {
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
