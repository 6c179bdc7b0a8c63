/* tests/fuzz/fuzz.h: what the fuzz targets share (header only: each target
 * links its own object with the library, Makefile "fuzz"). */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/log.h"

/** Once per process: the log at errors only, and stdout to /dev/null
 * (host-triggered logging is rate-limited, not silent; crash reports go to
 * stderr). FUZZ_VERBOSE=1 keeps stdout. */
static inline void fuzz_quiet(void) {
  static bool done;
  if (done)
    return;
  done = true;
  log_set_level(LOG_ERR);
  if (!getenv("FUZZ_VERBOSE"))
    (void)!freopen("/dev/null", "w", stdout);
}

#endif
