/* host/kvm.h: the KVM backend of the partition (hvhost). It boots the real
 * kernel image: creates a one-vCPU VM with KVM's in-kernel irqchip and PIT,
 * maps guest RAM, loads the multiboot kernel and its information structure,
 * starts the vCPU in 32-bit protected mode as the multiboot spec requires,
 * and turns VM exits into calls of the Hyper-V emulator (host/hvemu.h):
 * CPUID at creation, synthetic MSRs through KVM's user-space MSR filter,
 * hypercalls through the hypercall page's OUT to PART_HYPERCALL_PORT, SINT
 * interrupts by KVM_SIGNAL_MSI. COM1 output goes to the console stream; the
 * exit port 0xf4 records the kernel's status, and the run ends when the
 * guest powers off or resets through the ACPI ports (host/acpi_fw.h), or
 * 2 s after a status without that. The firmware ACPI tables are written
 * into the BIOS area before the kernel is loaded.
 *
 * One thread: host work (the VMBus server and its devices on the kernel
 * event loop) runs between KVM_RUN calls; a timer signal interrupts KVM_RUN
 * when a host timer is due. See ../shared/KVM-NOTES.md for this machine.
 */
#ifndef HOST_KVM_H
#define HOST_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host/partition.h"

struct hvemu;

struct hvk_config {
  uint64_t kc_mem_bytes;  /* guest RAM from 0 (>= 16 MiB) */
  const char *kc_kernel;  /* multiboot ELF (a.out-kludge header), Linux bzImage or vmlinux */
  const char *kc_initrd;  /* Linux only: the initrd file (may be NULL; hvk_setup refuses
                           * one given with a multiboot kernel) */
  const char *kc_cmdline; /* kernel command line (may be NULL) */
  FILE *kc_console;       /* COM1 output (stdout) */
  bool kc_verbose;        /* log entry state and exits */
  /* Called after host work on every loop turn (between exits), so the tool
   * can timestamp state changes (VMBus connected, link up). May be NULL. */
  void (*kc_tick)(void *ctx);
  void *kc_tick_ctx;
};

/** Exit counters (the "exits by kind"). */
struct hvk_stats {
  uint64_t ks_exits, ks_io, ks_mmio, ks_msr, ks_hypercalls, ks_hlt, ks_intr_injected;
  uint64_t ks_console_bytes, ks_signals, ks_unknown_io;
  uint64_t ks_emulated; /* instructions kvm-pvm refused and hvhost emulated */
};

enum hvk_end { HVK_END_EXIT, HVK_END_STOPPED, HVK_END_TIMEOUT, HVK_END_ERROR };

struct hvk_result {
  enum hvk_end kr_end;       /* HVK_END_EXIT: powered off, reset, or a status and no power-off */
  int kr_status;             /* the byte the kernel wrote to port 0xf4 */
  bool kr_status_set;        /* it wrote one */
  int kr_power;              /* enum acpifw_power: what the guest asked the PM ports for */
  char kr_error[512];        /* HVK_END_ERROR: why */
  uint64_t kr_first_insn_ns; /* from hvk_create to the first KVM_RUN */
};

struct hvk;

/** Open /dev/kvm, create the VM (irqchip, PIT, memory, one vCPU) and its
 * partition. cfg is copied; the strings and the console it points to must
 * outlive the VM. Returns the VM (the caller's: hvk_destroy), or NULL with
 * a message in err when anything fails: the message names the ioctl and
 * errno. */
struct hvk *hvk_create(const struct hvk_config *cfg, char *err, size_t errlen);
/** Close the VM and unmap its memory (NULL is a no-op). The emulator given
 * to hvk_setup is the caller's to destroy (before or after). */
void hvk_destroy(struct hvk *vm);
/** The VM's partition (guest memory, injection), owned by vm: create the
 * emulator on it. */
struct partition *hvk_partition(struct hvk *vm);

/** Connect the emulator (created on hvk_partition) and program the vCPU's
 * CPUID from it and from KVM's supported leaves (KVM's own 0x40000000 leaves
 * removed). Then load the kernel: 0 or -errno with a message in err. */
int hvk_setup(struct hvk *vm, struct hvemu *emu, char *err, size_t errlen);

/** Run until the guest powers off or resets (or wrote its exit status and
 * did not power off within 2 s), `stop` becomes true (set it
 * from a signal handler), `timeout_ms` passes (0: none), or the guest does
 * something the emulator refuses. Host event-loop work runs between exits. */
void hvk_run(struct hvk *vm, volatile bool *stop, uint64_t timeout_ms, struct hvk_result *res);

/** The exit counters, owned by vm (valid until hvk_destroy). */
const struct hvk_stats *hvk_stats(const struct hvk *vm);
/** The guest's TSC rate (KVM_GET_TSC_KHZ), for HV_X64_MSR_TSC_FREQUENCY;
 * 0 when KVM does not say. */
uint64_t hvk_tsc_hz(struct hvk *vm);

/** The in-kernel LAPIC timer's input frequency (before its divider), for
 * HV_X64_MSR_APIC_FREQUENCY: what a guest that programs the timer from the
 * MSR (Linux) must be told. */
uint64_t hvk_apic_hz(struct hvk *vm);

/** Why /dev/kvm is unusable here (NULL when it is usable): no device, no
 * permission, wrong API version. */
const char *hvk_unusable_reason(void);

#endif
