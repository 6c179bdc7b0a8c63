/* boot/multiboot.S: multiboot header, 32-bit entry, switch to long mode.
 *
 * Entered by GRUB's `multiboot` command, by `qemu -kernel` and by hvhost in
 * 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX = the
 * physical address of the multiboot information (multiboot spec 3.2).
 * We check the magic and long-mode support, identity-map the first 4 GiB
 * with 2 MiB pages (the last GiB, where the LAPIC and other MMIO live,
 * uncached), enable PAE + LME + paging, load a 64-bit GDT, enable SSE and
 * call kernel_main(magic, mbi). Failures print a line on COM1 and exit with
 * status 1 through port 0xf4 (DESIGN.md, exit status).
 */
#define MB_MAGIC      0x1BADB002
#define MB_BOOT_MAGIC 0x2BADB002
/* flags: bit 0 page-align modules, bit 1 memory map, bit 16 a.out kludge
 * (use the address fields below, not the ELF headers: QEMU's loader refuses
 * ELF64, and GRUB honours the kludge for any file). */
#define MB_FLAGS      0x00010003

#define COM1 0x3f8
#define EXIT_PORT 0xf4

  .section .multiboot, "a"
  .balign 4
mb_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)
  .long mb_header    /* header_addr */
  .long _load_start  /* load_addr: first byte of the segment */
  .long _load_end    /* load_end_addr: end of .data */
  .long _bss_end     /* bss_end_addr: the loader zeroes up to here */
  .long _start32     /* entry_addr */

  .section .text.boot, "ax"
  .code32
  .globl _start32
_start32:
  cli
  cld
  movl $boot_stack_top, %esp
  cmpl $MB_BOOT_MAGIC, %eax
  jne  .Lbad_magic
  movl %eax, %edi            /* kernel_main's first argument: the magic */
  movl %ebx, %esi            /* second: the multiboot info (physical) */

  /* Long mode available? CPUID 0x80000001 EDX bit 29. */
  movl $0x80000000, %eax
  cpuid
  cmpl $0x80000001, %eax
  jb   .Lno_long_mode
  movl $0x80000001, %eax
  cpuid
  btl  $29, %edx
  jnc  .Lno_long_mode

  /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories. */
  movl $boot_pdpt, %eax
  orl  $0x3, %eax            /* present, writable */
  movl %eax, boot_pml4
  movl $boot_pd, %eax
  orl  $0x3, %eax
  movl %eax, boot_pdpt
  addl $0x1000, %eax
  movl %eax, boot_pdpt + 8
  addl $0x1000, %eax
  movl %eax, boot_pdpt + 16
  addl $0x1000, %eax
  movl %eax, boot_pdpt + 24

  /* 2048 2 MiB pages: entry i maps i * 2 MiB. Entries from 3 GiB up also
   * get PCD|PWT (uncached): the LAPIC and IOAPIC sit at 0xFEE00000 and
   * 0xFEC00000. The high dword stays 0 (.bss is zeroed by the loader). */
  xorl %ecx, %ecx
1:
  movl %ecx, %eax
  shll $21, %eax
  orl  $0x83, %eax           /* present, writable, 2 MiB page */
  cmpl $1536, %ecx
  jb   2f
  orl  $0x18, %eax           /* PWT|PCD */
2:
  movl %eax, boot_pd(,%ecx,8)
  incl %ecx
  cmpl $2048, %ecx
  jb   1b

  movl %cr4, %eax
  orl  $(1 << 5), %eax       /* PAE */
  movl %eax, %cr4
  movl $boot_pml4, %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx     /* EFER */
  rdmsr
  orl  $(1 << 8), %eax       /* LME */
  wrmsr
  movl %cr0, %eax
  orl  $0x80000001, %eax     /* PG | PE */
  movl %eax, %cr0

  lgdt boot_gdt_ptr
  ljmp $0x08, $_start64

/* Print the NUL-terminated string at %esi on COM1, exit with status 1. */
.Lfail32:
  movw $COM1, %dx
3:
  lodsb
  testb %al, %al
  jz   4f
  outb %al, %dx
  jmp  3b
4:
  movb $1, %al
  movw $EXIT_PORT, %dx
  outb %al, %dx
5:
  hlt
  jmp  5b
.Lbad_magic:
  movl $msg_bad_magic, %esi
  jmp  .Lfail32
.Lno_long_mode:
  movl $msg_no_lm, %esi
  jmp  .Lfail32

  .code64
_start64:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  xorw %ax, %ax
  movw %ax, %fs
  movw %ax, %gs
  movq $boot_stack_top, %rsp
  xorl %ebp, %ebp

  /* SSE (newlib needs it; DESIGN.md): CR0.EM=0, CR0.MP=1, CR4.OSFXSR and
   * CR4.OSXMMEXCPT, then a clean x87 state. MXCSR keeps its reset value
   * (0x1f80, all exceptions masked): no ldmxcsr, which this machine's
   * kvm-pvm instruction emulator cannot execute (KVM-NOTES.md). */
  movq %cr0, %rax
  andq $~(1 << 2), %rax
  orq  $(1 << 1), %rax
  movq %rax, %cr0
  movq %cr4, %rax
  orq  $((1 << 9) | (1 << 10)), %rax
  movq %rax, %cr4
  fninit

  /* EDI/ESI still hold magic and mbi; the 32-bit moves zero-extended them. */
  call kernel_main
6:
  cli
  hlt
  jmp  6b

  .section .rodata
  .balign 8
boot_gdt:
  .quad 0                    /* null */
  .quad 0x00AF9A000000FFFF   /* 0x08: 64-bit code, DPL 0 */
  .quad 0x00CF92000000FFFF   /* 0x10: data */
boot_gdt_ptr:
  .word boot_gdt_ptr - boot_gdt - 1
  .quad boot_gdt
msg_bad_magic:
  .asciz "boot: not started by a multiboot loader (bad magic in EAX)\n"
msg_no_lm:
  .asciz "boot: this CPU has no long mode (x86-64 required)\n"

  .section .bss
  .balign 4096
  .globl boot_pml4
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4 * 4096
  .balign 16
  .globl boot_stack_bottom
boot_stack_bottom:
  .skip 32768
  .globl boot_stack_top
boot_stack_top:
