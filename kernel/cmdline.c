/* kernel/cmdline.c: kernel command-line parsing. */
#include "kernel/cmdline.h"

#include <errno.h>
#include <string.h>

struct cmdline kernel_cmdline;

int cmdline_parse(struct cmdline *cl, const char *line) {
  int rc = 0;
  memset(cl, 0, sizeof(*cl));
  if (!line)
    return 0;
  size_t len = strlen(line);
  if (len >= sizeof(cl->cl_buf)) {
    len = sizeof(cl->cl_buf) - 1;
    cl->cl_dropped++;
    rc = -E2BIG;
  }
  memcpy(cl->cl_buf, line, len);
  cl->cl_buf[len] = '\0';

  char *p = cl->cl_buf;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
      *p++ = '\0';
    if (*p == '\0')
      break;
    char *word = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      p++;
    if (cl->cl_nargs == CMDLINE_MAX_ARGS) {
      cl->cl_dropped++;
      rc = -E2BIG;
      continue;
    }
    char *eq = word;
    while (eq < p && *eq != '=')
      eq++;
    struct cmdline_arg *a = &cl->cl_args[cl->cl_nargs++];
    a->ca_key = word;
    if (eq < p) {
      *eq = '\0';
      a->ca_value = eq + 1;
    } else {
      a->ca_value = "";
    }
    if (*p)
      *p++ = '\0';
  }
  return rc;
}

const char *cmdline_get(const struct cmdline *cl, const char *key) {
  for (unsigned i = cl->cl_nargs; i-- > 0;)
    if (strcmp(cl->cl_args[i].ca_key, key) == 0)
      return cl->cl_args[i].ca_value;
  return NULL;
}

/* Decimal digits to a value no larger than max; returns chars used, 0 on
 * error (no digit, or overflow). */
static size_t cl_decimal(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (max - d) / 10)
      return 0;
    v = v * 10 + d;
  }
  *out = v;
  return i;
}

int cmdline_get_u64(const struct cmdline *cl, const char *key, uint64_t def, uint64_t *out) {
  const char *v = cmdline_get(cl, key);
  if (!v) {
    *out = def;
    return 0;
  }
  size_t n = cl_decimal(v, UINT64_MAX, out);
  return (n == 0 || v[n] != '\0') ? -EINVAL : 0;
}

int cmdline_parse_ipv4_prefix(const char *s, uint8_t addr[4], uint8_t *prefix) {
  uint64_t v;
  for (int i = 0; i < 4; i++) {
    size_t n = cl_decimal(s, 255, &v);
    if (n == 0 || s[n] != (i == 3 ? '/' : '.'))
      return -EINVAL;
    addr[i] = (uint8_t)v;
    s += n + 1;
  }
  size_t n = cl_decimal(s, 32, &v);
  if (n == 0 || s[n] != '\0')
    return -EINVAL;
  *prefix = (uint8_t)v;
  return 0;
}
