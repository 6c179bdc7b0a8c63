/* host/pcio.h: the PC legacy devices of a Gen1 VM that guests probe
 * (prefix pcio_): COM1's 16550 registers and the CMOS real-time clock.
 *
 * Linux's 8250 driver only registers ttyS0 when the UART passes its probe
 * (IER reads back what was written, the MCR loopback test shows up in MSR),
 * and its boot reads the RTC (registers A, B, D and the time). These models
 * hold the registers and answer those reads; they raise no interrupts (the
 * console is polled) and keep no FIFO: the transmitter is always empty. The
 * byte a THR write carries goes to the caller (the console).
 */
#ifndef HOST_PCIO_H
#define HOST_PCIO_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define PCIO_COM1 0x3f8u
#define PCIO_RTC_INDEX 0x70u
#define PCIO_RTC_DATA 0x71u

struct pcio_uart {
  uint8_t u_ier, u_lcr, u_mcr, u_scr, u_dll, u_dlm;
};

/** A write to COM1 + off (0..7). True when it transmits `v` (THR, DLAB clear). */
bool pcio_uart_write(struct pcio_uart *u, unsigned off, uint8_t v);
/** A read of COM1 + off: LSR says transmitter empty and no data, IIR no
 * interrupt, MSR mirrors MCR in loopback mode. */
uint8_t pcio_uart_read(const struct pcio_uart *u, unsigned off);

struct pcio_rtc {
  uint8_t r_index; /* the last register selected at port 0x70 (NMI bit dropped) */
};

void pcio_rtc_write(struct pcio_rtc *r, unsigned port, uint8_t v);
/** A read of port 0x71: register r_index for UTC time `now`, in BCD with
 * the 24-hour clock (register B = 0x02), never updating (A = 0x26),
 * valid (D = 0x80); unknown CMOS bytes read 0. */
uint8_t pcio_rtc_read(const struct pcio_rtc *r, unsigned port, time_t now);

#endif
