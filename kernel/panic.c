/* kernel/panic.c: panic(): report and stop with status 2. */
#include "kernel/panic.h"

#include <stdarg.h>
#include <stdio.h>

#include "kernel/hw.h"

void panic(const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  printf("PANIC: %s\n", msg);
  fflush(stdout);
  hw_exit(EXIT_STATUS_PANIC);
}
