/* host/kvm.c: the KVM backend: one VM, one vCPU, exits to the emulator. */
#include "host/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/multiboot.h"
#include "host/acpi_fw.h"
#include "host/hvemu.h"
#include "host/kvm_pvm.h"
#include "host/linux_boot.h"
#include "host/linuxboot.h"
#include "host/pcio.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/timer.h"

#define HVK_COM1 0x3f8
#define HVK_EXIT_PORT 0xf4
/* Where the loader puts the multiboot information (below 1 MiB, which the
 * kernel never allocates): the info block, the memory map, the command
 * line and the loader name, each in its own slot. */
#define HVK_MBI_ADDR 0x8000u
#define HVK_MMAP_ADDR 0x8100u
#define HVK_CMDLINE_ADDR 0x8400u
#define HVK_CMDLINE_MAX 2048u
#define HVK_LOADER_ADDR 0x8c00u
#define HVK_LOW_RAM_END 0x9fc00u
#define HVK_KERNEL_MIN_ADDR 0x100000u
#define HVK_MAX_MEM (3ull << 30) /* the kernel maps 3-4 GiB uncached (MMIO) */
/* Host work gets a turn at least this often while the guest runs. */
#define HVK_POLL_NS 10000000ull
#define HVK_MAX_CPUID 256
/* After the kernel wrote its exit status, how long it has to power the VM
 * off through ACPI before the run ends without (power=none). */
#define HVK_POWER_OFF_GRACE_NS 2000000000ull

struct hvk {
  struct hvk_config k_cfg;
  int k_kvm, k_vm, k_vcpu;
  struct kvm_run *k_run;
  size_t k_run_size;
  uint8_t *k_mem;
  struct partition k_part;
  struct hvemu *k_emu;
  struct hvk_stats k_stats;
  uint64_t k_created_ns;
  uint32_t k_entry;
  bool k_linux;               /* the image is a bzImage: 64-bit boot protocol */
  struct lxb_entry k_lxentry; /* its entry state */
  bool k_pvm;                 /* kvm-pvm: emulate what it refuses (host/kvm_pvm.h) */
  unsigned k_pvm_seen;        /* bit per enum pvm_action already logged */
  struct pcio_uart k_uart;
  struct pcio_rtc k_rtc;
  char k_line[256]; /* console line being assembled */
  size_t k_line_len;
  struct acpifw_pm k_pm; /* PIIX4-style PM block, 0xCF9, 0x64 */
  struct acpifw_layout k_acpi;
  uint64_t k_status_ns; /* when the kernel wrote port 0xf4 (0: not yet) */
};

const char *hvk_unusable_reason(void) {
  static char why[160];
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, sizeof(why), "/dev/kvm: %s", strerror(errno));
    return why;
  }
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  if (v != KVM_API_VERSION) {
    snprintf(why, sizeof(why), "/dev/kvm: API version %d, expected %d", v, KVM_API_VERSION);
    return why;
  }
  return NULL;
}

/* ---- partition backend ---------------------------------------------------- */

/* Fixed-delivery MSI to the LAPIC of APIC id 0: the SINT's vector. The
 * ioctl wakes a halted vCPU inside the kernel (KVM-NOTES.md). */
static int hvk_inject(struct partition *p, uint32_t vp, uint8_t vector) {
  struct hvk *vm = p->p_backend;
  (void)vp;
  struct kvm_msi msi;
  memset(&msi, 0, sizeof(msi));
  msi.address_lo = 0xfee00000u;
  msi.data = vector;
  int r = ioctl(vm->k_vm, KVM_SIGNAL_MSI, &msi);
  if (r < 0)
    return -errno;
  vm->k_stats.ks_intr_injected++;
  return 0;
}

static const struct part_ops hvk_part_ops = {
    .po_name = "kvm",
    .po_inject = hvk_inject,
    .po_write_hypercall_page = NULL, /* part_hypercall_code: OUT to 0xe5 */
    .po_destroy = NULL,
};

struct partition *hvk_partition(struct hvk *vm) {
  return &vm->k_part;
}
const struct hvk_stats *hvk_stats(const struct hvk *vm) { return &vm->k_stats; }

/* ---- creation ------------------------------------------------------------- */

/* Synthetic MSRs exit to us: KVM's MSR filter denies 0x40000000-0x400001FF
 * (KVM-NOTES.md: Linux touches 0x40000118 too), everything else stays with
 * KVM; MSRs KVM does not know exit as UNKNOWN and get a #GP here. 0, or -1
 * with errno and *step naming the ioctl that failed. */
static int hvk_msr_exits(struct hvk *vm, const char **step) {
  struct kvm_enable_cap cap;
  memset(&cap, 0, sizeof(cap));
  cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
  cap.args[0] =
      KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL;
  *step = "KVM_ENABLE_CAP(X86_USER_SPACE_MSR)";
  if (ioctl(vm->k_vm, KVM_ENABLE_CAP, &cap) < 0)
    return -1;
  static uint8_t deny[(HV_X64_MSR_RANGE_LAST - HV_X64_MSR_RANGE_FIRST + 1) / 8];
  struct kvm_msr_filter filter;
  memset(&filter, 0, sizeof(filter));
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  filter.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
  filter.ranges[0].base = HV_X64_MSR_RANGE_FIRST;
  filter.ranges[0].nmsrs = HV_X64_MSR_RANGE_LAST - HV_X64_MSR_RANGE_FIRST + 1;
  filter.ranges[0].bitmap = deny; /* all zero: deny = exit to user space */
  *step = "KVM_X86_SET_MSR_FILTER";
  return ioctl(vm->k_vm, KVM_X86_SET_MSR_FILTER, &filter) < 0 ? -1 : 0;
}

/* The VM itself: /dev/kvm, KVM_CREATE_VM, the in-kernel interrupt
 * controllers and the PIT. 0, or -1 with errno and *step naming the call
 * that failed; what was opened is in vm for hvk_destroy either way. */
static int hvk_open_vm(struct hvk *vm, const char **step) {
  *step = "open /dev/kvm";
  if ((vm->k_kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
    return -1;
  *step = "KVM_CREATE_VM";
  if ((vm->k_vm = ioctl(vm->k_kvm, KVM_CREATE_VM, 0)) < 0)
    return -1;
  /* VMX wants a TSS area for real mode; other backends ignore it. */
  ioctl(vm->k_vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
  *step = "KVM_CREATE_IRQCHIP";
  if (ioctl(vm->k_vm, KVM_CREATE_IRQCHIP, 0) < 0)
    return -1;
  struct kvm_pit_config pit;
  memset(&pit, 0, sizeof(pit));
  *step = "KVM_CREATE_PIT2";
  return ioctl(vm->k_vm, KVM_CREATE_PIT2, &pit) < 0 ? -1 : 0;
}

/* Guest RAM: kc_mem_bytes of anonymous memory, slot 0 at guest physical 0.
 * 0, or -1 with errno and *step (as hvk_open_vm). */
static int hvk_map_memory(struct hvk *vm, const char **step) {
  uint64_t bytes = vm->k_cfg.kc_mem_bytes;
  void *mem =
      mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  *step = "mmap guest memory";
  if (mem == MAP_FAILED)
    return -1;
  vm->k_mem = mem;
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = 0,
      .memory_size = bytes,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  *step = "KVM_SET_USER_MEMORY_REGION";
  return ioctl(vm->k_vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -1 : 0;
}

/* The one vCPU and its shared kvm_run page. 0, or -1 with errno and *step
 * (as hvk_open_vm). */
static int hvk_create_vcpu(struct hvk *vm, const char **step) {
  *step = "KVM_CREATE_VCPU";
  if ((vm->k_vcpu = ioctl(vm->k_vm, KVM_CREATE_VCPU, 0)) < 0)
    return -1;
  *step = "KVM_GET_VCPU_MMAP_SIZE";
  int sz = ioctl(vm->k_kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (sz < 0)
    return -1;
  void *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vm->k_vcpu, 0);
  *step = "mmap kvm_run";
  if (run == MAP_FAILED)
    return -1;
  vm->k_run = run;
  vm->k_run_size = (size_t)sz;
  return 0;
}

struct hvk *hvk_create(const struct hvk_config *cfg, char *err, size_t errlen) {
  if (cfg->kc_mem_bytes < (16u << 20) || cfg->kc_mem_bytes > HVK_MAX_MEM ||
      (cfg->kc_mem_bytes & 0xfffff)) {
    snprintf(err, errlen, "memory size %lu MiB: need a whole number of MiB from 16 to %llu",
             (unsigned long)(cfg->kc_mem_bytes >> 20), HVK_MAX_MEM >> 20);
    return NULL;
  }
  struct hvk *vm = calloc(1, sizeof(*vm));
  if (!vm) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  vm->k_cfg = *cfg;
  vm->k_kvm = vm->k_vm = vm->k_vcpu = -1;
  vm->k_created_ns = hw_now_ns();
  vm->k_pvm = pvm_detect();
  const char *step;
  if (hvk_open_vm(vm, &step) < 0 || hvk_map_memory(vm, &step) < 0 || hvk_msr_exits(vm, &step) < 0 ||
      hvk_create_vcpu(vm, &step) < 0) {
    snprintf(err, errlen, "%s failed: %s", step, strerror(errno));
    goto fail;
  }
  part_init(&vm->k_part, &hvk_part_ops, vm);
  if (part_add_region(&vm->k_part, 0, cfg->kc_mem_bytes, vm->k_mem) != 0) {
    snprintf(err, errlen, "partition: cannot add the memory region");
    goto fail;
  }
  return vm;

fail:
  hvk_destroy(vm);
  return NULL;
}

void hvk_destroy(struct hvk *vm) {
  if (!vm)
    return;
  if (vm->k_run)
    munmap(vm->k_run, vm->k_run_size);
  if (vm->k_vcpu >= 0)
    close(vm->k_vcpu);
  if (vm->k_vm >= 0)
    close(vm->k_vm);
  if (vm->k_kvm >= 0)
    close(vm->k_kvm);
  if (vm->k_mem)
    munmap(vm->k_mem, vm->k_cfg.kc_mem_bytes);
  free(vm);
}

/* ---- set-up: CPUID, kernel, registers ------------------------------------- */

static int hvk_set_cpuid(struct hvk *vm, char *err, size_t errlen) {
  size_t bytes = sizeof(struct kvm_cpuid2) + HVK_MAX_CPUID * sizeof(struct kvm_cpuid_entry2);
  struct kvm_cpuid2 *c = calloc(1, bytes);
  if (!c)
    return -ENOMEM;
  c->nent = HVK_MAX_CPUID;
  if (ioctl(vm->k_kvm, KVM_GET_SUPPORTED_CPUID, c) < 0) {
    snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
    free(c);
    return -errno;
  }
  /* Drop KVM's own hypervisor leaves ("KVMKVMKVM" at 0x40000000, pitfall 3)
   * and put the Hyper-V leaves there. */
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->nent; i++) {
    struct kvm_cpuid_entry2 *e = &c->entries[i];
    if (e->function >= 0x40000000u && e->function < 0x40010000u)
      continue;
    if (e->function == 1)
      e->ecx |= 1u << 31; /* hypervisor present */
    c->entries[n++] = *e;
  }
  for (uint32_t leaf = 0x40000000u; leaf <= HVEMU_MAX_LEAF && n < HVK_MAX_CPUID; leaf++) {
    struct hw_cpuid_regs r = {0, 0, 0, 0};
    hvemu_cpuid(vm->k_emu, leaf, 0, &r);
    c->entries[n++] = (struct kvm_cpuid_entry2){
        .function = leaf, .eax = r.eax, .ebx = r.ebx, .ecx = r.ecx, .edx = r.edx};
  }
  c->nent = n;
  int rc = ioctl(vm->k_vcpu, KVM_SET_CPUID2, c);
  if (rc < 0)
    snprintf(err, errlen, "KVM_SET_CPUID2 failed: %s", strerror(errno));
  free(c);
  return rc < 0 ? -errno : 0;
}

/* Read a whole file of at most `max` bytes (the guest's memory) into a
 * malloc'ed buffer: 0, or -errno with a message. */
static int hvk_read_file(const char *path, uint64_t max, uint8_t **buf, long *size, char *err,
                         size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    return -e;
  }
  struct stat sb;
  const char *notk = NULL;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
    notk = "not a regular file";
  else if ((uint64_t)sb.st_size > max)
    notk = "larger than guest memory";
  if (notk) {
    snprintf(err, errlen, "%s: not a kernel image (%s)", path, notk);
    fclose(f);
    return -ENOEXEC;
  }
  long fsize = (long)sb.st_size;
  uint8_t *img = fsize > 0 ? malloc((size_t)fsize) : NULL;
  if (!img || fread(img, 1, (size_t)fsize, f) != (size_t)fsize) {
    snprintf(err, errlen, "%s: cannot read it", path);
    fclose(f);
    free(img);
    return -EIO;
  }
  fclose(f);
  *buf = img;
  *size = fsize;
  return 0;
}

/* A bzImage or vmlinux: the command line (plus the kvm-pvm words, said
 * once in the log), the initrd, then host/linuxboot.c lays out the 64-bit
 * boot. */
static int hvk_load_linux(struct hvk *vm, const uint8_t *img, size_t len, bool vmlinux, char *err,
                          size_t errlen) {
  char cl[LXB_CMDLINE_MAX];
  const char *user = vm->k_cfg.kc_cmdline ? vm->k_cfg.kc_cmdline : "";
  const char *extra = vm->k_pvm ? pvm_linux_words() : "";
  int n = snprintf(cl, sizeof(cl), "%s%s%s", user, *user && *extra ? " " : "", extra);
  if (n < 0 || (size_t)n >= sizeof(cl)) {
    snprintf(err, errlen, "kernel command line longer than %u bytes", LXB_CMDLINE_MAX - 1);
    return -E2BIG;
  }
  if (vm->k_pvm)
    fprintf(stderr,
            "hvhost: kvm-pvm (software-emulated guest kernel mode): appending \"%s\" to the "
            "Linux command line; the int3 self-test, fwait and int3 at text-poke sites are "
            "emulated\n",
            extra);
  uint8_t *initrd = NULL;
  long initrd_len = 0;
  if (vm->k_cfg.kc_initrd) {
    int rc = hvk_read_file(vm->k_cfg.kc_initrd, vm->k_cfg.kc_mem_bytes, &initrd, &initrd_len, err,
                           errlen);
    if (rc)
      return rc;
  }
  int rc = (vmlinux ? lxb_load_vmlinux : lxb_load)(vm->k_mem, vm->k_cfg.kc_mem_bytes, img, len,
                                                   initrd, (size_t)initrd_len, cl, 0,
                                                   &vm->k_lxentry, err, errlen);
  free(initrd);
  vm->k_linux = rc == 0;
  return rc;
}

/* The multiboot header (spec 3.1): 4-byte aligned in the first 8 KiB of
 * the image, the magic, then flags and a checksum that sum to 0 with it.
 * Its offset in the file, or -1 when there is none. */
static long hvk_find_multiboot(const uint8_t *img, long fsize) {
  for (long o = 0; o + 32 <= fsize && o < 8192; o += 4) {
    uint32_t h[3];
    memcpy(h, img + o, sizeof(h));
    if (h[0] == 0x1BADB002u && (uint32_t)(h[0] + h[1] + h[2]) == 0)
      return o;
  }
  return -1;
}

/* Copy the image into guest memory where the multiboot header at file
 * offset hoff says, through its a.out-kludge address fields (the same
 * fields GRUB and QEMU use; linker.ld explains the layout), checking every
 * field against the file and guest memory; zero the BSS and note the
 * entry point. 0, or -ENOEXEC with a message. */
static int hvk_load_aout_kludge(struct hvk *vm, const uint8_t *img, long fsize, long hoff,
                                char *err, size_t errlen) {
  const char *path = vm->k_cfg.kc_kernel;
  uint32_t h[8];
  memcpy(h, img + hoff, sizeof(h));
  if (!(h[1] & 0x10000)) {
    snprintf(err, errlen, "%s: multiboot header without the a.out-kludge address fields", path);
    return -ENOEXEC;
  }
  uint32_t hdr = h[3], load = h[4], load_end = h[5], bss_end = h[6], entry = h[7];
  uint64_t mem = vm->k_cfg.kc_mem_bytes;
  if (hdr < load || load < HVK_KERNEL_MIN_ADDR || (uint64_t)hoff < hdr - load || load_end <= load ||
      (bss_end && bss_end < load_end) || entry < load || entry >= load_end ||
      (uint64_t)(bss_end ? bss_end : load_end) > mem) {
    snprintf(err, errlen,
             "%s: multiboot fields out of range (header %#x load %#x-%#x bss end %#x entry %#x, "
             "memory %lu MiB)",
             path, hdr, load, load_end, bss_end, entry, (unsigned long)(mem >> 20));
    return -ENOEXEC;
  }
  uint64_t foff = (uint64_t)hoff - (hdr - load);
  uint64_t len = load_end - load;
  if (foff > (uint64_t)fsize || len > (uint64_t)fsize - foff) {
    snprintf(err, errlen, "%s: the image is shorter than its multiboot header says", path);
    return -ENOEXEC;
  }
  memcpy(vm->k_mem + load, img + foff, len);
  if (bss_end > load_end)
    memset(vm->k_mem + load_end, 0, bss_end - load_end);
  vm->k_entry = entry;
  return 0;
}

/* The multiboot information structure (spec 3.3) below 1 MiB: the memory
 * sizes and map (the BIOS area reserved: it holds the ACPI tables of
 * host/acpi_fw.c), the kernel command line and the loader's name. 0, or
 * -ENOEXEC when the command line does not fit its slot. */
static int hvk_write_mbi(struct hvk *vm, char *err, size_t errlen) {
  const char *cl = vm->k_cfg.kc_cmdline ? vm->k_cfg.kc_cmdline : "";
  size_t cl_len = strlen(cl);
  if (cl_len >= HVK_CMDLINE_MAX) {
    snprintf(err, errlen, "kernel command line longer than %u bytes", HVK_CMDLINE_MAX - 1);
    return -ENOEXEC;
  }
  uint64_t mem = vm->k_cfg.kc_mem_bytes;
  struct mb_info *mbi = (struct mb_info *)(vm->k_mem + HVK_MBI_ADDR);
  memset(mbi, 0, sizeof(*mbi));
  mbi->flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP | MB_INFO_LOADER;
  mbi->mem_lower = HVK_LOW_RAM_END >> 10;
  mbi->mem_upper = (uint32_t)((mem - 0x100000) >> 10);
  const struct {
    uint64_t a, l;
    uint32_t t;
  } map[] = {
      {0, HVK_LOW_RAM_END, MB_MEMORY_AVAILABLE},
      {HVK_LOW_RAM_END, 0xa0000 - HVK_LOW_RAM_END, MB_MEMORY_RESERVED},
      {ACPIFW_AREA_START, ACPIFW_AREA_END - ACPIFW_AREA_START, MB_MEMORY_RESERVED},
      {0x100000, mem - 0x100000, MB_MEMORY_AVAILABLE},
  };
  struct mb_mmap_entry *e = (struct mb_mmap_entry *)(vm->k_mem + HVK_MMAP_ADDR);
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
    e[i].size = 20;
    e[i].addr = map[i].a;
    e[i].len = map[i].l;
    e[i].type = map[i].t;
  }
  mbi->mmap_addr = HVK_MMAP_ADDR;
  mbi->mmap_length = (uint32_t)(sizeof(map) / sizeof(map[0]) * sizeof(*e));
  memcpy(vm->k_mem + HVK_CMDLINE_ADDR, cl, cl_len + 1);
  mbi->cmdline = HVK_CMDLINE_ADDR;
  memcpy(vm->k_mem + HVK_LOADER_ADDR, "hvhost", 7);
  mbi->boot_loader_name = HVK_LOADER_ADDR;
  return 0;
}

/* Load the kernel: a Linux bzImage, a multiboot image (the header found at
 * hoff), or a Linux vmlinux, in that order of recognition. An initrd goes
 * with Linux alone: a multiboot kernel given one is refused (-EINVAL),
 * not booted without it. */
static int hvk_load_kernel(struct hvk *vm, char *err, size_t errlen) {
  uint8_t *img;
  long fsize;
  int rc = hvk_read_file(vm->k_cfg.kc_kernel, vm->k_cfg.kc_mem_bytes, &img, &fsize, err, errlen);
  if (rc)
    return rc;
  long hoff = hvk_find_multiboot(img, fsize);
  if (lxb_is_bzimage(img, (size_t)fsize)) {
    rc = hvk_load_linux(vm, img, (size_t)fsize, false, err, errlen);
  } else if (hoff >= 0 && vm->k_cfg.kc_initrd) {
    snprintf(err, errlen, "%s: a multiboot kernel takes no --initrd (that is for Linux)",
             vm->k_cfg.kc_kernel);
    rc = -EINVAL;
  } else if (hoff >= 0) {
    rc = hvk_load_aout_kludge(vm, img, fsize, hoff, err, errlen);
    if (rc == 0)
      rc = hvk_write_mbi(vm, err, errlen);
  } else if (lxb_is_vmlinux(img, (size_t)fsize)) {
    rc = hvk_load_linux(vm, img, (size_t)fsize, true, err, errlen);
  } else {
    snprintf(err, errlen,
             "%s: not a multiboot kernel (no multiboot header in the first 8 KiB), nor a Linux "
             "bzImage or vmlinux",
             vm->k_cfg.kc_kernel);
    rc = -ENOEXEC;
  }
  free(img);
  return rc;
}

/* Flat 4 GiB code and data segments (base 0, page granular, ring 0) in s:
 * 32-bit protected mode, or 64-bit code when long_mode. */
static void hvk_flat_segments(struct kvm_sregs *s, uint16_t cs, uint16_t ds, bool long_mode) {
  struct kvm_segment code = {.base = 0,
                             .limit = 0xffffffff,
                             .selector = cs,
                             .type = 11,
                             .present = 1,
                             .dpl = 0,
                             .db = !long_mode,
                             .s = 1,
                             .l = long_mode,
                             .g = 1};
  struct kvm_segment data = code;
  data.selector = ds;
  data.type = 3;
  data.l = 0;
  data.db = 1;
  s->cs = code;
  s->ds = s->es = s->fs = s->gs = s->ss = data;
}

/* Load the entry state into the vCPU: special registers s, then r. */
static int hvk_load_entry(struct hvk *vm, const struct kvm_sregs *s, const struct kvm_regs *r,
                          char *err, size_t errlen) {
  if (ioctl(vm->k_vcpu, KVM_SET_SREGS, s) < 0) {
    snprintf(err, errlen, "KVM_SET_SREGS failed: %s", strerror(errno));
    return -errno;
  }
  if (ioctl(vm->k_vcpu, KVM_SET_REGS, r) < 0) {
    snprintf(err, errlen, "KVM_SET_REGS failed: %s", strerror(errno));
    return -errno;
  }
  return 0;
}

/* The 64-bit boot protocol (Linux boot.rst): long mode with the loader's
 * identity map, __BOOT_CS/__BOOT_DS flat segments, interrupts off, RSI the
 * zero page. */
static int hvk_set_linux_state(struct hvk *vm, struct kvm_sregs *s, char *err, size_t errlen) {
  hvk_flat_segments(s, LXB_BOOT_CS, LXB_BOOT_DS, true);
  s->gdt.base = vm->k_lxentry.le_gdt;
  s->gdt.limit = LXB_GDT_LIMIT;
  s->cr3 = vm->k_lxentry.le_cr3;
  s->cr4 = 0x20;       /* PAE */
  s->cr0 = 0x80000011; /* PG | ET | PE */
  s->efer = 0x500;     /* LMA | LME */
  struct kvm_regs r;
  memset(&r, 0, sizeof(r));
  r.rip = vm->k_lxentry.le_rip;
  r.rsi = vm->k_lxentry.le_rsi;
  r.rflags = 0x2;
  return hvk_load_entry(vm, s, &r, err, errlen);
}

/* IA32_APIC_BASE as hardware leaves it at reset: the LAPIC enabled at
 * 0xfee00000, this CPU the bootstrap processor. KVM derives CPUID.1:EDX.APIC
 * from it (KVM-NOTES.md pitfall 4); a guest that finds it clear (Linux)
 * believes there is no local APIC, and SINT interrupts never arrive. */
static int hvk_set_apic_base(struct hvk *vm, char *err, size_t errlen) {
  _Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
  struct kvm_msrs *m = (struct kvm_msrs *)buf;
  memset(buf, 0, sizeof(buf));
  m->nmsrs = 1;
  m->entries[0].index = 0x1b;       /* IA32_APIC_BASE */
  m->entries[0].data = 0xfee00900u; /* base | global enable | BSP */
  if (ioctl(vm->k_vcpu, KVM_SET_MSRS, m) != 1) {
    snprintf(err, errlen, "KVM_SET_MSRS(IA32_APIC_BASE) failed: %s", strerror(errno));
    return -EIO;
  }
  return 0;
}

/* The vCPU's state at the kernel's entry: the APIC base, then the Linux
 * 64-bit entry state, or the multiboot machine state (spec 3.2): 32-bit
 * protected mode, paging off, flat 4 GiB code and data segments, IF clear,
 * EAX the magic, EBX the information structure. */
static int hvk_set_entry_state(struct hvk *vm, char *err, size_t errlen) {
  if (hvk_set_apic_base(vm, err, errlen))
    return -EIO;
  struct kvm_sregs s;
  if (ioctl(vm->k_vcpu, KVM_GET_SREGS, &s) < 0) {
    snprintf(err, errlen, "KVM_GET_SREGS failed: %s", strerror(errno));
    return -errno;
  }
  if (vm->k_linux)
    return hvk_set_linux_state(vm, &s, err, errlen);
  hvk_flat_segments(&s, 0x08, 0x10, false); /* multiboot: 32-bit, paging off */
  s.cr0 = 0x11;                             /* PE | ET */
  s.cr4 = 0;
  s.efer = 0;
  struct kvm_regs r;
  memset(&r, 0, sizeof(r));
  r.rip = vm->k_entry;
  r.rax = MB_BOOTLOADER_MAGIC;
  r.rbx = HVK_MBI_ADDR;
  r.rflags = 0x2;
  return hvk_load_entry(vm, &s, &r, err, errlen);
}

int hvk_setup(struct hvk *vm, struct hvemu *emu, char *err, size_t errlen) {
  vm->k_emu = emu;
  acpifw_pm_init(&vm->k_pm, hw_now_ns());
  int rc = acpifw_build(vm->k_mem, vm->k_cfg.kc_mem_bytes, &vm->k_acpi);
  if (rc != 0) {
    snprintf(err, errlen, "cannot place the ACPI tables in guest memory");
    return rc;
  }
  rc = hvk_set_cpuid(vm, err, errlen);
  if (rc == 0)
    rc = hvk_load_kernel(vm, err, errlen);
  if (rc == 0)
    rc = hvk_set_entry_state(vm, err, errlen);
  return rc;
}

/* ---- the run loop --------------------------------------------------------- */

static void hvk_alarm(int sig) { (void)sig; /* only interrupts KVM_RUN */ }

/* One-shot SIGALRM at the next host deadline (at most HVK_POLL_NS away). */
static void hvk_arm_alarm(uint64_t now, uint64_t deadline) {
  uint64_t ns = HVK_POLL_NS;
  if (deadline > now && deadline - now < ns)
    ns = deadline - now;
  if (deadline <= now)
    ns = 1000; /* already due: come straight back */
  struct itimerval it;
  memset(&it, 0, sizeof(it));
  it.it_value.tv_sec = (time_t)(ns / 1000000000ull);
  it.it_value.tv_usec = (suseconds_t)((ns % 1000000000ull) / 1000);
  if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
    it.it_value.tv_usec = 1;
  setitimer(ITIMER_REAL, &it, NULL);
}

static void hvk_console_byte(struct hvk *vm, uint8_t c) {
  vm->k_stats.ks_console_bytes++;
  if (c == '\r')
    return;
  if (c != '\n' && vm->k_line_len < sizeof(vm->k_line) - 1) {
    vm->k_line[vm->k_line_len++] = (char)c;
    return;
  }
  vm->k_line[vm->k_line_len] = '\0';
  fprintf(vm->k_cfg.kc_console, "%s%s", vm->k_line, c == '\n' ? "\n" : "");
  fflush(vm->k_cfg.kc_console);
  vm->k_line_len = 0;
  if (c != '\n')
    vm->k_line[vm->k_line_len++] = (char)c;
}

/* Port 0x61 (system control port B): the PIT channel 2 gate (bit 0) and
 * output (bit 5). KVM's in-kernel PIT owns ports 0x40-0x43, but on this
 * machine's kvm-pvm the speaker port exits to us, so the gate is forwarded
 * into the kernel PIT's state and the output computed from it, as the
 * kernel's PIT calibration needs (arch/x86_64/time.c; mode 0: OUT goes high
 * once `count` ticks of 1,193,182 Hz passed since the count was loaded). */
#define HVK_PIT_HZ 1193182u
static uint8_t hvk_port61;

static void hvk_port61_write(struct hvk *vm, uint8_t v) {
  hvk_port61 = v & 0x0f;
  struct kvm_pit_state2 ps;
  if (ioctl(vm->k_vm, KVM_GET_PIT2, &ps) < 0)
    return;
  ps.channels[2].gate = v & 1;
  ioctl(vm->k_vm, KVM_SET_PIT2, &ps);
}

static uint8_t hvk_port61_read(struct hvk *vm) {
  uint8_t v = hvk_port61;
  struct kvm_pit_state2 ps;
  if (ioctl(vm->k_vm, KVM_GET_PIT2, &ps) == 0) {
    const struct kvm_pit_channel_state *c = &ps.channels[2];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of count_load_time */
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    uint64_t count = c->count ? c->count : 65536u;
    if (c->gate && c->mode == 0 && now > c->count_load_time &&
        (uint64_t)(now - c->count_load_time) * HVK_PIT_HZ / 1000000000u >= count)
      v |= 0x20;
  }
  static uint8_t refresh;
  refresh ^= 0x10; /* bit 4 toggles like DRAM refresh; some code waits on it */
  return v | refresh;
}

/* The PM block, 0xCF9 and the keyboard controller (host/acpi_fw.c). */
static bool hvk_pm_io(struct hvk *vm, uint16_t port, bool out, uint8_t *data, unsigned size) {
  uint32_t v = 0;
  if (out)
    memcpy(&v, data, size);
  if (!acpifw_pm_io(&vm->k_pm, port, out, size, &v, hw_now_ns()))
    return false;
  if (!out)
    memcpy(data, &v, size);
  return true;
}

/* OUT to the hypercall port: the hypercall in RCX/RDX/R8, its status into
 * RAX. 0, or -1 with the reason in res. */
static int hvk_io_hypercall(struct hvk *vm, struct hvk_result *res) {
  struct kvm_regs r;
  if (ioctl(vm->k_vcpu, KVM_GET_REGS, &r) < 0) {
    snprintf(res->kr_error, sizeof(res->kr_error), "KVM_GET_REGS: %s", strerror(errno));
    return -1;
  }
  /* RIP already points past the OUT (kvm-pvm) or KVM skips it on the
   * next run (VMX/SVM): write it back unchanged (KVM-NOTES.md 2). */
  r.rax = hvemu_hypercall(vm->k_emu, r.rcx, r.rdx, r.r8);
  vm->k_stats.ks_hypercalls++;
  if (ioctl(vm->k_vcpu, KVM_SET_REGS, &r) < 0) {
    snprintf(res->kr_error, sizeof(res->kr_error), "KVM_SET_REGS: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* The guest powered the VM off or reset it through `port`: say so, and
 * how long after its exit status. */
static void hvk_log_power(const struct hvk *vm, uint16_t port) {
  const char *what = vm->k_pm.pm_power == ACPIFW_POWER_OFF ? "powered off" : "reset";
  if (vm->k_status_ns)
    fprintf(stderr, "hvhost: the guest %s the VM (port %#x) %.3f ms after its exit status\n", what,
            port, (double)(hw_now_ns() - vm->k_status_ns) / 1e6);
  else
    fprintf(stderr, "hvhost: the guest %s the VM (port %#x)\n", what, port);
}

/* Port I/O. Returns 1 when the guest powered the VM off or reset it. */
static int hvk_io(struct hvk *vm, struct hvk_result *res) {
  struct kvm_run *run = vm->k_run;
  uint8_t *data = (uint8_t *)run + run->io.data_offset;
  uint16_t port = run->io.port;
  bool out = run->io.direction == KVM_EXIT_IO_OUT;
  vm->k_stats.ks_io++;
  /* data_offset and the sizes come from KVM, not the guest: in bounds. */
  for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
    if (port == PART_HYPERCALL_PORT && out) {
      if (hvk_io_hypercall(vm, res) < 0)
        return -1;
    } else if (port == HVK_EXIT_PORT && out) {
      /* The status; the kernel powers off through ACPI next. */
      res->kr_status = data[0];
      res->kr_status_set = true;
      if (!vm->k_status_ns)
        vm->k_status_ns = hw_now_ns();
    } else if (port == 0x80) {
      /* the POST diagnostic port: Linux's I/O delay writes here; nothing listens */
    } else if (port == 0x61 && run->io.size == 1) {
      if (out)
        hvk_port61_write(vm, data[0]);
      else
        data[0] = hvk_port61_read(vm);
    } else if (port >= HVK_COM1 && port < HVK_COM1 + 8 && run->io.size == 1) {
      if (!out)
        data[0] = pcio_uart_read(&vm->k_uart, port - HVK_COM1);
      else if (pcio_uart_write(&vm->k_uart, port - HVK_COM1, data[0]))
        hvk_console_byte(vm, data[0]);
    } else if ((port == PCIO_RTC_INDEX || port == PCIO_RTC_DATA) && run->io.size == 1) {
      if (out)
        pcio_rtc_write(&vm->k_rtc, port, data[0]);
      else
        data[0] = pcio_rtc_read(&vm->k_rtc, port, time(NULL));
    } else if (run->io.size <= 4 && hvk_pm_io(vm, port, out, data, run->io.size)) {
      if (vm->k_pm.pm_power != ACPIFW_POWER_NONE) {
        res->kr_power = vm->k_pm.pm_power;
        hvk_log_power(vm, port);
        return 1;
      }
    } else {
      vm->k_stats.ks_unknown_io++;
      if (vm->k_cfg.kc_verbose)
        fprintf(stderr, "hvhost: unclaimed port %s %#x\n", out ? "write" : "read", port);
      if (!out)
        memset(data, 0xff, run->io.size); /* nothing decodes this port */
    }
  }
  return 0;
}

static void hvk_msr(struct hvk *vm, bool write) {
  struct kvm_run *run = vm->k_run;
  uint32_t msr = run->msr.index;
  int rc;
  vm->k_stats.ks_msr++;
  if (msr < HV_X64_MSR_RANGE_FIRST || msr > HV_X64_MSR_RANGE_LAST) {
    rc = -EIO; /* unknown to KVM and not ours: #GP, as hardware would */
  } else if (write) {
    rc = hvemu_wrmsr(vm->k_emu, msr, run->msr.data);
  } else {
    uint64_t v = 0;
    rc = hvemu_rdmsr(vm->k_emu, msr, &v);
    run->msr.data = v;
  }
  run->msr.error = rc ? 1 : 0;
}

/* Guest virtual -> host pointer for `len` bytes within one page (KVM walks
 * the guest's page tables); NULL when unmapped or outside guest memory. */
static uint8_t *hvk_gva(struct hvk *vm, uint64_t gva, size_t len) {
  struct kvm_translation t;
  memset(&t, 0, sizeof(t));
  t.linear_address = gva;
  if (ioctl(vm->k_vcpu, KVM_TRANSLATE, &t) < 0 || !t.valid)
    return NULL;
  if ((gva & 0xfff) + len > 4096 || t.physical_address + len > vm->k_cfg.kc_mem_bytes)
    return NULL;
  return vm->k_mem + t.physical_address;
}

/* Up to 15 bytes of the instruction at guest virtual rip into insn: how
 * many were readable (fewer where the mapping ends). */
static size_t hvk_read_insn(struct hvk *vm, uint64_t rip, uint8_t insn[15]) {
  size_t n = 0;
  for (; n < 15; n++) {
    const uint8_t *b = hvk_gva(vm, rip + n, 1);
    if (!b)
      break;
    insn[n] = *b;
  }
  return n;
}

/* Do what kvm-pvm refused (host/kvm_pvm.h), action a, on the registers r,
 * which the caller writes back. a, or PVM_UNKNOWN when it cannot be done. */
static enum pvm_action hvk_pvm_emulate(struct hvk *vm, enum pvm_action a, struct kvm_regs *r) {
  switch (a) {
  case PVM_INT3_SELFTEST: {
    uint8_t *p = hvk_gva(vm, r->rdi, 4);
    if (!p)
      return PVM_UNKNOWN;
    const uint32_t one = 1;
    memcpy(p, &one, 4);
    r->rip += 5;
    return a;
  }
  case PVM_SKIP_FWAIT:
    r->rip += 1;
    return a;
  case PVM_INJECT_BP: {
    struct kvm_vcpu_events ev;
    r->rip += 1; /* #BP is a trap: the handler sees the address after int3 */
    if (ioctl(vm->k_vcpu, KVM_GET_VCPU_EVENTS, &ev) < 0)
      return PVM_UNKNOWN;
    ev.exception.injected = 1;
    ev.exception.nr = 3;
    ev.exception.has_error_code = 0;
    ev.exception.error_code = 0;
    ev.flags = 0;
    return ioctl(vm->k_vcpu, KVM_SET_VCPU_EVENTS, &ev) < 0 ? PVM_UNKNOWN : a;
  }
  default:
    return PVM_UNKNOWN;
  }
}

/* The reason the VM stops at an instruction this KVM cannot run: the
 * suberror, RIP and the n bytes read there. */
static void hvk_refused_error(struct hvk_result *res, uint32_t suberror, uint64_t rip,
                              const uint8_t *insn, size_t n) {
  int o = snprintf(res->kr_error, sizeof(res->kr_error),
                   "KVM internal error, suberror %u: this machine's KVM cannot run the "
                   "instruction at RIP %#llx, bytes",
                   suberror, (unsigned long long)rip);
  for (size_t i = 0; i < n && o > 0 && (size_t)o < sizeof(res->kr_error) - 4; i++)
    o += snprintf(res->kr_error + o, sizeof(res->kr_error) - (size_t)o, " %02x", insn[i]);
  if (n == 0 && o > 0 && (size_t)o < sizeof(res->kr_error) - 16)
    snprintf(res->kr_error + o, sizeof(res->kr_error) - (size_t)o, " (unmapped)");
}

/* KVM_EXIT_INTERNAL_ERROR: kvm-pvm's emulator refused an instruction.
 * Emulate the ones host/kvm_pvm.h names (each logged the first time);
 * anything else stops the VM with RIP and the instruction bytes. 0: go on. */
static int hvk_refused(struct hvk *vm, struct hvk_result *res) {
  struct kvm_run *run = vm->k_run;
  struct kvm_regs r;
  if (ioctl(vm->k_vcpu, KVM_GET_REGS, &r) < 0) {
    snprintf(res->kr_error, sizeof(res->kr_error),
             "KVM internal error, suberror %u; "
             "KVM_GET_REGS: %s",
             run->internal.suberror, strerror(errno));
    return -1;
  }
  uint8_t insn[15];
  size_t n = hvk_read_insn(vm, r.rip, insn);
  enum pvm_action a = vm->k_pvm && run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                          ? pvm_classify(insn, n)
                          : PVM_UNKNOWN;
  a = hvk_pvm_emulate(vm, a, &r);
  if (a == PVM_UNKNOWN) {
    hvk_refused_error(res, run->internal.suberror, r.rip, insn, n);
    return -1;
  }
  vm->k_stats.ks_emulated++;
  if (!(vm->k_pvm_seen & (1u << a))) {
    vm->k_pvm_seen |= 1u << a;
    fprintf(stderr, "hvhost: kvm-pvm refused %s at RIP %#llx: emulated (said once)\n",
            pvm_action_name(a), (unsigned long long)(r.rip - (a == PVM_INT3_SELFTEST ? 5 : 1)));
  }
  if (ioctl(vm->k_vcpu, KVM_SET_REGS, &r) < 0) {
    snprintf(res->kr_error, sizeof(res->kr_error), "KVM_SET_REGS: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* What the guest's entry state really is, read back from KVM. */
static void hvk_log_entry(struct hvk *vm) {
  struct kvm_sregs s;
  struct kvm_regs r;
  if (ioctl(vm->k_vcpu, KVM_GET_SREGS, &s) < 0 || ioctl(vm->k_vcpu, KVM_GET_REGS, &r) < 0)
    return;
  fprintf(stderr,
          "hvhost: guest entry: %s, paging %s, CS=%#x %s, EIP=%#llx EAX=%#llx EBX=%#llx%s\n",
          (s.cr0 & 1) ? "protected mode" : "real mode", (s.cr0 & 0x80000000u) ? "on" : "off",
          s.cs.selector, s.cs.db ? "32-bit" : "16-bit", (unsigned long long)r.rip,
          (unsigned long long)r.rax, (unsigned long long)r.rbx,
          r.rbx == HVK_MBI_ADDR ? " (multiboot info)" : "");
}

/* Run the handlers of the wake-up signals KVM_RUN left pending (blocked). */
static void hvk_deliver(const sigset_t *wake) {
  sigset_t pend;
  if (sigpending(&pend) != 0)
    return;
  if (sigismember(wake, SIGALRM) != 1 && sigismember(wake, SIGIO) != 1)
    return;
  if ((sigismember(&pend, SIGALRM) == 1 && sigismember(wake, SIGALRM) == 1) ||
      (sigismember(&pend, SIGIO) == 1 && sigismember(wake, SIGIO) == 1)) {
    sigprocmask(SIG_UNBLOCK, wake, NULL);
    sigprocmask(SIG_BLOCK, wake, NULL);
  }
}

/* The wake-up signals (SIGALRM: a host deadline; SIGIO: a back end's fd,
 * e.g. --tap) are blocked while host code runs and open only inside
 * KVM_RUN (KVM_SET_SIGNAL_MASK). One that fires between arming and
 * entering KVM_RUN stays pending and makes KVM_RUN return EINTR at once;
 * unblocked, it would be handled before the entry and a halted guest would
 * then sleep in KVM_RUN with nothing left to wake it. KVM blocks them again
 * on the way out, so after EINTR they are let through for a moment to run
 * their handlers (hvk_deliver). *wake: the signals to deliver by hand
 * (empty when KVM refused the mask); *host_mask: the mask to restore. */
static void hvk_signals_setup(struct hvk *vm, sigset_t *wake, sigset_t *host_mask) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = hvk_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
  sigaction(SIGALRM, &sa, NULL);
  sigemptyset(wake);
  sigaddset(wake, SIGALRM);
  sigaddset(wake, SIGIO);
  sigprocmask(SIG_BLOCK, wake, host_mask);
  sigset_t in_guest = *host_mask;
  sigdelset(&in_guest, SIGALRM);
  sigdelset(&in_guest, SIGIO);
  /* struct kvm_signal_mask and the kernel's sigset_t (64 signals) */
  _Alignas(struct kvm_signal_mask) uint8_t kmbuf[sizeof(struct kvm_signal_mask) + 8];
  struct kvm_signal_mask *km = (struct kvm_signal_mask *)kmbuf;
  km->len = 8;
  memcpy(km->sigset, &in_guest, 8);
  if (ioctl(vm->k_vcpu, KVM_SET_SIGNAL_MASK, km) < 0) {
    fprintf(stderr, "hvhost: KVM_SET_SIGNAL_MASK: %s; wake-ups may be late\n", strerror(errno));
    sigprocmask(SIG_SETMASK, host_mask, NULL);
    sigemptyset(wake); /* nothing to deliver by hand */
  }
}

/* Host work between exits: the VMBus server and devices on the event loop,
 * the emulator's pollers, the tool's tick; then whether the run ends (a
 * guest error, a stop request, the timeout). True when it ends (res says
 * why). */
static bool hvk_host_turn(struct hvk *vm, volatile bool *stop, uint64_t end,
                          struct hvk_result *res) {
  for (unsigned i = 0; i < 10000 && ev_run_pending(); i++)
    ;
  hvemu_poll(vm->k_emu);
  if (vm->k_cfg.kc_tick)
    vm->k_cfg.kc_tick(vm->k_cfg.kc_tick_ctx);
  if (part_failed(&vm->k_part)) {
    res->kr_end = HVK_END_ERROR;
    snprintf(res->kr_error, sizeof(res->kr_error), "guest error at %s:%d: %s",
             vm->k_part.p_err_file, vm->k_part.p_err_line, vm->k_part.p_err);
    return true;
  }
  if (stop && *stop) {
    res->kr_end = HVK_END_STOPPED;
    return true;
  }
  uint64_t now = hw_now_ns();
  if (now >= end) {
    res->kr_end = HVK_END_TIMEOUT;
    return true;
  }
  if (vm->k_status_ns && now - vm->k_status_ns >= HVK_POWER_OFF_GRACE_NS) {
    res->kr_end = HVK_END_EXIT; /* a status, but no power-off: power=none */
    return true;
  }
  return false;
}

/* An exit that ends the run: HVK_END_ERROR with the reason. */
static bool hvk_fail(struct hvk_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool hvk_fail(struct hvk_result *res, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->kr_error, sizeof(res->kr_error), fmt, ap);
  va_end(ap);
  res->kr_end = HVK_END_ERROR;
  return true;
}

/* One VM exit. True when it ends the run (res says why). */
static bool hvk_handle_exit(struct hvk *vm, const sigset_t *wake, struct hvk_result *res) {
  struct kvm_run *run = vm->k_run;
  vm->k_stats.ks_exits++;
  switch (run->exit_reason) {
  case KVM_EXIT_IO: {
    int io = hvk_io(vm, res);
    if (io != 0)
      res->kr_end = io == 1 ? HVK_END_EXIT : HVK_END_ERROR;
    return io != 0;
  }
  case KVM_EXIT_X86_RDMSR:
  case KVM_EXIT_X86_WRMSR:
    hvk_msr(vm, run->exit_reason == KVM_EXIT_X86_WRMSR);
    return false;
  case KVM_EXIT_HLT:
    vm->k_stats.ks_hlt++; /* not with the in-kernel LAPIC; harmless */
    return false;
  case KVM_EXIT_INTR:
    vm->k_stats.ks_signals++;
    hvk_deliver(wake);
    return false;
  case KVM_EXIT_MMIO:
    vm->k_stats.ks_mmio++;
    return hvk_fail(res, "guest %s %u bytes at unbacked address %#llx (no device there)",
                    run->mmio.is_write ? "wrote" : "read", run->mmio.len,
                    (unsigned long long)run->mmio.phys_addr);
  case KVM_EXIT_SHUTDOWN:
    return hvk_fail(res, "guest triple-faulted (KVM_EXIT_SHUTDOWN)");
  case KVM_EXIT_INTERNAL_ERROR:
    if (hvk_refused(vm, res) == 0)
      return false;
    res->kr_end = HVK_END_ERROR;
    return true;
  case KVM_EXIT_FAIL_ENTRY:
    return hvk_fail(res, "VM entry failed, reason %#llx",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
  default:
    return hvk_fail(res, "unexpected KVM exit reason %u", run->exit_reason);
  }
}

void hvk_run(struct hvk *vm, volatile bool *stop, uint64_t timeout_ms, struct hvk_result *res) {
  memset(res, 0, sizeof(*res));
  sigset_t wake, host_mask;
  hvk_signals_setup(vm, &wake, &host_mask);
  uint64_t start = hw_now_ns();
  uint64_t end = timeout_ms ? start + timeout_ms * 1000000ull : UINT64_MAX;
  hvk_log_entry(vm);
  bool first = true;
  while (!hvk_host_turn(vm, stop, end, res)) {
    uint64_t now = hw_now_ns();
    uint64_t next = timer_next_deadline();
    hvk_arm_alarm(now, next < end ? next : end);
    if (first) {
      res->kr_first_insn_ns = now - vm->k_created_ns;
      first = false;
    }
    if (ioctl(vm->k_vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        vm->k_stats.ks_signals++;
        hvk_deliver(&wake);
        continue;
      }
      hvk_fail(res, "KVM_RUN: %s", strerror(errno));
      break;
    }
    if (hvk_handle_exit(vm, &wake, res))
      break;
  }
  /* Disarm, restore the mask (a pending signal runs its handler), and
   * print what is left of the console line. */
  struct itimerval off;
  memset(&off, 0, sizeof(off));
  setitimer(ITIMER_REAL, &off, NULL);
  sigprocmask(SIG_SETMASK, &host_mask, NULL);
  if (vm->k_line_len) {
    vm->k_line[vm->k_line_len] = '\0';
    fprintf(vm->k_cfg.kc_console, "%s\n", vm->k_line);
    vm->k_line_len = 0;
  }
  fflush(vm->k_cfg.kc_console);
}

uint64_t hvk_apic_hz(struct hvk *vm) {
  (void)vm;
  /* KVM's in-kernel LAPIC timer counts one tick per APIC bus cycle of
   * 1 ns (KVM's default, api.rst KVM_CAP_X86_APIC_BUS_CYCLES_NS): 1 GHz
   * before the divide register. */
  return 1000000000ull;
}

uint64_t hvk_tsc_hz(struct hvk *vm) {
  int khz = ioctl(vm->k_vcpu, KVM_GET_TSC_KHZ, 0);
  return khz > 0 ? (uint64_t)khz * 1000u : 0;
}
