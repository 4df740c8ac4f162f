/*
 * Global dirty tracking, started and stopped independently by each user.
 *
 * Each user has a bit; KVM logs dirty pages while any bit is set.  A sync
 * harvests what KVM has (every vCPU's ring, or the memslot bitmaps) into
 * the bitmap of every active client (softmmu/physmem.c), so one user's
 * sync never takes a page another user still needs.
 */
#ifndef SYSEMU_MEMORY_H
#define SYSEMU_MEMORY_H

#include <stdint.h>

#define GLOBAL_DIRTY_MIGRATION  (1U << 0)   /* client DIRTY_MEMORY_MIGRATION */
#define GLOBAL_DIRTY_DIRTY_RATE (1U << 1)   /* client DIRTY_MEMORY_DIRTY_RATE */
#define GLOBAL_DIRTY_LIMIT      (1U << 2)   /* per-vCPU counters only */
#define GLOBAL_DIRTY_CHECK      (1U << 3)   /* client DIRTY_MEMORY_CHECK */
#define GLOBAL_DIRTY_OBSERVE    (1U << 4)   /* per-vCPU counters only: the
                                             * live view and metrics */
#define GLOBAL_DIRTY_MASK       0x1fU

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

/* Start tracking for @flags' users; a user already started is an error. */
bool memory_global_dirty_log_start(unsigned int flags, Error **errp);
void memory_global_dirty_log_stop(unsigned int flags);
/* Harvest KVM's dirty information into every active client's bitmap. */
void memory_global_dirty_log_sync(void);
unsigned int memory_global_dirty_tracking(void);
/* The name of one GLOBAL_DIRTY_* user ("migration", ...), NULL if none. */
const char *memory_dirty_user_name(unsigned int flag);
DirtyTrackingMode memory_dirty_tracking_mode(void);
void memory_dirty_tracking_stats(DirtyTrackingStats *stats);
/* Stop every user (teardown). */
void memory_cleanup(void);

/* The ring reaper's period, ms (-accel kvm,x-reaper-period-ms=N). */
#define KVM_REAPER_DEFAULT_PERIOD_MS 10

#endif /* SYSEMU_MEMORY_H */
