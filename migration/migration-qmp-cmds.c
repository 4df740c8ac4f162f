/*
 * The outgoing migration's QMP commands: migrate, migrate_cancel,
 * migrate-continue, query-migrate (also the incoming migration's, until
 * this VM starts one of its own), migrate-set-capabilities (which asks
 * whether a migration runs, then options.c), and the process end.
 * Main thread, VM lock held unless said.
 */
#include "qemu/osdep.h"

#include <sys/socket.h>

#include "migration/channel.h"
#include "migration/incoming.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "migration/options.h"
#include "qapi/qapi-commands.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/physmem.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "hw/guest-abi.h"
#include "trace.h"

/* The migration thread updates stats with atomics; readers load them so. */
#define MIG_STAT(s, field) qatomic_read(&(s)->stats.field)

void qmp_migrate(const char *uri, bool has_blk, bool blk, bool has_inc,
                 bool inc, bool has_detach, bool detach, bool has_resume,
                 bool resume, Error **errp)
{
    MigrationState *s = migrate_get_current();
    MigrationUri parsed;

    migration_join_finished(s);
    if (migration_status_is_active(migration_status(s)) || s->thread) {
        error_setg(errp, "a migration is already in progress");
        return;
    }
    if ((has_blk && blk) || (has_inc && inc)) {
        error_setg(errp, "block migration is not supported: restraint "
                   "guests have no disks");
        return;
    }
    if (has_resume && resume) {
        error_setg(errp, "resume: restraint has no postcopy to resume");
        return;
    }
    if (runstate_get() == RUN_STATE_INMIGRATE) {
        error_setg(errp, "guest is waiting for an incoming migration");
        return;
    }
    if (!migration_uri_parse(uri, &parsed, errp)) {
        return;
    }
    migration_uri_clear(&parsed);

    g_free(s->uri);
    s->uri = g_strdup(uri);
    qemu_mutex_lock(&s->lock);
    g_free(s->error_desc);
    s->error_desc = NULL;
    s->continue_requested = false;
    qemu_mutex_unlock(&s->lock);
    memset(&s->stats, 0, sizeof(s->stats));
    s->cancel_requested = 0;
    s->thread_done = 0;
    s->stopped_vm = false;
    s->in_downtime = false;
    s->pace_limit_bytes_per_s = 0;
    s->window_bytes = s->window_pages = 0;
    s->window_paced = false;
    s->stopped_bytes = 0;
    s->start_ms = clock_ms();
    trace_migration_start(uri);
    migration_set_status(&s->status, migration_status(s),
                         MIGRATION_STATUS_SETUP);
    if (!migration_thread_start(s, errp)) {
        migration_set_status(&s->status, MIGRATION_STATUS_SETUP,
                             MIGRATION_STATUS_FAILED);
    }
}

void qmp_migrate_cancel(Error **errp)
{
    MigrationState *s = migrate_get_current();
    MigrationStatus now = migration_status(s);

    if (!migration_status_is_active(now) ||
        now == MIGRATION_STATUS_CANCELLING) {
        return;
    }
    qatomic_store_release(&s->cancel_requested, 1);
    /* The thread moves the status too: retry until cancelling or ended. */
    now = migration_status_update(&s->status, migration_status_next_cancel,
                                  NULL);
    qemu_mutex_lock(&s->lock);
    if (s->fd >= 0) {
        /* Unblock a send or receive in progress; the thread closes. */
        shutdown(s->fd, SHUT_RDWR);
    }
    qemu_cond_broadcast(&s->continue_cond);
    qemu_mutex_unlock(&s->lock);
    trace_migration_cancel(MigrationStatus_str(now));
}

void qmp_migrate_continue(MigrationStatus state, Error **errp)
{
    MigrationState *s = migrate_get_current();

    if (migration_status(s) != state ||
        state != MIGRATION_STATUS_PRE_SWITCHOVER) {
        error_setg(errp, "migration is in state '%s', not '%s'",
                   MigrationStatus_str(migration_status(s)),
                   MigrationStatus_str(state));
        return;
    }
    qemu_mutex_lock(&s->lock);
    s->continue_requested = true;
    qemu_cond_broadcast(&s->continue_cond);
    qemu_mutex_unlock(&s->lock);
}

MigrationInfo *qmp_query_migrate(Error **errp)
{
    MigrationState *s = migrate_get_current();
    MigrationStatus status = migration_status(s);
    MigrationInfo *info;
    MigrationStats *ram;
    uint64_t bw, dirty_bytes_per_s, remaining;

    migration_join_finished(s);
    /*
     * As QEMU: the incoming migration shows until this VM starts one of
     * its own; from then on the outgoing one does, so a destination
     * migrated on sees its new migration, not the one that brought it.
     */
    if (status == MIGRATION_STATUS_NONE) {
        if (migration_incoming_status() != MIGRATION_STATUS_NONE) {
            return migration_incoming_query();
        }
        return g_new0(MigrationInfo, 1);
    }
    info = g_new0(MigrationInfo, 1);
    info->has_status = true;
    info->status = status;
    ram = info->ram = g_new0(MigrationStats, 1);
    ram->transferred = MIG_STAT(s, transferred_bytes);
    ram->remaining = MIG_STAT(s, remaining_bytes);
    ram->total = ram_size();
    ram->duplicate = MIG_STAT(s, zero_pages);
    ram->normal = MIG_STAT(s, normal_pages);
    ram->normal_bytes = MIG_STAT(s, normal_pages) * RS_PAGE_SIZE;
    ram->dirty_pages_rate = MIG_STAT(s, dirty_pages_rate);
    bw = migration_bandwidth(s);
    ram->mbps = (double)MIG_STAT(s, bandwidth_bytes_per_s) * 8 / 1e6;
    ram->dirty_sync_count = MIG_STAT(s, dirty_sync_count);
    ram->page_size = RS_PAGE_SIZE;
    ram->pages_per_second = MIG_STAT(s, pages_per_second);
    ram->precopy_bytes = MIG_STAT(s, precopy_bytes);
    ram->downtime_bytes = MIG_STAT(s, downtime_bytes);

    info->has_total_time = true;
    info->total_time = migration_status_is_active(status) ?
                       clock_ms() - s->start_ms :
                       MIG_STAT(s, total_time_ms);
    if (status != MIGRATION_STATUS_SETUP) {
        info->has_setup_time = true;
        info->setup_time = MIG_STAT(s, setup_time_ms);
    }
    if (status == MIGRATION_STATUS_ACTIVE) {
        info->has_expected_downtime = true;
        remaining = MIG_STAT(s, remaining_bytes);
        info->expected_downtime = bw ?
            migration_expected_downtime_ms(remaining / RS_PAGE_SIZE,
                                           qatomic_read(&s->stopped_bytes),
                                           bw) :
            MIG_STAT(s, expected_downtime_ms);
        /* Geometric passes: S / (B - R) when the guest dirties less. */
        dirty_bytes_per_s = MIG_STAT(s, dirty_pages_rate) * RS_PAGE_SIZE;
        if (bw > dirty_bytes_per_s) {
            info->has_x_remaining_time = true;
            info->x_remaining_time = remaining * 1000 /
                                     (bw - dirty_bytes_per_s);
        }
    }
    if (status == MIGRATION_STATUS_COMPLETED) {
        info->has_downtime = true;
        info->downtime = MIG_STAT(s, downtime_ms);
    }
    if (convergence_throttle_pct(&s->conv)) {
        info->has_cpu_throttle_percentage = true;
        info->cpu_throttle_percentage = convergence_throttle_pct(&s->conv);
    }
    if (s->conv.started && (s->conv.policy == CONVERGENCE_DIRTY_LIMIT ||
                            s->conv.policy == CONVERGENCE_ADAPTIVE)) {
        info->has_dirty_limit_throttle_time_per_round = true;
        info->dirty_limit_throttle_time_per_round =
            convergence_throttle_time_us(&s->conv);
        info->has_dirty_limit_ring_full_time = true;
        info->dirty_limit_ring_full_time =
            convergence_ring_full_time_us(&s->conv);
    }
    qemu_mutex_lock(&s->lock);
    info->error_desc = g_strdup(s->error_desc);
    qemu_mutex_unlock(&s->lock);
    return info;
}

void qmp_migrate_set_capabilities(MigrationCapabilityStatusList *capabilities,
                                  Error **errp)
{
    MigrationState *s = migrate_get_current();

    if (migration_status_is_active(migration_status(s)) ||
        migration_incoming_status() == MIGRATION_STATUS_ACTIVE) {
        error_setg(errp, "cannot change migration capabilities while a "
                   "migration is in progress");
        return;
    }
    migrate_caps_apply(capabilities, errp);
}

/* ---- process end ------------------------------------------------------ */

void migration_shutdown(void)
{
    MigrationState *s = migrate_get_current();

    vm_lock();
    qmp_migrate_cancel(NULL);
    vm_unlock();
    /* Joined without the VM lock: the thread takes it to finish. */
    if (s->thread) {
        g_thread_join(s->thread);
        s->thread = NULL;
    }
    migration_incoming_shutdown();
    g_free(s->uri);
    s->uri = NULL;
    g_free(s->error_desc);
    s->error_desc = NULL;
}
