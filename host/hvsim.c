/* host/hvsim.c: the guest stack and the Hyper-V host emulator in one process.
 *
 *   build/hvsim [options] [-- kernel command line]
 *
 * The in-process twin of hvhost (same options, same summary line): the
 * guest's hv/, kmcl/ and drivers run over host/inproc_hw.c, whose hardware
 * primitives are answered by the emulator (host/hvemu.c) and the VMBus
 * server (host/vmbus_server.c), all driven by the kernel's one event loop.
 * It parses the kernel command line into kernel_cmdline, calls guest_main()
 * (kernel/guest.h) and ends with
 *   hvsim: exit=<status|stopped|timeout> vmbus=<X.Y|none> offers=<n> ...
 * Exit status: the kernel's (0, 1, 2), 124 timeout, 130 stopped, 2 usage,
 * 3 host error (hostopt_exit_status).
 *
 * --timeout and Ctrl-C first ask the guest to stop (ev_request_stop, which
 * its serving loop honours); a guest still busy HVSIM_GRACE_MS later is cut
 * off from the event loop's idle hook (longjmp), as stopping a VM would. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hostdev.h"
#include "host/hostopt.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "kernel/cmdline.h"
#include "kernel/event.h"
#include "kernel/guest.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/panic.h"

#define HVSIM_GRACE_MS 2000u

static volatile sig_atomic_t hvsim_sigint;
static jmp_buf hvsim_jmp;
static bool hvsim_jmp_armed;
static int hvsim_exit_status;
static bool (*hvsim_inner_idle)(void);
static uint64_t hvsim_deadline_ns; /* 0: no --timeout */
static uint64_t hvsim_stop_ns;     /* when the stop was asked */
static bool hvsim_timed_out, hvsim_stopped;
static struct hostdev *hvsim_dev;

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

/** The event loop's idle hook: the host's pollers, plus stop and timeout. */
static bool hvsim_idle(void) {
  uint64_t now = hw_now_ns();
  if (!hvsim_stop_ns) {
    if (hvsim_sigint)
      hvsim_stopped = true;
    else if (hvsim_deadline_ns && now >= hvsim_deadline_ns)
      hvsim_timed_out = true;
    if (hvsim_stopped || hvsim_timed_out) {
      hvsim_stop_ns = now;
      ev_request_stop(EXIT_STATUS_OK);
    }
  } else if (now - hvsim_stop_ns >= HVSIM_GRACE_MS * 1000000ull && hvsim_jmp_armed) {
    hvsim_exit_status = -1;
    longjmp(hvsim_jmp, 1);
  }
  return hvsim_inner_idle ? hvsim_inner_idle() : false;
}

static int hvsim_run_guest(void) {
  hvsim_jmp_armed = true;
  if (setjmp(hvsim_jmp)) {
    hvsim_jmp_armed = false;
    return hvsim_exit_status;
  }
  /* The kernel's end, as kernel_main does it: the status, then power-off
   * or reset (hw_exit/hw_reset record power= and come back through the
   * hook). */
  guest_end(guest_main());
}

/* What hvsim creates around the guest stack. */
struct hvsim_host {
  bool hh_mem, hh_part_ok;
  struct partition hh_part;
  struct hvemu *hh_emu;
  struct vmbsrv *hh_srv;
};

/* Guest memory, partition, emulator, VMBus server and devices. 0, or -1
 * with the reason in err; what was created is in h (and hvsim_dev) either
 * way, for hvsim_teardown. */
static int hvsim_build(struct hvsim_host *h, const struct hostopt *o, char *err, size_t errlen) {
  if (inproc_mem_setup((size_t)o->ho_mem_mib << 20) != 0) {
    snprintf(err, errlen, "cannot map %lu MiB of guest memory", (unsigned long)o->ho_mem_mib);
    return -1;
  }
  h->hh_mem = true;
  if (inproc_part_init(&h->hh_part) != 0) {
    snprintf(err, errlen, "cannot set up the partition");
    return -1;
  }
  h->hh_part_ok = true;
  struct hvemu_config hc = {.hc_refuse_msrs = o->ho_refuse_msrs};
  h->hh_emu = hvemu_create(&h->hh_part, &hc);
  struct vmbsrv_config sc = {.vc_max_version = o->ho_vmbus_version, .vc_trace = o->ho_trace};
  h->hh_srv = h->hh_emu ? vmbsrv_create(h->hh_emu, &sc) : NULL;
  if (!h->hh_srv) {
    snprintf(err, errlen, "cannot create the emulator (out of memory or bad --vmbus-version)");
    return -1;
  }
  hvsim_dev = hostdev_create(h->hh_srv, h->hh_emu, o, err, errlen);
  return hvsim_dev ? 0 : -1;
}

/* Everything hvsim_build created, in reverse. */
static void hvsim_teardown(struct hvsim_host *h) {
  hostdev_destroy(hvsim_dev);
  hvsim_dev = NULL;
  vmbsrv_destroy(h->hh_srv);
  hvemu_destroy(h->hh_emu);
  if (h->hh_part_ok)
    part_destroy(&h->hh_part);
  if (h->hh_mem)
    inproc_mem_teardown();
}

int main(int argc, char **argv) {
  struct hostopt o;
  memset(&o, 0, sizeof(o));
  o.ho_prog = "hvsim";
  int prc = hostopt_parse(&o, argc, argv, false);
  if (prc)
    return prc > 0 ? 0 : 2;
  uint64_t start_ns = hw_now_ns();

  struct hvsim_host h;
  memset(&h, 0, sizeof(h));
  char err[256];
  if (hvsim_build(&h, &o, err, sizeof(err)) != 0) {
    fprintf(stderr, "hvsim: %s\n", err);
    hvsim_teardown(&h);
    return 3;
  }
  struct vmbsrv *srv = h.hh_srv;
  inproc_attach(h.hh_emu);
  hvsim_inner_idle = ev_idle_hook;
  ev_idle_hook = hvsim_idle;
  inproc_exit_hook = hvsim_on_exit;
  inproc_power_reset();

  if (cmdline_parse(&kernel_cmdline, o.ho_cmdline) != 0)
    fprintf(stderr, "hvsim: kernel command line cut to what fits\n");
  const char *lvl = cmdline_get(&kernel_cmdline, "log");
  if (lvl && log_level_parse(lvl) >= 0)
    log_set_level((enum log_level)log_level_parse(lvl));

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = hvsim_on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (o.ho_timeout_s)
    hvsim_deadline_ns = start_ns + o.ho_timeout_s * 1000000000ull;

  int status = hvsim_run_guest();
  fflush(stdout);

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
  if (part_failed(&h.hh_part))
    fprintf(stderr, "hvsim: guest error: %s (%s:%d)\n", h.hh_part.p_err, h.hh_part.p_err_file,
            h.hh_part.p_err_line);
  const struct hvemu_stats *es = hvemu_stats(h.hh_emu);
  fprintf(stderr,
          "hvsim: stats hypercalls=%lu post_message=%lu signal_event=%lu msgs_to_guest=%lu "
          "eom=%lu sint_raised=%lu gp=%lu\n",
          (unsigned long)es->hs_hypercalls, (unsigned long)es->hs_post_message,
          (unsigned long)es->hs_signal_event, (unsigned long)es->hs_msgs_to_guest,
          (unsigned long)es->hs_eom, (unsigned long)es->hs_sint_raised, (unsigned long)es->hs_gp);
  int rc = hostopt_report(&o, &oc, hvsim_dev);
  inproc_exit_hook = NULL;
  ev_idle_hook = NULL;
  hostdev_destroy(hvsim_dev);
  hvsim_dev = NULL;
  inproc_detach();
  hvsim_teardown(&h);
  return rc;
}
