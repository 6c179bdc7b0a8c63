/* host/icdev.h: the host emulator's integration-service devices (prefix
 * icdev_) and the placeholder devices of a Gen1 offer set.
 *
 * Each IC is a KMCL server channel offered as a pipe (like Hyper-V's), not
 * monitored. When the guest opens it, the device sends NEGOTIATE with its
 * framework (3.0, 1.0) and service versions, then:
 *  - heartbeat: a request every cf_heartbeat_ms, counting correct answers
 *    (seq + 1);
 *  - shutdown: a request when icdev_shutdown is called (SIGINT/SIGTERM to
 *    hvhost or hvsim, as Stop-VM does);
 *  - timesync: a SYNC sample at open, then a SAMPLE every cf_timesync_ms;
 *  - KVP: once cf_kvp_ready says the NIC's link is up, GET_IP_INFO for the
 *    NIC's MAC and an ENUMERATE of the auto pool, again every
 *    cf_kvp_period_ms (1 s later while the guest has no address yet).
 * One request is outstanding per device at a time; answers are checked
 * (RESPONSE flag, type, status) and anything else is counted as bad.
 *
 * Placeholders (icdev_placeholder_create): devices the emulator offers but
 * does not implement (dynamic memory, IDE, mouse, keyboard, video, SCSI,
 * PCI pass-through); an open is refused with STATUS_NOT_SUPPORTED.
 */
#ifndef HOST_ICDEV_H
#define HOST_ICDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/vmbkmcl.h"

enum icdev_kind { ICDEV_HEARTBEAT = 0, ICDEV_KVP, ICDEV_SHUTDOWN, ICDEV_TIMESYNC, ICDEV_NKINDS };

#define ICDEV_HEARTBEAT_MS 2000u /* Hyper-V asks about every 2 s (HYPERV-REAL.md 2) */
#define ICDEV_TIMESYNC_MS 5000u
#define ICDEV_KVP_PERIOD_MS 30000u /* a round is 1 + 16 messages of up to 7.5 KB */
#define ICDEV_KVP_ITEMS 16u        /* auto-pool items kept */

struct icdev_config {
  uint32_t cf_heartbeat_ms; /* 0: ICDEV_HEARTBEAT_MS */
  uint32_t cf_timesync_ms;  /* 0: ICDEV_TIMESYNC_MS */
  uint32_t cf_kvp_period_ms;
  /** Highest framework / service version the host lists (tests); 0: all. */
  uint32_t cf_max_fw, cf_max_srv;
  /** Lowest versions listed (tests pin a pair with max = min); 0: all. */
  uint32_t cf_min_fw, cf_min_srv;
  /** KVP: the NIC's MAC (adapter id of GET_IP_INFO). */
  uint8_t cf_mac[6];
  /** KVP: start querying once this says true (the NIC's link is up). NULL: at once. */
  bool (*cf_kvp_ready)(void *arg);
  void *cf_arg;
  /** Don't send anything on open (tests script the messages). */
  bool cf_scripted;
};

struct icdev_stats {
  uint32_t opens;
  uint64_t sent, answers, bad_answers, failed_answers, timeouts;
  uint64_t heartbeats; /* heartbeat answers with seq + 1 */
  uint64_t samples;    /* timesync samples answered */
};

struct icdev;

/** Offer IC `kind` on the bus of `parent` (vmbsrv_device or lb_device).
 * NULL on failure (logged). */
struct icdev *icdev_create(PDEVICE_OBJECT parent, enum icdev_kind kind,
                           const struct icdev_config *cfg);
/** Rescind and free. NULL is fine. */
void icdev_destroy(struct icdev *d);
const char *icdev_name(enum icdev_kind kind);
/** True while the guest has the channel open. */
bool icdev_is_open(const struct icdev *d);
/** True once the guest has opened the channel during the run. */
bool icdev_ever_opened(const struct icdev *d);
/** Versions the guest chose in its NEGOTIATE answer (0 before, or refused). */
uint32_t icdev_fw_version(const struct icdev *d);
uint32_t icdev_srv_version(const struct icdev *d);
const struct icdev_stats *icdev_stats(const struct icdev *d);

/** Shutdown device: send a request with `flags` (IC_SHUTDOWN_FLAG_*).
 * 0, -ENOTCONN (not open or not negotiated), -EBUSY (a request is out). */
int icdev_shutdown(struct icdev *d, uint32_t flags);
/** hw_now_ns() when the shutdown request was sent, 0 none; the guest's
 * answer status in *status when answered. */
uint64_t icdev_shutdown_sent_ns(const struct icdev *d);
bool icdev_shutdown_answered(const struct icdev *d, uint32_t *status);

/** KVP device: the IPv4 address the guest reported ("" when none yet). */
const char *icdev_kvp_ip(const struct icdev *d);
/** KVP: the auto-pool item with this key ("" when not reported). */
const char *icdev_kvp_item(const struct icdev *d, const char *key);
/** KVP: run a query round now (tests). 0 or -ENOTCONN/-EBUSY. */
int icdev_kvp_query(struct icdev *d);

/** Send `len` raw bytes as one message (a test hook: the scripted hostile
 * host), with the pipe header added, by KMCL's own send; not matched
 * against a request. The answer is kept: icdev_last_answer. 0 or
 * -ENOTCONN, -EMSGSIZE, -EIO, -ENOMEM. */
int icdev_send_raw(struct icdev *d, const void *buf, uint32_t len);
/** The device's server channel (a test sending a hand-built packet on it
 * with kmcl/kmcl_test.h). */
VMBCHANNEL icdev_channel(const struct icdev *d);
/** The last message the guest sent (pipe header stripped): its length, and
 * min(len, cap) bytes into buf; `tid` its transaction id. */
uint32_t icdev_last_answer(const struct icdev *d, void *buf, uint32_t cap, uint64_t *tid);
/** Answers received so far (any, good or bad). */
uint64_t icdev_answers_seen(const struct icdev *d);

/* ---- placeholders -------------------------------------------------------------- */
struct icdev_placeholder;
/** Offer class `type`, instance `instance`; opens are refused. */
struct icdev_placeholder *icdev_placeholder_create(PDEVICE_OBJECT parent, const GUID *type,
                                                   const GUID *instance);
void icdev_placeholder_destroy(struct icdev_placeholder *p);
/** Opens the guest tried (all refused). */
uint32_t icdev_placeholder_opens(const struct icdev_placeholder *p);

#endif
