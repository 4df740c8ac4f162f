/*
 * The per-vCPU dirty-rate calculator thread (softmmu/dirtyrate-stat.c).
 *
 * Every period it reads each vCPU's monotonic dirty-page counter
 * (CPUState.dirty_pages: dirty-ring entries harvested for that vCPU, i.e.
 * write faults after a harvest) and publishes, lock-free, the rate over
 * the last period.  Users (the dirty limiter, HMP/QMP views) start and
 * stop it independently; it runs while any user needs it.  Its clock is
 * injected so unit tests step a fake clock.
 */
#ifndef SYSEMU_DIRTYRATE_STAT_H
#define SYSEMU_DIRTYRATE_STAT_H

#include <stdint.h>

#include "sysemu/dirtyrate-compute.h"

/* Called on the calculator thread after each period, with no lock held. */
typedef void (*DirtyRateStatListener)(void *opaque);

bool dirtyrate_stat_start(Error **errp);    /* refcounted */
void dirtyrate_stat_stop(void);
bool dirtyrate_stat_running(void);
/* Latest published sample of @cpu_index; false if none yet. */
bool dirtyrate_stat_get(int cpu_index, VcpuDirtyStat *out);
void dirtyrate_stat_set_period_ms(uint32_t period_ms);
uint32_t dirtyrate_stat_period_ms(void);
void dirtyrate_stat_add_listener(DirtyRateStatListener fn, void *opaque);
void dirtyrate_stat_remove_listener(DirtyRateStatListener fn, void *opaque);

/*
 * Additions (softmmu/dirtyrate-stat.c), all optional for users of the
 * API above.
 */

/* The default period: see DIRTYRATE_STAT_DEFAULT_PERIOD_MS's comment. */
#define DIRTYRATE_STAT_DEFAULT_PERIOD_MS 100
#define DIRTYRATE_STAT_MIN_PERIOD_MS 1
#define DIRTYRATE_STAT_MAX_PERIOD_MS 60000

/*
 * What the calculator reads.  The real source reads CPUState.dirty_pages
 * after harvesting the rings, and CLOCK_MONOTONIC; tests inject a fake.
 * @generation changes whenever the vCPU list changes and is odd while it
 * is changing: a snapshot that sees it change is retried.
 */
typedef struct DirtyRateStatSource {
    uint64_t (*generation)(void *opaque);
    int (*nr_cpus)(void *opaque);
    uint64_t (*dirty_pages)(void *opaque, int cpu_index);
    int64_t (*clock_ns)(void *opaque);
    void (*harvest)(void *opaque);          /* may be NULL */
    void *opaque;
} DirtyRateStatSource;

/* Snapshots retried before a period is skipped. */
#define DIRTYRATE_STAT_SNAPSHOT_TRIES 8

/* Read @src consistently (retrying on a generation change). */
bool dirtyrate_stat_snapshot(const DirtyRateStatSource *src,
                             DirtyRateStatSnapshot *out);
/* Replace the source (NULL: the real one).  Only while not running. */
void dirtyrate_stat_set_source(const DirtyRateStatSource *src);
/*
 * One period's work, synchronously: snapshot, compute, publish, call the
 * listeners.  The thread calls it every period; a test calls it directly
 * after stepping its fake clock.
 */
void dirtyrate_stat_step(void);
/* Teardown, before the vCPUs go: stop whatever the users left running. */
void dirtyrate_stat_cleanup(void);

#endif /* SYSEMU_DIRTYRATE_STAT_H */
