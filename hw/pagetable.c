/*
 * The guest's identity page tables (see include/hw/pagetable.h).
 *
 * A generic 4-level walk that allocates missing tables in order from the
 * page-table area; RAM is covered with the largest leaf that fits.  The
 * number of tables is known in advance (pagetable_tables_needed), so a
 * RAM size that would not fit is refused before anything is written.
 */
#include "qemu/osdep.h"

#include "hw/pagetable.h"

#define PAGETABLE_LEVELS      4
#define PAGETABLE_INDEX_BITS  9
#define PAGETABLE_PAGE_SHIFT  12
/* Bytes one PD entry (2 MiB) and one PDPT entry (1 GiB) cover. */
#define PAGETABLE_PD_SPAN     PAGETABLE_LARGE_PAGE
#define PAGETABLE_PDPT_SPAN   (UINT64_C(1) << 30)
/* Bytes one PML4 entry covers. */
#define PAGETABLE_PML4_SPAN   (UINT64_C(1) << 39)

/*
 * The table count below assumes RAM fits one PML4 entry and the doorbell
 * page has one of its own (so it needs a PDPT, a PD and a PT).
 */
_Static_assert(RS_MAX_RAM <= PAGETABLE_PML4_SPAN,
               "RAM must fit the first PML4 entry");
_Static_assert(RS_DOORBELL_GPA >= PAGETABLE_PML4_SPAN &&
               RS_DOORBELL_GPA % RS_PAGE_SIZE == 0,
               "the doorbell page must lie above RAM's PML4 entry");
#define PAGETABLE_DOORBELL_TABLES 3

typedef struct PageTableBuilder {
    uint8_t *ram;
    uint64_t next_table_gpa;
    PageTableInfo *info;
} PageTableBuilder;

uint64_t pagetable_tables_needed(uint64_t ram_size)
{
    uint64_t tables = 1;                                    /* PML4 */

    tables += 1;                                            /* RAM's PDPT */
    tables += DIV_ROUND_UP(ram_size, PAGETABLE_PDPT_SPAN);  /* PDs */
    tables += 1;            /* PT for the first 2 MiB, around the null guard */
    if (ram_size % PAGETABLE_PD_SPAN != 0) {
        tables += 1;                      /* PT for the partial 2 MiB */
    }
    return tables + PAGETABLE_DOORBELL_TABLES;
}

static uint64_t *pagetable_table(PageTableBuilder *b, uint64_t table_gpa)
{
    return (uint64_t *)(b->ram + table_gpa);
}

static uint64_t pagetable_alloc(PageTableBuilder *b)
{
    uint64_t gpa = b->next_table_gpa;

    /* pagetable_tables_needed() was checked against the area. */
    assert(gpa + RS_PAGE_SIZE <= RS_PT_BASE + RS_PT_SIZE);
    b->next_table_gpa += RS_PAGE_SIZE;
    b->info->tables++;
    memset(b->ram + gpa, 0, RS_PAGE_SIZE);
    return gpa;
}

static unsigned pagetable_index(uint64_t gpa, int level)
{
    /* level 4 = PML4 ... level 1 = PT */
    return (gpa >> (PAGETABLE_PAGE_SHIFT +
                    PAGETABLE_INDEX_BITS * (level - 1))) &
           (PAGETABLE_ENTRIES - 1);
}

/* Map @gpa to itself with a leaf at @leaf_level (1: 4 KiB, 2: 2 MiB). */
static void pagetable_map(PageTableBuilder *b, uint64_t gpa, int leaf_level)
{
    uint64_t table_gpa = b->info->cr3;
    int level;

    for (level = PAGETABLE_LEVELS; level > leaf_level; level--) {
        uint64_t *entry = &pagetable_table(b, table_gpa)[
            pagetable_index(gpa, level)];

        if (!(*entry & PTE_PRESENT)) {
            *entry = pagetable_alloc(b) | PTE_FLAGS;
        }
        /* We never map a leaf where a table goes, or the reverse. */
        assert(!(*entry & PTE_LARGE));
        table_gpa = *entry & PTE_ADDR_MASK;
    }
    pagetable_table(b, table_gpa)[pagetable_index(gpa, leaf_level)] =
        gpa | PTE_FLAGS | (leaf_level == 2 ? PTE_LARGE : 0);
    if (leaf_level == 2) {
        b->info->leaves_2m++;
    } else {
        b->info->leaves_4k++;
    }
}

bool pagetable_build(uint8_t *ram, uint64_t ram_size, PageTableInfo *info,
                     Error **errp)
{
    PageTableBuilder b = {
        .ram = ram,
        .next_table_gpa = RS_PML4_GPA,
        .info = info,
    };
    uint64_t needed, gpa;

    if (ram_size % RS_PAGE_SIZE != 0 || ram_size < RS_SYS_SIZE ||
        ram_size > RS_MAX_RAM) {
        error_setg(errp, "page tables: RAM size 0x%" PRIx64 " must be a "
                   "multiple of 4 KiB in [0x%" PRIx64 ", 0x%" PRIx64 "]",
                   ram_size, RS_SYS_SIZE, RS_MAX_RAM);
        return false;
    }
    needed = pagetable_tables_needed(ram_size);
    if (needed > PAGETABLE_MAX_TABLES) {
        error_setg(errp, "page tables: %" PRIu64 " MiB of RAM needs %" PRIu64
                   " page tables, the page-table area holds %" PRIu64,
                   (uint64_t)(ram_size / MiB), needed, PAGETABLE_MAX_TABLES);
        return false;
    }

    memset(info, 0, sizeof(*info));
    info->cr3 = pagetable_alloc(&b);
    for (gpa = PAGETABLE_FIRST_GPA; gpa < ram_size;) {
        if (gpa % PAGETABLE_LARGE_PAGE == 0 &&
            ram_size - gpa >= PAGETABLE_LARGE_PAGE) {
            pagetable_map(&b, gpa, 2);
            gpa += PAGETABLE_LARGE_PAGE;
        } else {
            pagetable_map(&b, gpa, 1);
            gpa += RS_PAGE_SIZE;
        }
    }
    pagetable_map(&b, RS_DOORBELL_GPA, 1);
    assert(info->tables == needed);
    return true;
}
