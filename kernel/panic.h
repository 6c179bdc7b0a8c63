/* kernel/panic.h: stop on an impossible internal state (never on data from
 * the other side: STYLE.md rule 5). Prints the message and exits with the
 * panic status 2. Host tests may set panic_hook to catch it (it must not
 * return: longjmp out). */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#define EXIT_STATUS_OK 0
#define EXIT_STATUS_FAIL 1
#define EXIT_STATUS_PANIC 2

_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern void (*panic_hook)(const char *msg);

#endif
