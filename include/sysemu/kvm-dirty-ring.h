/*
 * The KVM dirty ring: per-vCPU ring of dirtied guest pages.
 *
 * The pure harvest core works on a plain array so unit tests need no KVM;
 * the wrapper owns the slots lock and the KVM_RESET_DIRTY_RINGS ioctl.
 */
#ifndef SYSEMU_KVM_DIRTY_RING_H
#define SYSEMU_KVM_DIRTY_RING_H

#include <stdint.h>
#include <linux/kvm.h>

#include "hw/core/cpu.h"
#include "qemu/sparse-bitmap.h"

/* Called once per harvested entry with its slot and page offset. */
typedef void (*DirtyGfnFunc)(uint32_t slot, uint64_t offset, void *opaque);

typedef struct DirtyRingHarvest {
    uint32_t harvested;     /* entries collected and marked for reset */
    uint32_t dropped;       /* entries with a bad slot or offset */
} DirtyRingHarvest;

/*
 * Pure core: collect dirty entries of @ring (@entries, a power of two)
 * starting at *@fetch, stopping at the first entry not marked dirty
 * (acquire load), calling @fn for each entry whose slot is < @nr_slots and
 * whose offset is < @slot_pages[slot], marking each collected entry for
 * reset (release store), and advancing *@fetch.  At most @entries entries
 * are taken per call.
 */
DirtyRingHarvest kvm_dirty_ring_harvest_one(struct kvm_dirty_gfn *ring,
                                            uint32_t entries,
                                            uint32_t *fetch,
                                            uint32_t nr_slots,
                                            const uint64_t *slot_pages,
                                            DirtyGfnFunc fn, void *opaque);

/*
 * Ring-full exits in a row with nothing harvested before we call the
 * ring stuck.  A healthy ring-full exit always finds at least the
 * reserve's worth of entries; a few empty ones can happen when the reaper
 * emptied the ring between the exit and our harvest.
 */
#define KVM_DIRTY_RING_STUCK_EXITS 64

bool kvm_dirty_ring_init_vcpu(CPUState *cpu, Error **errp);
void kvm_dirty_ring_cleanup_vcpu(CPUState *cpu);
/* Harvest every vCPU's ring and reset them; returns entries harvested. */
uint64_t kvm_dirty_ring_reap(void);
/* Harvest @cpu's ring only (ring-full exit), then reset. */
uint64_t kvm_dirty_ring_reap_one(CPUState *cpu);
/*
 * Entries @cpu's ring holds that nobody has harvested yet, counted
 * without harvesting or resetting anything (any thread, no lock: a
 * harvest running meanwhile makes it undercount, never overcount).
 * dirty_pages read before this, plus this, is the vCPU's count now.
 */
uint32_t kvm_dirty_ring_peek_pending(CPUState *cpu);
/*
 * The same for distinct pages per window: of the entries still in @cpu's
 * ring, the pages its dirty window has not counted yet (a page repeated
 * in a row once).  dirty_window_total() read before this, plus this, is
 * the vCPU's distinct count now.  Undercounts while a harvest runs.
 */
uint32_t kvm_dirty_ring_peek_new_pages(CPUState *cpu);

/* The kvm-reaper thread: harvests every @period_ms and when kicked. */
void kvm_dirty_ring_reaper_start(uint32_t period_ms);
void kvm_dirty_ring_reaper_kick(void);
void kvm_dirty_ring_reaper_stop(void);
void kvm_dirty_ring_stats(uint64_t *harvested, uint64_t *dropped,
                          uint64_t *reaper_runs, uint64_t *reset_mismatches,
                          uint64_t *harvest_ns);

/*
 * Per-vCPU page sets for a dirty-rate measurement (migration/dirtyrate.c).
 * While installed, each harvested entry also sets its page's bit (GPA /
 * 4 KiB) in @bitmaps[cpu_index] (one bit per page of RAM, @nr_cpus of
 * them; sparse, so a vCPU's set costs memory for what it wrote only).  Installing (@bitmaps non-NULL) and removing (NULL) both first
 * harvest every ring under the slots lock, so the window they bound is
 * exact: entries pushed before the install are not in the sets, entries
 * pushed before the removal are.  @dirty_pages (may be NULL) gets each
 * vCPU's CPUState.dirty_pages at that instant.  No cost when none is
 * installed but one pointer test per entry.
 */
void kvm_dirty_ring_track_vcpus(SparseBitmap *const *bitmaps, int nr_cpus,
                                uint64_t *dirty_pages);

#endif /* SYSEMU_KVM_DIRTY_RING_H */
