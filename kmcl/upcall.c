/* kmcl/upcall.c: the one up-call queue of kmcl/bus.h. Buses post bus events
 * (offer, open result, rescind, open and close requests); a work item
 * delivers them to KMCL at passive level in post order. One malloc'd node
 * per event: nothing is dropped for lack of slots, a failed post is
 * returned to the bus, which reports it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/log.h"
#include "kmcl/bus.h"
#include "kmcl/kmcl_test.h"

unsigned kmcl_test_upq_refuse_types; /* kmcl/kmcl_test.h: none refused */

/** A node for one event, or NULL when out of memory (or when a test refuses
 * posts of this type, kmcl_test_upq_refuse_types). */
static struct kmcl_up_event *upq_node_alloc(enum kmcl_up_type type) {
  if (kmcl_test_upq_refuse_types & (1u << type))
    return NULL;
  return calloc(1, sizeof(struct kmcl_up_event));
}

static void upq_deliver(const struct kmcl_up_event *e) {
  switch (e->ue_type) {
  case KMCL_UP_OFFER:
    kmcl_bus_offer_arrived(e->ue_ch, &e->ue_u.offer);
    break;
  case KMCL_UP_OPEN_RESULT:
    kmcl_bus_open_result(e->ue_ch, e->ue_u.status);
    break;
  case KMCL_UP_RESCINDED:
    kmcl_bus_rescinded(e->ue_ch);
    break;
  case KMCL_UP_OPEN_REQUEST:
    kmcl_bus_open_request(e->ue_ch, &e->ue_u.open);
    break;
  case KMCL_UP_CLOSE_REQUEST:
    kmcl_bus_close_request(e->ue_ch);
    break;
  }
}

/** Work item: one event at a time, unlinked before its up-call (which may
 * post more events or forget others). */
static void upq_work(void *arg) {
  struct kmcl_upq *q = arg;
  struct kmcl_up_event *e;
  while ((e = STAILQ_FIRST(&q->uq_list)) != NULL) {
    STAILQ_REMOVE_HEAD(&q->uq_list, ue_link);
    q->uq_len--;
    if (q->uq_gate && !q->uq_gate(q->uq_ctx, e)) {
      q->uq_vetoed++;
    } else {
      q->uq_delivered++;
      upq_deliver(e);
    }
    free(e);
  }
}

void kmcl_upq_init(struct kmcl_upq *q, bool (*gate)(void *, const struct kmcl_up_event *),
                   void *ctx) {
  memset(q, 0, sizeof(*q));
  STAILQ_INIT(&q->uq_list);
  ev_item_init(&q->uq_work, upq_work, q);
  q->uq_gate = gate;
  q->uq_ctx = ctx;
}

int kmcl_upq_post(struct kmcl_upq *q, enum kmcl_up_type type, VMBCHANNEL ch, const void *arg) {
  bool need = type == KMCL_UP_OFFER || type == KMCL_UP_OPEN_RESULT || type == KMCL_UP_OPEN_REQUEST;
  if (!ch || (need && !arg) || (unsigned)type > KMCL_UP_CLOSE_REQUEST)
    return -EINVAL;
  struct kmcl_up_event *e = upq_node_alloc(type);
  if (!e) {
    if (q->uq_failed++ == 0)
      pr_err("kmcl: no memory for a bus up-call; the bus reports the lost event\n");
    return -ENOMEM;
  }
  e->ue_type = type;
  e->ue_ch = ch;
  if (type == KMCL_UP_OFFER)
    e->ue_u.offer = *(const struct kmcl_bus_offer *)arg;
  else if (type == KMCL_UP_OPEN_RESULT)
    e->ue_u.status = *(const int32_t *)arg;
  else if (type == KMCL_UP_OPEN_REQUEST)
    e->ue_u.open = *(const struct kmcl_bus_open *)arg;
  STAILQ_INSERT_TAIL(&q->uq_list, e, ue_link);
  if (++q->uq_len > q->uq_high)
    q->uq_high = q->uq_len;
  ev_work_queue(&q->uq_work);
  return 0;
}

void kmcl_upq_forget(struct kmcl_upq *q, VMBCHANNEL ch, unsigned types) {
  struct kmcl_up_event *e = STAILQ_FIRST(&q->uq_list), *n;
  for (; e; e = n) {
    n = STAILQ_NEXT(e, ue_link);
    if (e->ue_ch != ch || !(types & (1u << e->ue_type)))
      continue;
    STAILQ_REMOVE(&q->uq_list, e, kmcl_up_event, ue_link);
    q->uq_len--;
    free(e);
  }
}

void kmcl_upq_fini(struct kmcl_upq *q) {
  ev_cancel(&q->uq_work);
  struct kmcl_up_event *e;
  while ((e = STAILQ_FIRST(&q->uq_list)) != NULL) {
    STAILQ_REMOVE_HEAD(&q->uq_list, ue_link);
    free(e);
  }
  q->uq_len = 0;
}
