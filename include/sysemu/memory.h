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

#include "qemu/sparse-bitmap.h"
#include "sysemu/dirty-source.h"

#define GLOBAL_DIRTY_MIGRATION  (1U << 0)   /* client DIRTY_MEMORY_MIGRATION */
#define GLOBAL_DIRTY_DIRTY_RATE (1U << 1)   /* client DIRTY_MEMORY_DIRTY_RATE */
#define GLOBAL_DIRTY_LIMIT      (1U << 2)   /* per-vCPU counters only */
#define GLOBAL_DIRTY_CHECK      (1U << 3)   /* client DIRTY_MEMORY_CHECK */
#define GLOBAL_DIRTY_OBSERVE    (1U << 4)   /* per-vCPU counters only: the
                                             * live view and metrics */
#define GLOBAL_DIRTY_MASK       0x1fU

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
/*
 * Per-vCPU dirty information, whatever the source.
 *
 * memory_dirty_vcpu_pending(): pages @cpu dirtied that
 * CPUState.dirty_pages does not count yet, without harvesting (any
 * thread, no lock); 0 for a source with no per-vCPU count (the bitmap).
 * memory_dirty_vcpu_new_pages(): the same for CPUState.dirty_window,
 * pages not yet counted in @cpu's current 1-s window
 * (qemu/dirty-window.h), and how many of them its previous window had
 * (carried); zeros for a source with no per-vCPU window.
 *
 * memory_dirty_harvest_vcpus(): bring every CPUState.dirty_pages up to
 * date now (while tracking is on; nothing for the bitmap).
 *
 * memory_dirty_track_vcpus(): per-vCPU page sets for a dirty-rate
 * measurement (migration/dirtyrate.c).  While installed, each page a
 * vCPU is reported to dirty also sets its bit (GPA / 4 KiB) in
 * @sets[cpu_index] (one bit per page of RAM, @nr_cpus of them).
 * Installing (@sets non-NULL) and removing (NULL) both first harvest the
 * whole source under its harvest lock, so the window they bound is exact:
 * pages reported before the install are not in the sets, pages reported
 * before the removal are.  @dirty_pages (may be NULL) gets each vCPU's
 * CPUState.dirty_pages at that instant.  Only a source that knows the
 * vCPU (the ring) fills the sets.
 */
uint32_t memory_dirty_vcpu_pending(CPUState *cpu);
DirtyNewPages memory_dirty_vcpu_new_pages(CPUState *cpu);
void memory_dirty_harvest_vcpus(void);
void memory_dirty_track_vcpus(SparseBitmap *const *sets, int nr_cpus,
                              uint64_t *dirty_pages);

/* Stop every user (teardown). */
void memory_cleanup(void);

/* The ring reaper's period, ms (-accel kvm,x-reaper-period-ms=N). */
#define KVM_REAPER_DEFAULT_PERIOD_MS 10

#endif /* SYSEMU_MEMORY_H */
