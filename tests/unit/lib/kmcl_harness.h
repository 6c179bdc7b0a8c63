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
#include "sim/sim.h"
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
/** Enable the server, Start it, enable the client, and run the loop until
 * both are started. Returns true on success. */
bool kh_pair_start(struct kh_pair *p);
/** kh_wait condition: both ends of the kh_pair `arg` are started. */
bool kh_pair_started(void *arg);
/** Disable and clean up both ends, destroy the bus. */
void kh_pair_close(struct kh_pair *p);
/** kh_pair_close, then assert nothing leaked since kh_setup (kh_no_leaks). */
void kh_pair_done(struct kh_pair *p);
/** Before Enable: the client's rings `pages` pages each way, its maximum
 * packet `client_max` and external data 4096 bytes in one MDL; the server's
 * maximum packet `server_max` (it must fit the client's ring, D3). Asserts
 * each call succeeds. */
void kh_pair_small_rings(struct kh_pair *p, uint32_t client_max, uint32_t pages,
                         uint32_t server_max);
/** Enable the server (and Start it when `start_server`), then the client,
 * asserting both succeed; pumped. */
void kh_pair_enable(struct kh_pair *p, bool start_server);

/* ---- cmocka fixtures: the pair as the test's *state ------------------------ */
/** kh_setup, then a pair opened (kh_pair_open) or only allocated
 * (kh_pair_alloc); *state is the pair. Nonzero (the test fails) when the
 * pair does not open. */
int kh_fixture_open(void **state);
int kh_fixture_alloc(void **state);
/** kh_pair_done on the pair: closed, and nothing leaked since kh_setup. */
int kh_fixture_done(void **state);
/** A test run on a fresh open (or allocated) pair, closed and checked for
 * leaks after it. */
#define KH_TEST_OPEN(f) cmocka_unit_test_setup_teardown(f, kh_fixture_open, kh_fixture_done)
#define KH_TEST_ALLOC(f) cmocka_unit_test_setup_teardown(f, kh_fixture_alloc, kh_fixture_done)

/** Send `len` bytes from `buf` with a fresh packet (Allocate + Send). */
NTSTATUS kh_send(struct kh_end *e, const void *buf, uint32_t len, uint32_t flags);
/** The server holds its tokens; the client sends `n` requests of `len`
 * bytes from `buf`, each waiting for completion; returns once the server
 * received them (their tokens are the last n of p->s.held). Asserts the
 * sends and the wait succeed. */
void kh_held_requests(struct kh_pair *p, const void *buf, uint32_t len, uint32_t n);
/** Complete every held token, echoing its payload size `n` bytes of 0xC0. */
void kh_complete_held(struct kh_end *e);
/** Run the loop until cond or timeout. */
bool kh_wait(bool (*cond)(void *), void *arg, uint64_t ms);
/** Run the loop until e->rx_count >= n. */
bool kh_wait_rx(struct kh_end *e, uint32_t n);
/** Run the loop until e->comp_count >= n. */
bool kh_wait_comp(struct kh_end *e, uint32_t n);

/** A server channel on device `dev` for interface `type`, instance `type`
 * with Data1 = `data1`, whose packets kh_complete_at_once completes; not
 * enabled. Asserts each call succeeds. */
VMBCHANNEL kh_server_channel(PDEVICE_OBJECT dev, GUID type, uint32_t data1);

/** Completion routine that records into the kh_end given by the packet's
 * pointer and frees the packet. */
EVT_VMB_PACKET_COMPLETION_ROUTINE kh_comp_free;

/* ---- the NIC over the loopback bus (sim/sim.h's sim_nic) ------------------ */
struct kh_nic {
  struct lb_bus *lb;
  struct sim_nic n;
};
/** kh_setup, a loopback bus with instance id `id`, and the host's NetVSP
 * device on it with `hc` and back end `be` (NULL: hc defaults, the built-in
 * peer). */
void kh_nic_host(struct kh_nic *k, uint32_t id, const struct netvsp_config *hc,
                 const struct netvsp_backend *be);
/** The guest's netvsc on the bus with `gc` (NULL: defaults), net/ on it
 * when `net`; pumped. */
void kh_nic_guest(struct kh_nic *k, const struct netvsc_config *gc, bool net);
/** Host (built-in peer) and guest with net/. */
void kh_nic_up(struct kh_nic *k, uint32_t id, const struct netvsp_config *hc);
/** Guest, device, peer and bus down; nothing leaked since kh_nic_host. */
void kh_nic_down(struct kh_nic *k);

#endif
