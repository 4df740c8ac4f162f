/*
 * Page-table builder: walk the built tables in software, as the MMU would,
 * and check that every RAM address and the doorbell page translate to
 * themselves with U=1 and RW=1, that nothing else is mapped (GPA 0 is the
 * null guard), that 2 MiB
 * leaves are used wherever they fit, and that a RAM size needing more
 * tables than the area holds is refused.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "hw/pagetable.h"

/*
 * The builder only touches the page-table area (pagetable.h says so), so
 * every case passes a buffer covering just the system area, whatever the
 * RAM size; a write past it would be a heap overflow ASan reports.
 */
#define TEST_BUF_SIZE   RS_SYS_SIZE
#define TEST_FILL       0x5a
#define TEST_2M         PAGETABLE_LARGE_PAGE
/* Bits an entry we build may have; anything else is a bug. */
#define TEST_ENTRY_BITS (PTE_ADDR_MASK | PTE_FLAGS | PTE_LARGE)
/* Beyond this, check one page per 2 MiB leaf rather than every page. */
#define TEST_WALK_EVERY_PAGE_BELOW (64 * MiB)

typedef struct Walk {
    uint64_t gpa;
    uint64_t leaf_bytes;
    uint64_t flags_all_levels;   /* AND of the entries on the path */
} Walk;

static uint64_t test_entry(const uint8_t *buf, uint64_t table_gpa,
                           unsigned index)
{
    uint64_t entry;

    /* Every table must lie in the area, above the unused page 0. */
    g_assert_cmphex(table_gpa, >=, RS_PML4_GPA);
    g_assert_cmphex(table_gpa, <, RS_PT_BASE + RS_PT_SIZE);
    g_assert_cmphex(table_gpa % RS_PAGE_SIZE, ==, 0);
    memcpy(&entry, buf + table_gpa + index * sizeof(entry), sizeof(entry));
    g_assert_cmphex(entry & ~TEST_ENTRY_BITS, ==, 0);
    return entry;
}

/* Translate @va as the MMU would (4-level, PS in PDs only). */
static bool test_walk(const uint8_t *buf, uint64_t cr3, uint64_t va, Walk *w)
{
    uint64_t table_gpa = cr3;
    uint64_t flags = ~0ull;
    int level;

    for (level = 4; level >= 1; level--) {
        unsigned index = (va >> (12 + 9 * (level - 1))) & 511;
        uint64_t entry = test_entry(buf, table_gpa, index);

        if (!(entry & PTE_PRESENT)) {
            return false;
        }
        flags &= entry;
        if (level == 2 && (entry & PTE_LARGE)) {
            g_assert_cmphex(entry & PTE_ADDR_MASK & (TEST_2M - 1), ==, 0);
            w->gpa = (entry & PTE_ADDR_MASK) | (va & (TEST_2M - 1));
            w->leaf_bytes = TEST_2M;
            w->flags_all_levels = flags;
            return true;
        }
        if (level == 1) {
            g_assert_false(entry & PTE_LARGE);
            w->gpa = (entry & PTE_ADDR_MASK) | (va & (RS_PAGE_SIZE - 1));
            w->leaf_bytes = RS_PAGE_SIZE;
            w->flags_all_levels = flags;
            return true;
        }
        /* No 1 GiB or 512 GiB leaves. */
        g_assert_false(entry & PTE_LARGE);
        table_gpa = entry & PTE_ADDR_MASK;
    }
    g_assert_not_reached();
}

static void test_assert_identity(const uint8_t *buf, uint64_t cr3,
                                 uint64_t va, uint64_t want_leaf_bytes)
{
    Walk w;

    if (!test_walk(buf, cr3, va, &w)) {
        g_error("0x%" PRIx64 " is not mapped", va);
    }
    g_assert_cmphex(w.gpa, ==, va);
    g_assert_cmphex(w.leaf_bytes, ==, want_leaf_bytes);
    g_assert_cmphex(w.flags_all_levels & PTE_FLAGS, ==, PTE_FLAGS);
}

static void test_assert_unmapped(const uint8_t *buf, uint64_t cr3, uint64_t va)
{
    Walk w;

    if (test_walk(buf, cr3, va, &w)) {
        g_error("0x%" PRIx64 " is mapped to 0x%" PRIx64, va, w.gpa);
    }
}

static void test_maps_ram(gconstpointer opaque)
{
    uint64_t ram_size = *(const uint64_t *)opaque;
    uint64_t full_2m = ram_size / TEST_2M * TEST_2M;
    g_autofree uint8_t *buf = g_malloc(TEST_BUF_SIZE);
    g_autoptr(Error) err = NULL;
    PageTableInfo info;
    uint64_t va;
    bool ok;

    memset(buf, TEST_FILL, TEST_BUF_SIZE);
    ok = pagetable_build(buf, ram_size, &info, &err);
    if (!ok) {
        g_error("%s", error_get_pretty(err));
    }
    g_assert_cmphex(info.cr3, ==, RS_PML4_GPA);
    g_assert_cmpuint(info.tables, ==, pagetable_tables_needed(ram_size));
    g_assert_cmpuint(info.tables, <=, PAGETABLE_MAX_TABLES);
    /* 4 KiB leaves: the first 2 MiB but the null guard, the tail below
     * 2 MiB, the doorbell page. */
    g_assert_cmpuint(info.leaves_2m, ==, ram_size / TEST_2M - 1);
    g_assert_cmpuint(info.leaves_4k, ==,
                     TEST_2M / RS_PAGE_SIZE - 1 +
                     (ram_size - full_2m) / RS_PAGE_SIZE + 1);

    /* The null guard, then 4 KiB leaves up to the first 2 MiB. */
    test_assert_unmapped(buf, info.cr3, 0);
    test_assert_unmapped(buf, info.cr3, RS_PAGE_SIZE - 1);
    for (va = RS_PAGE_SIZE; va < TEST_2M; va += RS_PAGE_SIZE) {
        test_assert_identity(buf, info.cr3, va, RS_PAGE_SIZE);
    }
    /* RAM: 2 MiB leaves wherever a whole 2 MiB fits, 4 KiB in the tail. */
    for (va = TEST_2M; va < full_2m;
         va += ram_size < TEST_WALK_EVERY_PAGE_BELOW ? RS_PAGE_SIZE : TEST_2M) {
        test_assert_identity(buf, info.cr3, va, TEST_2M);
    }
    test_assert_identity(buf, info.cr3, full_2m - 8, TEST_2M);
    for (va = full_2m; va < ram_size; va += RS_PAGE_SIZE) {
        test_assert_identity(buf, info.cr3, va, RS_PAGE_SIZE);
        test_assert_identity(buf, info.cr3, va + RS_PAGE_SIZE - 1,
                             RS_PAGE_SIZE);
    }

    /* The doorbell page, and nothing around it or after RAM. */
    test_assert_identity(buf, info.cr3, RS_DOORBELL_GPA, RS_PAGE_SIZE);
    test_assert_identity(buf, info.cr3, RS_DOORBELL_GPA + RS_DB_PANIC,
                         RS_PAGE_SIZE);
    test_assert_unmapped(buf, info.cr3, RS_DOORBELL_GPA - RS_PAGE_SIZE);
    test_assert_unmapped(buf, info.cr3, RS_DOORBELL_GPA + RS_PAGE_SIZE);
    test_assert_unmapped(buf, info.cr3, RS_DOORBELL_GPA + TEST_2M);
    test_assert_unmapped(buf, info.cr3, ram_size);
    test_assert_unmapped(buf, info.cr3, ram_size + RS_PAGE_SIZE);
    test_assert_unmapped(buf, info.cr3, QEMU_ALIGN_UP(ram_size, TEST_2M));
    test_assert_unmapped(buf, info.cr3, RS_MAX_RAM);
    test_assert_unmapped(buf, info.cr3, (1ull << 47) - RS_PAGE_SIZE);

    /* GPA 0 is left alone: the builder starts at the PML4. */
    g_assert_cmpuint(buf[0], ==, TEST_FILL);
    g_assert_cmpuint(buf[RS_PAGE_SIZE - 1], ==, TEST_FILL);
    /* Nothing is written past the tables it used. */
    g_assert_cmpuint(buf[RS_PML4_GPA + info.tables * RS_PAGE_SIZE],
                     ==, TEST_FILL);
}

typedef struct BadRamCase {
    const char *name;
    uint64_t ram_size;
    const char *fragment;
} BadRamCase;

/*
 * 255 tables hold 249 GiB: 1 PML4 + 1 PDPT + 249 PDs + 1 PT for the first
 * 2 MiB + 3 for the doorbell.
 */
#define TEST_LARGEST_RAM (249 * GiB)

static const BadRamCase bad_ram_cases[] = {
    { "not-page-multiple", RS_SYS_SIZE + 1, "must be a multiple of 4 KiB" },
    { "smaller-than-system-area", RS_SYS_SIZE - RS_PAGE_SIZE,
      "must be a multiple of 4 KiB in [0x1000000, 0x4000000000]" },
    { "above-max-ram", RS_MAX_RAM + TEST_2M, "page tables: RAM size" },
    { "one-page-too-many-tables", TEST_LARGEST_RAM + RS_PAGE_SIZE,
      "needs 257 page tables, the page-table area holds 255" },
    { "max-ram-needs-too-many-tables", RS_MAX_RAM,
      "page tables: 262144 MiB of RAM needs 262 page tables, the "
      "page-table area holds 255" },
};

static void test_refuses(gconstpointer opaque)
{
    const BadRamCase *c = opaque;
    g_autofree uint8_t *buf = g_malloc(TEST_BUF_SIZE);
    g_autoptr(Error) err = NULL;
    PageTableInfo info;
    uint64_t i;

    memset(buf, TEST_FILL, TEST_BUF_SIZE);
    g_assert_false(pagetable_build(buf, c->ram_size, &info, &err));
    g_test_message("%s: %s", c->name, error_get_pretty(err));
    g_assert_nonnull(strstr(error_get_pretty(err), c->fragment));
    for (i = 0; i < RS_PT_SIZE; i++) {
        g_assert_cmpuint(buf[i], ==, TEST_FILL);
    }
}

static void test_rebuild_ignores_stale_tables(void)
{
    g_autofree uint8_t *buf = g_malloc(TEST_BUF_SIZE);
    g_autoptr(Error) err = NULL;
    uint64_t small = RS_SYS_SIZE;
    PageTableInfo info;

    /* Garbage where the tables go: each table is zeroed before use. */
    memset(buf, 0xff, TEST_BUF_SIZE);
    g_assert_true(pagetable_build(buf, small, &info, &err));
    test_assert_identity(buf, info.cr3, TEST_2M, TEST_2M);
    test_assert_unmapped(buf, info.cr3, 0);
    test_assert_unmapped(buf, info.cr3, small);
    test_assert_unmapped(buf, info.cr3, 4 * GiB);
}

static const uint64_t good_ram_sizes[] = {
    RS_SYS_SIZE,                                  /* 2 MiB leaves only */
    RS_SYS_SIZE + RS_PAGE_SIZE,                   /* one 4 KiB tail page */
    64 * MiB + TEST_2M - RS_PAGE_SIZE,            /* 511 tail pages */
    GiB,                                          /* exactly one PD */
    GiB + TEST_2M,                                /* a second PD */
    3 * GiB + 3 * RS_PAGE_SIZE,
    TEST_LARGEST_RAM,                             /* the area is full */
};

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(good_ram_sizes); i++) {
        g_autofree char *path = g_strdup_printf(
            "/pagetable/identity-maps-ram/%" PRIu64 "-KiB",
            good_ram_sizes[i] / 1024);

        g_test_add_data_func(path, &good_ram_sizes[i], test_maps_ram);
    }
    for (i = 0; i < G_N_ELEMENTS(bad_ram_cases); i++) {
        g_autofree char *path = g_strdup_printf("/pagetable/refuses/%s",
                                                bad_ram_cases[i].name);

        g_test_add_data_func(path, &bad_ram_cases[i], test_refuses);
    }
    g_test_add_func("/pagetable/rebuild-ignores-stale-tables",
                    test_rebuild_ignores_stale_tables);
    return g_test_run();
}
