/* host/pcio.c: COM1 (16550) registers and the CMOS RTC. */
#include "host/pcio.h"

#define UART_LCR_DLAB 0x80u
#define UART_MCR_LOOP 0x10u

bool pcio_uart_write(struct pcio_uart *u, unsigned off, uint8_t v) {
  bool dlab = u->u_lcr & UART_LCR_DLAB;
  switch (off) {
  case 0:
    if (dlab) {
      u->u_dll = v;
      return false;
    }
    return true;
  case 1:
    if (dlab)
      u->u_dlm = v;
    else
      u->u_ier = v & 0x0f;
    return false;
  case 3:
    u->u_lcr = v;
    return false;
  case 4:
    u->u_mcr = v & 0x1f;
    return false;
  case 7:
    u->u_scr = v;
    return false;
  default: /* FCR, LSR, MSR: nothing to keep */
    return false;
  }
}

uint8_t pcio_uart_read(const struct pcio_uart *u, unsigned off) {
  bool dlab = u->u_lcr & UART_LCR_DLAB;
  switch (off) {
  case 0:
    return dlab ? u->u_dll : 0; /* RBR: no data */
  case 1:
    return dlab ? u->u_dlm : u->u_ier;
  case 2:
    return 0x01; /* IIR: no interrupt pending, no FIFO */
  case 3:
    return u->u_lcr;
  case 4:
    return u->u_mcr;
  case 5:
    return 0x60; /* LSR: THR and transmitter empty */
  case 6:
    if (u->u_mcr & UART_MCR_LOOP) /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
      return (uint8_t)(((u->u_mcr & 0x01) << 5) | ((u->u_mcr & 0x02) << 3) |
                       ((u->u_mcr & 0x04) << 4) | ((u->u_mcr & 0x08) << 4));
    return 0xb0; /* DCD, DSR, CTS: a cable with someone on the other end */
  case 7:
    return u->u_scr;
  default:
    return 0xff;
  }
}

void pcio_rtc_write(struct pcio_rtc *r, unsigned port, uint8_t v) {
  if (port == PCIO_RTC_INDEX)
    r->r_index = v & 0x7f;
  /* data writes (alarm, register B) are accepted and forgotten */
}

static uint8_t pcio_bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

uint8_t pcio_rtc_read(const struct pcio_rtc *r, unsigned port, time_t now) {
  if (port != PCIO_RTC_DATA)
    return 0xff;
  struct tm tm;
  gmtime_r(&now, &tm);
  switch (r->r_index) {
  case 0x00:
    return pcio_bcd(tm.tm_sec);
  case 0x02:
    return pcio_bcd(tm.tm_min);
  case 0x04:
    return pcio_bcd(tm.tm_hour);
  case 0x06:
    return pcio_bcd(tm.tm_wday + 1);
  case 0x07:
    return pcio_bcd(tm.tm_mday);
  case 0x08:
    return pcio_bcd(tm.tm_mon + 1);
  case 0x09:
    return pcio_bcd(tm.tm_year % 100);
  case 0x32:
    return pcio_bcd(19 + tm.tm_year / 100); /* century */
  case 0x0a:
    return 0x26; /* 32.768 kHz, 1024 Hz rate, no update in progress */
  case 0x0b:
    return 0x02; /* 24-hour, BCD, no interrupts */
  case 0x0c:
    return 0x00; /* no interrupt flags */
  case 0x0d:
    return 0x80; /* valid RAM and time */
  default:
    return 0x00;
  }
}
