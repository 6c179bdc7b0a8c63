/* kernel/guest.c: guest_main: Hyper-V, VMBus, serve, clean stop. */
#include "kernel/guest.h"

#include <stdio.h>
#include <string.h>

#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/cmdline.h"
#include "kernel/event.h"
#include "kernel/log.h"
#include "kernel/panic.h"

/* vmbus.max_version=X.Y and vmbus.trace=1 (DESIGN.md, kernel keys). */
static int guest_vmbus_options(struct vmbus_options *opt) {
  memset(opt, 0, sizeof(*opt));
  const char *mv = cmdline_get(&kernel_cmdline, "vmbus.max_version");
  if (mv) {
    uint16_t maj, min;
    if (cmdline_parse_version(mv, &maj, &min) != 0) {
      pr_err("cmdline: vmbus.max_version=%s is not X.Y\n", mv);
      return -1;
    }
    opt->vo_max_version = VMBUS_VERSION(maj, min);
  }
  const char *tr = cmdline_get(&kernel_cmdline, "vmbus.trace");
  opt->vo_trace = tr && strcmp(tr, "0") != 0;
  return 0;
}

static void guest_stop_platform(void) {
  vmbus_disconnect();
  hv_shutdown();
}

int guest_main(void) {
  const char *exit_after = cmdline_get(&kernel_cmdline, "exit-after");
  if (exit_after && strcmp(exit_after, "connect") != 0 && strcmp(exit_after, "link") != 0) {
    pr_err("cmdline: exit-after=%s (expected connect or link)\n", exit_after);
    return EXIT_STATUS_FAIL;
  }
  struct hv_info info;
  if (hv_detect(&info) != 0) {
    if (exit_after) {
      printf("kernel: exit-after=%s needs Hyper-V, which is not usable here\n", exit_after);
      return EXIT_STATUS_FAIL;
    }
    return EXIT_STATUS_OK;
  }
  struct vmbus_options opt;
  if (guest_vmbus_options(&opt) != 0)
    return EXIT_STATUS_FAIL;
  bool earlier_owner;
  int rc = hv_init(&earlier_owner);
  if (rc) {
    printf("kernel: Hyper-V set-up failed (%s); stopping\n", hv_strerror(rc));
    hv_shutdown();
    return EXIT_STATUS_FAIL;
  }
  opt.vo_unload_first = earlier_owner;
  rc = vmbus_connect(&opt);
  if (rc) {
    printf("kernel: VMBus connection failed (%s); stopping\n", hv_strerror(rc));
    hv_shutdown();
    return EXIT_STATUS_FAIL;
  }
  vmbus_offers_dump();

  if (exit_after && strcmp(exit_after, "connect") == 0) {
    guest_stop_platform();
    return EXIT_STATUS_OK;
  }
  if (exit_after && strcmp(exit_after, "link") == 0) {
    printf("kernel: exit-after=link: no network driver in this build yet\n");
    guest_stop_platform();
    return EXIT_STATUS_FAIL;
  }
  printf("kernel: serving (stop the VM to end)\n");
  int status = EXIT_STATUS_OK;
  while (!ev_stop_requested(&status))
    ev_loop_once(true);
  guest_stop_platform();
  return status;
}
