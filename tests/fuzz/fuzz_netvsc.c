/* tests/fuzz/fuzz_netvsc.c: host-controlled bytes into the guest's netvsc
 * receive path: NVSP transfer-page packets (netvsc_rx_xfer: page set id,
 * range offsets and lengths) carrying RNDIS messages (rndis_rx_msg: data
 * packets with per-packet info, control completions, status indications)
 * and ones with hostile lengths. The real in-process host delivers them
 * through the NetVSP device's receive buffer and the channel's ring; the
 * guest's netvsc + net/ are live, so a valid-looking frame goes all the way
 * up the stack. Input: [u8 mode][i16 offset adjust][u16 count][u8 set][msg]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "host/netvsp.h"
#include "host/netvsp_test.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

static struct sim fz;
static struct netvsp *fz_nic;
static struct netvsc *fz_nv;
static bool fz_ready;

static void fz_setup(void) {
  fuzz_sim_nic(&fz);
  fz_nic = fz.s_nic.sn_dev;
  fz_nv = fz.s_nic.sn_nv;
  fz_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (!fz_ready)
    fz_setup();
  /* A range outside the receive buffer fails the channel by design (the NIC
   * is then gone for good); keep fuzzing the parsers while it is alive. */
  if (!netvsc_alive(fz_nv)) {
    static bool said;
    if (!said && getenv("FUZZ_NETVSC_DEBUG"))
      fprintf(stderr, "fuzz_netvsc: the NIC is gone\n");
    said = true;
    return 0;
  }
  if (len < 6 || len > 8192)
    return 0;
  uint8_t mode = in[0];
  int16_t adj;
  uint16_t count;
  memcpy(&adj, in + 1, 2);
  memcpy(&count, in + 3, 2);
  uint8_t set = in[5];
  const uint8_t *msg = in + 6;
  uint32_t mlen = (uint32_t)(len - 6);
  if (mode & 1) /* a well-formed range around the message */
    netvsp_inject_rx(fz_nic, msg, mlen, 0, mlen, 0);
  else /* hostile range fields within the receive buffer */
    netvsp_inject_rx(fz_nic, msg, mlen, adj & 0xff, count % 2048u, set & 1);
  for (unsigned k = 0; k < 64 && ev_run_pending(); k++)
    ;
  return 0;
}
