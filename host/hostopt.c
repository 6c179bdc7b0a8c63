/* host/hostopt.c: options and summary line of hvhost and hvsim. */
#include "host/hostopt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/acpi_fw.h"
#include "hv/vmbus_proto.h"

void hostopt_usage(FILE *f, const char *prog, bool needs_kernel) {
  fprintf(f,
          "usage: %s [options] %s[-- kernel command line]\n"
          "  --vmbus-version X.Y     highest VMBus version the host accepts (default 6.0;\n"
          "                          6.0 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13)\n"
          "  --nvsp-version X.Y      highest NVSP version of the network device\n"
          "                          (6.1 6 5 4 2 1; default 6.1)\n"
          "  --mem MIB               guest memory (default 128)\n"
          "  --initrd FILE           hvhost, Linux bzImage: the initrd to load with it\n"
          "  --trace                 print every VMBus message, decoded\n"
          "  --timeout SECONDS       stop the VM after this long (exit=timeout)\n"
          "  --no-net                no network device\n"
          "  --mac MAC               the NIC's MAC (default 00:15:5d:00:00:02)\n"
          "  --tap NAME              network back end: the existing TAP device NAME\n"
          "                          (default: the built-in peer 192.0.2.1)\n"
          "  --pcap FILE             write every frame of the NIC to FILE (pcap)\n"
          "  --link-flap SECONDS     toggle the link every SECONDS\n"
          "  --rescind-net-after S   rescind the NIC after S seconds\n"
          "  --peer-traffic N        once the link is up, the built-in peer sends N ICMP\n"
          "                          echo requests, then a UDP datagram to port 7 of\n"
          "                          every size up to the MTU, and checks every reply\n"
          "  --peer-no-udp           with --peer-traffic: pings only (a guest with no UDP\n"
          "                          echo service, e.g. Linux without user space)\n"
          "  --refuse-msrs           advertise Hyper-V but #GP on its MSRs\n"
          "  --refuse-send-buf       the NIC refuses the guest's send buffer: every\n"
          "                          frame goes GPA direct\n"
          "  --fault NAME            silent-contact | refuse-versions | no-alloffers\n"
          "  -v                      log the VM's entry state and exits\n",
          prog, needs_kernel ? "kernel.elf|bzImage " : "");
}

static int hostopt_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return -1;
  *out = v;
  return 0;
}

/* "X.Y", or "X" for X.0 (--nvsp-version 6). */
static int hostopt_version(const char *s, uint32_t *out) {
  unsigned maj, min = 0;
  char tail;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  int n = sscanf(s, "%u.%u%c", &maj, &min, &tail);
  if (n == 1 && strchr(s, '.'))
    return -1; /* "6." */
  if ((n != 1 && n != 2) || maj > 0xffff || min > 0xffff)
    return -1;
  *out = VMBUS_VERSION(maj, min);
  return 0;
}

static int hostopt_mac(const char *s, uint8_t mac[6]) {
  unsigned b[6];
  char tail;
  if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return -1;
  for (int i = 0; i < 6; i++) {
    if (b[i] > 0xff)
      return -1;
    mac[i] = (uint8_t)b[i];
  }
  return 0;
}

int hostopt_parse(struct hostopt *o, int argc, char **argv, bool needs_kernel) {
  const char *prog = o->ho_prog;
  static const uint8_t default_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  memcpy(o->ho_mac, default_mac, 6);
  o->ho_mem_mib = 128;
  int i = 1;
  const char *bad = NULL;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      hostopt_usage(stdout, prog, needs_kernel);
      return 1;
    }
    if (strcmp(a, "--trace") == 0) {
      o->ho_trace = true;
    } else if (strcmp(a, "--no-net") == 0) {
      o->ho_no_net = true;
    } else if (strcmp(a, "--refuse-msrs") == 0) {
      o->ho_refuse_msrs = true;
    } else if (strcmp(a, "--peer-no-udp") == 0) {
      o->ho_peer_no_udp = true;
    } else if (strcmp(a, "--refuse-send-buf") == 0) {
      o->ho_refuse_send_buf = true;
    } else if (strcmp(a, "-v") == 0) {
      o->ho_verbose = true;
    } else if (a[0] == '-' && a[1] == '-') {
      /* every other option takes a value */
      if (!v) {
        fprintf(stderr, "%s: %s needs a value\n", prog, a);
        goto usage;
      }
      i++;
      if (strcmp(a, "--vmbus-version") == 0) {
        static const uint32_t known[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
        bool ok = hostopt_version(v, &o->ho_vmbus_version) == 0;
        bool listed = false;
        for (unsigned k = 0; ok && k < VMBUS_NUM_VERSIONS; k++)
          listed |= known[k] == o->ho_vmbus_version;
        if (!listed)
          bad = a; /* one of 6.0 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13 */
      } else if (strcmp(a, "--nvsp-version") == 0) {
        if (hostopt_version(v, &o->ho_nvsp_version))
          bad = a;
      } else if (strcmp(a, "--mem") == 0) {
        if (hostopt_u64(v, &o->ho_mem_mib) || o->ho_mem_mib < 16 || o->ho_mem_mib > 3072)
          bad = a;
      } else if (strcmp(a, "--timeout") == 0) {
        if (hostopt_u64(v, &o->ho_timeout_s))
          bad = a;
      } else if (strcmp(a, "--mac") == 0) {
        if (hostopt_mac(v, o->ho_mac))
          bad = a;
      } else if (strcmp(a, "--tap") == 0) {
        o->ho_tap = v;
      } else if (strcmp(a, "--initrd") == 0) {
        o->ho_initrd = v;
      } else if (strcmp(a, "--pcap") == 0) {
        o->ho_pcap = v;
      } else if (strcmp(a, "--link-flap") == 0) {
        if (hostopt_u64(v, &o->ho_link_flap_s))
          bad = a;
      } else if (strcmp(a, "--peer-traffic") == 0) {
        if (hostopt_u64(v, &o->ho_peer_traffic) || o->ho_peer_traffic > 1000000)
          bad = a;
      } else if (strcmp(a, "--rescind-net-after") == 0) {
        if (hostopt_u64(v, &o->ho_rescind_net_s))
          bad = a;
      } else if (strcmp(a, "--fault") == 0) {
        if (strcmp(v, "silent-contact") == 0)
          o->ho_fault = HOSTOPT_FAULT_SILENT_CONTACT;
        else if (strcmp(v, "refuse-versions") == 0)
          o->ho_fault = HOSTOPT_FAULT_REFUSE_VERSIONS;
        else if (strcmp(v, "no-alloffers") == 0)
          o->ho_fault = HOSTOPT_FAULT_NO_ALLOFFERS;
        else
          bad = a;
      } else {
        fprintf(stderr, "%s: unknown option %s\n", prog, a);
        goto usage;
      }
      if (bad) {
        fprintf(stderr, "%s: bad value '%s' for %s\n", prog, v, bad);
        goto usage;
      }
    } else if (needs_kernel && !o->ho_kernel) {
      o->ho_kernel = a;
    } else {
      fprintf(stderr, "%s: unexpected argument '%s' (kernel arguments go after --)\n", prog, a);
      goto usage;
    }
  }
  if (needs_kernel && !o->ho_kernel) {
    fprintf(stderr, "%s: no kernel image given\n", prog);
    goto usage;
  }
  o->ho_cmdline[0] = '\0';
  for (size_t used = 0; i < argc; i++) {
    size_t n = strlen(argv[i]);
    if (used + n + 2 > sizeof(o->ho_cmdline)) {
      fprintf(stderr, "%s: kernel command line longer than %lu bytes\n", prog,
              (unsigned long)sizeof(o->ho_cmdline) - 1);
      return -1;
    }
    if (used)
      o->ho_cmdline[used++] = ' ';
    memcpy(o->ho_cmdline + used, argv[i], n + 1);
    used += n;
  }
  return 0;
usage:
  hostopt_usage(stderr, prog, needs_kernel);
  return -1;
}

void hostopt_print_summary(FILE *f, const struct hostopt_outcome *oc) {
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
  fprintf(f, "hvhost: exit=%s vmbus=%s offers=%u link=%s t_connected_ms=%s t_link_ms=%s power=%s\n",
          exit_s, vmbus, oc->oc_offers, oc->oc_link < 0 ? "none" : (oc->oc_link ? "up" : "down"),
          conn, link_ms, acpifw_power_name((enum acpifw_power)oc->oc_power));
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
