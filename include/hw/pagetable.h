/*
 * The guest's page tables: an identity map (VA == GPA) of all RAM plus the
 * doorbell page, every entry P|RW|U|A|D.  U=1 everywhere is what lets the
 * CPL3 guest run natively on kvm_pvm (docs/kvm-platform.md).
 *
 * Pure: builds into the RAM buffer, no KVM.  Tables come from the page-table
 * area [RS_PT_BASE, RS_PT_BASE + RS_PT_SIZE): the PML4 at PAGETABLE_PML4_GPA
 * (0x1000; GPA 0 is left unused), then the others in order.  RAM is mapped
 * with 2 MiB leaves, and 4 KiB leaves for a last partial 2 MiB; the doorbell
 * page with one 4 KiB leaf.  Nothing else is mapped.
 */
#ifndef HW_PAGETABLE_H
#define HW_PAGETABLE_H

#include <stdint.h>

#include "hw/guest-abi.h"

/* x86-64 page-table entry bits. */
#define PTE_PRESENT   (1ull << 0)
#define PTE_WRITE     (1ull << 1)
#define PTE_USER      (1ull << 2)
#define PTE_ACCESSED  (1ull << 5)
#define PTE_DIRTY     (1ull << 6)
#define PTE_LARGE     (1ull << 7)   /* PS: a 2 MiB leaf in a PD entry */
#define PTE_ADDR_MASK 0x000ffffffffff000ull
/* Every entry we write carries these (leaves add PTE_LARGE when 2 MiB). */
#define PTE_FLAGS     (PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED | \
                       PTE_DIRTY)

#define PAGETABLE_ENTRIES     512
#define PAGETABLE_PML4_GPA    (RS_PT_BASE + RS_PAGE_SIZE)
#define PAGETABLE_LARGE_PAGE  (2ull << 20)
/* Tables the area holds after the unused page at GPA 0. */
#define PAGETABLE_MAX_TABLES  (RS_PT_SIZE / RS_PAGE_SIZE - 1)

typedef struct PageTableInfo {
    uint64_t cr3;          /* GPA of the PML4 (PAGETABLE_PML4_GPA) */
    uint64_t tables;       /* 4 KiB tables used, the PML4 included */
    uint64_t leaves_2m;
    uint64_t leaves_4k;
} PageTableInfo;

/*
 * 4 KiB tables needed to map @ram_size bytes and the doorbell page.
 * @ram_size must be a multiple of RS_PAGE_SIZE and at most RS_MAX_RAM.
 */
uint64_t pagetable_tables_needed(uint64_t ram_size);

/*
 * Build the tables into @ram (host memory for GPAs [0, @ram_size)).  Only
 * the tables used are written (each zeroed first), all inside the
 * page-table area, so @ram needs to cover no more than the system area.
 * Fills @info.  Refuses, with nothing written, a
 * @ram_size that is not a multiple of 4 KiB, smaller than the system area
 * (RS_SYS_SIZE), above RS_MAX_RAM, or needing more than
 * PAGETABLE_MAX_TABLES tables (about 250 GiB).
 */
bool pagetable_build(uint8_t *ram, uint64_t ram_size, PageTableInfo *info,
                     Error **errp);

#endif /* HW_PAGETABLE_H */
