/*
 * The outgoing migration's state and its status machine:
 *
 *   migrate -> setup -> active (passes) -> [pre-switchover] -> device
 *           -> completed (source: postmigrate)
 *   any phase -> failed | cancelling -> cancelled (the guest runs on)
 *
 * The main thread (QMP, migration-qmp-cmds.c) and the `migration` thread
 * (migration-thread.c) both move the status, by compare-and-swap.
 */
#include "qemu/osdep.h"

#include "migration/migration.h"
#include "migration/options.h"
#include "qapi/qapi-events.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "hw/guest-abi.h"
#include "trace.h"

static MigrationState current_migration = {
    .status = MIGRATION_STATUS_NONE,
    .fd = -1,
};

MigrationState *migrate_get_current(void)
{
    return &current_migration;
}

bool migration_set_status(int *status, MigrationStatus old,
                          MigrationStatus new)
{
    int expected = old;

    if (!qatomic_cmpxchg(status, &expected, new)) {
        return false;
    }
    trace_migration_set_status(MigrationStatus_str(old),
                               MigrationStatus_str(new));
    if (migrate_events()) {
        qapi_event_send_migration(new);
    }
    return true;
}

bool migration_status_is_active(MigrationStatus status)
{
    return status == MIGRATION_STATUS_SETUP ||
           status == MIGRATION_STATUS_ACTIVE ||
           status == MIGRATION_STATUS_PRE_SWITCHOVER ||
           status == MIGRATION_STATUS_DEVICE ||
           status == MIGRATION_STATUS_CANCELLING;
}

MigrationStatus migration_status_update(int *status,
                                        MigrationStatusNextFn next,
                                        void *opaque)
{
    for (;;) {
        MigrationStatus now = qatomic_read_seq(status);
        MigrationStatus new = next(now, opaque);

        if (new == now || migration_set_status(status, now, new)) {
            return now;
        }
        /* Moved between the load and the swap: judge the new status. */
    }
}

MigrationStatus migration_status_next_cancel(MigrationStatus now,
                                             void *opaque)
{
    return migration_status_is_active(now) ? MIGRATION_STATUS_CANCELLING
                                           : now;
}

MigrationStatus migration_status(MigrationState *s)
{
    return qatomic_read_seq(&s->status);
}

bool migration_cancelled(MigrationState *s)
{
    return qatomic_load_acquire(&s->cancel_requested);
}

void migration_set_error(MigrationState *s, const Error *err)
{
    qemu_mutex_lock(&s->lock);
    if (!s->error_desc) {
        s->error_desc = g_strdup(error_get_pretty(err));
    }
    qemu_mutex_unlock(&s->lock);
}

uint64_t migration_bandwidth(MigrationState *s)
{
    uint64_t bw = qatomic_read(&s->stats.bandwidth_bytes_per_s);
    int64_t elapsed_ms = MAX(clock_ms() - s->start_ms, 1);

    if (!bw) {
        bw = qatomic_read(&s->stats.transferred_bytes) * 1000 / elapsed_ms;
    }
    return bw;
}

int64_t migration_expected_downtime_ms(uint64_t dirty_pages,
                                       uint64_t stopped_bytes,
                                       uint64_t bandwidth_bytes_per_s)
{
    /* Each dirty page goes as a tag and its contents. */
    double bytes = (double)dirty_pages * (RS_PAGE_SIZE + 8) + stopped_bytes;

    if (!bandwidth_bytes_per_s) {
        return INT64_MAX;
    }
    return (int64_t)(bytes * 1000 / bandwidth_bytes_per_s);
}
