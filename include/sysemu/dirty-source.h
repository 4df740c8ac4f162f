/*
 * Dirty sources: where the pages the guest dirtied come from, behind one
 * table of operations.
 *
 * The accelerator offers one source (accel/kvm: the dirty ring or the
 * dirty bitmap, whichever the VM was created with); softmmu/memory.c
 * drives it and hands it a sink to write what it harvests into.  A source
 * never names a softmmu function, and no user of dirty tracking names a
 * source: they go through memory.c (include/sysemu/memory.h).
 * See docs/devel/dirty-tracking.md.
 */
#ifndef SYSEMU_DIRTY_SOURCE_H
#define SYSEMU_DIRTY_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/core/cpu.h"

typedef enum DirtyTrackingMode {
    DIRTY_TRACKING_BITMAP,      /* KVM_GET_DIRTY_LOG (+ CLEAR) */
    DIRTY_TRACKING_RING,        /* per-vCPU dirty rings */
} DirtyTrackingMode;

typedef struct DirtyTrackingStats {
    DirtyTrackingMode mode;
    uint32_t ring_entries;          /* 0 in bitmap mode */
    bool manual_protect;            /* bitmap mode: CLEAR_DIRTY_LOG */
    bool initially_set;             /* bitmap mode: INITIALLY_SET */
    unsigned int users;             /* GLOBAL_DIRTY_* bits */
    uint64_t syncs;
    uint64_t reaper_runs;
    uint64_t ring_harvested;        /* entries, all vCPUs */
    uint64_t ring_dropped;
    uint64_t ring_full_exits;
    uint64_t ring_reset_mismatches; /* KVM reset != entries harvested */
    uint64_t ring_harvest_ns;       /* time spent harvesting + resetting */
    uint64_t bitmap_pages;          /* pages reported by GET_DIRTY_LOG */
} DirtyTrackingStats;

/*
 * Where a source writes what it harvests.  Pages are guest pages (GPA /
 * 4 KiB).  The functions may be called on any thread that harvests (the
 * ring's reaper, a vCPU at ring-full, a sync), always under the source's
 * harvest lock.
 */
typedef struct DirtySink {
    /* One page dirtied by vCPU @cpu_index. */
    void (*page)(int cpu_index, uint64_t page);
    /* Pages @word * 64 + i for each bit i set in @bits (no vCPU known). */
    void (*word)(uint64_t word, uint64_t bits);
} DirtySink;

/*
 * A vCPU's pages not yet counted in its dirty window (see
 * vcpu_new_pages), and how many of them its previous window had: the
 * carried ones (qemu/dirty-window.h).
 */
typedef struct DirtyNewPages {
    uint32_t pages;
    uint32_t carried;           /* <= pages */
} DirtyNewPages;

/* Called by sync() at the end of its harvest, still under its lock. */
typedef void (*DirtySourceEdgeFunc)(void *opaque);

typedef struct DirtySourceOps {
    const char *name;
    DirtyTrackingMode mode;
    /* KVM has just started logging: harvest into @sink from now on. */
    void (*start)(const DirtySink *sink);
    /* KVM has just stopped logging: stop harvesting, take what is left. */
    void (*stop)(void);
    /*
     * Harvest everything logged so far into the sink; the pages (bitmap)
     * or entries (ring) taken, or -1 on an error (reported).  @edge, if
     * not NULL, is called once the harvest is complete and before any
     * other harvest of this source can begin, so a measurement window
     * bounded by two syncs is exact.
     */
    int64_t (*sync)(DirtySourceEdgeFunc edge, void *opaque);
    /*
     * Pages @cpu dirtied that CPUState.dirty_pages does not count yet,
     * counted without harvesting (any thread, no lock).  NULL when the
     * source keeps no per-vCPU count (the bitmap).
     */
    uint32_t (*vcpu_pending)(CPUState *cpu);
    /*
     * Of those, the pages @cpu's dirty window (CPUState.dirty_window,
     * which the source feeds) has not counted in its current window yet,
     * and of them the pages its previous window counted.  NULL when the
     * source keeps no per-vCPU window.
     */
    DirtyNewPages (*vcpu_new_pages)(CPUState *cpu);
    /* Fill the source's own fields of @stats (the rest are left alone). */
    void (*stats)(DirtyTrackingStats *stats);
} DirtySourceOps;

#endif /* SYSEMU_DIRTY_SOURCE_H */
