/* tests/unit/host_hostopt_test.c: the options of hvhost and hvsim
 * (host/hostopt.c): both spellings of a value, the kernel image among the
 * options, "--" and the kernel command line, every bad value refused with
 * status -1, abbreviated and ambiguous long names, and every option --help
 * lists known to the parser. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/hostopt.h"
#include "hv/vmbus_proto.h"
#include "tests/unit/unit.h"

static char errbuf[4096];

/* hostopt_parse on a NULL-terminated list; what it printed to stderr lands
 * in errbuf. */
static int parse_v(struct hostopt *o, bool needs_kernel, const char *const *args) {
  static char store[32][256]; /* argv is writable, and o points into it */
  char *argv[32];
  int argc = 0;
  for (const char *a = "prog"; a && argc < 31; a = *args++) {
    snprintf(store[argc], sizeof(store[argc]), "%s", a);
    argv[argc] = store[argc];
    argc++;
  }
  argv[argc] = NULL;
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  int rc = hostopt_parse(o, needs_kernel ? "hvhost" : "hvsim", argc, argv, needs_kernel);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(errbuf, 1, sizeof(errbuf) - 1, tmp);
  errbuf[n] = '\0';
  fclose(tmp);
  return rc;
}
#define PARSE(o, nk, ...) parse_v(o, nk, (const char *const[]){__VA_ARGS__, NULL})

static void test_defaults_and_both_spellings(void **state) {
  (void)state;
  struct hostopt o;
  assert_int_equal(PARSE(&o, false, "--timeout"), -1);
  assert_non_null(strstr(errbuf, "--timeout needs a value"));
  assert_int_equal(PARSE(&o, false, "--trace"), 0);
  assert_int_equal(o.ho_mem_mib, 128);
  assert_int_equal(o.ho_mac[0], 0x00);
  assert_int_equal(o.ho_mac[2], 0x5d);
  assert_int_equal(o.ho_mac[5], 0x02);
  assert_true(o.ho_trace);
  assert_int_equal(PARSE(&o, false, "--timeout=7", "--mem", "64", "--mac=02:00:00:00:00:09",
                         "--vmbus-version=4.0", "--nvsp-version", "6", "--fault=no-alloffers",
                         "--pcap=/tmp/x.pcap", "-v"),
                   0);
  assert_int_equal(o.ho_timeout_s, 7);
  assert_int_equal(o.ho_mem_mib, 64);
  assert_int_equal(o.ho_mac[0], 0x02);
  assert_int_equal(o.ho_mac[5], 0x09);
  assert_int_equal(o.ho_vmbus_version, VMBUS_VERSION(4, 0));
  assert_int_equal(o.ho_nvsp_version, VMBUS_VERSION(6, 0));
  assert_int_equal(o.ho_fault, HOSTOPT_FAULT_NO_ALLOFFERS);
  assert_string_equal(o.ho_pcap, "/tmp/x.pcap");
  assert_true(o.ho_verbose);
}

static void test_kernel_and_cmdline(void **state) {
  (void)state;
  struct hostopt o;
  assert_int_equal(PARSE(&o, true, "--timeout", "3", "k.elf", "--trace", "--", "a=b", "--x"), 0);
  assert_string_equal(o.ho_kernel, "k.elf");
  assert_true(o.ho_trace);
  assert_string_equal(o.ho_cmdline, "a=b --x");
  assert_int_equal(PARSE(&o, true, "--trace"), -1);
  assert_non_null(strstr(errbuf, "no kernel image given"));
  assert_int_equal(PARSE(&o, true, "k.elf", "extra"), -1);
  assert_non_null(strstr(errbuf, "unexpected argument 'extra'"));
  assert_int_equal(PARSE(&o, false, "k.elf"), -1);
  /* --check-kvm needs no kernel, and is hvhost's alone */
  assert_int_equal(PARSE(&o, true, "--check-kvm"), 0);
  assert_true(o.ho_check_kvm);
  assert_int_equal(PARSE(&o, false, "--check-kvm"), -1);
  assert_non_null(strstr(errbuf, "unknown option --check-kvm"));
}

static void test_bad_values(void **state) {
  (void)state;
  struct hostopt o;
  static const char *const bad[][2] = {
      {"--vmbus-version", "7.7"},
      {"--vmbus-version", "6."},
      {"--nvsp-version", "x"},
      {"--nvsp-version", "3"},
      {"--mem", "1"},
      {"--mem", "4000"},
      {"--mem", "-5"},
      {"--timeout", "1s"},
      {"--timeout", ""},
      {"--mac", "00:11:22:33:44"},
      {"--mac", "00:11:22:33:44:555"},
      {"--fault", "bogus"},
      {"--peer-traffic", "1000001"},
      {"--tap", ""},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(PARSE(&o, false, bad[i][0], bad[i][1]), -1);
    assert_non_null(strstr(errbuf, "bad value"));
    assert_non_null(strstr(errbuf, bad[i][0]));
  }
  assert_int_equal(PARSE(&o, false, "--trace=1"), -1);
  assert_non_null(strstr(errbuf, "--trace takes no value"));
  assert_int_equal(PARSE(&o, false, "--bogus"), -1);
  assert_non_null(strstr(errbuf, "unknown option --bogus"));
  assert_int_equal(PARSE(&o, false, "-x"), -1);
  assert_non_null(strstr(errbuf, "unknown option -x"));
}

/* errbuf is two lines: one holding msg, then the one-line usage. */
static void assert_one_line(const char *msg) {
  const char *at = strstr(errbuf, msg);
  const char *nl = strchr(errbuf, '\n');
  if (!at || !nl || at > nl || strncmp(nl + 1, "usage: ", 7) ||
      strchr(nl + 1, '\n') != errbuf + strlen(errbuf) - 1)
    fail_msg("expected '%s' and the usage line, got: %s", msg, errbuf);
}

/* A unique prefix of a long name is that option, in the value it takes and
 * in every message; a prefix of several is refused as ambiguous, naming
 * them; an hvhost-only option is no candidate in hvsim. */
static void test_abbreviations(void **state) {
  (void)state;
  struct hostopt o;
  assert_int_equal(PARSE(&o, false, "--vmbus=4.0", "--tr", "--ti", "9"), 0);
  assert_int_equal(o.ho_vmbus_version, VMBUS_VERSION(4, 0));
  assert_true(o.ho_trace);
  assert_int_equal(o.ho_timeout_s, 9);
  static const char *const refused[][2] = {
      {"--vmbus=7.7", "hvsim: bad value '7.7' for --vmbus-version"},
      {"--tr=1", "hvsim: --trace takes no value"},
      {"--ti", "hvsim: --timeout needs a value"},
      {"--no", "hvsim: ambiguous option --no (--no-net, --no-dhcp)"},
      {"--no=1", "hvsim: ambiguous option --no (--no-net, --no-dhcp)"},
      {"--nope", "hvsim: unknown option --nope"},
      {"--check", "hvsim: unknown option --check"}, /* --check-kvm is hvhost's */
  };
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    assert_int_equal(PARSE(&o, false, refused[i][0]), -1);
    assert_one_line(refused[i][1]);
  }
  assert_int_equal(PARSE(&o, true, "--check"), 0);
  assert_true(o.ho_check_kvm);
}

/* Every option --help lists is one the parser knows, for both programs. */
static void test_help_matches_parser(void **state) {
  (void)state;
  for (int nk = 0; nk < 2; nk++) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    hostopt_usage(f, "prog", nk);
    fclose(f);
    unsigned listed = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      char *opt = strstr(line, "--");
      if (!opt || strncmp(line, "  ", 2) || line[2] == ' ')
        continue;
      char name[64], arg[32];
      int n = sscanf(opt, "%63s %31s", name, arg);
      if (strcmp(name, "--help") == 0)
        continue; /* prints the usage to stdout and returns 1 */
      bool takes = n == 2 && arg[0] >= 'A' && arg[0] <= 'Z';
      struct hostopt o;
      int rc = takes ? PARSE(&o, nk, "k.elf", name, "1") : PARSE(&o, nk, "k.elf", name);
      if (strstr(errbuf, "unknown option") || strstr(errbuf, "takes no value") ||
          strstr(errbuf, "needs a value"))
        fail_msg("%s from --help: %s", name, errbuf);
      (void)rc;
      listed++;
    }
    assert_true(listed >= (nk ? 16u : 15u));
    free(text);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults_and_both_spellings),
    cmocka_unit_test(test_kernel_and_cmdline),
    cmocka_unit_test(test_bad_values),
    cmocka_unit_test(test_abbreviations),
    cmocka_unit_test(test_help_matches_parser),
};

UNIT_MAIN("host_hostopt", tests)
