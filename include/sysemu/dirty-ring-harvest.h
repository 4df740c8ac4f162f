/*
 * The pure dirty-ring harvester (accel/kvm/dirty-ring-harvest.c): walks
 * one ring laid out as KVM maps it, on a plain array, with no KVM, no
 * lock and no other restraint object, so its unit test links it alone.
 */
#ifndef SYSEMU_DIRTY_RING_HARVEST_H
#define SYSEMU_DIRTY_RING_HARVEST_H

#include <stdint.h>
#include <linux/kvm.h>

/* Called once per harvested entry with its slot and page offset. */
typedef void (*DirtyGfnFunc)(uint32_t slot, uint64_t offset, void *opaque);

typedef struct DirtyRingHarvest {
    uint32_t harvested;     /* entries collected and marked for reset */
    uint32_t dropped;       /* entries with a bad slot or offset */
} DirtyRingHarvest;

/*
 * Collect dirty entries of @ring (@entries, a power of two) starting at
 * *@fetch, stopping at the first entry not marked dirty (acquire load),
 * calling @fn for each entry whose slot is < @nr_slots and whose offset
 * is < @slot_pages[slot], marking each collected entry for reset
 * (release store), and advancing *@fetch (release store: it may be read
 * unlocked).  At most @entries entries are taken per call.
 */
DirtyRingHarvest kvm_dirty_ring_harvest_one(struct kvm_dirty_gfn *ring,
                                            uint32_t entries,
                                            uint32_t *fetch,
                                            uint32_t nr_slots,
                                            const uint64_t *slot_pages,
                                            DirtyGfnFunc fn, void *opaque);

/*
 * Entries of @ring not harvested yet, from @fetch on, without taking
 * any: stops at the first entry not marked dirty (acquire load) or after
 * @entries.  Calls @fn (if not NULL) for each whose slot and offset are
 * in range, as kvm_dirty_ring_harvest_one() would; returns how many
 * entries are pending, in range or not.  Any thread, no lock: a harvest
 * running meanwhile makes it stop early, never read an entry twice.
 */
uint32_t kvm_dirty_ring_walk_pending(const struct kvm_dirty_gfn *ring,
                                     uint32_t entries, uint32_t fetch,
                                     uint32_t nr_slots,
                                     const uint64_t *slot_pages,
                                     DirtyGfnFunc fn, void *opaque);

/* Entries of @ring not harvested yet, from @fetch on, only counted. */
uint32_t kvm_dirty_ring_count_pending(const struct kvm_dirty_gfn *ring,
                                      uint32_t entries, uint32_t fetch);

#endif /* SYSEMU_DIRTY_RING_HARVEST_H */
