/* kmcl/gpadl.c: GPADLs (KMCL-REFERENCE.md 2.4), MDL helpers, transfer page
 * sets, and the mapping of MDLs KMCL hands to a server.
 *
 * A client creates GPADLs over its own memory (the guest always donates
 * shared memory); the server maps them and gets an MDL without a virtual
 * address. Every GPADL is one range (PROTOCOL-REFERENCE.md 2.5: the only
 * form every host accepts), so a multi-piece MDL chain must be contiguous in
 * the byte stream: inner pieces start and end on page boundaries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"

uint32_t kmcl_live_gpadls;

/* ---- MDL helpers ------------------------------------------------------------ */

/** An MDL's Size field: its bytes, header and PFN array, capped at what
 * the CSHORT holds (nothing here reads it back). */
static CSHORT mdl_size_field(size_t sz) { return (CSHORT)(sz > 0x7fff ? 0x7fff : sz); }

size_t kmcl_mdl_size(const void *va, uint32_t len) {
  return sizeof(MDL) + sizeof(PFN_NUMBER) * ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, len);
}

bool kmcl_mdl_init(PMDL mdl, void *va, uint32_t len) {
  if (!mdl || (!va && len))
    return false;
  uint32_t np = ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, len);
  uintptr_t start = (uintptr_t)va & ~(uintptr_t)(PAGE_SIZE - 1);
  memset(mdl, 0, sizeof(*mdl));
  mdl->Size = mdl_size_field(kmcl_mdl_size(va, len));
  mdl->StartVa = (void *)start;
  mdl->MappedSystemVa = va;
  mdl->ByteOffset = (ULONG)((uintptr_t)va & (PAGE_SIZE - 1));
  mdl->ByteCount = len;
  for (uint32_t i = 0; i < np; i++) {
    uint64_t pa = hw_virt_to_phys((const void *)(start + (uintptr_t)i * PAGE_SIZE));
    if (pa == UINT64_MAX)
      return false;
    mdl->PfnArray[i] = pa >> PAGE_SHIFT;
  }
  return true;
}

PMDL kmcl_mdl_alloc(void *va, uint32_t len) {
  PMDL m = malloc(kmcl_mdl_size(va, len));
  if (m && !kmcl_mdl_init(m, va, len)) {
    free(m);
    return NULL;
  }
  return m;
}

void kmcl_mdl_free(PMDL mdl) { free(mdl); }

PMDL gpadl_pfn_mdl(const void *pfns, uint32_t n, uint32_t off, uint32_t count) {
  size_t sz = sizeof(MDL) + sizeof(PFN_NUMBER) * (size_t)n;
  PMDL m = calloc(1, sz);
  if (!m)
    return NULL;
  m->Size = mdl_size_field(sz);
  m->ByteOffset = off;
  m->ByteCount = count;
  memcpy(m->PfnArray, pfns, sizeof(PFN_NUMBER) * (size_t)n); /* no StartVa: "map it yourself" */
  return m;
}

void gpadl_mdl_chain_free(PMDL head) {
  for (PMDL m = head, next; m; m = next) {
    next = m->Next;
    free(m);
  }
}

void *kmcl_mdl_map(VMBCHANNEL Channel, PMDL Mdl, uint32_t offset, uint32_t len) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !Mdl || offset > Mdl->ByteCount || len > Mdl->ByteCount - offset)
    return NULL;
  uint64_t abs = (uint64_t)Mdl->ByteOffset + offset;
  uint32_t first = (uint32_t)(abs / PAGE_SIZE);
  uint32_t np = (uint32_t)(((abs % PAGE_SIZE) + len + PAGE_SIZE - 1) / PAGE_SIZE);
  if (np == 0)
    np = 1;
  if (first + np > kmcl_mdl_page_count(Mdl) && len)
    return NULL;
  for (uint32_t i = 1; i < np; i++)
    if (Mdl->PfnArray[first + i] != Mdl->PfnArray[first] + i)
      return NULL; /* not contiguous here: the caller must go page by page */
  uint64_t gpa = (Mdl->PfnArray[first] << PAGE_SHIFT) + abs % PAGE_SIZE;
  if (ch->ch_server && ch->ch_bus && ch->ch_bus->kb_ops->gpa_ptr)
    return ch->ch_bus->kb_ops->gpa_ptr(ch->ch_bus, gpa, len ? len : 1);
  return hw_phys_to_virt(gpa);
}

/* ---- records ---------------------------------------------------------------- */

struct kmcl_gpadl *gpadl_find(struct kmcl_channel *ch, uint32_t handle, bool server) {
  for (struct kmcl_gpadl *g = LIST_FIRST(&ch->ch_gpadls); g; g = LIST_NEXT(g, g_link))
    if (g->g_handle == handle && g->g_server == server)
      return g;
  return NULL;
}

static void gpadl_unlink(struct kmcl_channel *ch, struct kmcl_gpadl *g) {
  LIST_REMOVE(g, g_link);
  for (uint32_t i = 0; i < KMCL_XFER_SETS; i++)
    if (ch->ch_xfer[i].used && ch->ch_xfer[i].gpadl == g->g_handle)
      ch->ch_xfer[i].used = false;
  if (!g->g_server)
    free(g->g_pfns);
  free(g->g_mdl);
  free(g);
  kmcl_live_gpadls--;
}

/* Fills record `g` (handle, access, the pages and the byte range in them)
 * and links it to the channel; the channel owns it from here on
 * (gpadl_unlink frees it). */
static void gpadl_link(struct kmcl_channel *ch, struct kmcl_gpadl *g, uint32_t handle, bool ro,
                       uint64_t *pfns, uint32_t n, uint32_t off, uint32_t count) {
  g->g_handle = handle;
  g->g_read_only = ro;
  g->g_npfn = n;
  g->g_offset = off;
  g->g_count = count;
  g->g_pfns = pfns;
  LIST_INSERT_HEAD(&ch->ch_gpadls, g, g_link);
  kmcl_live_gpadls++;
}

/** GPADL create/delete may be called from Opened on (reference 2.4). */
static bool gpadl_conn_ok(const struct kmcl_channel *ch) {
  return ch->ch_conn == KC_OPEN || ch->ch_conn == KC_OPENING || ch->ch_conn == KC_CLOSING;
}

/** Create a client GPADL over pfns (copied into the record on success). */
static NTSTATUS gpadl_create(struct kmcl_channel *ch, uint32_t flags, uint64_t *pfns, uint32_t n,
                             uint32_t off, uint32_t count, PUINT32 handle) {
  struct kmcl_gpadl *g = calloc(1, sizeof(*g));
  if (!g) {
    free(pfns);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  bool ro = (flags & VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY) != 0;
  uint32_t h = 0;
  int rc = ch->ch_bus->kb_ops->gpadl_create(ch->ch_bus, ch, pfns, n, off, count, ro, &h);
  if (rc) {
    free(pfns);
    free(g);
    if (rc == -ETIMEDOUT) /* kmcl/bus.h: the host may hold the pages (2.4 F1) */
      pr_err("kmcl %s: GPADL create unanswered: the buffer may be shared with the host for "
             "good; never reuse it\n",
             ch->ch_name);
    else
      pr_warn("kmcl %s: GPADL create failed (%d)\n", ch->ch_name, rc);
    return chan_errno_status(rc);
  }
  gpadl_link(ch, g, h, ro, pfns, n, off, count);
  *handle = h;
  return STATUS_SUCCESS;
}

static NTSTATUS gpadl_check(struct kmcl_channel *ch, uint32_t flags) {
  if (!chan_valid(ch) || ch->ch_server)
    return STATUS_INVALID_PARAMETER_1;
  if (flags & ~VMBUS_CHANNEL_GPADL_FLAGS)
    return STATUS_INVALID_PARAMETER_2;
  if (kmcl_dispatch_depth || !gpadl_conn_ok(ch))
    return STATUS_INVALID_DEVICE_STATE;
  return STATUS_SUCCESS;
}

NTSTATUS VmbChannelCreateGpadlFromMdl(VMBCHANNEL Channel, UINT32 Flags, PMDL Mdl,
                                      UINT32 StartOffsetWithinMdl, UINT32 DataLengthWithinMdl,
                                      PUINT32 GpadlHandle) {
  NTSTATUS st = gpadl_check(Channel, Flags);
  if (!NT_SUCCESS(st))
    return st;
  if (!Mdl)
    return STATUS_INVALID_PARAMETER_3;
  if (!GpadlHandle)
    return STATUS_INVALID_PARAMETER;
  /* Walk the chain: skip StartOffset bytes, take DataLength (0 = to the end);
   * the pieces must join into one page-aligned-inside range. */
  uint64_t chain = 0;
  uint32_t pages = 0;
  for (PMDL m = Mdl; m; m = m->Next) {
    chain += m->ByteCount;
    pages += kmcl_mdl_page_count(m);
  }
  if (StartOffsetWithinMdl >= chain)
    return STATUS_INVALID_PARAMETER;
  uint64_t want = DataLengthWithinMdl ? DataLengthWithinMdl : chain - StartOffsetWithinMdl;
  if (want > chain - StartOffsetWithinMdl || want > UINT32_MAX - PAGE_SIZE)
    return STATUS_INVALID_PARAMETER;
  uint64_t *pfns = malloc(sizeof(uint64_t) * (pages + 1u));
  if (!pfns)
    return STATUS_INSUFFICIENT_RESOURCES;
  uint32_t n = 0, first_off = 0;
  uint64_t skip = StartOffsetWithinMdl, left = want;
  for (PMDL m = Mdl; m && left; m = m->Next) {
    if (skip >= m->ByteCount) {
      skip -= m->ByteCount;
      continue;
    }
    uint64_t start = (uint64_t)m->ByteOffset + skip;
    uint64_t take = m->ByteCount - skip < left ? m->ByteCount - skip : left;
    skip = 0;
    uint32_t off = (uint32_t)(start % PAGE_SIZE);
    if (n == 0)
      first_off = off;
    else if (off != 0)
      goto bad; /* a later piece must start on a page boundary */
    left -= take;
    if (left && (start + take) % PAGE_SIZE)
      goto bad; /* an inner piece must end on a page boundary */
    uint32_t fp = (uint32_t)(start / PAGE_SIZE);
    uint32_t np = (uint32_t)((off + take + PAGE_SIZE - 1) / PAGE_SIZE);
    for (uint32_t i = 0; i < np; i++)
      pfns[n++] = m->PfnArray[fp + i];
  }
  return gpadl_create(Channel, Flags, pfns, n, first_off, (uint32_t)want, GpadlHandle);
bad:
  free(pfns);
  return STATUS_INVALID_PARAMETER;
}

NTSTATUS VmbChannelCreateGpadlFromBuffer(VMBCHANNEL Channel, UINT32 Flags, PVOID Buffer,
                                         UINT32 ByteCount, PUINT32 GpadlHandle) {
  NTSTATUS st = gpadl_check(Channel, Flags);
  if (!NT_SUCCESS(st))
    return st;
  if (!Buffer)
    return STATUS_INVALID_PARAMETER_3;
  if (ByteCount == 0 || ByteCount > UINT32_MAX - PAGE_SIZE || !GpadlHandle)
    return STATUS_INVALID_PARAMETER;
  uint32_t np = ADDRESS_AND_SIZE_TO_SPAN_PAGES(Buffer, ByteCount);
  uint64_t *pfns = malloc(sizeof(uint64_t) * np);
  if (!pfns)
    return STATUS_INSUFFICIENT_RESOURCES;
  uintptr_t base = (uintptr_t)Buffer & ~(uintptr_t)(PAGE_SIZE - 1);
  for (uint32_t i = 0; i < np; i++) {
    uint64_t pa = hw_virt_to_phys((const void *)(base + (uintptr_t)i * PAGE_SIZE));
    if (pa == UINT64_MAX) {
      free(pfns);
      return STATUS_INVALID_PARAMETER; /* not guest memory */
    }
    pfns[i] = pa >> PAGE_SHIFT;
  }
  return gpadl_create(Channel, Flags, pfns, np, (uint32_t)((uintptr_t)Buffer & (PAGE_SIZE - 1)),
                      ByteCount, GpadlHandle);
}

VOID VmbChannelDeleteGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || ch->ch_server)
    return;
  if (kmcl_dispatch_depth) {
    pr_err("kmcl %s: VmbChannelDeleteGpadl at dispatch level; ignored\n", ch->ch_name);
    return;
  }
  struct kmcl_gpadl *g = gpadl_find(ch, GpadlHandle, false);
  if (!g) {
    pr_warn("kmcl %s: delete of unknown GPADL %#x\n", ch->ch_name, (unsigned)GpadlHandle);
    return;
  }
  /* Blocks while the server maps it (bounded: bus.h). */
  int rc = ch->ch_bus->kb_ops->gpadl_teardown(ch->ch_bus, ch, GpadlHandle);
  if (rc)
    pr_err("kmcl %s: GPADL %#x teardown failed (%d): the server may still use its pages\n",
           ch->ch_name, (unsigned)GpadlHandle, rc);
  gpadl_unlink(ch, g);
}

NTSTATUS VmbChannelMapGpadl(VMBCHANNEL Channel, UINT32 Flags, UINT32 GpadlHandle, PMDL *Mdl) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !ch->ch_server)
    return STATUS_INVALID_PARAMETER_1;
  if (Flags & ~VMBUS_CHANNEL_GPADL_FLAGS)
    return STATUS_INVALID_PARAMETER_2;
  if (!Mdl)
    return STATUS_INVALID_PARAMETER;
  if (!gpadl_conn_ok(ch))
    return STATUS_INVALID_DEVICE_STATE;
  if (GpadlHandle == 0 || GpadlHandle == ch->ch_ring_gpadl)
    return STATUS_INVALID_PARAMETER_3;
  if (gpadl_find(ch, GpadlHandle, true))
    return STATUS_INVALID_DEVICE_STATE; /* one mapping per GPADL */
  const uint64_t *pfns;
  uint32_t n, off, count;
  bool ro = (Flags & VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY) != 0;
  int rc = ch->ch_bus->kb_ops->gpadl_map(ch->ch_bus, ch, GpadlHandle, ro, &pfns, &n, &off, &count);
  if (rc == -ENOENT)
    return STATUS_INVALID_PARAMETER_3;
  if (rc)
    return chan_errno_status(rc);
  struct kmcl_gpadl *g = calloc(1, sizeof(*g));
  PMDL m = gpadl_pfn_mdl(pfns, n, off, count);
  if (!g || !m) {
    free(g);
    free(m);
    ch->ch_bus->kb_ops->gpadl_unmap(ch->ch_bus, ch, GpadlHandle);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  g->g_server = true;
  g->g_mdl = m;
  gpadl_link(ch, g, GpadlHandle, ro, m->PfnArray, n, off, count);
  *Mdl = m;
  return STATUS_SUCCESS;
}

VOID VmbChannelUnmapGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !ch->ch_server)
    return;
  struct kmcl_gpadl *g = gpadl_find(ch, GpadlHandle, true);
  if (!g) {
    pr_warn("kmcl %s: unmap of a GPADL that is not mapped (%#x)\n", ch->ch_name,
            (unsigned)GpadlHandle);
    return;
  }
  ch->ch_bus->kb_ops->gpadl_unmap(ch->ch_bus, ch, GpadlHandle);
  gpadl_unlink(ch, g);
}

/** After Closed on a server: mappings the driver left are unmapped (the
 * client's DeleteGpadl would otherwise wait for them). */
void gpadl_close_cleanup(struct kmcl_channel *ch) {
  struct kmcl_gpadl *g = LIST_FIRST(&ch->ch_gpadls), *n;
  for (; g; g = n) {
    n = LIST_NEXT(g, g_link);
    if (!g->g_server)
      continue;
    pr_warn("kmcl %s: GPADL %#x still mapped after Closed; unmapping\n", ch->ch_name,
            (unsigned)g->g_handle);
    ch->ch_bus->kb_ops->gpadl_unmap(ch->ch_bus, ch, g->g_handle);
    gpadl_unlink(ch, g);
  }
}

void gpadl_channel_release(struct kmcl_channel *ch) {
  struct kmcl_gpadl *g;
  while ((g = LIST_FIRST(&ch->ch_gpadls)) != NULL) {
    pr_warn("kmcl %s: GPADL %#x never %s; forgotten at cleanup\n", ch->ch_name,
            (unsigned)g->g_handle, g->g_server ? "unmapped" : "deleted");
    gpadl_unlink(ch, g);
  }
}

/* ---- transfer page sets --------------------------------------------------------- */

NTSTATUS kmcl_channel_bind_xfer_pageset(VMBCHANNEL Channel, UINT16 PagesetId, UINT32 GpadlHandle) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (!gpadl_find(ch, GpadlHandle, ch->ch_server))
    return STATUS_INVALID_PARAMETER_3;
  int free_i = -1;
  for (uint32_t i = 0; i < KMCL_XFER_SETS; i++) {
    if (ch->ch_xfer[i].used && ch->ch_xfer[i].id == PagesetId) {
      ch->ch_xfer[i].gpadl = GpadlHandle;
      return STATUS_SUCCESS;
    }
    if (!ch->ch_xfer[i].used && free_i < 0)
      free_i = (int)i;
  }
  if (free_i < 0)
    return STATUS_INSUFFICIENT_RESOURCES;
  ch->ch_xfer[free_i].used = true;
  ch->ch_xfer[free_i].id = PagesetId;
  ch->ch_xfer[free_i].gpadl = GpadlHandle;
  return STATUS_SUCCESS;
}

PMDL gpadl_xfer_mdl(struct kmcl_channel *ch, uint16_t set_id, const struct vmtransfer_page_range *r,
                    uint32_t n) {
  struct kmcl_gpadl *g = NULL;
  for (uint32_t i = 0; i < KMCL_XFER_SETS; i++)
    if (ch->ch_xfer[i].used && ch->ch_xfer[i].id == set_id)
      g = gpadl_find(ch, ch->ch_xfer[i].gpadl, ch->ch_server);
  if (!g)
    return NULL;
  PMDL head = NULL, *tail = &head;
  for (uint32_t i = 0; i < n; i++) {
    struct vmtransfer_page_range rr;
    memcpy(&rr, &r[i], sizeof(rr)); /* from our private copy of the packet */
    if (rr.byte_offset > g->g_count || rr.byte_count > g->g_count - rr.byte_offset) {
      chan_fail(ch, -EPROTO, "transfer page range outside its page set");
      goto fail;
    }
    uint64_t abs = (uint64_t)g->g_offset + rr.byte_offset;
    uint32_t first = (uint32_t)(abs / PAGE_SIZE);
    uint32_t np = (uint32_t)(((abs % PAGE_SIZE) + rr.byte_count + PAGE_SIZE - 1) / PAGE_SIZE);
    if (first + np > g->g_npfn) {
      chan_fail(ch, -EPROTO, "transfer page range outside its page set");
      goto fail;
    }
    PMDL m = gpadl_pfn_mdl(g->g_pfns + first, np, (uint32_t)(abs % PAGE_SIZE), rr.byte_count);
    if (!m)
      goto fail;
    *tail = m;
    tail = &m->Next;
  }
  return head;
fail:
  gpadl_mdl_chain_free(head);
  return NULL;
}
