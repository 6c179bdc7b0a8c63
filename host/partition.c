/* host/partition.c: guest memory, interrupt injection and errors of a partition. */
#include "host/partition.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/log.h"

const uint8_t part_hypercall_code[7] = {0xf3, 0x0f, 0x1e, 0xfa, 0xe6, PART_HYPERCALL_PORT, 0xc3};

static struct log_ratelimit part_gpa_rl = LOG_RATELIMIT_INIT(1000, 10);

void part_init(struct partition *p, const struct part_ops *ops, void *backend) {
  memset(p, 0, sizeof(*p));
  p->p_ops = ops;
  p->p_backend = backend;
  p->p_vp_count = 1;
}

void part_destroy(struct partition *p) {
  if (p->p_ops && p->p_ops->po_destroy)
    p->p_ops->po_destroy(p);
  p->p_nregions = 0;
  p->p_backend = NULL;
}

int part_add_region(struct partition *p, uint64_t gpa, uint64_t size, void *host) {
  if (!size || !host || gpa > UINT64_MAX - size)
    return -EINVAL;
  for (unsigned i = 0; i < p->p_nregions; i++) {
    const struct part_region *r = &p->p_regions[i];
    if (gpa < r->pr_gpa + r->pr_size && r->pr_gpa < gpa + size)
      return -EINVAL;
  }
  if (p->p_nregions >= PART_MAX_REGIONS)
    return -ENOSPC;
  p->p_regions[p->p_nregions++] = (struct part_region){gpa, size, host};
  return 0;
}

void *part_gpa_ptr(const struct partition *p, uint64_t gpa, uint64_t len) {
  if (len == 0)
    len = 1;
  for (unsigned i = 0; i < p->p_nregions; i++) {
    const struct part_region *r = &p->p_regions[i];
    if (gpa < r->pr_gpa)
      continue;
    uint64_t off = gpa - r->pr_gpa;
    /* off > size || len > size - off, never off + len > size */
    if (off >= r->pr_size || len > r->pr_size - off)
      continue;
    return r->pr_host + off;
  }
  return NULL;
}

void *part_gpa_ptr_checked(struct partition *p, uint64_t gpa, uint64_t len, const char *file,
                           int line) {
  void *ptr = part_gpa_ptr(p, gpa, len);
  if (!ptr) {
    p->p_bad_gpa++;
    if (log_ratelimit_ok(&part_gpa_rl))
      pr_warn("hvhost: %s:%d: guest address 0x%llx+0x%llx is outside guest memory\n", file, line,
              (unsigned long long)gpa, (unsigned long long)len);
  }
  return ptr;
}

bool part_pfn_valid(const struct partition *p, uint64_t pfn) {
  if (pfn > (UINT64_MAX >> 12))
    return false;
  return part_gpa_ptr(p, pfn << 12, 4096) != NULL;
}

int part_inject(struct partition *p, uint32_t vp, uint8_t vector) {
  if (!p->p_ops || !p->p_ops->po_inject || vp >= p->p_vp_count)
    return -EINVAL;
  p->p_injections++;
  return p->p_ops->po_inject(p, vp, vector);
}

void part_fail_at(struct partition *p, const char *file, int line, const char *fmt, ...) {
  char buf[PART_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  pr_err("hvhost: %s:%d: %s\n", file, line, buf);
  if (p->p_failed)
    return;
  p->p_failed = true;
  p->p_err_file = file;
  p->p_err_line = line;
  memcpy(p->p_err, buf, sizeof(buf));
}
