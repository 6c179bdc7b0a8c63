/* arch/x86_64/idt.c: GDT with a TSS, IDT, trap and interrupt dispatch. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"
#include "kernel/hw.h"
#include "kernel/panic.h"

/* ---- GDT and TSS ----------------------------------------------------------
 * Ring 0 only. The TSS exists for IST1: a double fault (e.g. a kernel stack
 * overflow) switches to its own stack, so it can still print a dump. */
struct tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "TSS layout (SDM vol. 3 8.7)");

#define GDT_CODE 0x08
#define GDT_DATA 0x10
#define GDT_TSS 0x18

static uint64_t gdt[5];
static struct tss64 tss;
static uint8_t df_stack[8192] __attribute__((aligned(16)));

struct desc_ptr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

void gdt_init(void) {
  gdt[0] = 0;
  gdt[1] = 0x00AF9A000000FFFFull; /* 64-bit code */
  gdt[2] = 0x00CF92000000FFFFull; /* data */
  uint64_t base = (uint64_t)(uintptr_t)&tss;
  uint64_t limit = sizeof(tss) - 1;
  tss.ist[0] = (uint64_t)(uintptr_t)(df_stack + sizeof(df_stack));
  tss.iomap_base = sizeof(tss);
  /* 16-byte system descriptor: type 9 (available 64-bit TSS), present. */
  gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
           ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
  gdt[4] = base >> 32;
  struct desc_ptr p = {sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt};
  __asm__ volatile("lgdt %0\n"
                   "pushq %1\n"
                   "leaq 1f(%%rip), %%rax\n"
                   "pushq %%rax\n"
                   "lretq\n"
                   "1:\n"
                   "movw %w2, %%ds\n"
                   "movw %w2, %%es\n"
                   "movw %w2, %%ss\n"
                   "ltr %w3\n"
                   :
                   : "m"(p), "i"(GDT_CODE), "r"(GDT_DATA), "r"(GDT_TSS)
                   : "rax", "memory");
}

/* ---- IDT ----------------------------------------------------------------- */
struct idt_gate {
  uint16_t off_lo;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t off_mid;
  uint32_t off_hi;
  uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout");

static struct idt_gate idt[256];
static irq_handler_fn irq_handlers[256];
extern const uint64_t trap_stub_table[256];

void idt_init(void) {
  for (unsigned v = 0; v < 256; v++) {
    uint64_t off = trap_stub_table[v];
    idt[v].off_lo = (uint16_t)off;
    idt[v].selector = GDT_CODE;
    idt[v].ist = (v == 8) ? 1 : 0; /* #DF on its own stack */
    idt[v].type_attr = 0x8e;       /* present, DPL 0, interrupt gate (IF cleared) */
    idt[v].off_mid = (uint16_t)(off >> 16);
    idt[v].off_hi = (uint32_t)(off >> 32);
    idt[v].reserved = 0;
  }
  struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" ::"m"(p));

  /* The 8259 PICs: remap them away from the exception vectors and mask
   * every line; the LAPIC delivers everything we use. (On machines without
   * a PIC these port writes go nowhere.) */
  static const uint8_t pic_init[][2] = {
      {0x20, 0x11},
      {0xa0, 0x11},
      {0x21, IRQ_VECTOR_PIC_BASE},
      {0xa1, IRQ_VECTOR_PIC_BASE + 8},
      {0x21, 0x04},
      {0xa1, 0x02},
      {0x21, 0x01},
      {0xa1, 0x01},
      {0x21, 0xff},
      {0xa1, 0xff},
  };
  for (size_t i = 0; i < sizeof(pic_init) / sizeof(pic_init[0]); i++)
    outb(pic_init[i][0], pic_init[i][1]);
}

void irq_register(uint8_t vector, irq_handler_fn fn) { irq_handlers[vector] = fn; }

struct extable_entry {
  uint64_t insn;
  uint64_t fixup;
};
extern const struct extable_entry __extable_start[], __extable_end[];

uint64_t extable_fixup(uint64_t rip) {
  /* Linker-defined bounds of one section (linker.ld): one object really. */
  // cppcheck-suppress comparePointers
  for (const struct extable_entry *e = __extable_start; e < __extable_end; e++)
    if (e->insn == rip)
      return e->fixup;
  return 0;
}

/* Called by entry.S with interrupts disabled. */
void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f) {
  uint64_t v = f->vector;
  if (v >= 32) {
    if (v >= IRQ_VECTOR_PIC_BASE && v < IRQ_VECTOR_PIC_BASE + 16)
      return; /* masked legacy PIC line (spurious): no LAPIC EOI */
    if (v == IRQ_VECTOR_SPURIOUS)
      return; /* LAPIC spurious: no EOI by definition */
    if (irq_handlers[v])
      irq_handlers[v]((uint8_t)v);
    lapic_eoi();
    return;
  }
  if (v == TRAP_GP) {
    uint64_t fix = extable_fixup(f->rip);
    if (fix) {
      f->rip = fix; /* rdmsr_safe/wrmsr_safe: resume at the fixup */
      return;
    }
  }
  char buf[768];
  trap_dump_format(buf, sizeof(buf), f, read_cr2());
  /* Straight to the UART: stdio may be what faulted. */
  console_write(buf, strlen(buf));
  static const char msg[] = "PANIC: unhandled exception, stopping (status 2)\n";
  console_write(msg, sizeof(msg) - 1);
  hw_exit(EXIT_STATUS_PANIC);
}
