/* guest/guest.h: the portable part of the kernel's life, after the
 * platform is up: Hyper-V, VMBus, drivers, then serving until stopped.
 * kernel_main (target) and hvsim (in-process) both call it. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdbool.h>

/** Run the guest stack with the options of kernel_cmdline. Returns the
 * kernel's exit status: 0 success, 1 failure (DESIGN.md, exit status).
 * Without Hyper-V it prints the verdict and returns 0, unless an
 * exit-after= key asked for something that needs Hyper-V (then 1). With
 * exit-after=connect it returns once VMBus is connected and the offers are
 * listed; otherwise it serves until ev_request_stop(). It always leaves the
 * hypervisor state clean (UNLOAD, SynIC and hypercall page off). */
int guest_main(void);

/** Ask that the coming end be a reset instead of a power-off (the shutdown
 * service's restart flag); the caller then stops the kernel as usual
 * (ev_request_stop), so guest_main returns and guest_end resets. */
void guest_request_restart(void);

/** The kernel's end, after guest_main returned (kernel_main and hvsim):
 * hw_reset(status) when a restart was asked or the command line has
 * test.end=reset, else hw_exit(status) (status on 0xf4, then ACPI
 * power-off). Does not return. */
_Noreturn void guest_end(int status);

#endif
