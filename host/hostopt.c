/* host/hostopt.c: options and report of hvhost and hvsim.
 *
 * One table (hostopt_defs) drives both getopt_long and --help, so the usage
 * cannot drift from the parser. A row names the option, its value (NULL for
 * a switch), the setter that checks and stores the value, the field it
 * stores into (or a custom setter that knows its field), a range for
 * numbers, the program(s) it belongs to, and its help text (lines split at
 * '\n'). */
#include "host/hostopt.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "host/acpi_fw.h"
#include "host/hostdev.h"
#include "host/netvsp.h"
#include "hv/vmbus_trace.h"

struct hostopt_def;
typedef int (*hostopt_setter)(const struct hostopt_def *d, struct hostopt *o, const char *v);

struct hostopt_def {
  const char *od_name;   /* the long name, without "--" */
  char od_short;         /* the short letter, 0 for none */
  const char *od_arg;    /* the value's name in the usage; NULL: a switch */
  hostopt_setter od_set; /* checks and stores; non-zero: bad value */
  size_t od_off;         /* the field in struct hostopt (generic setters) */
  uint64_t od_min, od_max;
  bool od_hvhost_only; /* hvhost's alone (KVM, the kernel image) */
  const char *od_help;
};

static int hostopt_set_flag(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  (void)v;
  *(bool *)((char *)o + d->od_off) = true;
  return 0;
}

static int hostopt_set_str(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  if (!v[0])
    return -1;
  *(const char **)((char *)o + d->od_off) = v;
  return 0;
}

/* A decimal number in [od_min, od_max] (od_max 0: no upper bound). */
static int hostopt_set_u64(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] < '0' || v[0] > '9')
    return -1;
  if (n < d->od_min || (d->od_max && n > d->od_max))
    return -1;
  *(uint64_t *)((char *)o + d->od_off) = n;
  return 0;
}

/* One of the NVSP versions the device knows (netvsp_version_from). */
static int hostopt_set_nvsp(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  uint32_t ver;
  (void)d;
  if (vmbus_version_parse(v, &ver) || !netvsp_version_from((uint16_t)(ver >> 16), (uint16_t)ver))
    return -1;
  o->ho_nvsp_version = ver;
  return 0;
}

/* One of the versions VMBus defines (6.0 5.3 ... 0.13). */
static int hostopt_set_vmbus(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  uint32_t ver;
  (void)d;
  if (vmbus_version_parse(v, &ver) || !vmbus_version_known(ver))
    return -1;
  o->ho_vmbus_version = ver;
  return 0;
}

static int hostopt_set_mac(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  unsigned b[6];
  char tail;
  (void)d;
  if (sscanf(v, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return -1;
  for (int i = 0; i < 6; i++) {
    if (b[i] > 0xff)
      return -1;
    o->ho_mac[i] = (uint8_t)b[i];
  }
  return 0;
}

static int hostopt_set_offers(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  (void)d;
  if (strcmp(v, "gen1") == 0)
    o->ho_offers_minimal = false;
  else if (strcmp(v, "minimal") == 0)
    o->ho_offers_minimal = true;
  else
    return -1;
  return 0;
}

/* "A.B.C.D/P" with P in 8..29 (room for a router and a pool). */
static int hostopt_set_subnet(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  unsigned b[4], p;
  char tail;
  (void)d;
  if (sscanf(v, "%u.%u.%u.%u/%u%c", &b[0], &b[1], &b[2], &b[3], &p, &tail) != 5 || p < 8 || p > 29)
    return -1;
  for (int i = 0; i < 4; i++) {
    if (b[i] > 255)
      return -1;
    o->ho_subnet[i] = (uint8_t)b[i];
  }
  o->ho_subnet_prefix = (uint8_t)p;
  return 0;
}

/* "A.B.C.D", not 0.0.0.0. */
static int hostopt_set_guest_ip(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  unsigned b[4];
  char tail;
  (void)d;
  if (sscanf(v, "%u.%u.%u.%u%c", &b[0], &b[1], &b[2], &b[3], &tail) != 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    if (b[i] > 255)
      return -1;
    o->ho_guest_ip[i] = (uint8_t)b[i];
  }
  return (b[0] | b[1] | b[2] | b[3]) ? 0 : -1;
}

static int hostopt_set_fault(const struct hostopt_def *d, struct hostopt *o, const char *v) {
  static const char *const names[] = {
      [HOSTOPT_FAULT_SILENT_CONTACT] = "silent-contact",
      [HOSTOPT_FAULT_REFUSE_VERSIONS] = "refuse-versions",
      [HOSTOPT_FAULT_NO_ALLOFFERS] = "no-alloffers",
  };
  (void)d;
  for (unsigned k = 1; k < sizeof(names) / sizeof(names[0]); k++) {
    if (strcmp(v, names[k]) == 0) {
      o->ho_fault = (enum hostopt_fault)k;
      return 0;
    }
  }
  return -1;
}

/* Row helpers; the comparison inside sizeof makes the compiler check the
 * field's type against the setter's (-Werror: distinct pointer types). */
#define HO_FIELD(f, type)                                                                          \
  (offsetof(struct hostopt, f) + 0 * sizeof(&((struct hostopt *)0)->f == (type *)0))
#define HO_FLAG(name, f, help)                                                                     \
  { name, 0, NULL, hostopt_set_flag, HO_FIELD(f, bool), 0, 0, false, help }
#define HO_U64(name, arg, f, lo, hi, help)                                                         \
  { name, 0, arg, hostopt_set_u64, HO_FIELD(f, uint64_t), lo, hi, false, help }
#define HO_STR(name, arg, f, help)                                                                 \
  { name, 0, arg, hostopt_set_str, HO_FIELD(f, const char *), 0, 0, false, help }
#define HO_FN(name, arg, fn, help)                                                                 \
  { name, 0, arg, fn, 0, 0, 0, false, help }

/* The options, in --help order. */
static const struct hostopt_def hostopt_defs[] = {
    HO_FN("vmbus-version", "X.Y", hostopt_set_vmbus,
          "highest VMBus version the host accepts (default 6.0;\n"
          "6.0 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13)"),
    HO_FN("nvsp-version", "X.Y", hostopt_set_nvsp,
          "highest NVSP version of the network device\n"
          "(6.1 6 5 4 2 1; default 6.1)"),
    HO_U64("mem", "MIB", ho_mem_mib, 16, 3072, "guest memory (default 128)"),
    {"initrd", 0, "FILE", hostopt_set_str, HO_FIELD(ho_initrd, const char *), 0, 0, true,
     "a Linux kernel's initrd (bzImage or vmlinux)"},
    HO_FLAG("trace", ho_trace, "print every VMBus message, decoded"),
    HO_U64("timeout", "SECONDS", ho_timeout_s, 0, 0, "stop the VM after this long (exit=timeout)"),
    HO_FLAG("no-net", ho_no_net, "no network device"),
    HO_FN("mac", "MAC", hostopt_set_mac, "the NIC's MAC (default 00:15:5d:00:00:02)"),
    HO_STR("tap", "NAME", ho_tap,
           "network back end: the existing TAP device NAME\n"
           "(default: the built-in switch: router 192.0.2.1 with\n"
           "a DHCP server, and a peer 198.51.100.7 behind it)"),
    HO_FLAG("no-dhcp", ho_no_dhcp, "the built-in switch serves no DHCP (static guests)"),
    HO_U64("dhcp-lease", "SECONDS", ho_dhcp_lease_s, 4, 0xfffffffeu,
           "lease time of the built-in DHCP server (default 3600)"),
    HO_FN("subnet", "A.B.C.D/P", hostopt_set_subnet,
          "the built-in switch's subnet (default 192.0.2.0/24;\n"
          "prefix 8..29, the router is its first address)"),
    HO_U64("net-change-after", "S", ho_net_change_s, 1, 0,
           "the NIC reports a network change (and a media\n"
           "disconnect/connect) after S seconds"),
    HO_STR("pcap", "FILE", ho_pcap, "write every frame of the NIC to FILE (pcap)"),
    HO_U64("link-flap", "SECONDS", ho_link_flap_s, 0, 0, "toggle the link every SECONDS"),
    HO_U64("rescind-net-after", "S", ho_rescind_net_s, 0, 0, "rescind the NIC after S seconds"),
    HO_U64("peer-traffic", "N", ho_peer_traffic, 0, 1000000,
           "once the link is up, the built-in peer sends N ICMP\n"
           "echo requests, then a UDP datagram to port 7 of\n"
           "every size up to the MTU, and checks every reply"),
    HO_FN("guest-ip", "A.B.C.D", hostopt_set_guest_ip,
          "the guest's static address, for the built-in peer\n"
          "(a guest that never announces itself)"),
    HO_FLAG("peer-no-udp", ho_peer_no_udp,
            "with --peer-traffic: pings only (a guest with no UDP\n"
            "echo service, e.g. Linux without user space)"),
    HO_FLAG("refuse-msrs", ho_refuse_msrs, "advertise Hyper-V but #GP on its MSRs"),
    HO_FLAG("refuse-send-buf", ho_refuse_send_buf,
            "the NIC refuses the guest's send buffer: every\n"
            "frame goes GPA direct"),
    HO_FN("fault", "NAME", hostopt_set_fault, "silent-contact | refuse-versions | no-alloffers"),
    HO_FN("offers", "SET", hostopt_set_offers,
          "gen1 (default): the offers of a Gen1 VM (dynamic\n"
          "memory, IDE, mouse, keyboard, video, the four ICs,\n"
          "NIC, SCSI); minimal: the NIC alone"),
    HO_U64("late-offer", "S", ho_late_offer_s, 0, 0,
           "offer a PCI pass-through channel after S seconds"),
    HO_U64("reoffer-net-after", "S", ho_reoffer_net_s, 0, 0,
           "offer the NIC again S seconds after its rescind"),
    HO_U64("stop-timeout", "S", ho_stop_timeout_s, 0, 3600,
           "Ctrl-C/SIGTERM: the shutdown service asks the guest\n"
           "to stop; turned off after S seconds (default 10)"),
    {"check-kvm", 0, NULL, hostopt_set_flag, HO_FIELD(ho_check_kvm, bool), 0, 0, true,
     "say whether KVM is usable here (exit 0) or why not (exit 1)"},
    {"verbose", 'v', NULL, hostopt_set_flag, HO_FIELD(ho_verbose, bool), 0, 0, false,
     "log the VM's entry state and exits"},
    {"help", 'h', NULL, NULL, 0, 0, 0, false, "print this help"},
};
#define HOSTOPT_NDEFS (sizeof(hostopt_defs) / sizeof(hostopt_defs[0]))
#define HOSTOPT_HELP_COL 26

static bool hostopt_offered(const struct hostopt_def *d, bool needs_kernel) {
  return needs_kernel || !d->od_hvhost_only;
}

void hostopt_usage(FILE *f, const char *prog, bool needs_kernel) {
  fprintf(f, "usage: %s [options] %s[-- kernel command line]\n", prog,
          needs_kernel ? "kernel.elf|bzImage|vmlinux " : "");
  for (size_t i = 0; i < HOSTOPT_NDEFS; i++) {
    const struct hostopt_def *d = &hostopt_defs[i];
    if (!hostopt_offered(d, needs_kernel))
      continue;
    char left[64];
    int n = snprintf(left, sizeof(left), "  %s%s%s--%s%s%s", d->od_short ? "-" : "",
                     d->od_short ? (char[2]){d->od_short, 0} : "", d->od_short ? ", " : "",
                     d->od_name, d->od_arg ? " " : "", d->od_arg ? d->od_arg : "");
    fprintf(f, "%s", left);
    const char *h = d->od_help;
    if (n >= HOSTOPT_HELP_COL - 1) {
      fprintf(f, "\n");
      n = 0;
    }
    for (bool first = true; *h; first = false) {
      const char *nl = strchr(h, '\n');
      int len = nl ? (int)(nl - h) : (int)strlen(h);
      fprintf(f, "%*s%.*s\n", first ? HOSTOPT_HELP_COL - n : HOSTOPT_HELP_COL, "", len, h);
      h += len + (nl ? 1 : 0);
    }
  }
}

/* Everything after "--", joined with spaces. */
static int hostopt_cmdline(struct hostopt *o, int argc, char **argv, int i) {
  o->ho_cmdline[0] = '\0';
  for (size_t used = 0; i < argc; i++) {
    size_t n = strlen(argv[i]);
    if (used + n + 2 > sizeof(o->ho_cmdline)) {
      fprintf(stderr, "%s: kernel command line longer than %lu bytes\n", o->ho_prog,
              (unsigned long)sizeof(o->ho_cmdline) - 1);
      return -1;
    }
    if (used)
      o->ho_cmdline[used++] = ' ';
    memcpy(o->ho_cmdline + used, argv[i], n + 1);
    used += n;
  }
  return 0;
}

/* getopt_long's tables from ours: long option i returns 256 + i. The
 * optstring starts with '-' (non-options come back in order as 1, so the
 * kernel image may sit among the options and "--" ends them) and ':' (a
 * missing value returns ':'). */
static void hostopt_getopt_tables(bool needs_kernel, struct option longopts[HOSTOPT_NDEFS + 1],
                                  char shorts[3 + 2 * HOSTOPT_NDEFS]) {
  size_t nlong = 0, ns = 0;
  shorts[ns++] = '-';
  shorts[ns++] = ':';
  for (size_t i = 0; i < HOSTOPT_NDEFS; i++) {
    const struct hostopt_def *d = &hostopt_defs[i];
    if (!hostopt_offered(d, needs_kernel))
      continue;
    longopts[nlong++] = (struct option){d->od_name, d->od_arg ? required_argument : no_argument,
                                        NULL, 256 + (int)i};
    if (d->od_short) {
      shorts[ns++] = d->od_short;
      if (d->od_arg)
        shorts[ns++] = ':';
    }
  }
  memset(&longopts[nlong], 0, sizeof(longopts[0]));
  shorts[ns] = '\0';
}

/* The row getopt_long's answer c stands for: 256 + i (the long name typed
 * whole or as a unique prefix of it), or a short letter. */
static const struct hostopt_def *hostopt_row(int c) {
  if (c >= 256)
    return &hostopt_defs[c - 256];
  for (size_t i = 0; i < HOSTOPT_NDEFS && c > 1 && c != '?' && c != ':'; i++)
    if (hostopt_defs[i].od_short == c)
      return &hostopt_defs[i];
  return NULL;
}

/* The offered long names that start with the name part of `typed`
 * ("--name" or "--name=value"), ", "-separated in list. Returns how many. */
static unsigned hostopt_prefixed(const char *typed, bool needs_kernel, char *list, size_t size) {
  size_t len = strcspn(typed + 2, "="), used = 0;
  unsigned n = 0;
  list[0] = '\0';
  for (size_t i = 0; i < HOSTOPT_NDEFS; i++) {
    const struct hostopt_def *d = &hostopt_defs[i];
    if (!hostopt_offered(d, needs_kernel) || strncmp(d->od_name, typed + 2, len))
      continue;
    int w = snprintf(list + used, size - used, "%s--%s", n ? ", " : "", d->od_name);
    if (w > 0 && (size_t)w < size - used)
      used += (size_t)w;
    n++;
  }
  return n;
}

/* Why getopt_long refused `typed` (c is '?', or ':' for a missing value):
 * one line. A long option may be typed as any unique prefix of its name
 * (getopt_long's rule); on these errors getopt_long leaves in optopt the
 * row it matched (256 + i, as hostopt_getopt_tables set), the letter of a
 * short option, or 0 for a long name it matched to no row or to several. */
static void hostopt_refused(const char *prog, int c, const char *typed, bool needs_kernel) {
  const struct hostopt_def *d = optopt >= 256 ? &hostopt_defs[optopt - 256] : NULL;
  char list[512];
  if (d)
    fprintf(stderr, "%s: --%s %s\n", prog, d->od_name,
            c == ':' ? "needs a value" : "takes no value");
  else if (c == ':')
    fprintf(stderr, "%s: %s needs a value\n", prog, typed);
  else if (optopt > 0)
    fprintf(stderr, "%s: unknown option -%c\n", prog, optopt);
  else if (typed[0] == '-' && typed[1] == '-' &&
           hostopt_prefixed(typed, needs_kernel, list, sizeof(list)) > 1)
    fprintf(stderr, "%s: ambiguous option %.*s (%s)\n", prog, (int)strcspn(typed, "="), typed,
            list);
  else
    fprintf(stderr, "%s: unknown option %s\n", prog, typed);
}

int hostopt_parse(struct hostopt *o, const char *prog, int argc, char **argv, bool needs_kernel) {
  memset(o, 0, sizeof(*o));
  o->ho_prog = prog;
  static const uint8_t default_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  memcpy(o->ho_mac, default_mac, 6);
  o->ho_mem_mib = 128;
  o->ho_stop_timeout_s = 10;
  static const uint8_t default_subnet[4] = {192, 0, 2, 0};
  memcpy(o->ho_subnet, default_subnet, 4);
  o->ho_subnet_prefix = 24;
  struct option longopts[HOSTOPT_NDEFS + 1];
  char shorts[3 + 2 * HOSTOPT_NDEFS];
  hostopt_getopt_tables(needs_kernel, longopts, shorts);
  optind = 0; /* glibc: start afresh (a second parse in one process) */
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
    const char *typed = argv[optind - 1];
    const struct hostopt_def *d = hostopt_row(c);
    if (c == 1 && needs_kernel && !o->ho_kernel) {
      o->ho_kernel = optarg;
    } else if (c == 1) {
      fprintf(stderr, "%s: unexpected argument '%s' (kernel arguments go after --)\n", prog,
              optarg);
      goto usage;
    } else if (c == ':' || c == '?' || !d) {
      hostopt_refused(prog, c, typed, needs_kernel);
      goto usage;
    } else if (!d->od_set) { /* --help */
      hostopt_usage(stdout, prog, needs_kernel);
      return 1;
    } else if (d->od_set(d, o, optarg)) {
      fprintf(stderr, "%s: bad value '%s' for --%s\n", prog, optarg, d->od_name);
      goto usage;
    }
  }
  if (needs_kernel && !o->ho_kernel && !o->ho_check_kvm) {
    fprintf(stderr, "%s: no kernel image given\n", prog);
    goto usage;
  }
  return hostopt_cmdline(o, argc, argv, optind);
usage:
  fprintf(stderr, "usage: %s [options] %s[-- kernel command line]; %s --help lists the options\n",
          prog, needs_kernel ? "kernel.elf|bzImage|vmlinux " : "", prog);
  return -1;
}

void hostopt_catch_stop_signals(void (*on_signal)(int sig)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal; /* no SA_RESTART */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int64_t hostopt_ms_since(uint64_t start_ns, uint64_t t_ns) {
  if (!t_ns)
    return -1;
  return t_ns > start_ns ? (int64_t)((t_ns - start_ns) / 1000000u) : 0;
}

void hostopt_print_summary(FILE *f, const char *prog, const struct hostopt_outcome *oc) {
  char exit_s[16], vmbus[16], conn[24], link_ms[24];
  switch (oc->oc_end) {
  case HOSTOPT_END_EXIT:
    if (oc->oc_status >= 0)
      snprintf(exit_s, sizeof(exit_s), "%d", oc->oc_status);
    else
      snprintf(exit_s, sizeof(exit_s), "none");
    break;
  case HOSTOPT_END_STOPPED:
    snprintf(exit_s, sizeof(exit_s), "stopped");
    break;
  case HOSTOPT_END_TIMEOUT:
    snprintf(exit_s, sizeof(exit_s), "timeout");
    break;
  default:
    snprintf(exit_s, sizeof(exit_s), "error");
    break;
  }
  if (oc->oc_vmbus)
    snprintf(vmbus, sizeof(vmbus), "%u.%u", VMBUS_VERSION_MAJOR(oc->oc_vmbus),
             VMBUS_VERSION_MINOR(oc->oc_vmbus));
  else
    snprintf(vmbus, sizeof(vmbus), "none");
  if (oc->oc_connected_ms >= 0)
    snprintf(conn, sizeof(conn), "%lld", (long long)oc->oc_connected_ms);
  else
    snprintf(conn, sizeof(conn), "-");
  if (oc->oc_link_ms >= 0)
    snprintf(link_ms, sizeof(link_ms), "%lld", (long long)oc->oc_link_ms);
  else
    snprintf(link_ms, sizeof(link_ms), "-");
  char gip[16] = "-";
  if (oc->oc_has_guest_ip)
    snprintf(gip, sizeof(gip), "%u.%u.%u.%u", oc->oc_guest_ip[0], oc->oc_guest_ip[1],
             oc->oc_guest_ip[2], oc->oc_guest_ip[3]);
  fprintf(f,
          "%s: exit=%s vmbus=%s offers=%u link=%s t_connected_ms=%s t_link_ms=%s guest_ip=%s "
          "power=%s heartbeats=%lu kvp_ip=%s ics=%s\n",
          prog, exit_s, vmbus, oc->oc_offers,
          oc->oc_link < 0 ? "none" : (oc->oc_link ? "up" : "down"), conn, link_ms, gip,
          acpifw_power_name((enum acpifw_power)oc->oc_power), (unsigned long)oc->oc_heartbeats,
          oc->oc_kvp_ip && oc->oc_kvp_ip[0] ? oc->oc_kvp_ip : "-",
          oc->oc_ics && oc->oc_ics[0] ? oc->oc_ics : "-");
  fflush(f);
}

int hostopt_exit_status(const struct hostopt_outcome *oc) {
  switch (oc->oc_end) {
  case HOSTOPT_END_EXIT:
    return oc->oc_status >= 0 ? oc->oc_status : 0;
  case HOSTOPT_END_TIMEOUT:
    return 124;
  case HOSTOPT_END_STOPPED:
    return 130;
  default:
    return 3;
  }
}

int hostopt_report(const struct hostopt *o, const struct hostopt_outcome *oc,
                   const struct hostdev *dev) {
  struct hostopt_outcome out = *oc;
  char ics[64] = "";
  if (dev) {
    hostdev_print_stats(dev, stderr, o->ho_prog);
    hostdev_print_ics(dev, stderr, o->ho_prog);
    hostdev_ics(dev, ics, sizeof(ics));
    out.oc_heartbeats = hostdev_heartbeats(dev);
    out.oc_kvp_ip = hostdev_kvp_ip(dev);
    out.oc_ics = ics;
    out.oc_has_guest_ip = hostdev_guest_ip(dev, out.oc_guest_ip);
  }
  hostopt_print_summary(stdout, o->ho_prog, &out);
  return hostopt_exit_status(&out);
}
