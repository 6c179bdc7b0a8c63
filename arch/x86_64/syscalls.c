/* arch/x86_64/syscalls.c: the system calls newlib's libc.a needs.
 *
 * newlib is configured with --disable-newlib-supplied-syscalls, so the
 * kernel provides them: console output on fds 1 and 2, a heap region for
 * sbrk (from the page allocator), the exit port for _exit, and ENOSYS or a
 * harmless answer for the rest. `nm build/kernel.elf` lists what libc uses. */
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "arch/x86_64/arch.h"
#include "kernel/hw.h"
#include "kernel/page.h"

#undef errno
extern int errno;

static char *heap_base, *heap_brk, *heap_end;

int heap_init(size_t bytes) {
  size_t pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
  void *p = page_alloc(pages);
  if (!p)
    return -ENOMEM;
  heap_base = heap_brk = p;
  heap_end = heap_base + pages * PAGE_SIZE;
  return 0;
}

/* Prototypes: newlib declares some of these in <unistd.h> with other types,
 * so declare exactly the symbols libc.a links against. */
void *sbrk(ptrdiff_t incr);
int write(int fd, const void *buf, size_t n);
int read(int fd, void *buf, size_t n);
int close(int fd);
int fstat(int fd, struct stat *st);
int isatty(int fd);
off_t lseek(int fd, off_t off, int whence);
int kill(int pid, int sig);
int getpid(void);
void _exit(int status);

void *sbrk(ptrdiff_t incr) {
  if (!heap_base || (incr > 0 && incr > heap_end - heap_brk) ||
      (incr < 0 && -incr > heap_brk - heap_base)) {
    errno = ENOMEM;
    return (void *)-1;
  }
  char *old = heap_brk;
  heap_brk += incr;
  return old;
}

int write(int fd, const void *buf, size_t n) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  console_write(buf, n);
  return (int)n;
}

int read(int fd, void *buf, size_t n) {
  (void)fd, (void)buf, (void)n;
  errno = ENOSYS;
  return -1;
}

int close(int fd) {
  (void)fd;
  errno = EBADF;
  return -1;
}

int fstat(int fd, struct stat *st) {
  if (fd < 0 || fd > 2) {
    errno = EBADF;
    return -1;
  }
  st->st_mode = S_IFCHR;
  return 0;
}

int isatty(int fd) { return fd >= 0 && fd <= 2; }

off_t lseek(int fd, off_t off, int whence) {
  (void)fd, (void)off, (void)whence;
  errno = ESPIPE;
  return -1;
}

int kill(int pid, int sig) {
  (void)pid, (void)sig;
  errno = ENOSYS;
  return -1;
}

int getpid(void) { return 1; }

void _exit(int status) { hw_exit(status); }
