/*
 * The migration subsystem's internals, shared by the files of migration/:
 * the state of the outgoing migration and its status machine
 * (migration.c), the `migration` thread (migration-thread.c) and the
 * precopy sender it drives (ram.c).  Capabilities and parameters are in
 * include/migration/options.h.  Other subsystems use
 * include/migration/misc.h.
 *
 * Threads: the main thread runs QMP/HMP with the VM lock held; the
 * `migration` thread sends; the `migration-incoming` thread receives.
 * Statistics are atomics written by one thread and read by the others;
 * the status changes by compare-and-swap (migration_set_status()).
 */
#ifndef MIGRATION_MIGRATION_H
#define MIGRATION_MIGRATION_H

#include "migration/convergence.h"
#include "migration/stream.h"
#include "qapi/qapi-types.h"

/* Statistics of the outgoing migration, each written by one thread. */
typedef struct MigrationStatsAtomic {
    uint64_t transferred_bytes;
    uint64_t precopy_bytes;
    uint64_t downtime_bytes;
    uint64_t normal_pages;
    uint64_t zero_pages;
    uint64_t remaining_bytes;
    uint64_t dirty_sync_count;
    uint64_t dirty_pages_rate;      /* pages/s over the last sync period */
    uint64_t bandwidth_bytes_per_s; /* measured, last window */
    uint64_t pages_per_second;
    int64_t expected_downtime_ms;
    int64_t remaining_time_ms;      /* -1: does not converge */
    int64_t setup_time_ms;
    int64_t total_time_ms;          /* once ended */
    int64_t downtime_ms;            /* once completed */
} MigrationStatsAtomic;

typedef struct MigrationState {
    int status;                     /* (atomic) MigrationStatus */
    MigrationStatsAtomic stats;
    char *error_desc;               /* (lock) */
    char *uri;

    QemuMutex lock;                    /* fd, error_desc, the pause below */
    QemuCond continue_cond;            /* migrate-continue, cancel */
    bool continue_requested;        /* (lock) */
    int fd;                         /* (lock) -1 when none */
    int cancel_requested;           /* (atomic) */
    GThread *thread;                /* main thread, VM lock */
    int thread_done;                /* (atomic) takes no VM lock anymore */
    int64_t start_ms;               /* CLOCK_MONOTONIC */
    bool stopped_vm;                /* the switchover stopped the VM */
    bool end_ok;                    /* the thread's verdict, at its end */

    ConvergenceState conv;          /* (VM lock) */
    MigWriter writer;               /* migration thread */

    /* Rate limiting and bandwidth measurement (migration thread). */
    uint64_t pace_limit_bytes_per_s;
    int64_t pace_origin_ns;
    uint64_t pace_bytes;
    int64_t window_start_ns;
    uint64_t window_bytes;
    uint64_t window_pages;
    bool window_paced;
    bool in_downtime;               /* the guest is stopped */
    /* What only the switchover sends, bytes: the system area as it
     * will go on the wire, the vCPU states, the end (atomic: written by
     * the migration thread, read by query-migrate). */
    uint64_t stopped_bytes;
} MigrationState;

MigrationState *migrate_get_current(void);
MigrationStatus migration_status(MigrationState *s);
/* Change status @old -> @new; false (and nothing) if it was not @old. */
bool migration_set_status(int *status, MigrationStatus old,
                          MigrationStatus new);
bool migration_status_is_active(MigrationStatus status);
/*
 * The status another thread may be changing: @next(status now) says
 * where it goes from there (returning it unchanged changes nothing);
 * when the swap finds it moved meanwhile, @next is asked again about the
 * new status.  Returns the status it was moved from (or left at).
 */
typedef MigrationStatus (*MigrationStatusNextFn)(MigrationStatus now,
                                                 void *opaque);
MigrationStatus migration_status_update(int *status,
                                        MigrationStatusNextFn next,
                                        void *opaque);
/* migrate_cancel's step: an active status becomes cancelling. */
MigrationStatus migration_status_next_cancel(MigrationStatus now,
                                             void *opaque);
bool migration_cancelled(MigrationState *s);
void migration_set_error(MigrationState *s, const Error *err);

/*
 * Pure: the switchover's expected downtime, ms, for @dirty_pages still
 * dirty plus @stopped_bytes sent only with the guest stopped, at
 * @bandwidth_bytes_per_s (INT64_MAX while it is unmeasured, 0).
 */
int64_t migration_expected_downtime_ms(uint64_t dirty_pages,
                                       uint64_t stopped_bytes,
                                       uint64_t bandwidth_bytes_per_s);

/* The measured bandwidth, bytes/s, or the average so far before one. */
uint64_t migration_bandwidth(MigrationState *s);

/* migration-thread.c.  Start the `migration` thread (status: setup). */
bool migration_thread_start(MigrationState *s, Error **errp);
/* Join a thread that has finished its work (VM lock may be held). */
void migration_join_finished(MigrationState *s);

/*
 * ram.c: precopy, the sending side only (migration thread unless said).
 * It writes pages to s->writer and counts them in s->stats; what to do
 * about the dirty rate is the caller's (RamSyncStats).
 */
typedef bool (*RamSaveCancelledFn)(void *opaque);
/* VM lock held.  @cancelled(@opaque) is asked between batches of pages. */
bool ram_save_setup(MigrationState *s, RamSaveCancelledFn cancelled,
                    void *opaque, Error **errp);
/* Also measures s->stopped_bytes (the system area's wire size). */
bool ram_save_first_pass(MigrationState *s, Error **errp);

/* What one sync found. */
typedef struct RamSyncStats {
    uint64_t pages;             /* to send in the next pass */
    uint64_t sync_count;        /* dirty-sync-count after this sync */
    /*
     * A dirty-rate period (at least 1 s, guest running) ended with this
     * sync: @period is what the convergence policy judges, and
     * @dirty_pages_rate the pages/s dirtied over it.
     */
    bool period_ended;
    ConvergenceSync period;
    uint64_t dirty_pages_rate;
} RamSyncStats;
/* Sync and take the dirty pages into the pass bitmap. */
RamSyncStats ram_save_sync(MigrationState *s);
bool ram_save_pass(MigrationState *s, Error **errp);
/* Guest stopped: the last dirty pages and the whole system area. */
bool ram_save_complete(MigrationState *s, Error **errp);
void ram_save_cleanup(MigrationState *s);

/* return-path.c.  Source: the reply after END, within @timeout_ms:
 * true for LOADED; false with the destination's reason when it refused
 * (*@refused, may be NULL), or why nothing usable came. */
bool migration_rp_read_reply(int fd, int64_t timeout_ms,
                             const int *cancelled, bool *refused,
                             Error **errp);
/* Source, after each write, without waiting: false with the reason when
 * the destination refused or closed meanwhile. */
bool migration_rp_check(int fd, const int *cancelled, Error **errp);
/* Source, after a failed write: *@errp becomes the destination's reason
 * when it sent one before it closed. */
void migration_rp_explain(int fd, const int *cancelled, Error **errp);
/* Destination: send a refusal, then linger up to @linger_ms (0: not). */
void migration_rp_refuse(int fd, const char *reason, int64_t linger_ms,
                         const int *cancelled);

#endif /* MIGRATION_MIGRATION_H */
