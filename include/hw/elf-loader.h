/*
 * ELF64 loader for guest programs: the built-in guest and `-kernel FILE`.
 *
 * Pure: no KVM, no globals.  It checks every header field and program
 * header the load depends on before it writes a byte, so a malformed,
 * truncated, overlapping or out-of-range image is refused with a message
 * naming what is wrong, never a crash or a write outside the program area.
 */
#ifndef HW_ELF_LOADER_H
#define HW_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

/* Most program headers we accept: real programs have a handful. */
#define ELF_MAX_PHNUM 64
/* Largest file `-kernel` reads (debug info included); the loadable part is
 * bounded by the program area anyway. */
#define ELF_MAX_FILE_BYTES (64 * 1024 * 1024)

/*
 * Load the ELF64 x86-64 executable @image (@image_size bytes, any
 * alignment) into guest RAM @ram, which holds GPAs [0, @ram_size).
 *
 * Every PT_LOAD segment must have vaddr == paddr (the guest runs with
 * VA == GPA) and lie inside [@load_lo_gpa, @load_hi_gpa) and RAM; its
 * file bytes are copied and the rest of its memsz is zeroed.  Nothing
 * outside the segments is written.  The entry point must lie in an
 * executable segment; it is stored in @entry_gpa.
 *
 * On failure nothing has been written to @ram and errp says why
 * ("elf: ..."); returns false.
 */
bool elf_load(const void *image, size_t image_size,
              uint8_t *ram, uint64_t ram_size,
              uint64_t load_lo_gpa, uint64_t load_hi_gpa,
              uint64_t *entry_gpa, Error **errp);

/* elf_load() of the file at @path (at most ELF_MAX_FILE_BYTES); errors
 * are prefixed with the path. */
bool elf_load_file(const char *path,
                   uint8_t *ram, uint64_t ram_size,
                   uint64_t load_lo_gpa, uint64_t load_hi_gpa,
                   uint64_t *entry_gpa, Error **errp);

#endif /* HW_ELF_LOADER_H */
