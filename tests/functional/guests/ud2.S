/* A -kernel guest that crashes at once: #UD with no IDT is a triple
 * fault, which restraint must report as a guest crash and survive. */
    .text
    .globl _start
_start:
    ud2
