/* tests/fuzz/fuzz_ic.c: hostile integration-service messages into the
 * guest's IC framework (drivers/ic/ic.c: ic_handle_message and every
 * service's body parser: NEGOTIATE lists, heartbeat, shutdown, timesync
 * v1/v3 and v4, KVP GET_IP_INFO and ENUMERATE).
 *
 * Input: [svc][prep] then one message as the host sends it (pipe header
 * first). svc % 4 picks the service. prep bit 0: negotiate first, with
 * framework 3.0 (bit 1 clear) or 1.0, and the service version at index
 * (prep >> 2) % 4 of the list this guest speaks (so service messages reach
 * each version's parser); else the message meets a fresh, un-negotiated
 * service. The answer must be 0 (dropped) or at most the message's length,
 * within the buffer, carry TRANSACTION|RESPONSE, and leave the bytes after
 * it untouched. One framework state per process (ic_start without a bus),
 * renegotiated per input. Seeds: tests/fuzz/corpus/fuzz_ic
 * (tools/fuzz-seeds.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/ic/ic.h"
#include "drivers/ic/ic_proto.h"
#include "kernel/log.h"

static struct ic *fz_ic;
static uint8_t fz_buf[IC_MSG_MAX + 64];

static void fz_shutdown(void *arg, bool restart) { (void)arg, (void)restart; }

static bool fz_ipv4(void *arg, struct ic_ipv4 *out) {
  (void)arg;
  static const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  memcpy(out->mac, mac, 6);
  out->addr[0] = 192, out->addr[1] = 0, out->addr[2] = 2, out->addr[3] = 2;
  out->prefix = 24;
  return true;
}

/* A well-formed NEGOTIATE listing exactly one framework and one service
 * version, as a host pinning a pair would send it. */
static void fz_negotiate(enum ic_service s, uint32_t fw, uint32_t srv) {
  uint8_t m[64];
  memset(m, 0, sizeof(m));
  struct ic_pipe_hdr ph = {IC_PIPE_FLAG_DATA, sizeof(struct ic_msg_hdr) + 16};
  struct ic_msg_hdr h;
  memset(&h, 0, sizeof(h));
  h.icmsgtype = IC_MSGTYPE_NEGOTIATE;
  h.icmsgsize = 16;
  h.icflags = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST;
  struct ic_negotiate n = {1, 1, 0};
  struct ic_version v[2] = {{IC_VER_MAJOR(fw), IC_VER_MINOR(fw)},
                            {IC_VER_MAJOR(srv), IC_VER_MINOR(srv)}};
  memcpy(m, &ph, sizeof(ph));
  memcpy(m + 8, &h, sizeof(h));
  memcpy(m + IC_HDR_SIZE, &n, sizeof(n));
  memcpy(m + IC_HDR_SIZE + 8, v, sizeof(v));
  ic_handle_message(fz_ic, s, m, IC_HDR_SIZE + 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (!fz_ic) {
    log_set_level(LOG_ERR);
    struct ic_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.icc_shutdown = fz_shutdown;
    cfg.icc_ipv4 = fz_ipv4;
    if (ic_start(NULL, &cfg, &fz_ic) != 0)
      abort();
  }
  if (len < 2)
    return 0;
  static const uint32_t srv[IC_NSERVICES][4] = {
      [IC_HEARTBEAT] = {IC_VER(3, 0), IC_VER(1, 0), IC_VER(3, 0), IC_VER(1, 0)},
      [IC_KVP] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0), IC_VER(4, 0)},
      [IC_SHUTDOWN] = {IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0)},
      [IC_TIMESYNC] = {IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0), IC_VER(4, 0)},
  };
  enum ic_service s = (enum ic_service)(in[0] % IC_NSERVICES);
  uint8_t prep = in[1];
  /* A refused NEGOTIATE (0/0) resets the service to un-negotiated. */
  fz_negotiate(s, IC_VER(9, 9), IC_VER(9, 9));
  if (prep & 1)
    fz_negotiate(s, (prep & 2) ? IC_FW_VERSION_1 : IC_FW_VERSION_3, srv[s][(prep >> 2) % 4]);
  size_t n = len - 2;
  if (n > IC_MSG_MAX)
    n = IC_MSG_MAX;
  memset(fz_buf, 0xa5, sizeof(fz_buf));
  memcpy(fz_buf, in + 2, n);
  uint32_t r = ic_handle_message(fz_ic, s, fz_buf, (uint32_t)n);
  if (r != 0 && r > n)
    abort(); /* an answer longer than the message */
  if (r) {
    struct ic_msg_hdr h;
    memcpy(&h, fz_buf + sizeof(struct ic_pipe_hdr), sizeof(h));
    if (h.icflags != (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE))
      abort();
  }
  for (size_t i = IC_MSG_MAX; i < sizeof(fz_buf); i++)
    if (fz_buf[i] != 0xa5)
      abort(); /* wrote past the message buffer */
  return 0;
}
