/* host/hostopt.h: the command line shared by hvhost (KVM) and hvsim
 * (in-process), and the report both end with: the device counters and the
 * one-line summary (DESIGN.md), whose first word is the program's name:
 *   hvhost: exit=<status|stopped|timeout> vmbus=<X.Y|none> offers=<n>
 *           link=<up|down|none> t_connected_ms=<ms|-> t_link_ms=<ms|->
 *           guest_ip=<A.B.C.D|-> power=<off|reset|none> heartbeats=<n>
 *           kvp_ip=<addr|-> ics=<list|->
 * exit=none: the guest powered off or reset without writing a status.
 *
 * Options are parsed with getopt_long from one table in hostopt.c, which
 * also prints --help: `--opt value` and `--opt=value` both work, and so
 * does a unique prefix of a long name (`--vmbus` for --vmbus-version; an
 * ambiguous one is refused, naming the candidates). Adding an option is
 * one row in that table plus its field below. */
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
  uint8_t ho_guest_ip[4];      /* --guest-ip A.B.C.D: a static guest's address (0: none) */
  bool ho_no_dhcp;             /* --no-dhcp: the built-in switch serves no DHCP */
  uint64_t ho_dhcp_lease_s;    /* --dhcp-lease S (0: host/dhcpsrv.h default) */
  uint8_t ho_subnet[4];        /* --subnet A.B.C.D/P (default 192.0.2.0/24) */
  uint8_t ho_subnet_prefix;    /* its prefix (default 24) */
  uint64_t ho_net_change_s;    /* --net-change-after S */
  bool ho_refuse_msrs;         /* --refuse-msrs */
  bool ho_refuse_send_buf;     /* --refuse-send-buf: the NIC refuses send sections */
  bool ho_verbose;             /* -v, --verbose */
  bool ho_check_kvm;           /* hvhost --check-kvm */
  enum hostopt_fault ho_fault; /* --fault NAME */
  bool ho_offers_minimal;      /* --offers minimal (default gen1: host/icdev.h, hostdev.c) */
  uint64_t ho_late_offer_s;    /* --late-offer S: a PCI pass-through offer after S s */
  uint64_t ho_stop_timeout_s;  /* --stop-timeout S (default 10): shutdown IC, then off */
  uint64_t ho_reoffer_net_s;   /* --reoffer-net-after S: the NIC again S s after its rescind */
};

/** Fill o with the defaults, ho_prog = prog ("hvhost" or "hvsim", the
 * first word of every message), then argv. needs_kernel: the program is
 * hvhost, which takes the kernel image as its one non-option argument and
 * has the hvhost-only options. Everything after "--" becomes ho_cmdline.
 * Returns 0, 1 when --help was printed (exit 0), or -1 after printing the
 * error and a one-line usage to stderr (exit 2). o's strings point into
 * argv and prog. */
int hostopt_parse(struct hostopt *o, const char *prog, int argc, char **argv, bool needs_kernel);
/** Ctrl-C and SIGTERM call on_signal from now on (the Stop-VM request
 * both programs honour, --stop-timeout; no SA_RESTART). */
void hostopt_catch_stop_signals(void (*on_signal)(int sig));
/** Print the usage, from the same table the parser reads. */
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
  bool oc_has_guest_ip;    /* the guest sent from an address (hostopt_report fills it) */
  uint8_t oc_guest_ip[4];  /* the last one */
  int oc_power;            /* enum acpifw_power (host/acpi_fw.h): 0 none, 1 off, 2 reset */
  /* Filled by hostopt_report from the devices (host/icdev.h): */
  uint64_t oc_heartbeats; /* heartbeat answers */
  const char *oc_kvp_ip;  /* the guest's address by KVP; NULL or "": - */
  const char *oc_ics;     /* services the guest opened, comma-separated; NULL or "": - */
};
/** Milliseconds from start_ns to t_ns (hw_now_ns values), -1 when t_ns is
 * 0 (it never happened): the summary's t_connected_ms and t_link_ms. */
int64_t hostopt_ms_since(uint64_t start_ns, uint64_t t_ns);
/** The summary line, "<prog>: exit=... t_link_ms=...", flushed. */
void hostopt_print_summary(FILE *f, const char *prog, const struct hostopt_outcome *oc);
/** Process exit status for an outcome: the kernel's status (0 when it
 * powered off without one), 124 timeout,
 * 130 stopped (like a shell's SIGINT), 3 host-side error. */
int hostopt_exit_status(const struct hostopt_outcome *oc);

struct hostdev;
/** The end of a run, the same for both programs: the counters of dev's
 * devices and integration services (stderr; dev may be NULL) and then the
 * summary line (stdout) with the ICs' keys taken from dev, both prefixed
 * with o->ho_prog. Returns hostopt_exit_status(oc). */
int hostopt_report(const struct hostopt *o, const struct hostopt_outcome *oc,
                   const struct hostdev *dev);

#endif
