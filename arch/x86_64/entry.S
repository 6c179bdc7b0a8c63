/* arch/x86_64/entry.S: interrupt and exception entry stubs.
 *
 * One 16-byte-aligned stub per vector pushes a 0 error code where the CPU
 * pushes none, then the vector, and jumps to the common path, which saves
 * every general register (struct trap_frame, arch/x86_64/trap.h), then the
 * FPU/SSE state with fxsave on a 16-byte-aligned area (DESIGN.md: handlers
 * may call anything, including newlib code that uses SSE), calls
 * trap_dispatch(frame) and restores everything in reverse.
 */
  .text
  .altmacro

/* Vectors whose exceptions push an error code: 8, 10-14, 17, 21, 29, 30. */
.macro STUB vec
  .balign 16
  .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
  .else
  pushq $0
  .endif
  pushq $\vec
  jmp trap_common
.endm

  .balign 16
  .globl trap_stubs_start
trap_stubs_start:
.set v, 0
.rept 256
  STUB %v
  .set v, v + 1
.endr

trap_common:
  pushq %rax
  pushq %rbx
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %rbp
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, %rdi            /* trap_dispatch(struct trap_frame *) */
  movq %rsp, %rbp            /* callee-saved: finds the frame again */
  subq $512, %rsp
  andq $-16, %rsp            /* fxsave needs 16-byte alignment; so does the ABI */
  fxsave (%rsp)
  cld
  call trap_dispatch
  fxrstor (%rsp)
  movq %rbp, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rbp
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rbx
  popq %rax
  addq $16, %rsp             /* vector and error code */
  iretq

/* The stubs' addresses, for idt_init(). */
  .section .rodata
  .balign 8
  .globl trap_stub_table
trap_stub_table:
.set v, 0
.rept 256
  .quad trap_stubs_start + v * 16
  .set v, v + 1
.endr
