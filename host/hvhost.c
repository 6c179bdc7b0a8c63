/* host/hvhost.c: boot the kernel image under KVM with an emulated Hyper-V.
 *
 *   build/hvhost [options] kernel.elf [-- kernel command line]
 *
 * Creates the VM (host/kvm.c), the Hyper-V emulator (host/hvemu.c) and the
 * VMBus server (host/vmbus_server.c) with its devices, runs the kernel until
 * it writes its exit status (or --timeout, or Ctrl-C), then prints the exit
 * counters and the summary line that tests and scripts read. Exit status:
 * the kernel's (0, 1, 2), 124 timeout, 130 stopped, 2 usage, 3 host error. */
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hostdev.h"
#include "host/hostopt.h"
#include "host/hvemu.h"
#include "host/kvm.h"
#include "host/vmbus_server.h"
#include "kernel/hw.h"

static volatile bool hvhost_stop;
/* Stop requests seen: 0; 1, Stop-VM; 2, a second one HVHOST_SAME_STOP_MS or
 * more after the first, which turns the VM off. */
static volatile sig_atomic_t hvhost_signals;
static struct timespec hvhost_first_signal;
/* A second signal turns the VM off at once, but only one sent by a person:
 * one within HVHOST_SAME_STOP_MS of the first is the same stop, because
 * timeout(1) sends its signal both to the command and to its process group,
 * which hvhost is in (2 deliveries about half the time). */
#define HVHOST_SAME_STOP_MS 200
static void hvhost_sigint(int sig) {
  (void)sig;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe (POSIX) */
  if (hvhost_signals == 0) {
    hvhost_first_signal = now;
    hvhost_signals = 1;
    return;
  }
  long long ms = (long long)(now.tv_sec - hvhost_first_signal.tv_sec) * 1000 +
                 (now.tv_nsec - hvhost_first_signal.tv_nsec) / 1000000;
  if (ms >= HVHOST_SAME_STOP_MS)
    hvhost_signals = 2;
}

/* Counters at a phase boundary (the bench reads the per-phase lines). */
struct hvhost_snap {
  struct hvk_stats sn_vm;
  uint64_t sn_post, sn_signal;
  bool sn_taken;
};

struct hvhost_state {
  struct hvk *hs_vm;
  struct hvemu *hs_emu;
  struct hvhost_snap hs_at_connect, hs_at_link;
  struct vmbsrv *hs_srv;
  uint64_t hs_start_ns;
  int64_t hs_connected_ms;
  int64_t hs_link_ms;
  int64_t hs_ping_ms; /* the built-in peer's first echo reply */
  struct hostdev *hs_dev;
  uint32_t hs_version; /* negotiated, kept after the guest's UNLOAD */
  uint64_t hs_stop_timeout_ms;
  uint64_t hs_stop_asked_ns; /* the shutdown IC's request went out */
  bool hs_stop_handled;
};

static void hvhost_snapshot(struct hvhost_state *st, struct hvhost_snap *sn) {
  sn->sn_vm = *hvk_stats(st->hs_vm);
  sn->sn_post = hvemu_stats(st->hs_emu)->hs_post_message;
  sn->sn_signal = hvemu_stats(st->hs_emu)->hs_signal_event;
  sn->sn_taken = true;
}

/* One line per phase: the counters between two snapshots. */
static void hvhost_print_phase(const char *name, const struct hvhost_snap *a,
                               const struct hvhost_snap *b) {
  fprintf(stderr,
          "hvhost: phase %s exits=%lu io=%lu msr=%lu hypercalls=%lu post_message=%lu "
          "signal_event=%lu injected=%lu console_bytes=%lu\n",
          name, (unsigned long)(b->sn_vm.ks_exits - a->sn_vm.ks_exits),
          (unsigned long)(b->sn_vm.ks_io - a->sn_vm.ks_io),
          (unsigned long)(b->sn_vm.ks_msr - a->sn_vm.ks_msr),
          (unsigned long)(b->sn_vm.ks_hypercalls - a->sn_vm.ks_hypercalls),
          (unsigned long)(b->sn_post - a->sn_post), (unsigned long)(b->sn_signal - a->sn_signal),
          (unsigned long)(b->sn_vm.ks_intr_injected - a->sn_vm.ks_intr_injected),
          (unsigned long)(b->sn_vm.ks_console_bytes - a->sn_vm.ks_console_bytes));
}

/* Between exits: note when VMBus became connected (ALLOFFERS_DELIVERED). */
static void hvhost_tick(void *arg) {
  struct hvhost_state *st = arg;
  /* Stop-VM on the first SIGINT/SIGTERM: the shutdown IC's request; the VM
   * is turned off --stop-timeout later, at once without the service, or on
   * a second signal. */
  if (hvhost_signals && !st->hs_stop_handled) {
    st->hs_stop_handled = true;
    if (hostdev_request_shutdown(st->hs_dev) == 0)
      st->hs_stop_asked_ns = hw_now_ns();
    else
      hvhost_stop = true;
  }
  if (st->hs_stop_asked_ns && !hvhost_stop &&
      (hvhost_signals > 1 ||
       hw_now_ns() - st->hs_stop_asked_ns >= st->hs_stop_timeout_ms * 1000000ull)) {
    fprintf(stderr, "hvhost: the guest did not stop%s: turned off\n",
            hvhost_signals > 1 ? " (second signal)" : " within --stop-timeout");
    hvhost_stop = true;
  }
  if (st->hs_connected_ms < 0 && vmbsrv_offers_delivered(st->hs_srv)) {
    st->hs_connected_ms = hostopt_ms_since(st->hs_start_ns, hw_now_ns());
    st->hs_version = vmbsrv_version(st->hs_srv);
    hvhost_snapshot(st, &st->hs_at_connect);
  }
  if (st->hs_ping_ms < 0 && hostdev_echo_replies(st->hs_dev))
    st->hs_ping_ms = hostopt_ms_since(st->hs_start_ns, hw_now_ns());
  if (st->hs_link_ms < 0 && hostdev_link_up_ns(st->hs_dev)) {
    st->hs_link_ms = hostopt_ms_since(st->hs_start_ns, hostdev_link_up_ns(st->hs_dev));
    hvhost_snapshot(st, &st->hs_at_link);
  }
}

/* Create the VM, the emulator, the VMBus server and its devices, and load
 * the kernel. 0, or -1 with the reason in err; what was created is in st
 * either way, for hvhost_teardown. */
static int hvhost_build(struct hvhost_state *st, const struct hostopt *o, char *err,
                        size_t errlen) {
  struct hvk_config kc = {
      .kc_mem_bytes = o->ho_mem_mib << 20,
      .kc_kernel = o->ho_kernel,
      .kc_initrd = o->ho_initrd,
      .kc_cmdline = o->ho_cmdline,
      .kc_console = stdout,
      .kc_verbose = o->ho_verbose,
      .kc_tick = hvhost_tick,
      .kc_tick_ctx = st,
  };
  st->hs_vm = hvk_create(&kc, err, errlen);
  if (!st->hs_vm)
    return -1;
  struct hvemu_config hc = {.hc_refuse_msrs = o->ho_refuse_msrs,
                            .hc_tsc_hz = hvk_tsc_hz(st->hs_vm),
                            .hc_apic_hz = hvk_apic_hz(st->hs_vm)};
  st->hs_emu = hvemu_create(hvk_partition(st->hs_vm), &hc);
  struct vmbsrv_config sc = {.vc_max_version = o->ho_vmbus_version, .vc_trace = o->ho_trace};
  hostdev_vmbsrv_config(o, &sc);
  st->hs_srv = st->hs_emu ? vmbsrv_create(st->hs_emu, &sc) : NULL;
  if (!st->hs_srv) {
    snprintf(err, errlen, "cannot create the emulator (out of memory or bad --vmbus-version)");
    return -1;
  }
  /* The kernel first: a file that is not one is the commonest mistake. */
  if (hvk_setup(st->hs_vm, st->hs_emu, err, errlen) != 0)
    return -1;
  st->hs_dev = hostdev_create(st->hs_srv, st->hs_emu, o, err, errlen);
  if (!st->hs_dev)
    return -1;
  fprintf(stderr, "hvhost: frequencies reported: TSC %lu kHz, APIC timer %lu kHz\n",
          (unsigned long)(hc.hc_tsc_hz / 1000), (unsigned long)(hc.hc_apic_hz / 1000));
  return 0;
}

/* Everything hvhost_build created, in reverse (each may be NULL). */
static void hvhost_teardown(struct hvhost_state *st) {
  hostdev_destroy(st->hs_dev);
  vmbsrv_destroy(st->hs_srv);
  hvemu_destroy(st->hs_emu);
  hvk_destroy(st->hs_vm);
}

/* The exit counters of the whole run, then one line per phase. */
static void hvhost_print_stats(struct hvhost_state *st, const struct hvk_result *res) {
  const struct hvk_stats *ks = hvk_stats(st->hs_vm);
  const struct hvemu_stats *es = hvemu_stats(st->hs_emu);
  fprintf(stderr,
          "hvhost: stats first_insn_ms=%.1f exits=%lu io=%lu msr=%lu hypercalls=%lu "
          "post_message=%lu signal_event=%lu injected=%lu console_bytes=%lu mmio=%lu "
          "unknown_io=%lu\n",
          (double)res->kr_first_insn_ns / 1e6, (unsigned long)ks->ks_exits,
          (unsigned long)ks->ks_io, (unsigned long)ks->ks_msr, (unsigned long)ks->ks_hypercalls,
          (unsigned long)es->hs_post_message, (unsigned long)es->hs_signal_event,
          (unsigned long)ks->ks_intr_injected, (unsigned long)ks->ks_console_bytes,
          (unsigned long)ks->ks_mmio, (unsigned long)ks->ks_unknown_io);
  struct hvhost_snap zero, end;
  memset(&zero, 0, sizeof(zero));
  hvhost_snapshot(st, &end);
  if (st->hs_at_link.sn_taken) {
    hvhost_print_phase("entry->connected", &zero, &st->hs_at_connect);
    hvhost_print_phase("connected->link", &st->hs_at_connect, &st->hs_at_link);
    hvhost_print_phase("link->end", &st->hs_at_link, &end);
  } else if (st->hs_at_connect.sn_taken) {
    hvhost_print_phase("entry->connected", &zero, &st->hs_at_connect);
    hvhost_print_phase("connected->end", &st->hs_at_connect, &end);
  } else {
    hvhost_print_phase("entry->end", &zero, &end);
  }
  if (st->hs_ping_ms >= 0)
    fprintf(stderr, "hvhost: first echo reply from the guest t_ping_ms=%lld\n",
            (long long)st->hs_ping_ms);
}

int main(int argc, char **argv) {
  struct hostopt o;
  int prc = hostopt_parse(&o, "hvhost", argc, argv, true);
  if (prc)
    return prc > 0 ? 0 : 2;
  /* `hvhost --check-kvm`: say whether this machine can run it (make run). */
  const char *why = hvk_unusable_reason();
  if (o.ho_check_kvm) {
    if (why)
      printf("%s\n", why);
    return why ? 1 : 0;
  }
  if (why) {
    fprintf(stderr, "hvhost: KVM is not usable here: %s\n", why);
    return 3;
  }
  struct hvhost_state st;
  memset(&st, 0, sizeof(st));
  st.hs_start_ns = hw_now_ns();
  st.hs_connected_ms = -1;
  st.hs_link_ms = -1;
  st.hs_ping_ms = -1;
  st.hs_stop_timeout_ms = o.ho_stop_timeout_s * 1000u;
  char err[512];
  if (hvhost_build(&st, &o, err, sizeof(err)) != 0) {
    fprintf(stderr, "hvhost: %s\n", err);
    hvhost_teardown(&st);
    return 3;
  }
  hostopt_catch_stop_signals(hvhost_sigint);

  struct hvk_result res;
  hvk_run(st.hs_vm, &hvhost_stop, o.ho_timeout_s * 1000u, &res);
  vmbsrv_guest_gone(st.hs_srv); /* the teardown's rescinds reach no one */
  if (st.hs_stop_asked_ns && res.kr_end == HVK_END_EXIT)
    fprintf(stderr, "hvhost: shutdown request to exit %.1f ms\n",
            (double)(hw_now_ns() - st.hs_stop_asked_ns) / 1e6);

  struct hostopt_outcome oc = {
      .oc_end = res.kr_end == HVK_END_EXIT      ? HOSTOPT_END_EXIT
                : res.kr_end == HVK_END_STOPPED ? HOSTOPT_END_STOPPED
                : res.kr_end == HVK_END_TIMEOUT ? HOSTOPT_END_TIMEOUT
                                                : HOSTOPT_END_ERROR,
      .oc_status = res.kr_status_set ? res.kr_status : -1,
      .oc_power = res.kr_power,
      .oc_vmbus = st.hs_version,
      .oc_offers = vmbsrv_stats(st.hs_srv)->vs_offers_sent,
      .oc_link = hostdev_link(st.hs_dev),
      .oc_connected_ms = st.hs_connected_ms,
      .oc_link_ms = st.hs_link_ms,
  };
  if (res.kr_end == HVK_END_ERROR)
    fprintf(stderr, "hvhost: stopped the VM: %s\n", res.kr_error);
  hvhost_print_stats(&st, &res);
  int status = hostopt_report(&o, &oc, st.hs_dev);
  hvhost_teardown(&st);
  return status;
}
