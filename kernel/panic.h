/* kernel/panic.h: stop on an impossible internal state (never on data from
 * the other side: STYLE.md rule 5). Prints the message and exits with the
 * panic status 2 through hw_exit() (host tests catch that with
 * inproc_set_exit, host/inproc_hw.h). */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#define EXIT_STATUS_OK 0
#define EXIT_STATUS_FAIL 1
#define EXIT_STATUS_PANIC 2

_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
