/* tests/unit/lib/kmcl_harness.h: a client and a server KMCL channel joined
 * by the loopback bus, with recording callbacks, for the kmcl_* unit tests.
 *
 * Every state-change callback appends "S:Opened", "C:Suspend", ... to one
 * log (kh_log_*), so tests compare the order of callbacks with the order
 * KMCL-REFERENCE.md sections (a)-(b) document. Received packets are
 * recorded per endpoint and completed at once (echoing the payload back as
 * the completion) unless the endpoint is in hold mode, where the tokens are
 * kept for the test to complete later.
 */
#ifndef TESTS_UNIT_LIB_KMCL_HARNESS_H
#define TESTS_UNIT_LIB_KMCL_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/kmcl_priv.h"
#include "kmcl/vmbkmcl.h"
#include "tests/unit/lib/loopback_bus.h"

#define KH_MAX_HELD 4096
#define KH_LOG_MAX 256
#define KH_BUF 8192
#define KH_ORDER_MAX 64

extern const GUID kh_type;
extern const GUID kh_instance;

struct kh_end {
  VMBCHANNEL ch;
  bool server;
  char tag; /* 'S' or 'C' */
  /* receive side */
  uint32_t rx_count;
  uint8_t rx_last[KH_BUF];
  uint32_t rx_last_len;
  uint32_t rx_last_flags;
  uint64_t rx_sum;                /* sum of payload bytes seen (checksum) */
  uint8_t rx_order[KH_ORDER_MAX]; /* first payload byte of each delivery, in order */
  bool hold;                      /* keep tokens instead of completing */
  bool defer_once;                /* DeferToPassive the next packet once */
  bool fail_next;                 /* VmbChannelPacketFail the next packet */
  bool get_ext;                   /* fetch external data of each packet */
  uint32_t rx_ext_nmdl;           /* MDLs in the last external data chain */
  uint32_t rx_ext_off0;           /* ByteOffset of its first MDL */
  uint32_t rx_ext_pages0;         /* pages of its first MDL */
  uint32_t rx_ext_cnt1;           /* ByteCount of its second MDL */
  uint32_t rx_ext_bytes;
  uint8_t rx_ext_first; /* first byte of the external data */
  bool rx_at_passive;   /* last delivery ran at passive level */
  bool rx_passive_seen;
  VMBPACKETCOMPLETION held[KH_MAX_HELD];
  uint32_t nheld;
  uint32_t proc_done_calls, proc_done_total;
  /* state-change behaviour */
  NTSTATUS opened_status;
  bool open, started;
  /* completions of our sends */
  uint32_t comp_count;
  NTSTATUS comp_status;
  uint32_t comp_cancelled;
  uint8_t comp_buf[KH_BUF];
  uint32_t comp_len;
  NTSTATUS pnp_status;
  uint32_t pnp_calls;
};

struct kh_pair {
  struct lb_bus *lb;
  struct kh_end s, c;
};

/** Set up the arena (once) and reset the log; record leak baselines. */
void kh_setup(void);
/** Check nothing leaked since kh_setup: pages, channels, packets, tokens,
 * GPADLs. Returns true when clean (and prints what leaked otherwise). */
bool kh_no_leaks(void);

void kh_log_reset(void);
void kh_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Log entries joined with ' ', from index `from`. */
const char *kh_log_str(unsigned from);
unsigned kh_log_len(void);
/** Only one endpoint's entries ('S' or 'C'), from index `from`. */
const char *kh_log_tag(char tag, unsigned from);

/** Allocate and configure one endpoint (not enabled). */
VMBCHANNEL kh_alloc(struct kh_pair *p, struct kh_end *e, bool server);
/** Bus, server (Enable+Start) and client (Enable), pumped until both are
 * open and started. Returns true on success. */
bool kh_pair_open(struct kh_pair *p);
/** Allocate and configure both ends without enabling them. */
void kh_pair_alloc(struct kh_pair *p);
/** Disable and clean up both ends, destroy the bus. */
void kh_pair_close(struct kh_pair *p);

/** Send `len` bytes from `buf` with a fresh packet (Allocate + Send). */
NTSTATUS kh_send(struct kh_end *e, const void *buf, uint32_t len, uint32_t flags);
/** Complete every held token, echoing its payload size `n` bytes of 0xC0. */
void kh_complete_held(struct kh_end *e);
/** Run the loop until cond or timeout. */
bool kh_wait(bool (*cond)(void *), void *arg, uint64_t ms);
/** Run the loop until e->rx_count >= n. */
bool kh_wait_rx(struct kh_end *e, uint32_t n);
/** Run the loop until e->comp_count >= n. */
bool kh_wait_comp(struct kh_end *e, uint32_t n);

/** Completion routine that records into the kh_end given by the packet's
 * pointer and frees the packet. */
EVT_VMB_PACKET_COMPLETION_ROUTINE kh_comp_free;

#endif
