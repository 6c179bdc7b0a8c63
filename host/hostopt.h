/* host/hostopt.h: the command line shared by hvhost (KVM) and hvsim
 * (in-process), and the one-line summary both end with (DESIGN.md):
 *   hvhost: exit=<status|stopped|timeout> vmbus=<X.Y|none> offers=<n>
 *           link=<up|down|none> t_connected_ms=<ms|-> t_link_ms=<ms|->
 *           power=<off|reset|none>
 * exit=none: the guest powered off or reset without writing a status.
 */
#ifndef HOST_HOSTOPT_H
#define HOST_HOSTOPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum hostopt_fault {
  HOSTOPT_FAULT_NONE = 0,
  HOSTOPT_FAULT_SILENT_CONTACT,  /* never answer INITIATE_CONTACT */
  HOSTOPT_FAULT_REFUSE_VERSIONS, /* refuse every version */
  HOSTOPT_FAULT_NO_ALLOFFERS,    /* never send ALLOFFERS_DELIVERED */
};

struct hostopt {
  const char *ho_prog;         /* "hvhost" or "hvsim" */
  const char *ho_kernel;       /* hvhost: the kernel image (multiboot ELF or bzImage) */
  const char *ho_initrd;       /* --initrd FILE (bzImage) */
  char ho_cmdline[2048];       /* after "--" */
  uint32_t ho_vmbus_version;   /* --vmbus-version (0: newest) */
  uint32_t ho_nvsp_version;    /* --nvsp-version (0: newest) */
  uint64_t ho_mem_mib;         /* --mem (default 128) */
  bool ho_trace;               /* --trace */
  uint64_t ho_timeout_s;       /* --timeout (0: none) */
  bool ho_no_net;              /* --no-net */
  uint8_t ho_mac[6];           /* --mac */
  const char *ho_tap;          /* --tap NAME */
  const char *ho_pcap;         /* --pcap FILE */
  uint64_t ho_link_flap_s;     /* --link-flap SECONDS */
  uint64_t ho_rescind_net_s;   /* --rescind-net-after SECONDS */
  uint64_t ho_peer_traffic;    /* --peer-traffic N: host/peertest.c, N echo requests */
  bool ho_peer_no_udp;         /* --peer-no-udp: no UDP part in the peer test */
  bool ho_refuse_msrs;         /* --refuse-msrs */
  bool ho_refuse_send_buf;     /* --refuse-send-buf: the NIC refuses send sections */
  bool ho_verbose;             /* -v */
  enum hostopt_fault ho_fault; /* --fault NAME */
};

/** Parse argv. needs_kernel: hvhost takes the kernel image as its first
 * non-option argument. Returns 0, 1 when --help was printed (exit 0), or
 * -1 after printing the error and usage to stderr (exit 2). */
int hostopt_parse(struct hostopt *o, int argc, char **argv, bool needs_kernel);
void hostopt_usage(FILE *f, const char *prog, bool needs_kernel);

/** What the run ended with, for the summary line. */
struct hostopt_outcome {
  enum { HOSTOPT_END_EXIT, HOSTOPT_END_STOPPED, HOSTOPT_END_TIMEOUT, HOSTOPT_END_ERROR } oc_end;
  int oc_status;     /* HOSTOPT_END_EXIT: the kernel's status, -1 none */
  uint32_t oc_vmbus; /* negotiated version, 0: none */
  unsigned oc_offers;
  int oc_link;             /* -1 none, 0 down, 1 up */
  int64_t oc_connected_ms; /* -1: never */
  int64_t oc_link_ms;      /* -1: never */
  int oc_power;            /* enum acpifw_power (host/acpi_fw.h): 0 none, 1 off, 2 reset */
};
void hostopt_print_summary(FILE *f, const struct hostopt_outcome *oc);
/** Process exit status for an outcome: the kernel's status (0 when it
 * powered off without one), 124 timeout,
 * 130 stopped (like a shell's SIGINT), 3 host-side error. */
int hostopt_exit_status(const struct hostopt_outcome *oc);

#endif
