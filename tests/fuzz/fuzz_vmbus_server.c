/* tests/fuzz/fuzz_vmbus_server.c: guest-controlled channel messages into the
 * host's VMBus server (host/vmbus_server.c), through the real path: each
 * message is written into an HvPostMessage input block in guest memory and
 * posted with the emulator's hypercall (host/hvemu.c: hvemu_post copies it
 * out and validates it, then the server's port handler runs at passive
 * level). An echo device (a KMCL server channel) is offered, so GPADLs and
 * OPENCHANNEL from the fuzzer reach its ring mapping (kmcl/channel.c).
 *
 * Input: records [sel][size][size bytes]; sel & 3: 0 post on connection id
 * 1, 1 on id 4, 2 on id 2 (no port: refused), 3 HvSignalEvent with the
 * next 4 bytes as connection id and flag. Seeds: tests/fuzz/corpus/
 * fuzz_vmbus_server, recorded from host_sim runs (tools/fuzz-seeds.sh).
 * Every input starts from a fresh emulator and server, so a crash
 * reproduces from its input alone; the guest never runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hvemu.h"
#include "host/vmbus_server.h"
#include "hv/hv.h"
#include "hv/hv_tlfs.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

static struct sim fz;

/** The guest side of the SynIC: take whatever the host put in the slot. */
static void fz_drain(struct hvemu *hv) {
  for (unsigned n = 0; n < 1024; n++) {
    unsigned ran = ev_run_pending();
    struct hv_message *slot = &((struct hv_message_page *)sim_fake_simp(&fz))->sint_message[2];
    bool had = slot->header.message_type != HVMSG_NONE;
    slot->header.message_type = HVMSG_NONE;
    if (had)
      hvemu_wrmsr(hv, HV_X64_MSR_EOM, 0);
    if (!ran && !had)
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  fuzz_quiet();
  struct sim_config cfg = {.sc_srv = {.vc_monitored_offers = len & 1}, /* either kind of offer */
                           .sc_echo = 1,
                           .sc_echo_tag = 7};
  uint8_t *inpage;
  if (sim_start(&fz, &cfg, SIM_HOST) || sim_fake_synic(&fz, HV_SINT_VECTOR) ||
      !(inpage = page_alloc(1)))
    abort();
  struct hvemu *hv = fz.s_emu;
  struct vmbsrv *srv = fz.s_srv;
  uint64_t input_gpa = hw_virt_to_phys(inpage);
  for (unsigned rec = 0; rec < 256 && len >= 2; rec++) {
    uint8_t sel = in[0], size = in[1];
    in += 2;
    len -= 2;
    if ((sel & 3) == 3) {
      uint32_t ev = 0;
      memcpy(&ev, in, len < 4 ? len : 4);
      size_t k = len < 4 ? len : 4;
      in += k;
      len -= k;
      uint64_t fast = (uint64_t)(ev & 0xffffffu) | (uint64_t)(ev >> 24) << 32;
      hvemu_hypercall(hv, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST_BIT, fast, 0);
    } else {
      size_t k = size < len ? size : len;
      struct hv_input_post_message *m = (struct hv_input_post_message *)inpage;
      memset(m, 0, sizeof(*m));
      m->connection_id = (sel & 3) == 0 ? 1 : (sel & 3) == 1 ? 4 : 2;
      m->message_type = HVMSG_VMBUS;
      m->payload_size = (uint32_t)k;
      memcpy(m->payload, in, k > HV_MESSAGE_PAYLOAD_MAX ? HV_MESSAGE_PAYLOAD_MAX : k);
      in += k;
      len -= k;
      hvemu_hypercall(hv, HVCALL_POST_MESSAGE, input_gpa, 0);
    }
    fz_drain(hv);
    vmbsrv_poll(srv);
    fz_drain(hv);
  }
  fz_drain(hv);
  page_free(inpage, 1);
  if (sim_down(&fz, SIM_OFF)) /* whatever the guest sent, the host gives all back */
    abort();
  return 0;
}
