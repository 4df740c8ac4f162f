/*
 * The pure dirty-ring harvester: one ring, as KVM maps it, walked from
 * the fetch index.  No KVM, no lock, no other restraint object: the
 * caller (accel/kvm/dirty-ring.c) owns the slots lock and the
 * KVM_RESET_DIRTY_RINGS that gives the entries back to KVM.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qemu/atomic.h"
#include "sysemu/dirty-ring-harvest.h"

static bool dirty_gfn_is_dirty(const struct kvm_dirty_gfn *e)
{
    return qatomic_load_acquire(&e->flags) & KVM_DIRTY_GFN_F_DIRTY;
}

DirtyRingHarvest kvm_dirty_ring_harvest_one(struct kvm_dirty_gfn *ring,
                                            uint32_t entries,
                                            uint32_t *fetch,
                                            uint32_t nr_slots,
                                            const uint64_t *slot_pages,
                                            DirtyGfnFunc fn, void *opaque)
{
    DirtyRingHarvest h = { 0, 0 };

    for (uint32_t n = 0; n < entries; n++) {
        struct kvm_dirty_gfn *e = &ring[*fetch & (entries - 1)];
        uint32_t slot;
        uint64_t offset;

        if (!dirty_gfn_is_dirty(e)) {
            break;
        }
        slot = e->slot & 0xffff;    /* the high half is the address space */
        offset = e->offset;
        if (slot < nr_slots && offset < slot_pages[slot]) {
            fn(slot, offset, opaque);
        } else {
            h.dropped++;
        }
        /* Give the entry back even when it was bad: never wedge the ring. */
        qatomic_store_release(&e->flags, KVM_DIRTY_GFN_F_RESET);
        /* Release: kvm_dirty_ring_count_pending() readers go unlocked. */
        qatomic_store_release(fetch, *fetch + 1);
        h.harvested++;
    }
    return h;
}

uint32_t kvm_dirty_ring_walk_pending(const struct kvm_dirty_gfn *ring,
                                     uint32_t entries, uint32_t fetch,
                                     uint32_t nr_slots,
                                     const uint64_t *slot_pages,
                                     DirtyGfnFunc fn, void *opaque)
{
    uint32_t n = 0;

    for (; ring && n < entries; n++) {
        const struct kvm_dirty_gfn *e = &ring[(fetch + n) & (entries - 1)];
        uint32_t slot;
        uint64_t offset;

        if (!dirty_gfn_is_dirty(e)) {
            break;
        }
        if (!fn) {
            continue;
        }
        /* Atomic: KVM may write the next entries meanwhile. */
        slot = qatomic_read(&e->slot) & 0xffff;
        offset = qatomic_read(&e->offset);
        if (slot < nr_slots && offset < slot_pages[slot]) {
            fn(slot, offset, opaque);
        }
    }
    return n;
}

uint32_t kvm_dirty_ring_count_pending(const struct kvm_dirty_gfn *ring,
                                      uint32_t entries, uint32_t fetch)
{
    return kvm_dirty_ring_walk_pending(ring, entries, fetch, 0, NULL, NULL,
                                       NULL);
}
