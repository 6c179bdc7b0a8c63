/* host/hvsim.c: the guest stack and the Hyper-V host emulator in one process.
 *
 *   build/hvsim [options] [-- kernel command line]
 *
 * The in-process twin of hvhost (same options, same summary line): the
 * guest's hv/, kmcl/ and drivers run over host/inproc_hw.c, whose hardware
 * primitives are answered by the emulator (host/hvemu.c) and the VMBus
 * server (host/vmbus_server.c), all driven by the kernel's one event loop.
 * It parses the kernel command line into kernel_cmdline, calls guest_main()
 * (guest/guest.h) and ends with
 *   hvsim: exit=<status|stopped|timeout> vmbus=<X.Y|none> offers=<n> ...
 * Exit status: the kernel's (0, 1, 2), 124 timeout, 130 stopped, 2 usage,
 * 3 host error (hostopt_exit_status).
 *
 * Ctrl-C/SIGTERM sends the shutdown IC's request when the guest has opened
 * that service (Stop-VM) and turns the guest off --stop-timeout seconds
 * later if it is still running; without the service, and on --timeout, it
 * asks the guest to stop (ev_request_stop, which its serving loop honours)
 * and a guest still busy HVSIM_GRACE_MS later is cut off, as turning a VM
 * off would: hvsim_poll, an emulator poller (hvemu_add_poller) that the
 * event loop runs through hw_poll() whenever it would idle, longjmps back
 * to hvsim_run_guest. The guest's own end (hw_exit, hw_reset, panic) comes
 * back the same way, through hvsim_on_exit (inproc_set_exit). */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/hostdev.h"
#include "host/hostopt.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "kernel/cmdline.h"
#include "kernel/event.h"
#include "guest/guest.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/panic.h"
#include "sim/sim.h"

#define HVSIM_GRACE_MS 2000u

static volatile sig_atomic_t hvsim_sigint;
static jmp_buf hvsim_jmp;
static bool hvsim_jmp_armed;
static int hvsim_exit_status;
static uint64_t hvsim_deadline_ns; /* 0: no --timeout */
static uint64_t hvsim_stop_ns;     /* when the stop was asked */
static bool hvsim_timed_out, hvsim_stopped;
static struct hostdev *hvsim_dev;
static uint64_t hvsim_grace_ms = HVSIM_GRACE_MS; /* the shutdown IC: --stop-timeout */
static bool hvsim_ic_stop;                       /* the shutdown IC carried the stop */

static void hvsim_on_signal(int sig) {
  (void)sig;
  hvsim_sigint = 1;
}

/** hw_exit() from the guest (panic() prints and ends here with status 2,
 * or an explicit exit): end the run with that status. */
static void hvsim_on_exit(int status) {
  hvsim_exit_status = status;
  if (hvsim_jmp_armed)
    longjmp(hvsim_jmp, 1);
  exit(status);
}

/** An emulator poller (run whenever the event loop would idle): stop and
 * timeout. */
static bool hvsim_poll(void *ctx) {
  (void)ctx;
  uint64_t now = hw_now_ns();
  if (!hvsim_stop_ns) {
    if (hvsim_sigint && hostdev_request_shutdown(hvsim_dev) == 0) {
      /* Stop-VM: the guest's shutdown service gets the request; a guest
       * that has not ended by --stop-timeout is turned off. */
      hvsim_ic_stop = true;
      hvsim_stop_ns = now;
    } else if (hvsim_sigint) {
      hvsim_stopped = true;
    } else if (hvsim_deadline_ns && now >= hvsim_deadline_ns) {
      hvsim_timed_out = true;
    }
    if (hvsim_stopped || hvsim_timed_out) {
      hvsim_stop_ns = now;
      ev_request_stop(EXIT_STATUS_OK);
    }
  } else if (now - hvsim_stop_ns >=
                 (hvsim_ic_stop ? hvsim_grace_ms : HVSIM_GRACE_MS) * 1000000ull &&
             hvsim_jmp_armed) {
    if (hvsim_ic_stop) {
      fprintf(stderr, "hvsim: the guest did not stop within %lu ms: turned off\n",
              (unsigned long)hvsim_grace_ms);
      hvsim_stopped = true;
    }
    hvsim_exit_status = -1;
    longjmp(hvsim_jmp, 1);
  }
  return false;
}

static int hvsim_run_guest(void) {
  hvsim_jmp_armed = true;
  if (setjmp(hvsim_jmp)) {
    hvsim_jmp_armed = false;
    return hvsim_exit_status;
  }
  /* The kernel's end, as kernel_main does it: the status, then power-off
   * or reset (hw_exit/hw_reset record power= and come back through
   * hvsim_on_exit, the function inproc_set_exit registered). */
  guest_end(guest_main());
}

/* Guest memory, partition, emulator and VMBus server (sim/sim.h: the host
 * side of the in-process system; guest_main is the guest), then the devices.
 * 0, or -1 with the reason in err; what was created is in sys (and
 * hvsim_dev) either way, for hvsim_teardown. */
static int hvsim_build(struct sim *sys, const struct hostopt *o, char *err, size_t errlen) {
  struct sim_config cfg = {
      .sc_mem = (size_t)o->ho_mem_mib << 20,
      .sc_emu = {.hc_refuse_msrs = o->ho_refuse_msrs},
      .sc_srv = {.vc_max_version = o->ho_vmbus_version, .vc_trace = o->ho_trace},
      .sc_quiet = true, /* a guest cut off at its timeout keeps its pages */
  };
  hostdev_vmbsrv_config(o, &cfg.sc_srv);
  if (sim_start(sys, &cfg, SIM_HOST) != 0) {
    snprintf(err, errlen, "cannot set up the host (memory, or a bad --vmbus-version)");
    return -1;
  }
  hvsim_dev = hostdev_create(sys->s_srv, sys->s_emu, o, err, errlen);
  return hvsim_dev ? 0 : -1;
}

/* Everything hvsim_build created, in reverse. */
static void hvsim_teardown(struct sim *sys) {
  hostdev_destroy(hvsim_dev);
  hvsim_dev = NULL;
  sim_down(sys, SIM_OFF);
  if (inproc_mem_base())
    inproc_mem_teardown();
}

/* The end of a run: the emulator's counters, then hostopt_report (device
 * counters and the summary line). Returns the exit status. */
static int hvsim_report(struct sim *sys, const struct hostopt *o, int status, uint64_t start_ns) {
  struct vmbsrv *srv = sys->s_srv;
  struct hostopt_outcome oc = {
      .oc_end = hvsim_timed_out ? HOSTOPT_END_TIMEOUT
                : hvsim_stopped ? HOSTOPT_END_STOPPED
                : status < 0    ? HOSTOPT_END_ERROR
                                : HOSTOPT_END_EXIT,
      .oc_status = status,
      .oc_vmbus = vmbsrv_alloffers_ns(srv) ? vmbsrv_last_version(srv) : 0, /* as hvhost */
      .oc_offers = vmbsrv_stats(srv)->vs_offers_sent,
      .oc_link = hostdev_link(hvsim_dev),
      .oc_connected_ms = hostopt_ms_since(start_ns, vmbsrv_alloffers_ns(srv)),
      .oc_link_ms = hostopt_ms_since(start_ns, hostdev_link_up_ns(hvsim_dev)),
      .oc_power = inproc_power(),
  };
  if (part_failed(&sys->s_part))
    fprintf(stderr, "hvsim: guest error: %s (%s:%d)\n", sys->s_part.p_err, sys->s_part.p_err_file,
            sys->s_part.p_err_line);
  const struct hvemu_stats *es = hvemu_stats(sys->s_emu);
  fprintf(stderr,
          "hvsim: stats hypercalls=%lu post_message=%lu signal_event=%lu msgs_to_guest=%lu "
          "eom=%lu sint_raised=%lu gp=%lu\n",
          (unsigned long)es->hs_hypercalls, (unsigned long)es->hs_post_message,
          (unsigned long)es->hs_signal_event, (unsigned long)es->hs_msgs_to_guest,
          (unsigned long)es->hs_eom, (unsigned long)es->hs_sint_raised, (unsigned long)es->hs_gp);
  return hostopt_report(o, &oc, hvsim_dev);
}

int main(int argc, char **argv) {
  struct hostopt o;
  int prc = hostopt_parse(&o, "hvsim", argc, argv, false);
  if (prc)
    return prc > 0 ? 0 : 2;
  uint64_t start_ns = hw_now_ns();

  struct sim sys;
  char err[256];
  if (hvsim_build(&sys, &o, err, sizeof(err)) != 0) {
    fprintf(stderr, "hvsim: %s\n", err);
    hvsim_teardown(&sys);
    return 3;
  }
  inproc_set_exit(hvsim_on_exit);
  inproc_power_reset();
  if (hvemu_add_poller(sys.s_emu, hvsim_poll, NULL) != 0) {
    fprintf(stderr, "hvsim: no poller slot left in the emulator\n");
    inproc_set_exit(NULL);
    hvsim_teardown(&sys);
    return 3;
  }

  if (cmdline_parse(&kernel_cmdline, o.ho_cmdline) != 0)
    fprintf(stderr, "hvsim: kernel command line cut to what fits\n");
  const char *lvl = cmdline_get(&kernel_cmdline, "log");
  if (lvl && log_level_parse(lvl) >= 0)
    log_set_level((enum log_level)log_level_parse(lvl));

  hostopt_catch_stop_signals(hvsim_on_signal);
  if (o.ho_timeout_s)
    hvsim_deadline_ns = start_ns + o.ho_timeout_s * 1000000000ull;
  hvsim_grace_ms = o.ho_stop_timeout_s * 1000u;

  int status = hvsim_run_guest();
  fflush(stdout);
  uint64_t sd_ns = hostdev_shutdown_sent_ns(hvsim_dev);
  if (sd_ns && status >= 0)
    fprintf(stderr, "hvsim: shutdown request to exit %.1f ms\n",
            (double)(hw_now_ns() - sd_ns) / 1e6);

  int rc = hvsim_report(&sys, &o, status, start_ns);
  inproc_set_exit(NULL);
  hvemu_remove_poller(sys.s_emu, hvsim_poll, NULL);
  hvsim_teardown(&sys);
  return rc;
}
