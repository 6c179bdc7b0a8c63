/* kernel/log.c: levelled console log and a rate limiter. */
#include "kernel/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/hw.h"

enum log_level log_level_current = LOG_INFO;

void log_set_level(enum log_level lvl) { log_level_current = lvl; }

int log_level_parse(const char *s) {
  static const char *const names[] = {"err", "warn", "info", "debug", "trace"};
  if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0')
    return s[0] - '0';
  for (int i = 0; i < 5; i++)
    if (strcmp(s, names[i]) == 0)
      return i;
  return -1;
}

void log_printf(enum log_level lvl, const char *fmt, ...) {
  if (!LOG_ENABLED(lvl))
    return;
  va_list ap;
  va_start(ap, fmt);
  if (lvl <= LOG_WARN)
    fputs(lvl == LOG_ERR ? "error: " : "warning: ", stdout);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

bool log_ratelimit_ok(struct log_ratelimit *rl) {
  uint64_t now = hw_now_ns();
  uint64_t window = (uint64_t)rl->rl_interval_ms * 1000000ull;
  if (rl->rl_window_start_ns == 0 || now - rl->rl_window_start_ns >= window) {
    if (rl->rl_suppressed)
      log_printf(LOG_WARN, "log: %u similar messages suppressed\n", rl->rl_suppressed);
    rl->rl_window_start_ns = now ? now : 1;
    rl->rl_count = 0;
    rl->rl_suppressed = 0;
  }
  if (rl->rl_count < rl->rl_burst) {
    rl->rl_count++;
    return true;
  }
  rl->rl_suppressed++;
  return false;
}
