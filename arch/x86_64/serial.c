/* arch/x86_64/serial.c: 16550 UART on COM1, 115200 8N1, polled output.
 *
 * Every port access is a VM exit under a hypervisor (about 7 us under this
 * machine's KVM, KVM-NOTES.md), so output polls the line status only when
 * the FIFO may be full: after seeing "transmitter empty" it writes up to 16
 * bytes (the 16550A FIFO depth) without asking again. */
#include <stdbool.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"

#define COM1 0x3f8
#define UART_THR 0 /* transmit holding register (DLAB=0) */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0 /* divisor latch (DLAB=1) */
#define UART_DLM 1
#define LSR_THRE 0x20
#define UART_FIFO_DEPTH 16
/* Bounded wait for THRE: a UART that never drains must not hang the kernel. */
#define UART_MAX_POLLS 100000

static int serial_ok;
static unsigned serial_fifo_room;

void serial_init(void) {
  /* No UART: the bus floats and reads return 0xff. */
  if (inb(COM1 + UART_LSR) == 0xff) {
    serial_ok = 0;
    return;
  }
  outb(COM1 + UART_IER, 0x00); /* no UART interrupts: we poll */
  outb(COM1 + UART_LCR, 0x80); /* DLAB on */
  outb(COM1 + UART_DLL, 0x01); /* divisor 1: 115200 baud */
  outb(COM1 + UART_DLM, 0x00);
  outb(COM1 + UART_LCR, 0x03); /* 8 data bits, no parity, 1 stop bit, DLAB off */
  outb(COM1 + UART_FCR, 0xc7); /* FIFO on, both cleared, 14-byte trigger */
  outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
  serial_ok = 1;
  serial_fifo_room = 0;
}

int serial_present(void) { return serial_ok; }

/* Wait (bounded) until the transmitter is empty: then a whole FIFO's worth
 * may be written without asking again. */
static unsigned serial_wait_room(void) {
  for (unsigned i = 0; i < UART_MAX_POLLS; i++) {
    if (inb(COM1 + UART_LSR) & LSR_THRE)
      return UART_FIFO_DEPTH;
    cpu_pause();
  }
  return 1; /* never drains: write anyway, one byte at a time, never hang */
}

/* `rep outsb` of up to a FIFO's worth. Hardware-assisted KVM and Hyper-V
 * can take the whole string in one exit; this machine's kvm-pvm still
 * exits once per byte (measured: 1,091 I/O exits for 1,016 console bytes
 * either way), so the saving shows only elsewhere. */
static void serial_out_chunk(const char *p, size_t n) {
  __asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"((uint16_t)(COM1 + UART_THR)) : "memory");
}

void serial_write(const char *s, size_t n) {
  if (!serial_ok)
    return;
  size_t i = 0;
  bool cr_sent = false; /* "\r" of the "\r\n" for s[i] == '\n' already out */
  while (i < n) {
    if (serial_fifo_room == 0)
      serial_fifo_room = serial_wait_room();
    char chunk[UART_FIFO_DEPTH];
    size_t k = 0;
    while (k < serial_fifo_room && i < n) {
      if (s[i] == '\n' && !cr_sent) {
        chunk[k++] = '\r';
        cr_sent = true;
      } else {
        chunk[k++] = s[i++];
        cr_sent = false;
      }
    }
    serial_out_chunk(chunk, k);
    serial_fifo_room -= (unsigned)k;
  }
}
