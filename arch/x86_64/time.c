/* arch/x86_64/time.c: the monotonic clock, TSC calibrated against the PIT.
 *
 * Calibration programs PIT channel 2 for a 10 ms one-shot (gate through port
 * 0x61, output read back on bit 5) and counts TSC cycles until it expires.
 * Machines without a PIT (QEMU microvm with pit=off) fall back to CPUID:
 * leaf 0x15/0x16, or the hypervisor timing leaf 0x40000010. The Hyper-V
 * clocks (TSC_FREQUENCY MSR, reference TSC page) come with hv/ later.
 * Do not time short guest work with this clock under kvm-pvm: rdtsc traps
 * (KVM-NOTES.md). */
#include <errno.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"
#include "kernel/hw.h"
#include "kernel/log.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE 0x61
#define PIT_CAL_MS 10u
/* Bound on the calibration poll: a PIT that never expires must not hang us. */
#define PIT_MAX_POLLS 5000000u

static uint64_t tsc_hz;
static uint64_t tsc_origin;
static uint64_t tsc_mult; /* ns = (cycles * tsc_mult) >> 32 */
static const char *tsc_src = "none";

static int time_calibrate_pit(uint64_t *hz) {
  uint8_t gate = inb(PIT_GATE);
  if (gate == 0xff)
    return -ENODEV;                                 /* nothing decodes port 0x61 */
  outb(PIT_GATE, (uint8_t)((gate & ~0x02) | 0x01)); /* speaker off, gate on */
  outb(PIT_CMD, 0xb0);                              /* ch2, lo/hi, mode 0 */
  uint16_t count = (uint16_t)(PIT_HZ * PIT_CAL_MS / 1000);
  outb(PIT_CH2, (uint8_t)count);
  outb(PIT_CH2, (uint8_t)(count >> 8));
  /* Mode 0 drives OUT low once the count is loaded; a bit already high
   * here means no PIT is counting. */
  if (inb(PIT_GATE) & 0x20) {
    outb(PIT_GATE, gate);
    return -ENODEV;
  }
  uint64_t t0 = rdtsc();
  unsigned polls = 0;
  while (!(inb(PIT_GATE) & 0x20)) {
    if (++polls == PIT_MAX_POLLS) {
      outb(PIT_GATE, gate);
      return -ETIMEDOUT;
    }
  }
  uint64_t t1 = rdtsc();
  outb(PIT_GATE, gate);
  if (t1 <= t0)
    return -EIO;
  *hz = (t1 - t0) * 1000u / PIT_CAL_MS;
  return 0;
}

static int time_calibrate_cpuid(uint64_t *hz, const char **src) {
  uint32_t max = cpuid(0, 0).eax;
  if (max >= 0x15) {
    struct cpuid_regs r = cpuid(0x15, 0);
    if (r.eax && r.ebx && r.ecx) {
      *hz = (uint64_t)r.ecx * r.ebx / r.eax;
      *src = "CPUID 0x15";
      return 0;
    }
  }
  if (max >= 0x16) {
    struct cpuid_regs r = cpuid(0x16, 0);
    if (r.eax & 0xffff) {
      *hz = (uint64_t)(r.eax & 0xffff) * 1000000u;
      *src = "CPUID 0x16";
      return 0;
    }
  }
  if (cpuid(1, 0).ecx & (1u << 31)) { /* hypervisor present */
    uint32_t hmax = cpuid(0x40000000, 0).eax;
    if (hmax >= 0x40000010 && hmax < 0x40010000) {
      uint32_t khz = cpuid(0x40000010, 0).eax;
      if (khz) {
        *hz = (uint64_t)khz * 1000u;
        *src = "CPUID 0x40000010";
        return 0;
      }
    }
  }
  return -ENODEV;
}

/* Hyper-V's HV_X64_MSR_TSC_FREQUENCY, when CPUID says the frequency MSRs
 * are there (0x40000003.EAX bit 11): exact and one MSR read, where the PIT
 * loop costs thousands of exits under an emulator (DESIGN.md, time). */
static int time_from_hyperv(uint64_t *hz) {
  if (!(cpuid(1, 0).ecx & (1u << 31)))
    return -ENODEV;
  uint32_t max = cpuid(0x40000000, 0).eax;
  if (max < 0x40000003 || max > 0x400000ff || cpuid(0x40000001, 0).eax != 0x31237648 /* Hv#1 */)
    return -ENODEV;
  if (!(cpuid(0x40000003, 0).eax & (1u << 11)))
    return -ENODEV;
  uint64_t v;
  if (rdmsr_safe(0x40000022 /* HV_X64_MSR_TSC_FREQUENCY */, &v) != 0 || v == 0)
    return -EIO;
  *hz = v;
  return 0;
}

int time_init(void) {
  uint64_t hz = 0;
  int rc = time_from_hyperv(&hz);
  if (rc == 0) {
    tsc_src = "Hyper-V TSC_FREQUENCY";
  } else if ((rc = time_calibrate_pit(&hz)) == 0) {
    tsc_src = "PIT";
  } else if (time_calibrate_cpuid(&hz, &tsc_src) != 0) {
    hz = 1000000000u;
    tsc_src = "assumed";
    pr_warn("time: no PIT (%d) and no CPUID frequency; assuming a 1 GHz TSC, "
            "timeouts are approximate\n",
            rc);
  }
  tsc_hz = hz;
  tsc_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
  tsc_origin = rdtsc();
  return 0;
}

uint64_t time_tsc_hz(void) { return tsc_hz; }
const char *time_source(void) { return tsc_src; }

uint64_t hw_now_ns(void) {
  if (!tsc_mult)
    return 0;
  uint64_t d = rdtsc() - tsc_origin;
  return (uint64_t)(((unsigned __int128)d * tsc_mult) >> 32);
}
