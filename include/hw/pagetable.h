/*
 * The guest's page tables: an identity map (VA == GPA) of all RAM plus the
 * doorbell page, every entry P|RW|U|A|D.  U=1 everywhere is what lets the
 * CPL3 guest run natively on kvm_pvm (docs/kvm-platform.md).
 *
 * Pure: builds into the RAM buffer, no KVM.  Tables come from the page-table
 * area [RS_PT_BASE, RS_PT_BASE + RS_PT_SIZE): the PML4 at RS_PML4_GPA
 * (0x1000), then the others in order.  RAM is mapped with 2 MiB leaves, and
 * 4 KiB leaves in the first 2 MiB and in a last partial 2 MiB; the doorbell
 * page with one 4 KiB leaf.  Nothing else is mapped: in particular not the
 * page at GPA 0, so a guest null-pointer access faults (a guest crash)
 * instead of scribbling over the page-table area.
 */
#ifndef HW_PAGETABLE_H
#define HW_PAGETABLE_H

#include <stdint.h>

#include "hw/guest-abi.h"

/* x86-64 page-table entry bits. */
#define PTE_PRESENT   (UINT64_C(1) << 0)
#define PTE_WRITE     (UINT64_C(1) << 1)
#define PTE_USER      (UINT64_C(1) << 2)
#define PTE_ACCESSED  (UINT64_C(1) << 5)
#define PTE_DIRTY     (UINT64_C(1) << 6)
#define PTE_LARGE     (UINT64_C(1) << 7)   /* PS: a 2 MiB leaf in a PD entry */
#define PTE_ADDR_MASK UINT64_C(0x000ffffffffff000)
/* Every entry we write carries these (leaves add PTE_LARGE when 2 MiB). */
#define PTE_FLAGS     (PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED | \
                       PTE_DIRTY)

#define PAGETABLE_ENTRIES     512
#define PAGETABLE_LARGE_PAGE  (UINT64_C(2) << 20)
/* The null guard: GPAs below this are not mapped. */
#define PAGETABLE_FIRST_GPA   RS_PAGE_SIZE
/* Tables the area holds from RS_PML4_GPA on. */
#define PAGETABLE_MAX_TABLES  ((RS_PT_BASE + RS_PT_SIZE - RS_PML4_GPA) / \
                               RS_PAGE_SIZE)

typedef struct PageTableInfo {
    uint64_t cr3;          /* GPA of the PML4 (RS_PML4_GPA) */
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
 * PAGETABLE_MAX_TABLES tables (249 GiB is the most that fits).
 */
bool pagetable_build(uint8_t *ram, uint64_t ram_size, PageTableInfo *info,
                     Error **errp);

#endif /* HW_PAGETABLE_H */
