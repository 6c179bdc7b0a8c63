/* host/nettap.c: the TAP back end (see nettap.h). */
#define _GNU_SOURCE /* F_SETSIG */
#include "host/nettap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/wire.h"

struct nettap {
  int t_fd;
  char t_name[IFNAMSIZ];
  struct netvsp *t_dev;
  uint64_t t_last_read_ns;
  bool t_more;   /* the last poll stopped at NETTAP_BURST: read again */
  bool t_failed; /* a read failed for good: said once, no more reads */
  bool t_tx_said;
  /* A frame read but not yet taken by the NIC (no free section). */
  bool t_held;
  uint32_t t_held_len;
  uint64_t t_held_since_ns;
  struct nettap_stats t_st;
  uint8_t t_buf[NETTAP_MAX_FRAME];
};

/* Set by SIGIO (the TAP has frames); only one TAP per process reads it, but
 * a spurious wake-up costs one read that returns EAGAIN. */
static volatile sig_atomic_t nettap_sigio_seen;

static void nettap_on_sigio(int sig) {
  (void)sig;
  nettap_sigio_seen = 1;
}

static uint64_t nettap_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The cause of a failed TUNSETIFF on an existing device, in words. */
static void nettap_attach_error(const char *name, int e, char *err, size_t errlen) {
  switch (e) {
  case EPERM:
  case EACCES:
    snprintf(err, errlen,
             "--tap %s: not permitted to attach to the TAP device (%s): run as root, or "
             "create it for this user: ip tuntap add dev %s mode tap user $(id -un)",
             name, strerror(e), name);
    break;
  case EBUSY:
    snprintf(err, errlen, "--tap %s: the TAP device is in use by another process (%s)", name,
             strerror(e));
    break;
  case EINVAL:
    snprintf(err, errlen,
             "--tap %s: not a TAP device this tool can attach to (%s): it must be a TAP "
             "(not a TUN, not a physical or loopback interface) without multi_queue, made "
             "with: ip tuntap add dev NAME mode tap",
             name, strerror(e));
    break;
  default:
    snprintf(err, errlen, "--tap %s: cannot attach to the TAP device: %s", name, strerror(e));
    break;
  }
}

struct nettap *nettap_open(const char *name, char *err, size_t errlen) {
  if (!name || !name[0] || strlen(name) >= IFNAMSIZ || strchr(name, '/')) {
    snprintf(err, errlen, "--tap: '%s' is not an interface name (1 to %d characters)",
             name ? name : "", IFNAMSIZ - 1);
    return NULL;
  }
  if (if_nametoindex(name) == 0) {
    snprintf(err, errlen,
             "--tap %s: no such network device in this network namespace; create it first: "
             "ip tuntap add dev %s mode tap && ip link set %s up",
             name, name, name);
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      snprintf(err, errlen,
               "--tap %s: cannot open /dev/net/tun: %s (no TUN/TAP support here: load the tun "
               "module, or give the container the device)",
               name, strerror(e));
    else if (e == EACCES || e == EPERM)
      snprintf(err, errlen,
               "--tap %s: cannot open /dev/net/tun: %s (run as root, or get read-write "
               "access to /dev/net/tun)",
               name, strerror(e));
    else
      snprintf(err, errlen, "--tap %s: cannot open /dev/net/tun: %s", name, strerror(e));
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    nettap_attach_error(name, errno, err, errlen);
    close(fd);
    return NULL;
  }
  struct nettap *t = calloc(1, sizeof(*t));
  if (!t) {
    snprintf(err, errlen, "--tap %s: out of memory", name);
    close(fd);
    return NULL;
  }
  t->t_fd = fd;
  memcpy(t->t_name, ifr.ifr_name, IFNAMSIZ - 1);
  t->t_last_read_ns = nettap_now_ns();

  /* A frame from Linux raises SIGIO: it ends KVM_RUN or hvsim's idle sleep,
   * so the poller runs at once instead of at the next timer. SA_RESTART:
   * other system calls (console writes) just go on; KVM_RUN and nanosleep
   * return EINTR all the same. Without it the poller's timer still works. */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = nettap_on_sigio;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int fl = fcntl(fd, F_GETFL);
  if (sigaction(SIGIO, &sa, NULL) != 0 || fcntl(fd, F_SETOWN, getpid()) != 0 ||
      fcntl(fd, F_SETSIG, SIGIO) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC) != 0)
    fprintf(stderr, "nettap: %s: no SIGIO wake-ups (%s); polling every %llu ms\n", t->t_name,
            strerror(errno), NETTAP_POLL_NS / 1000000ull);

  /* Down is allowed (the caller may bring it up later), but say so. */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) {
    struct ifreq q;
    memset(&q, 0, sizeof(q));
    memcpy(q.ifr_name, t->t_name, IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFFLAGS, &q) == 0 && !(q.ifr_flags & IFF_UP))
      fprintf(stderr, "nettap: warning: %s is down; frames are lost until `ip link set %s up`\n",
              t->t_name, t->t_name);
    close(s);
  }
  return t;
}

void nettap_close(struct nettap *t) {
  if (!t)
    return;
  if (t->t_fd >= 0)
    close(t->t_fd);
  free(t);
}

void nettap_attach(struct nettap *t, struct netvsp *dev) { t->t_dev = dev; }

/* A frame from the guest: straight to Linux. */
static void nettap_tx(void *ctx, const uint8_t *frame, uint32_t len) {
  struct nettap *t = ctx;
  if (!frame || len < ETH_HLEN || len > NETTAP_MAX_FRAME) {
    t->t_st.tx_drop_size++;
    return;
  }
  ssize_t n = write(t->t_fd, frame, len);
  if (n != (ssize_t)len) {
    t->t_st.tx_errors++;
    if (!t->t_tx_said) {
      fprintf(stderr, "nettap: %s: writing a frame failed (%s)%s; counting further losses\n",
              t->t_name, n < 0 ? strerror(errno) : "short write",
              n < 0 && errno == EIO ? ": is the TAP up?" : "");
      t->t_tx_said = true;
    }
    return;
  }
  t->t_st.tx_frames++;
  t->t_st.tx_bytes += len;
}

struct netvsp_backend nettap_backend(struct nettap *t) {
  struct netvsp_backend be = {.nb_tx = nettap_tx, .nb_ctx = t};
  return be;
}

/* Offer the held frame to the NIC: true when it is gone (taken or dropped). */
static bool nettap_deliver(struct nettap *t, uint64_t now) {
  if (!t->t_dev) {
    t->t_st.rx_drop_down++;
    t->t_held = false;
    return true;
  }
  int rc = netvsp_rx_frame(t->t_dev, t->t_buf, t->t_held_len);
  if (rc == -EAGAIN) {
    if (!t->t_held_since_ns) {
      t->t_held_since_ns = now;
      t->t_st.rx_deferred++;
      return false;
    }
    if (now - t->t_held_since_ns < NETTAP_HOLD_NS)
      return false;
    t->t_st.rx_drop_busy++;
  } else if (rc == 0) {
    t->t_st.rx_frames++;
    t->t_st.rx_bytes += t->t_held_len;
  } else if (rc == -EMSGSIZE) {
    t->t_st.rx_drop_size++;
  } else {
    t->t_st.rx_drop_down++;
  }
  t->t_held = false;
  t->t_held_since_ns = 0;
  return true;
}

bool nettap_poll(void *ctx) {
  struct nettap *t = ctx;
  uint64_t now = nettap_now_ns();
  bool did = false;
  if (t->t_held) {
    if (!nettap_deliver(t, now))
      return false; /* still no section: Linux keeps the rest queued */
    did = true;
  }
  if (t->t_failed)
    return did;
  bool signalled = nettap_sigio_seen != 0;
  if (signalled) {
    nettap_sigio_seen = 0;
    t->t_st.sigio++;
  }
  if (!signalled && !t->t_more && !did && now - t->t_last_read_ns < NETTAP_POLL_NS)
    return false;
  t->t_last_read_ns = now;
  t->t_more = false;
  for (unsigned i = 0; i < NETTAP_BURST; i++) {
    ssize_t n = read(t->t_fd, t->t_buf, sizeof(t->t_buf));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return did;
      t->t_st.read_errors++;
      t->t_failed = true;
      fprintf(stderr, "nettap: %s: reading failed (%s); no more frames from the TAP\n", t->t_name,
              strerror(errno));
      return did;
    }
    if (n == 0)
      return did;
    did = true;
    t->t_held = true;
    t->t_held_len = (uint32_t)n;
    t->t_held_since_ns = 0;
    if (!nettap_deliver(t, now))
      return did;
  }
  t->t_more = true; /* the burst is spent: there may be more */
  return did;
}

const struct nettap_stats *nettap_stats(const struct nettap *t) { return &t->t_st; }
const char *nettap_name(const struct nettap *t) { return t->t_name; }
int nettap_fd(const struct nettap *t) { return t->t_fd; }
