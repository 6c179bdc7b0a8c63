/* guest/guest.h: the portable part of the kernel's life, after the
 * platform is up: Hyper-V, VMBus, drivers, then serving until stopped.
 * kernel_main (target) and hvsim (in-process) both call it. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

/** Run the guest stack with the options of kernel_cmdline. Returns the
 * kernel's exit status: 0 success, 1 failure (DESIGN.md, exit status).
 * Without Hyper-V it prints the verdict and returns 0, unless an
 * exit-after= key asked for something that needs Hyper-V (then 1). With
 * exit-after=connect it returns once VMBus is connected and the offers are
 * listed; otherwise it serves until ev_request_stop(). It always leaves the
 * hypervisor state clean (UNLOAD, SynIC and hypercall page off). */
int guest_main(void);

#endif
