/* tests/fuzz/fuzz_vmbus_client.c: host-controlled bytes into the guest's
 * SynIC and VMBus client (hv/synic.c, hv/vmbus.c), through the real path:
 * the input is written into the SIMP slot and SIEFP flags the hypervisor
 * owns, and the SINT is raised through the in-process partition, so the
 * guest's interrupt handler copies the slot out and its DPC dispatches the
 * channel message. A real host emulator and VMBus server are connected, so
 * offers, opens and GPADL answers from the fuzzer meet live guest state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

static struct sim fz;
static bool fz_ready;

static void fz_setup(void) {
  fuzz_quiet(); /* the guest logs what it drops */
  struct sim_config cfg = {.sc_mem = 16u << 20, .sc_echo = 1, .sc_echo_tag = 1};
  if (sim_start(&fz, &cfg, SIM_CONNECTED))
    abort();
  fz_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (!fz_ready)
    fz_setup();
  struct hv_vcpu *v = hv_vcpu_self();
  /* Input: [flags word (8 bytes)] then 256-byte SynIC message slots. */
  if (len >= 8) {
    memcpy(&v->hv_siefp->sint_flags[HV_VMBUS_SINT][0], in, 8);
    in += 8;
    len -= 8;
  }
  for (unsigned i = 0; i < 8 && len > 0; i++) {
    size_t n = len < sizeof(struct hv_message) ? len : sizeof(struct hv_message);
    struct hv_message *slot = &v->hv_simp->sint_message[HV_VMBUS_SINT];
    memset(slot, 0, sizeof(*slot));
    memcpy(slot, in, n);
    in += n;
    len -= n;
    part_inject(&fz.s_part, 0, HV_SINT_VECTOR);
    for (unsigned k = 0; k < 64 && ev_run_pending(); k++)
      ;
  }
  return 0;
}
