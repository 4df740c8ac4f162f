/*
 * Guest RAM: one anonymous mapping, identity GPA 0 .. ram_size, split in
 * two memslots: the system area (never dirty-logged) and workload memory.
 */
#ifndef SYSEMU_PHYSMEM_H
#define SYSEMU_PHYSMEM_H

#include <stdint.h>

#define RAM_SLOT_SYSTEM 0   /* [0, RS_SYS_SIZE) */
#define RAM_SLOT_WORK   1   /* [RS_WORK_BASE, ram_size) */

/* Map @size bytes lazily (MAP_NORESERVE) and register both memslots. */
bool ram_init(uint64_t size, Error **errp);
void ram_cleanup(void);
uint64_t ram_size(void);
/* Host pointer to [gpa, gpa + len), or NULL if any of it is not RAM. */
void *ram_host_ptr(uint64_t gpa, uint64_t len);
/* Host base pointer of the whole of RAM. */
uint8_t *ram_host_base(void);

#endif /* SYSEMU_PHYSMEM_H */
