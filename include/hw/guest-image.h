/*
 * The built-in guest (guest/), linked as an ELF64 and embedded in the
 * binary by scripts/embed-blob.py.  Load it with elf_load().
 */
#ifndef HW_GUEST_IMAGE_H
#define HW_GUEST_IMAGE_H

#include <stddef.h>

extern const unsigned char restraint_guest_elf[];
extern const size_t restraint_guest_elf_size;

#endif /* HW_GUEST_IMAGE_H */
