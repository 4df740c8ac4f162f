/* A -kernel guest that reports a panic through the doorbell
 * (RS_DOORBELL_GPA + RS_DB_PANIC, see include/hw/guest-abi.h). */
    .text
    .globl _start
_start:
    movabs $0x8000000010, %rax
    movq $42, %rcx
    movq %rcx, (%rax)
1:  jmp 1b
