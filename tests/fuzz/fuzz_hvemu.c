/* tests/fuzz/fuzz_hvemu.c: what a guest can throw at the Hyper-V interface
 * emulation (host/hvemu.c): synthetic MSR reads and writes (any value, any
 * index in and around the synthetic range), hypercalls with any control
 * word and input (fast, or an input block in guest memory the fuzzer
 * fills), CPUID leaves, and EOMs racing host messages. Posts on connection
 * id 1 and events on id 2 reach ports of the fuzzer.
 *
 * Input: ops [op][args...]: op % 6: 0 wrmsr(idx u8 -> table or raw, u64),
 * 1 rdmsr(idx), 2 hypercall(control u64, input u64 or "the input page",
 * 256 bytes into the input page), 3 cpuid(leaf u8), 4 host posts a message
 * (sint u8, size u8), 5 guest takes the slot (clear + EOM). A fresh
 * emulator per input. Seeds: tests/fuzz/corpus/fuzz_hvemu
 * (tools/fuzz-seeds.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hvemu.h"
#include "hv/hv_tlfs.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

static struct sim fz;

static const uint32_t fz_msrs[] = {
    HV_X64_MSR_GUEST_OS_ID,
    HV_X64_MSR_HYPERCALL,
    HV_X64_MSR_VP_INDEX,
    HV_X64_MSR_RESET,
    HV_X64_MSR_TIME_REF_COUNT,
    HV_X64_MSR_REFERENCE_TSC,
    HV_X64_MSR_TSC_FREQUENCY,
    HV_X64_MSR_APIC_FREQUENCY,
    HV_X64_MSR_SCONTROL,
    HV_X64_MSR_SVERSION,
    HV_X64_MSR_SIEFP,
    HV_X64_MSR_SIMP,
    HV_X64_MSR_EOM,
    HV_X64_MSR_SINT0,
    HV_X64_MSR_SINT0 + 2,
    HV_X64_MSR_SINT15,
    HV_X64_MSR_CRASH_P0,
    HV_X64_MSR_CRASH_CTL,
    0x3fffffffu,
    0x40000200u,
    0x400000ffu,
};
#define FZ_NMSRS (sizeof(fz_msrs) / sizeof(fz_msrs[0]))

struct fz_in {
  const uint8_t *p;
  size_t n;
};
static uint64_t fz_take(struct fz_in *in, unsigned bytes) {
  uint64_t v = 0;
  unsigned k = in->n < bytes ? (unsigned)in->n : bytes;
  memcpy(&v, in->p, k);
  in->p += k;
  in->n -= k;
  return v;
}

static void fz_port(void *ctx, uint32_t conn, uint32_t type, const void *payload, uint32_t size) {
  (void)ctx, (void)conn, (void)type;
  volatile uint8_t sink = 0;
  for (uint32_t i = 0; i < size; i++) /* the port may read every byte */
    sink ^= ((const uint8_t *)payload)[i];
  (void)sink;
}
static void fz_event(void *ctx, uint32_t conn, uint16_t flag) { (void)ctx, (void)conn, (void)flag; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  fuzz_quiet();
  /* A fresh emulator (no VMBus server: the fuzzer owns its ports) and 4
   * zeroed pages the fuzzer may name: hypercall, input, SIMP, SIEFP. */
  struct sim_config cfg = {.sc_mem = 8u << 20, .sc_no_vmbus = true};
  uint8_t *fz_pages;
  if (sim_start(&fz, &cfg, SIM_HOST) || !(fz_pages = page_alloc(4)))
    abort();
  memset(fz_pages, 0, 4 * 4096);
  struct hvemu *hv = fz.s_emu;
  if (hvemu_register_port(hv, 1, fz_port, NULL) || hvemu_register_event(hv, 2, fz_event, NULL))
    abort();
  uint64_t base = hw_virt_to_phys(fz_pages);
  struct fz_in in = {data, len};
  for (unsigned op = 0; op < 512 && in.n; op++) {
    uint8_t o = (uint8_t)fz_take(&in, 1);
    switch (o % 6) {
    case 0: {
      uint8_t i = (uint8_t)fz_take(&in, 1);
      uint32_t msr = i < 0x80 ? fz_msrs[i % FZ_NMSRS] : 0x40000000u + (uint32_t)fz_take(&in, 2);
      uint64_t v = fz_take(&in, 8);
      if (i & 0x40) /* a page the fuzzer names: one of ours, flags kept */
        v = (base + ((v >> 12) & 3) * 4096) | (v & 0xfff);
      hvemu_wrmsr(hv, msr, v);
      break;
    }
    case 1: {
      uint8_t i = (uint8_t)fz_take(&in, 1);
      uint64_t v;
      hvemu_rdmsr(hv, i < 0x80 ? fz_msrs[i % FZ_NMSRS] : 0x40000000u + i, &v);
      break;
    }
    case 2: {
      uint64_t control = fz_take(&in, 8);
      uint8_t how = (uint8_t)fz_take(&in, 1);
      uint64_t input = how & 1 ? fz_take(&in, 8) : base + 4096 + (how & 0xf8);
      size_t k = in.n < 256 ? in.n : 256;
      memcpy(fz_pages + 4096 + (how & 0xf8), in.p, k);
      in.p += k;
      in.n -= k;
      hvemu_hypercall(hv, control, input, 0);
      break;
    }
    case 3: {
      struct hw_cpuid_regs r = {0, 0, 0, 0};
      hvemu_cpuid(hv, 0x40000000u + (uint32_t)fz_take(&in, 1), 0, &r);
      break;
    }
    case 4: {
      uint8_t msg[HV_MESSAGE_PAYLOAD_MAX] = {0};
      uint32_t sint = (uint32_t)fz_take(&in, 1);
      uint32_t size = (uint32_t)fz_take(&in, 1);
      hvemu_post_message(hv, sint, HVMSG_VMBUS, 0, msg, size);
      hvemu_signal_event(hv, sint & 0xf, (uint32_t)fz_take(&in, 2));
      break;
    }
    default: {
      uint64_t simp = 0;
      hvemu_rdmsr(hv, HV_X64_MSR_SIMP, &simp);
      struct hv_message_page *pg = part_gpa_ptr(&fz.s_part, simp & ~0xfffull, 4096);
      if (pg && (simp & HV_MSR_ENABLE))
        pg->sint_message[fz_take(&in, 1) & 0xf].header.message_type = HVMSG_NONE;
      hvemu_wrmsr(hv, HV_X64_MSR_EOM, 0);
      break;
    }
    }
    ev_run_pending();
  }
  page_free(fz_pages, 4);
  if (sim_down(&fz, SIM_OFF))
    abort();
  return 0;
}
