/* kernel/main.c: kernel_main, the boot sequence and the idle loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/multiboot.h"
#include "kernel/cmdline.h"
#include "kernel/event.h"
#include "guest/guest.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kernel/panic.h"
#include "kernel/timer.h"

/* The heap newlib's malloc grows into: a policy choice, large enough for the
 * packet pools of later issues, small against any VM (>= 64 MiB). */
#define HEAP_MAX_BYTES (16u << 20)
#define HEAP_PROBE_BYTES (64u << 10)
/* The boot self-check of the event loop: one timer through a real LAPIC
 * interrupt and HLT. Generous bound: emulated guests are slow. */
#define SELFTEST_TIMER_MS 10
#define SELFTEST_TIMEOUT_MS 5000

void kernel_main(uint32_t magic, uint32_t mbi_phys);

/* stdout's buffer before the heap exists (setvbuf with our own buffer:
 * newlib would otherwise malloc one on the first printf). */
static char stdout_buf[256];

/* The 12-character string of a CPUID leaf: the vendor for leaf 0 (EBX, EDX,
 * ECX), a hypervisor's name for 0x40000000 (EBX, ECX, EDX). */
static void cpuid_string(char out[13], uint32_t leaf) {
  struct cpuid_regs r = cpuid(leaf, 0);
  memcpy(out, &r.ebx, 4);
  memcpy(out + 4, leaf == 0 ? &r.edx : &r.ecx, 4);
  memcpy(out + 8, leaf == 0 ? &r.ecx : &r.edx, 4);
  out[12] = '\0';
  for (int i = 0; i < 12; i++)
    if (out[i] != '\0' && (out[i] < 0x20 || out[i] > 0x7e))
      out[i] = '?';
}

static bool selftest_fired;
static void selftest_timer_fn(void *arg) {
  (void)arg;
  selftest_fired = true;
}
static bool selftest_done(void *arg) {
  (void)arg;
  return selftest_fired;
}

/* test.fault=ud|pf|div: a deliberate fault for the panic tests. */
static void deliberate_fault(const char *kind) {
  printf("test: raising a deliberate %s fault\n", kind);
  fflush(stdout);
  if (strcmp(kind, "ud") == 0) {
    __asm__ volatile("ud2");
  } else if (strcmp(kind, "pf") == 0) {
    /* 16 TiB: beyond the identity map (only PML4 entry 0 exists). */
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)0x100000000000ull;
    (void)*p;
  } else if (strcmp(kind, "div") == 0) {
    unsigned zero = 0, r;
    __asm__ volatile("xorl %%edx, %%edx\n divl %2" : "=a"(r) : "a"(1u), "r"(zero) : "rdx");
    (void)r;
  } else {
    printf("test: unknown test.fault '%s' (ud, pf or div)\n", kind);
    hw_exit(EXIT_STATUS_FAIL);
  }
  printf("test: the %s fault did not happen\n", kind);
  hw_exit(EXIT_STATUS_FAIL);
}

/* What the command line asked for before any console was up; the banner
 * reports the problems (boot_banner). */
struct boot_args {
  int cmdline_rc;        /* cmdline_parse's: words dropped */
  const char *log_level; /* log=, or NULL */
  const char *console;   /* console=, or NULL */
  int console_rc;        /* console_init's: an unknown console= */
};

/* The command line from the multiboot info, and the log level it sets. */
static void boot_cmdline(const struct mb_info *mbi, struct boot_args *a) {
  a->cmdline_rc = cmdline_parse(&kernel_cmdline, mb_cmdline(mbi));
  a->log_level = cmdline_get(&kernel_cmdline, "log");
  if (a->log_level && log_level_parse(a->log_level) >= 0)
    log_set_level((enum log_level)log_level_parse(a->log_level));
}

/* ACPI first (the FADT says whether there is a VGA screen), then the
 * consoles, so the banner reaches the screen too. */
static void boot_consoles(const struct mb_info *mbi, struct boot_args *a) {
  int arc = power_init(mbi);
  const struct acpi_info *acpi = power_acpi_info();
  bool no_vga = arc != ACPI_E_NO_RSDP && acpi && acpi->fadt_pa &&
                (acpi->iapc_boot_arch & ACPI_FADT_BOOT_NO_VGA);
  a->console = cmdline_get(&kernel_cmdline, "console");
  a->console_rc = console_init(a->console, no_vga);
}

/* The banner: version, CPU, command line (and what was wrong with it), the
 * consoles and the power-management findings. */
static void boot_banner(const struct mb_info *mbi, const struct boot_args *a) {
  char vendor[13];
  cpuid_string(vendor, 0);
  printf("\nhvkernel %s (build %s), x86_64 multiboot unikernel\n", VERSION_STRING, BUILD_STRING);
  printf("cpu: %s, cpuid max leaf %#x\n", vendor, cpuid(0, 0).eax);
  printf("cmdline: %s\n", mb_cmdline(mbi) ? mb_cmdline(mbi) : "(none)");
  if (a->cmdline_rc)
    pr_warn("cmdline: too long or too many words; %u dropped\n", kernel_cmdline.cl_dropped);
  if (a->log_level && log_level_parse(a->log_level) < 0)
    pr_warn("cmdline: unknown log level '%s' (err|warn|info|debug|trace)\n", a->log_level);
  if (a->console_rc)
    pr_warn("cmdline: unknown console '%s' (serial|vga|both)\n", a->console);
  printf("console: %s%s%s\n", console_has_serial() ? "serial" : "",
         console_has_serial() && console_has_vga() ? " + " : "", console_has_vga() ? "vga" : "");
  power_log();
}

/* The page allocator from the memory map, then the heap (a quarter of the
 * free pages, at most HEAP_MAX_BYTES), probed once through newlib's malloc
 * so that a broken heap shows here rather than in a driver. */
static void boot_memory(const struct mb_info *mbi) {
  if (mb_memory_init(mbi) != 0)
    panic("no usable memory");
  uint64_t heap = page_free_count() / 4 * PAGE_SIZE;
  if (heap > HEAP_MAX_BYTES)
    heap = HEAP_MAX_BYTES;
  if (heap_init(heap) != 0)
    panic("cannot reserve a %lu-byte heap", (unsigned long)heap);
  printf("memory: heap %lu KiB, %lu pages free for the page allocator\n",
         (unsigned long)(heap >> 10), (unsigned long)page_free_count());
  void *probe = malloc(HEAP_PROBE_BYTES);
  if (probe) {
    memset(probe, 0x5a, HEAP_PROBE_BYTES);
    free(probe);
  } else {
    panic("malloc(%u) failed on a fresh heap", HEAP_PROBE_BYTES);
  }
}

/* The TSC and the LAPIC timer calibrated, then interrupts on. */
static void boot_clocks(void) {
  time_init();
  printf("time: TSC %lu kHz (calibrated by %s)\n", (unsigned long)(time_tsc_hz() / 1000),
         time_source());
  if (lapic_init() == 0 && lapic_timer_calibrate() == 0)
    printf("lapic: timer %lu kHz\n", (unsigned long)(lapic_timer_hz() / 1000));
  cpu_sti();
}

/* Event loop self-check: a timer callback must run through the loop. */
static void event_loop_selftest(void) {
  struct timer t;
  timer_init(&t, selftest_timer_fn, NULL);
  uint64_t t0 = hw_now_ns();
  timer_arm_ms(&t, SELFTEST_TIMER_MS);
  if (ev_wait(selftest_done, NULL, SELFTEST_TIMEOUT_MS) != 0) {
    printf("event loop: the %d ms timer did not fire within %d ms\n", SELFTEST_TIMER_MS,
           SELFTEST_TIMEOUT_MS);
    hw_exit(EXIT_STATUS_FAIL);
  }
  printf("event loop: %d ms timer fired after %lu us\n", SELFTEST_TIMER_MS,
         (unsigned long)((hw_now_ns() - t0) / 1000));
}

void kernel_main(uint32_t magic, uint32_t mbi_phys) {
  serial_init();
  setvbuf(stdout, stdout_buf, _IOLBF, sizeof(stdout_buf));
  gdt_init();
  idt_init();

  if (magic != MB_BOOTLOADER_MAGIC)
    panic("kernel_main: bad multiboot magic %#x", magic);
  const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mbi_phys;

  struct boot_args args;
  boot_cmdline(mbi, &args);
  boot_consoles(mbi, &args);
  boot_banner(mbi, &args);
  boot_memory(mbi);
  boot_clocks();

  const char *fault = cmdline_get(&kernel_cmdline, "test.fault");
  if (fault)
    deliberate_fault(fault);
  event_loop_selftest();

  int status = guest_main();
  printf("kernel: done, exiting with status %d\n", status);
  fflush(stdout);
  guest_end(status); /* power-off, or reset (test.end=reset, a restart request) */
}
