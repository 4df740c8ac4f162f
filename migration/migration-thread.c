/*
 * The `migration` thread: connect, precopy passes until what is left fits
 * the downtime limit, stop the guest, send the rest and the vCPUs, and
 * the handshake with the destination; with the stream's write side
 * (rate limit, bandwidth measurement) under it.
 *
 * The thread never holds the VM lock while it is on the socket; it
 * takes it for dirty-tracking start and stop, the convergence policy,
 * the switchover stop and the vCPU state save.
 */
#include "qemu/osdep.h"

#include "migration/channel.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/vmstate.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus.h"
#include "sysemu/physmem.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "hw/guest-abi.h"
#include "trace.h"

/* The stream buffer: a few ms of data at typical bandwidths. */
#define MIGRATION_BUFFER_BYTES (128 * 1024)
/* Bandwidth is measured over windows of this length, ns (QEMU: 100 ms). */
#define MIGRATION_WINDOW_NS (100 * 1000 * 1000LL)
/* Most credit the rate limiter gives after a stall, ns: bursts stay
 * short, so max-bandwidth holds within 5% over any second. */
#define MIGRATION_PACE_CREDIT_NS (20 * 1000 * 1000LL)
/* Longest rate-limit sleep between looks at the cancel flag, ns. */
#define MIGRATION_PACE_SLICE_NS (20 * 1000 * 1000LL)
/* How long the source waits for the destination's "loaded", ms. */
#define MIGRATION_ACK_TIMEOUT_MS 60000

static bool migration_pace(MigrationState *s, Error **errp)
{
    uint64_t limit = migrate_max_bandwidth();
    int64_t now_ns = clock_ns(), due_ns;

    if (s->in_downtime || limit == 0) {
        s->pace_limit_bytes_per_s = 0;
        return true;
    }
    if (limit != s->pace_limit_bytes_per_s) {
        s->pace_limit_bytes_per_s = limit;
        s->pace_origin_ns = now_ns;
        s->pace_bytes = 0;
    }
    due_ns = s->pace_origin_ns +
             (int64_t)((double)s->pace_bytes * NANOSECONDS_PER_SECOND /
                       limit);
    if (now_ns - due_ns > MIGRATION_PACE_CREDIT_NS) {
        /* Behind after a stall: forgive all but a short burst. */
        s->pace_origin_ns += now_ns - due_ns - MIGRATION_PACE_CREDIT_NS;
    }
    while (now_ns < due_ns) {
        int64_t sleep_ns = MIN(due_ns - now_ns, MIGRATION_PACE_SLICE_NS);

        if (migration_cancelled(s)) {
            error_setg(errp, "migration cancelled");
            return false;
        }
        g_usleep(sleep_ns / 1000);
        s->window_paced = true;
        now_ns = clock_ns();
    }
    return true;
}

/* Account one record's bytes (from the write callback). */
static void migration_account_write(MigrationState *s, size_t bytes)
{
    int64_t now_ns = clock_ns(), elapsed_ns;

    qatomic_fetch_add_relaxed(&s->stats.transferred_bytes, bytes);
    qatomic_fetch_add_relaxed(s->in_downtime ? &s->stats.downtime_bytes
                                             : &s->stats.precopy_bytes,
                              bytes);
    s->pace_bytes += bytes;
    s->window_bytes += bytes;
    elapsed_ns = now_ns - s->window_start_ns;
    if (elapsed_ns < MIGRATION_WINDOW_NS) {
        return;
    }
    /*
     * A window mostly of zero pages measures our scanning, not the link:
     * keep the previous estimate unless it was paced or mostly data.
     */
    if (s->window_paced ||
        s->window_bytes >= s->window_pages * RS_PAGE_SIZE / 2) {
        qatomic_set(&s->stats.bandwidth_bytes_per_s,
                    (uint64_t)((double)s->window_bytes *
                               NANOSECONDS_PER_SECOND / elapsed_ns));
    }
    qatomic_set(&s->stats.pages_per_second,
                (uint64_t)((double)s->window_pages *
                           NANOSECONDS_PER_SECOND / elapsed_ns));
    s->window_start_ns = now_ns;
    s->window_bytes = 0;
    s->window_pages = 0;
    s->window_paced = false;
}

static bool migration_write(void *opaque, const void *buf, size_t len,
                            Error **errp)
{
    MigrationState *s = opaque;
    int fd;

    if (!migration_pace(s, errp)) {
        return false;
    }
    qemu_mutex_lock(&s->lock);
    fd = s->fd;
    qemu_mutex_unlock(&s->lock);
    if (migration_cancelled(s)) {
        error_setg(errp, "migration cancelled");
        return false;
    }
    if (!migration_channel_write_all(fd, buf, len, errp)) {
        if (!migration_cancelled(s)) {
            migration_rp_explain(fd, &s->cancel_requested, errp);
        }
        return false;
    }
    migration_account_write(s, len);
    return migration_rp_check(fd, &s->cancel_requested, errp);
}

/* ---- the migration thread -------------------------------------------- */

static bool migration_thread_cancelled(void *opaque)
{
    return migration_cancelled(opaque);
}

/* The migration thread's last step: how it ended, or cancelled. */
static MigrationStatus migration_status_next_end(MigrationStatus now,
                                                 void *opaque)
{
    MigrationState *s = opaque;

    if (!migration_status_is_active(now)) {
        return now;
    }
    if (s->end_ok) {
        /* A cancel that came after the commit is too late. */
        return MIGRATION_STATUS_COMPLETED;
    }
    if (now == MIGRATION_STATUS_CANCELLING || migration_cancelled(s)) {
        return MIGRATION_STATUS_CANCELLED;
    }
    return MIGRATION_STATUS_FAILED;
}

static ConvergencePolicy migration_policy(MigrationState *s)
{
    if (migrate_cap(MIGRATION_CAPABILITY_AUTO_CONVERGE)) {
        return CONVERGENCE_AUTO;
    }
    if (migrate_cap(MIGRATION_CAPABILITY_DIRTY_LIMIT)) {
        return CONVERGENCE_DIRTY_LIMIT;
    }
    if (migrate_cap(MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE)) {
        return CONVERGENCE_ADAPTIVE;
    }
    return CONVERGENCE_NONE;
}

/* After a sync: does what is left fit the downtime limit? */
static bool migration_should_switchover(MigrationState *s, uint64_t pages)
{
    uint64_t bw = migration_bandwidth(s);
    uint64_t limit_ms = migrate_downtime_limit_ms();
    int64_t expected_ms = migration_expected_downtime_ms(pages,
                                                         s->stopped_bytes,
                                                         bw);

    qatomic_set(&s->stats.expected_downtime_ms, bw ? expected_ms : 0);
    trace_migration_switchover_check(pages, bw, expected_ms, limit_ms);
    return bw && (uint64_t)expected_ms <= limit_ms;
}

static bool migration_setup(MigrationState *s, Error **errp)
{
    g_autofree char *uri_copy = NULL;
    MigrationUri uri;
    int fd;
    bool ok;

    if (!migration_uri_parse(s->uri, &uri, errp)) {
        return false;
    }
    fd = migration_channel_connect(&uri, &s->cancel_requested, errp);
    migration_uri_clear(&uri);
    if (fd < 0) {
        return false;
    }
    qemu_mutex_lock(&s->lock);
    s->fd = fd;
    qemu_mutex_unlock(&s->lock);
    if (migration_cancelled(s)) {
        error_setg(errp, "migration cancelled");
        return false;
    }
    s->window_start_ns = clock_ns();
    vm_lock();
    ok = ram_save_setup(s, migration_thread_cancelled, s, errp) &&
         convergence_start(&s->conv, migration_policy(s),
                           migrate_convergence_params(), errp);
    vm_unlock();
    return ok;
}

/* Stop the guest for the switchover (and pause-before-switchover). */
static bool migration_stop_guest(MigrationState *s, Error **errp)
{
    vm_lock();
    /* Whatever state it is in: a stop racing with us does not win. */
    s->stopped_vm = vm_stop(RUN_STATE_FINISH_MIGRATE);
    if (!s->stopped_vm) {
        error_setg(errp, "cannot stop the guest for the switchover in "
                   "state '%s'", RunState_str(runstate_get()));
    }
    s->in_downtime = true;
    convergence_stop(&s->conv);
    vm_unlock();
    if (!s->stopped_vm) {
        return false;
    }
    if (migrate_cap(MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER)) {
        if (!migration_set_status(&s->status, MIGRATION_STATUS_ACTIVE,
                                  MIGRATION_STATUS_PRE_SWITCHOVER)) {
            error_setg(errp, "migration cancelled");
            return false;
        }
        qemu_mutex_lock(&s->lock);
        while (!s->continue_requested && !migration_cancelled(s)) {
            qemu_cond_wait(&s->continue_cond, &s->lock);
        }
        qemu_mutex_unlock(&s->lock);
        if (!migration_set_status(&s->status,
                                  MIGRATION_STATUS_PRE_SWITCHOVER,
                                  MIGRATION_STATUS_DEVICE)) {
            error_setg(errp, "migration cancelled");
            return false;
        }
        return true;
    }
    if (!migration_set_status(&s->status, MIGRATION_STATUS_ACTIVE,
                              MIGRATION_STATUS_DEVICE)) {
        error_setg(errp, "migration cancelled");
        return false;
    }
    return true;
}

/* The guest is stopped: the rest of RAM, the vCPUs, the handshake. */
static bool migration_complete(MigrationState *s, int64_t stop_ms,
                               Error **errp)
{
    g_autofree uint8_t *cpus_buf = NULL;
    MigRunState run_state;
    uint8_t word[8];
    uint64_t ack;
    int fd;
    bool ok;

    if (!ram_save_complete(s, errp)) {
        return false;
    }
    cpus_buf = g_malloc0((size_t)cpus_count() * VMSTATE_CPU_BYTES);
    vm_lock();
    ok = vmstate_save_cpus(cpus_buf, errp);
    run_state = vmstate_run_state_encode(runstate_before_migration());
    vm_unlock();
    if (!ok) {
        return false;
    }
    for (int i = 0; i < cpus_count(); i++) {
        if (!mig_put_cpu(&s->writer, i, cpus_buf + (size_t)i *
                         VMSTATE_CPU_BYTES, VMSTATE_CPU_BYTES, errp)) {
            return false;
        }
    }
    if (!mig_put_run_state(&s->writer, run_state, errp)) {
        return false;
    }
    if (!mig_put_end(&s->writer, errp)) {
        return false;
    }
    /* Return path: "loaded" from the destination, then our "go". */
    qemu_mutex_lock(&s->lock);
    fd = s->fd;
    qemu_mutex_unlock(&s->lock);
    if (!migration_rp_read_reply(fd, MIGRATION_ACK_TIMEOUT_MS,
                                 &s->cancel_requested, NULL, errp)) {
        return false;
    }
    if (migration_cancelled(s)) {
        error_setg(errp, "migration cancelled");
        return false;
    }
    ack = MIG_ACK_GO;
    memcpy(word, &ack, sizeof(word));
    if (!migration_channel_write_all(fd, word, sizeof(word), errp)) {
        return false;
    }
    /* Committed: from here the destination owns the guest. */
    qatomic_set(&s->stats.downtime_ms, clock_ms() - stop_ms);
    return true;
}

static bool migration_iterate(MigrationState *s, Error **errp)
{
    uint64_t sent_pages = ram_pages() - RS_WORK_BASE / RS_PAGE_SIZE;

    if (!ram_save_first_pass(s, errp)) {
        return false;
    }
    for (;;) {
        RamSyncStats sync = ram_save_sync(s);

        if (sync.period_ended) {
            qatomic_set(&s->stats.dirty_pages_rate, sync.dirty_pages_rate);
        }
        vm_lock();
        if (sync.period_ended) {
            convergence_on_sync(&s->conv, &sync.period);
        }
        convergence_on_pass(&s->conv, sent_pages, sync.pages);
        vm_unlock();
        if (migration_should_switchover(s, sync.pages)) {
            return true;
        }
        if (!ram_save_pass(s, errp)) {
            return false;
        }
        sent_pages = sync.pages;
    }
}

/* Leave the guest as it was and the source intact. */
static void migration_cleanup_locked(MigrationState *s, bool completed)
{
    Error *err = NULL;

    convergence_stop(&s->conv);
    ram_save_cleanup(s);
    if (s->stopped_vm && !vm_end_migration(completed, &err)) {
        error_report_err(err);
    }
    s->stopped_vm = false;
    s->in_downtime = false;
}

static gpointer migration_thread(gpointer opaque)
{
    MigrationState *s = opaque;
    Error *err = NULL;
    int64_t stop_ms = 0;
    bool ok;

    mig_writer_init(&s->writer, MIGRATION_BUFFER_BYTES, migration_write, s);
    ok = migration_setup(s, &err);
    if (ok) {
        qatomic_set(&s->stats.setup_time_ms, clock_ms() - s->start_ms);
        ok = migration_set_status(&s->status, MIGRATION_STATUS_SETUP,
                                  MIGRATION_STATUS_ACTIVE);
        if (!ok) {
            error_setg(&err, "migration cancelled");
        }
    }
    ok = ok && migration_iterate(s, &err);
    if (ok) {
        stop_ms = clock_ms();
        ok = migration_stop_guest(s, &err) &&
             migration_complete(s, stop_ms, &err);
    }

    vm_lock();
    migration_cleanup_locked(s, ok);
    qatomic_set(&s->stats.total_time_ms, clock_ms() - s->start_ms);
    s->end_ok = ok;
    if (ok) {
        trace_migration_completed(s->stats.downtime_ms,
                                  s->stats.transferred_bytes);
    } else if (!migration_cancelled(s)) {
        migration_set_error(s, err);
        error_report("migration failed: %s", error_get_pretty(err));
    }
    migration_status_update(&s->status, migration_status_next_end, s);
    qatomic_store_release(&s->thread_done, 1);
    vm_unlock();

    /* No VM lock from here on: the main thread may join us holding it. */
    error_free(err);
    qemu_mutex_lock(&s->lock);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    qemu_mutex_unlock(&s->lock);
    mig_writer_cleanup(&s->writer);
    return NULL;
}

void migration_join_finished(MigrationState *s)
{
    if (s->thread && qatomic_load_acquire(&s->thread_done)) {
        g_thread_join(s->thread);
        s->thread = NULL;
    }
}

bool migration_thread_start(MigrationState *s, Error **errp)
{
    s->thread = g_thread_try_new("migration", migration_thread, s, NULL);
    if (!s->thread) {
        error_setg(errp, "cannot create the migration thread");
        return false;
    }
    return true;
}
