/* kernel/cmdline.h: the kernel command line, space-separated key=value words
 * (DESIGN.md lists the keys). A word without '=' is a key with value "".
 * The parser copies the line, so the multiboot string may be reused. */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMDLINE_MAX_LEN 1024
#define CMDLINE_MAX_ARGS 32

struct cmdline_arg {
  const char *ca_key;
  const char *ca_value;
};

struct cmdline {
  char cl_buf[CMDLINE_MAX_LEN];
  struct cmdline_arg cl_args[CMDLINE_MAX_ARGS];
  unsigned cl_nargs;
  unsigned cl_dropped; /* words that did not fit, or the line was cut */
};

/** Parse `line` (may be NULL). Returns 0, or -E2BIG when the line or the
 * word count was cut (what fitted is still parsed). */
int cmdline_parse(struct cmdline *cl, const char *line);
/** Value of the last occurrence of key, or NULL. */
const char *cmdline_get(const struct cmdline *cl, const char *key);
/** Unsigned decimal value of key; `def` when absent, -EINVAL when malformed. */
int cmdline_get_u64(const struct cmdline *cl, const char *key, uint64_t def, uint64_t *out);
/** Parse "A.B.C.D/P"; address in network order bytes; returns 0 or -EINVAL. */
int cmdline_parse_ipv4_prefix(const char *s, uint8_t addr[4], uint8_t *prefix);

/** The kernel's parsed command line (filled by kernel_main). */
extern struct cmdline kernel_cmdline;

#endif
