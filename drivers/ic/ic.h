/* drivers/ic/ic.h: the guest's integration services (prefix ic_): the IC
 * framework and Heartbeat, KVP, Shutdown and TimeSync on it, each a KMCL
 * client channel like netvsc.
 *
 * ic_start enables one client channel per service. Each claims its
 * service's offer whenever the host makes it (at connect time, after
 * ALLOFFERS_DELIVERED, or again after a rescind) and answers every message
 * in place: NEGOTIATE picks the highest common framework version (3.0,
 * 1.0) and service version; every answer carries TRANSACTION|RESPONSE and
 * the request's transaction id (kmcl_packet_reply). Every message is host
 * input: each has a defined outcome (docs/PROTOCOL.md, "Integration
 * services"), malformed ones are counted and logged rate-limited.
 *
 * Levels: ic_start and ic_stop at passive level; messages are handled from
 * the channels' DPCs; the shutdown callback runs there too (it must only
 * request the stop, e.g. ev_request_stop).
 */
#ifndef DRIVERS_IC_IC_H
#define DRIVERS_IC_IC_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/vmbkmcl.h"

enum ic_service { IC_HEARTBEAT = 0, IC_KVP, IC_SHUTDOWN, IC_TIMESYNC, IC_NSERVICES };

/** Ring pages per direction, control page included (a KVP message is 7,456
 * bytes; Linux uses 3 data pages, FreeBSD 4). Policy. */
#define IC_RING_PAGES 6u
/** Messages whose failure is logged per service before the log goes quiet
 * for a while (rate limit: 5 a second). */
#define IC_LOG_BURST 5u

/** KVP pools the host writes (external, guest, auto-external,
 * auto-internal) are kept in a bounded table: items per pool and the
 * longest key and value (ASCII, NUL included) it stores; longer ones and a
 * full pool are refused with E_FAIL. Policy. */
#define IC_KVP_STORE_ITEMS 16u
#define IC_KVP_STORE_KEY 64u
#define IC_KVP_STORE_VALUE 256u

/** The NIC's IPv4 configuration, as KVP publishes it. */
struct ic_ipv4 {
  uint8_t mac[6];
  uint8_t addr[4]; /* network byte order */
  uint8_t prefix;
  uint8_t gw[4]; /* 0.0.0.0: none */
  bool dhcp;
};

struct ic_config {
  /** A shutdown request was accepted and answered (DPC level): stop the
   * kernel; `restart` asks for a reset instead of a power-off. */
  void (*icc_shutdown)(void *arg, bool restart);
  /** The NIC's address for KVP; false when there is none (no NIC, no
   * address yet). May be NULL. */
  bool (*icc_ipv4)(void *arg, struct ic_ipv4 *out);
  void *icc_arg;
  const char *icc_host_name; /* NULL: "hvkernel" */
  /** Highest framework / service versions offered in NEGOTIATE (tests);
   * 0: every version this guest speaks. */
  uint32_t icc_max_fw;
  uint32_t icc_max_srv[IC_NSERVICES];
};

struct ic_svc_stats {
  bool open;             /* the channel is open now */
  uint32_t opens;        /* times it opened (a re-offer opens again) */
  uint32_t fw_version;   /* negotiated (IC_VER), 0 before NEGOTIATE */
  uint32_t srv_version;  /* negotiated service version, 0 before */
  uint64_t msgs;         /* messages received */
  uint64_t answered;     /* answers sent */
  uint64_t negotiations; /* NEGOTIATE messages (a second one renegotiates) */
  uint64_t refused;      /* NEGOTIATE with no common version (answered 0/0) */
  uint64_t failed;       /* answered with status E_FAIL (bad body, unknown type...) */
  uint64_t dropped;      /* not answerable (shorter than the headers) */
};

struct ic;

/** Enable one client channel per service on the bus of `bus_dev`
 * (vmbus_device(), or a test bus). The channels open whenever the host
 * offers the services. With bus_dev NULL: the state alone, no channels
 * (ic_handle_message for the fuzz target). 0 and *out, or -ENOMEM / -EIO
 * (channel set-up). */
int ic_start(PDEVICE_OBJECT bus_dev, const struct ic_config *cfg, struct ic **out);
/** Close every channel and free (passive level). NULL is fine. */
void ic_stop(struct ic *ic);

const struct ic_svc_stats *ic_stats(const struct ic *ic, enum ic_service s);
/** "heartbeat", "kvp", "shutdown", "timesync". */
const char *ic_service_name(enum ic_service s);
/** The wall clock kept from TimeSync samples: 100 ns units since
 * 1601-01-01 UTC now. False before the first sample. */
bool ic_time_now(const struct ic *ic, uint64_t *t1601);
/** Format a 1601-based time as "YYYY-MM-DD HH:MM:SS UTC" (24 bytes). */
void ic_time_format(uint64_t t1601, char out[24]);

/**
 * Handle one message of service `s` in place, as it came from the host
 * (pipe header first), and say how many bytes to answer with (the
 * request's own length, or 0: drop without an answer). `buf` holds `len`
 * bytes and has room for IC_MSG_MAX. The channel path and the fuzz target
 * both come through here.
 */
uint32_t ic_handle_message(struct ic *ic, enum ic_service s, uint8_t *buf, uint32_t len);

#endif
