/* kernel/log.h: console log with levels.
 *
 * log_printf() writes one line-oriented message through newlib's stdio to the
 * console (serial in the kernel, stdout on the host). Messages above the
 * current level (kernel command-line key log=LEVEL) are dropped before
 * formatting, so a disabled debug line costs one compare.
 */
#ifndef KERNEL_LOG_H
#define KERNEL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
  LOG_ERR = 0,
  LOG_WARN = 1,
  LOG_INFO = 2,
  LOG_DEBUG = 3,
  LOG_TRACE = 4,
};

extern enum log_level log_level_current;

void log_set_level(enum log_level lvl);
/** Parse "err|warn|info|debug|trace" or a digit 0-4; -1 when unknown. */
int log_level_parse(const char *s);
void log_printf(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Rate limiter for messages the other side can trigger: allows `burst`
 * messages, then one per `interval_ms`, and counts what it suppressed. */
struct log_ratelimit {
  uint64_t rl_window_start_ns;
  uint32_t rl_interval_ms;
  uint32_t rl_burst;
  uint32_t rl_count;
  uint32_t rl_suppressed;
};
#define LOG_RATELIMIT_INIT(interval_ms, burst)                                                     \
  { 0, (interval_ms), (burst), 0, 0 }
bool log_ratelimit_ok(struct log_ratelimit *rl);

#define LOG_ENABLED(lvl) ((lvl) <= log_level_current)
#define pr_err(...) log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                                                              \
  do {                                                                                             \
    if (LOG_ENABLED(LOG_DEBUG))                                                                    \
      log_printf(LOG_DEBUG, __VA_ARGS__);                                                          \
  } while (0)
#define pr_trace(...)                                                                              \
  do {                                                                                             \
    if (LOG_ENABLED(LOG_TRACE))                                                                    \
      log_printf(LOG_TRACE, __VA_ARGS__);                                                          \
  } while (0)

#endif
