/* tests/linux/init.c: /init of the Linux peer's embedded initramfs.
 *
 * User space cannot make system calls on this machine's KVM (kvm-pvm:
 * SYSCALL lands in the kernel's entry still in user mode, KVM-NOTES.md), and
 * the peer needs none: hv_vmbus, hv_netvsc and `ip=` configuration all run
 * inside the kernel during boot. PID 1 only has to exist and never exit
 * (an exiting init panics the kernel), so it spins; the kernel keeps
 * serving interrupts, the network and the VMBus channels around it.
 * Built static, without a C library: `_start` is the whole program. */
void _start(void) __attribute__((noreturn));

void _start(void) {
  for (;;)
    __asm__ volatile("pause");
}
