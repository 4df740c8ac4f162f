/*
 * Outgoing migration: the state machine, capabilities, parameters,
 * query-migrate, the MIGRATION events and the `migration` thread.
 *
 *   migrate -> setup -> active (passes) -> [pre-switchover] -> device
 *           -> completed (source: postmigrate)
 *   any phase -> failed | cancelling -> cancelled (the guest runs on)
 *
 * The thread never holds the VM lock while it is on the socket; it
 * takes it for dirty-tracking start and stop, the convergence policy,
 * the switchover stop and the vCPU state save.
 */
#include "qemu/osdep.h"

#include <sys/socket.h>

#include "migration/channel.h"
#include "migration/incoming.h"
#include "migration/migration.h"
#include "migration/vmstate.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "sysemu/cpus.h"
#include "sysemu/kvm.h"
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
/*
 * QEMU's and libvirt's "unlimited" (libvirt sends 9223372036853727232);
 * the pacing arithmetic is in double, so any value up to here is safe.
 */
#define MIGRATION_MAX_BANDWIDTH ((uint64_t)INT64_MAX)

static MigrationState current_migration = {
    .status = MIGRATION_STATUS_NONE,
    .fd = -1,
    .params = {
        .max_bandwidth_bytes_per_s = MIGRATION_DEFAULT_MAX_BANDWIDTH,
        .downtime_limit_ms = MIGRATION_DEFAULT_DOWNTIME_MS,
        .conv = {
            .throttle_initial_pct = MIGRATION_DEFAULT_THROTTLE_INITIAL_PCT,
            .throttle_increment_pct =
                MIGRATION_DEFAULT_THROTTLE_INCREMENT_PCT,
            .throttle_tailslow = false,
            .max_throttle_pct = MIGRATION_DEFAULT_MAX_THROTTLE_PCT,
            .trigger_threshold_pct = MIGRATION_DEFAULT_TRIGGER_THRESHOLD_PCT,
            .dirty_limit_period_ms = MIGRATION_DEFAULT_DIRTY_LIMIT_PERIOD_MS,
            .vcpu_dirty_limit_mbps = MIGRATION_DEFAULT_VCPU_DIRTY_LIMIT_MBPS,
        },
    },
};

MigrationState *migrate_get_current(void)
{
    return &current_migration;
}

int64_t migration_clock_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

int64_t migration_clock_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

bool migrate_events(void)
{
    return current_migration.caps[MIGRATION_CAPABILITY_EVENTS];
}

bool migration_set_status(int *status, MigrationStatus old,
                          MigrationStatus new)
{
    int expected = old;

    if (!__atomic_compare_exchange_n(status, &expected, new, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
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
        MigrationStatus now = __atomic_load_n(status, __ATOMIC_SEQ_CST);
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

static MigrationStatus migration_status(MigrationState *s)
{
    return __atomic_load_n(&s->status, __ATOMIC_SEQ_CST);
}

bool migration_cancelled(MigrationState *s)
{
    return __atomic_load_n(&s->cancel_requested, __ATOMIC_ACQUIRE);
}

void migration_set_error(MigrationState *s, const Error *err)
{
    qemu_mutex_lock(&s->lock);
    if (!s->error_desc) {
        s->error_desc = g_strdup(error_get_pretty(err));
    }
    qemu_mutex_unlock(&s->lock);
}

/* ---- the stream's write side: rate limit and bandwidth -------------- */

static bool migration_pace(MigrationState *s, Error **errp)
{
    uint64_t limit = __atomic_load_n(&s->params.max_bandwidth_bytes_per_s,
                                     __ATOMIC_RELAXED);
    int64_t now_ns = migration_clock_ns(), due_ns;

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
        now_ns = migration_clock_ns();
    }
    return true;
}

/* The migration thread updates stats with atomics; readers load them so. */
#define MIG_STAT(s, field) __atomic_load_n(&(s)->stats.field, __ATOMIC_RELAXED)

void migration_account_write(MigrationState *s, size_t bytes)
{
    int64_t now_ns = migration_clock_ns(), elapsed_ns;

    __atomic_fetch_add(&s->stats.transferred_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(s->in_downtime ? &s->stats.downtime_bytes
                                      : &s->stats.precopy_bytes,
                       bytes, __ATOMIC_RELAXED);
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
        __atomic_store_n(&s->stats.bandwidth_bytes_per_s,
                         (uint64_t)((double)s->window_bytes *
                                    NANOSECONDS_PER_SECOND / elapsed_ns),
                         __ATOMIC_RELAXED);
    }
    __atomic_store_n(&s->stats.pages_per_second,
                     (uint64_t)((double)s->window_pages *
                                NANOSECONDS_PER_SECOND / elapsed_ns),
                     __ATOMIC_RELAXED);
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

static ConvergencePolicy migration_policy(MigrationState *s)
{
    if (s->caps[MIGRATION_CAPABILITY_AUTO_CONVERGE]) {
        return CONVERGENCE_AUTO;
    }
    if (s->caps[MIGRATION_CAPABILITY_DIRTY_LIMIT]) {
        return CONVERGENCE_DIRTY_LIMIT;
    }
    if (s->caps[MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE]) {
        return CONVERGENCE_ADAPTIVE;
    }
    return CONVERGENCE_NONE;
}

static uint64_t migration_bandwidth(MigrationState *s)
{
    uint64_t bw = __atomic_load_n(&s->stats.bandwidth_bytes_per_s,
                                  __ATOMIC_RELAXED);
    int64_t elapsed_ms = MAX(migration_clock_ms() - s->start_ms, 1);

    if (!bw) {
        bw = __atomic_load_n(&s->stats.transferred_bytes, __ATOMIC_RELAXED) *
             1000 / elapsed_ms;
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

/* After a sync: does what is left fit the downtime limit? */
static bool migration_should_switchover(MigrationState *s, uint64_t pages)
{
    uint64_t bw = migration_bandwidth(s);
    uint64_t limit_ms = __atomic_load_n(&s->params.downtime_limit_ms,
                                        __ATOMIC_RELAXED);
    int64_t expected_ms = migration_expected_downtime_ms(pages,
                                                         s->stopped_bytes,
                                                         bw);

    __atomic_store_n(&s->stats.expected_downtime_ms,
                     bw ? expected_ms : 0, __ATOMIC_RELAXED);
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
    s->window_start_ns = migration_clock_ns();
    vm_lock();
    ok = ram_save_setup(s, errp) &&
         convergence_start(&s->conv, migration_policy(s), &s->params.conv,
                           errp);
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
    if (s->caps[MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER]) {
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
    __atomic_store_n(&s->stats.downtime_ms, migration_clock_ms() - stop_ms,
                     __ATOMIC_RELAXED);
    return true;
}

static bool migration_iterate(MigrationState *s, Error **errp)
{
    uint64_t sent_pages = ram_pages() - RS_WORK_BASE / RS_PAGE_SIZE;

    if (!ram_save_first_pass(s, errp)) {
        return false;
    }
    for (;;) {
        uint64_t pages = ram_save_sync(s);

        vm_lock();
        convergence_on_pass(&s->conv, sent_pages, pages);
        vm_unlock();
        if (migration_should_switchover(s, pages)) {
            return true;
        }
        if (!ram_save_pass(s, errp)) {
            return false;
        }
        sent_pages = pages;
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
        __atomic_store_n(&s->stats.setup_time_ms,
                         migration_clock_ms() - s->start_ms,
                         __ATOMIC_RELAXED);
        ok = migration_set_status(&s->status, MIGRATION_STATUS_SETUP,
                                  MIGRATION_STATUS_ACTIVE);
        if (!ok) {
            error_setg(&err, "migration cancelled");
        }
    }
    ok = ok && migration_iterate(s, &err);
    if (ok) {
        stop_ms = migration_clock_ms();
        ok = migration_stop_guest(s, &err) &&
             migration_complete(s, stop_ms, &err);
    }

    vm_lock();
    migration_cleanup_locked(s, ok);
    __atomic_store_n(&s->stats.total_time_ms,
                     migration_clock_ms() - s->start_ms, __ATOMIC_RELAXED);
    s->end_ok = ok;
    if (ok) {
        trace_migration_completed(s->stats.downtime_ms,
                                  s->stats.transferred_bytes);
    } else if (!migration_cancelled(s)) {
        migration_set_error(s, err);
        error_report("migration failed: %s", error_get_pretty(err));
    }
    migration_status_update(&s->status, migration_status_next_end, s);
    __atomic_store_n(&s->thread_done, 1, __ATOMIC_RELEASE);
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

/* Join a thread that has finished its work (VM lock may be held). */
static void migration_join_finished(MigrationState *s)
{
    if (s->thread && __atomic_load_n(&s->thread_done, __ATOMIC_ACQUIRE)) {
        g_thread_join(s->thread);
        s->thread = NULL;
    }
}

/* ---- QMP --------------------------------------------------------------- */

void qmp_migrate(const char *uri, bool has_blk, bool blk, bool has_inc,
                 bool inc, bool has_detach, bool detach, bool has_resume,
                 bool resume, Error **errp)
{
    MigrationState *s = &current_migration;
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
    s->start_ms = migration_clock_ms();
    trace_migration_start(uri);
    migration_set_status(&s->status, migration_status(s),
                         MIGRATION_STATUS_SETUP);
    s->thread = g_thread_try_new("migration", migration_thread, s, NULL);
    if (!s->thread) {
        error_setg(errp, "cannot create the migration thread");
        migration_set_status(&s->status, MIGRATION_STATUS_SETUP,
                             MIGRATION_STATUS_FAILED);
    }
}

void qmp_migrate_cancel(Error **errp)
{
    MigrationState *s = &current_migration;
    MigrationStatus now = migration_status(s);

    if (!migration_status_is_active(now) ||
        now == MIGRATION_STATUS_CANCELLING) {
        return;
    }
    __atomic_store_n(&s->cancel_requested, 1, __ATOMIC_RELEASE);
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
    MigrationState *s = &current_migration;

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
    MigrationState *s = &current_migration;
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
    ram->mbps = (double)__atomic_load_n(&s->stats.bandwidth_bytes_per_s,
                                        __ATOMIC_RELAXED) * 8 / 1e6;
    ram->dirty_sync_count = MIG_STAT(s, dirty_sync_count);
    ram->page_size = RS_PAGE_SIZE;
    ram->pages_per_second = MIG_STAT(s, pages_per_second);
    ram->precopy_bytes = MIG_STAT(s, precopy_bytes);
    ram->downtime_bytes = MIG_STAT(s, downtime_bytes);

    info->has_total_time = true;
    info->total_time = migration_status_is_active(status) ?
                       migration_clock_ms() - s->start_ms :
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
                                           __atomic_load_n(&s->stopped_bytes,
                                                           __ATOMIC_RELAXED),
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

/* ---- capabilities and parameters ------------------------------------- */

static const MigrationCapability migration_exclusive_caps[] = {
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_DIRTY_LIMIT,
    MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE,
};

bool migration_caps_check(const bool *caps, bool dirty_ring, Error **errp)
{
    int on = -1;

    for (size_t i = 0; i < G_N_ELEMENTS(migration_exclusive_caps); i++) {
        MigrationCapability c = migration_exclusive_caps[i];

        if (!caps[c]) {
            continue;
        }
        if (on >= 0) {
            error_setg(errp, "capability '%s' cannot be on together with "
                       "'%s': choose one convergence method",
                       MigrationCapability_str(c),
                       MigrationCapability_str(on));
            return false;
        }
        on = c;
    }
    for (int c = MIGRATION_CAPABILITY_DIRTY_LIMIT;
         c <= MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE; c++) {
        if (caps[c] && c != MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER &&
            !dirty_ring) {
            error_setg(errp, "capability '%s' needs the dirty ring: start "
                       "restraint with -accel kvm,dirty-ring-size=N",
                       MigrationCapability_str(c));
            return false;
        }
    }
    return true;
}

void qmp_migrate_set_capabilities(MigrationCapabilityStatusList *capabilities,
                                  Error **errp)
{
    MigrationState *s = &current_migration;
    bool caps[MIGRATION_CAPABILITY__MAX];

    if (migration_status_is_active(migration_status(s)) ||
        migration_incoming_status() == MIGRATION_STATUS_ACTIVE) {
        error_setg(errp, "cannot change migration capabilities while a "
                   "migration is in progress");
        return;
    }
    memcpy(caps, s->caps, sizeof(caps));
    for (MigrationCapabilityStatusList *l = capabilities; l; l = l->next) {
        caps[l->value->capability] = l->value->state;
    }
    if (!migration_caps_check(caps, kvm_state &&
                              kvm_state->dirty_ring_entries, errp)) {
        return;
    }
    memcpy(s->caps, caps, sizeof(caps));
}

MigrationCapabilityStatusList *qmp_query_migrate_capabilities(Error **errp)
{
    MigrationCapabilityStatusList *head = NULL, **tail = &head;

    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        MigrationCapabilityStatusList *e = g_new0(MigrationCapabilityStatusList,
                                                  1);

        e->value = g_new0(MigrationCapabilityStatus, 1);
        e->value->capability = c;
        e->value->state = current_migration.caps[c];
        *tail = e;
        tail = &e->next;
    }
    return head;
}

/* A range check that names the parameter, its value, range and unit. */
static bool migration_param_check(bool has, uint64_t value, const char *name,
                                  uint64_t min, uint64_t max,
                                  const char *unit, Error **errp)
{
    if (has && (value < min || value > max)) {
        error_setg(errp, "parameter '%s' is %" PRIu64 ", expected %" PRIu64
                   " to %" PRIu64 " %s", name, value, min, max, unit);
        return false;
    }
    return true;
}

void qmp_migrate_set_parameters(bool has_max_bandwidth,
                                uint64_t max_bandwidth,
                                bool has_downtime_limit,
                                uint64_t downtime_limit,
                                bool has_cpu_throttle_initial,
                                uint8_t cpu_throttle_initial,
                                bool has_cpu_throttle_increment,
                                uint8_t cpu_throttle_increment,
                                bool has_cpu_throttle_tailslow,
                                bool cpu_throttle_tailslow,
                                bool has_max_cpu_throttle,
                                uint8_t max_cpu_throttle,
                                bool has_throttle_trigger_threshold,
                                uint8_t throttle_trigger_threshold,
                                bool has_x_vcpu_dirty_limit_period,
                                uint64_t x_vcpu_dirty_limit_period,
                                bool has_vcpu_dirty_limit,
                                uint64_t vcpu_dirty_limit, Error **errp)
{
    MigrationParams *p = &current_migration.params;

    /* Check everything first: an error changes nothing. */
    if (!migration_param_check(has_max_bandwidth, max_bandwidth,
                               "max-bandwidth", 0, MIGRATION_MAX_BANDWIDTH,
                               "bytes/s", errp) ||
        !migration_param_check(has_downtime_limit, downtime_limit,
                               "downtime-limit", 0,
                               MIGRATION_MAX_DOWNTIME_MS, "ms", errp) ||
        !migration_param_check(has_cpu_throttle_initial, cpu_throttle_initial,
                               "cpu-throttle-initial", 1, 99, "%", errp) ||
        !migration_param_check(has_cpu_throttle_increment,
                               cpu_throttle_increment,
                               "cpu-throttle-increment", 1, 99, "%", errp) ||
        !migration_param_check(has_max_cpu_throttle, max_cpu_throttle,
                               "max-cpu-throttle", 1, 99, "%", errp) ||
        !migration_param_check(has_throttle_trigger_threshold,
                               throttle_trigger_threshold,
                               "throttle-trigger-threshold", 1, 100, "%",
                               errp) ||
        !migration_param_check(has_x_vcpu_dirty_limit_period,
                               x_vcpu_dirty_limit_period,
                               "x-vcpu-dirty-limit-period", 1,
                               MIGRATION_MAX_DIRTY_LIMIT_PERIOD_MS, "ms",
                               errp) ||
        !migration_param_check(has_vcpu_dirty_limit, vcpu_dirty_limit,
                               "vcpu-dirty-limit", 1, UINT32_MAX, "MB/s",
                               errp)) {
        return;
    }
    if (has_max_bandwidth) {
        __atomic_store_n(&p->max_bandwidth_bytes_per_s, max_bandwidth,
                         __ATOMIC_RELAXED);
    }
    if (has_downtime_limit) {
        __atomic_store_n(&p->downtime_limit_ms, downtime_limit,
                         __ATOMIC_RELAXED);
    }
    if (has_cpu_throttle_initial) {
        p->conv.throttle_initial_pct = cpu_throttle_initial;
    }
    if (has_cpu_throttle_increment) {
        p->conv.throttle_increment_pct = cpu_throttle_increment;
    }
    if (has_cpu_throttle_tailslow) {
        p->conv.throttle_tailslow = cpu_throttle_tailslow;
    }
    if (has_max_cpu_throttle) {
        p->conv.max_throttle_pct = max_cpu_throttle;
    }
    if (has_throttle_trigger_threshold) {
        p->conv.trigger_threshold_pct = throttle_trigger_threshold;
    }
    if (has_x_vcpu_dirty_limit_period) {
        p->conv.dirty_limit_period_ms = x_vcpu_dirty_limit_period;
    }
    if (has_vcpu_dirty_limit) {
        p->conv.vcpu_dirty_limit_mbps = vcpu_dirty_limit;
    }
}

MigrationParameters *qmp_query_migrate_parameters(Error **errp)
{
    const MigrationParams *p = &current_migration.params;
    MigrationParameters *mp = g_new0(MigrationParameters, 1);

    mp->has_max_bandwidth = true;
    mp->max_bandwidth = p->max_bandwidth_bytes_per_s;
    mp->has_downtime_limit = true;
    mp->downtime_limit = p->downtime_limit_ms;
    mp->has_cpu_throttle_initial = true;
    mp->cpu_throttle_initial = p->conv.throttle_initial_pct;
    mp->has_cpu_throttle_increment = true;
    mp->cpu_throttle_increment = p->conv.throttle_increment_pct;
    mp->has_cpu_throttle_tailslow = true;
    mp->cpu_throttle_tailslow = p->conv.throttle_tailslow;
    mp->has_max_cpu_throttle = true;
    mp->max_cpu_throttle = p->conv.max_throttle_pct;
    mp->has_throttle_trigger_threshold = true;
    mp->throttle_trigger_threshold = p->conv.trigger_threshold_pct;
    mp->has_x_vcpu_dirty_limit_period = true;
    mp->x_vcpu_dirty_limit_period = p->conv.dirty_limit_period_ms;
    mp->has_vcpu_dirty_limit = true;
    mp->vcpu_dirty_limit = p->conv.vcpu_dirty_limit_mbps;
    return mp;
}

/* ---- process end ----------------------------------------------------- */

void migration_shutdown(void)
{
    MigrationState *s = &current_migration;

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
