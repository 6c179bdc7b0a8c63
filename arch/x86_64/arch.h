/* arch/x86_64/arch.h: the services arch/x86_64/ offers kernel_main. */
#ifndef ARCH_X86_64_ARCH_H
#define ARCH_X86_64_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/trap.h"

/* gdt.c / idt.c */
void gdt_init(void);
void idt_init(void);
typedef void (*irq_handler_fn)(uint8_t vector);
/** Route an interrupt vector (32..254) to fn; the LAPIC EOI is sent after fn. */
void irq_register(uint8_t vector, irq_handler_fn fn);
/** Exception-table lookup for fault-tolerant instructions: fixup or 0. */
uint64_t extable_fixup(uint64_t rip);

#define IRQ_VECTOR_TIMER 0x20    /* LAPIC timer */
#define IRQ_VECTOR_HV_SINT 0x30  /* VMBus SINT (hv/, later issue) */
#define IRQ_VECTOR_PIC_BASE 0xe0 /* legacy PIC remapped and masked here */
#define IRQ_VECTOR_SPURIOUS 0xff

/* serial.c: COM1 16550, 115200 8N1. */
void serial_init(void);
void serial_write(const char *s, size_t n);
/** False when no UART answered at COM1 (output is then dropped). */
int serial_present(void);

/* lapic.c */
int lapic_init(void);
void lapic_eoi(void);
/** Calibrate the LAPIC timer against the TSC clock; 0 or -errno. */
int lapic_timer_calibrate(void);
uint64_t lapic_timer_hz(void);
/** One-shot timer interrupt at deadline_ns (UINT64_MAX stops it); nothing
 * before lapic_timer_calibrate succeeded. For hw_timer_program. */
void lapic_timer_program(uint64_t deadline_ns);

/* time.c: monotonic clock from the TSC. */
int time_init(void);
uint64_t time_tsc_hz(void);
const char *time_source(void);

/* multiboot.c */
struct mb_info;
/** Validate the multiboot info, print the memory map, feed the page
 * allocator (minus the kernel image, the info structures and modules).
 * Returns 0 or -EINVAL (no memory map). */
int mb_memory_init(const struct mb_info *mbi);
/** The command line GRUB/QEMU/hvhost passed, or NULL. */
const char *mb_cmdline(const struct mb_info *mbi);

/* console.c: COM1 and the VGA text screen. */
/** Choose the consoles: `which` is the command line's console= value
 * ("serial", "vga", "both" or NULL for both); vga_absent when the FADT says
 * so. The VGA screen is used only when it exists. -1 for an unknown value
 * (the default stays), else 0. */
int console_init(const char *which, bool vga_absent);
/** Write to every chosen console (newlib's write() and the exit path). */
void console_write(const char *s, size_t n);
bool console_has_vga(void);
bool console_has_serial(void);

/* power.c: ACPI power-off and reset (kernel/hw.h's hw_exit and hw_reset). */
struct acpi_info;
/** Parse the ACPI tables (arch/x86_64/acpi.c) through a reader bounded by
 * the first MiB and the loader's memory map; remembers the result. Returns
 * ACPI_OK or the parser's error. */
int power_init(const struct mb_info *mbi);
/** The parsed tables (NULL before power_init). */
const struct acpi_info *power_acpi_info(void);
/** Print what power_init found, or why power-off is unavailable. */
void power_log(void);
/** Power off through ACPI (S5), then halt for good. */
_Noreturn void power_off(void);
/** Reset: FADT RESET_REG, else port 0xCF9, else the keyboard controller;
 * then halt for good. */
_Noreturn void power_reset(void);

/* syscalls.c */
/** Give newlib's sbrk a heap of `bytes` from the page allocator. */
int heap_init(size_t bytes);

/* Linker symbols */
extern char _load_start[], _load_end[], _bss_end[], _end[];

#endif
