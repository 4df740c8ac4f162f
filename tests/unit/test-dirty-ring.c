/*
 * The pure dirty-ring harvest core, on a plain array: no KVM.
 */
#include "qemu/osdep.h"

#include "sysemu/dirty-ring-harvest.h"

#define RING_ENTRIES 8

typedef struct Seen {
    uint32_t n;
    uint32_t slot[64];
    uint64_t offset[64];
} Seen;

static void record(uint32_t slot, uint64_t offset, void *opaque)
{
    Seen *s = opaque;

    s->slot[s->n] = slot;
    s->offset[s->n] = offset;
    s->n++;
}

static void push(struct kvm_dirty_gfn *ring, uint32_t *prod, uint32_t slot,
                 uint64_t offset)
{
    struct kvm_dirty_gfn *e = &ring[*prod & (RING_ENTRIES - 1)];

    e->slot = slot;
    e->offset = offset;
    e->flags = KVM_DIRTY_GFN_F_DIRTY;
    (*prod)++;
}

static const uint64_t slot_pages[2] = { 16, 100 };

static void test_stops_at_first_clean_entry(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };
    DirtyRingHarvest h;

    push(ring, &prod, 1, 5);
    push(ring, &prod, 1, 6);
    h = kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                                   record, &seen);
    g_assert_cmpuint(h.harvested, ==, 2);
    g_assert_cmpuint(h.dropped, ==, 0);
    g_assert_cmpuint(fetch, ==, 2);
    g_assert_cmpuint(seen.n, ==, 2);
    g_assert_cmpuint(seen.offset[0], ==, 5);
    g_assert_cmpuint(seen.offset[1], ==, 6);
    /* Harvested entries are handed back for reset, the rest untouched. */
    g_assert_cmpuint(ring[0].flags, ==, KVM_DIRTY_GFN_F_RESET);
    g_assert_cmpuint(ring[1].flags, ==, KVM_DIRTY_GFN_F_RESET);
    g_assert_cmpuint(ring[2].flags, ==, 0);
}

static void test_entries_marked_for_reset_are_not_taken_again(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };
    DirtyRingHarvest h;

    push(ring, &prod, 1, 1);
    kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                               record, &seen);
    h = kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                                   record, &seen);
    g_assert_cmpuint(h.harvested, ==, 0);
    g_assert_cmpuint(seen.n, ==, 1);
}

static void test_wraps_around(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };
    DirtyRingHarvest h;

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) {
            /* KVM reuses only entries that were reset. */
            ring[prod & (RING_ENTRIES - 1)].flags = 0;
            push(ring, &prod, 1, round * 6 + i);
        }
        h = kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2,
                                       slot_pages, record, &seen);
        g_assert_cmpuint(h.harvested, ==, 6);
    }
    g_assert_cmpuint(fetch, ==, 18);
    for (uint32_t i = 0; i < seen.n; i++) {
        g_assert_cmpuint(seen.offset[i], ==, i);
    }
}

static void test_full_ring_is_taken_whole_once(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };
    DirtyRingHarvest h;

    for (int i = 0; i < RING_ENTRIES; i++) {
        push(ring, &prod, 0, i);
    }
    h = kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                                   record, &seen);
    g_assert_cmpuint(h.harvested, ==, RING_ENTRIES);
    g_assert_cmpuint(seen.n, ==, RING_ENTRIES);
}

static void test_bad_entries_are_dropped_and_reset(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };
    DirtyRingHarvest h;

    push(ring, &prod, 7, 1);        /* no such slot */
    push(ring, &prod, 1, 100);      /* one past the slot's last page */
    push(ring, &prod, 0x10001, 2);  /* address space 1, slot 1: ours */
    push(ring, &prod, 0, 15);       /* last page of slot 0 */
    h = kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                                   record, &seen);
    g_assert_cmpuint(h.harvested, ==, 4);
    g_assert_cmpuint(h.dropped, ==, 2);
    g_assert_cmpuint(seen.n, ==, 2);
    g_assert_cmpuint(seen.slot[0], ==, 1);
    g_assert_cmpuint(seen.offset[0], ==, 2);
    g_assert_cmpuint(seen.offset[1], ==, 15);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpuint(ring[i].flags, ==, KVM_DIRTY_GFN_F_RESET);
    }
}

static void test_pending_counts_without_taking(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen seen = { 0 };

    g_assert_cmpuint(kvm_dirty_ring_count_pending(NULL, 0, 0), ==, 0);
    g_assert_cmpuint(kvm_dirty_ring_count_pending(ring, RING_ENTRIES, 0),
                     ==, 0);
    for (int i = 0; i < 5; i++) {
        push(ring, &prod, 0, i);
    }
    g_assert_cmpuint(kvm_dirty_ring_count_pending(ring, RING_ENTRIES, fetch),
                     ==, 5);
    /* Counting takes nothing: the harvest still finds all five. */
    g_assert_cmpuint(kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch,
                                                2, slot_pages, record,
                                                &seen).harvested, ==, 5);
    g_assert_cmpuint(kvm_dirty_ring_count_pending(ring, RING_ENTRIES, fetch),
                     ==, 0);
    /* Wrapping past the end; a full ring counts as its size, no more. */
    for (int i = 0; i < RING_ENTRIES; i++) {
        push(ring, &prod, 1, i);
    }
    g_assert_cmpuint(kvm_dirty_ring_count_pending(ring, RING_ENTRIES, fetch),
                     ==, RING_ENTRIES);
}

static void test_walk_pending_sees_what_the_harvest_takes(void)
{
    struct kvm_dirty_gfn ring[RING_ENTRIES] = { 0 };
    uint32_t prod = 0, fetch = 0;
    Seen walked = { 0 }, taken = { 0 };

    push(ring, &prod, 0, 3);
    push(ring, &prod, 7, 1);        /* no such slot: counted, not called */
    push(ring, &prod, 1, 99);
    push(ring, &prod, 1, 100);      /* past the slot: counted, not called */
    g_assert_cmpuint(kvm_dirty_ring_walk_pending(ring, RING_ENTRIES, fetch,
                                                 2, slot_pages, record,
                                                 &walked), ==, 4);
    g_assert_cmpuint(walked.n, ==, 2);
    kvm_dirty_ring_harvest_one(ring, RING_ENTRIES, &fetch, 2, slot_pages,
                               record, &taken);
    g_assert_cmpuint(taken.n, ==, walked.n);
    for (uint32_t i = 0; i < walked.n; i++) {
        g_assert_cmpuint(taken.slot[i], ==, walked.slot[i]);
        g_assert_cmpuint(taken.offset[i], ==, walked.offset[i]);
    }
    walked.n = 0;
    g_assert_cmpuint(kvm_dirty_ring_walk_pending(ring, RING_ENTRIES, fetch,
                                                 2, slot_pages, record,
                                                 &walked), ==, 0);
    g_assert_cmpuint(walked.n, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-ring/harvest-stops-at-first-clean-entry",
                    test_stops_at_first_clean_entry);
    g_test_add_func("/dirty-ring/reset-entries-are-not-taken-again",
                    test_entries_marked_for_reset_are_not_taken_again);
    g_test_add_func("/dirty-ring/harvest-wraps-around", test_wraps_around);
    g_test_add_func("/dirty-ring/full-ring-is-taken-whole-once",
                    test_full_ring_is_taken_whole_once);
    g_test_add_func("/dirty-ring/bad-entries-are-dropped-and-reset",
                    test_bad_entries_are_dropped_and_reset);
    g_test_add_func("/dirty-ring/pending-counts-without-taking",
                    test_pending_counts_without_taking);
    g_test_add_func("/dirty-ring/walk-pending-sees-what-the-harvest-takes",
                    test_walk_pending_sees_what_the_harvest_takes);
    return g_test_run();
}
