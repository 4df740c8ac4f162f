/*
 * Precopy: the first pass over all of workload RAM, then passes over
 * what the guest dirtied (the MIGRATION client's bitmap), zero pages
 * sent as 8-byte records; at switchover the last dirty pages and the
 * whole system area (never dirty-logged).  It only sends: the caller
 * (migration-thread.c) says when it is cancelled and acts on the dirty
 * rate each sync returns.  The testing aids x-query-ram-hash and
 * x-check-stamp are in ram-debug.c.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/vmstate.h"
#include "qapi/qapi-events.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

#define BITS_PER_WORD 64
/* Pages between looks at the cancel flag and the convergence tick. */
#define RAM_SAVE_CHECK_PAGES 256
/* How often the adaptive policy re-reads the vCPUs' rates, ms. */
#define RAM_SAVE_TICK_MS 100

typedef struct RAMSaveState {
    uint64_t *pass_bitmap;          /* pages to send in this pass */
    uint64_t *take_bitmap;          /* scratch: what one sync took */
    uint64_t words;
    uint64_t pass_pages;            /* set in pass_bitmap when taken */
    uint64_t pass_left_pages;       /* not yet sent in this pass */
    int64_t last_tick_ms;
    int64_t last_sync_ms;           /* the start of the sync period */
    uint64_t period_dirty_pages;
    uint64_t period_start_bytes;
    RamSaveCancelledFn cancelled;
    void *cancelled_opaque;
} RAMSaveState;

static RAMSaveState ram_save;

static uint64_t ram_first_work_page(void)
{
    return RS_WORK_BASE / RS_PAGE_SIZE;
}

/* Remaining bytes for query-migrate: pages still to send in this pass
 * plus those dirtied since it began. */
static void ram_update_remaining(MigrationState *s)
{
    uint64_t pages = ram_save.pass_left_pages +
                     physmem_dirty_count(DIRTY_MEMORY_MIGRATION);

    qatomic_set(&s->stats.remaining_bytes, pages * RS_PAGE_SIZE);
}

/* Send @page; @untouched: the host never backed it, it is zero unread. */
static bool ram_save_one_known(MigrationState *s, uint64_t page,
                               bool untouched, Error **errp)
{
    uint64_t gpa = page * RS_PAGE_SIZE;
    bool is_zero = untouched;

    if (untouched ? !mig_put_zero_page(&s->writer, gpa, errp)
                  : !mig_put_ram_page(&s->writer, gpa, ram_host_base() + gpa,
                                      &is_zero, errp)) {
        return false;
    }
    if (is_zero) {
        qatomic_fetch_add_relaxed(&s->stats.zero_pages, 1);
    } else {
        qatomic_fetch_add_relaxed(&s->stats.normal_pages, 1);
    }
    s->window_pages++;
    return true;
}

static bool ram_save_one(MigrationState *s, uint64_t page, Error **errp)
{
    return ram_save_one_known(s, page, false, errp);
}

/* Between batches of pages: cancel, and adaptive's periodic look. */
static bool ram_save_check(MigrationState *s, Error **errp)
{
    int64_t now_ms = clock_ms();

    if (ram_save.cancelled(ram_save.cancelled_opaque)) {
        error_setg(errp, "migration cancelled");
        return false;
    }
    if (!s->in_downtime && now_ms - ram_save.last_tick_ms >=
        RAM_SAVE_TICK_MS) {
        ram_save.last_tick_ms = now_ms;
        ram_update_remaining(s);
        vm_lock();
        convergence_tick(&s->conv,
                         qatomic_read(&s->stats.bandwidth_bytes_per_s));
        vm_unlock();
    }
    return true;
}

bool ram_save_setup(MigrationState *s, RamSaveCancelledFn cancelled,
                    void *opaque, Error **errp)
{
    MigStreamHeader h = {
        .magic = MIG_STREAM_MAGIC,
        .version = MIG_STREAM_VERSION,
        .header_bytes = MIG_STREAM_HEADER_BYTES,
        .ram_bytes = ram_size(),
        .system_bytes = RS_SYS_SIZE,
        .page_bytes = MIG_PAGE_BYTES,
        .cpu_count = cpus_count(),
        .cpu_state_bytes = VMSTATE_CPU_BYTES,
        .flags = 0,
    };

    memset(&ram_save, 0, sizeof(ram_save));
    ram_save.words = DIV_ROUND_UP(ram_pages(), BITS_PER_WORD);
    ram_save.pass_bitmap = g_new0(uint64_t, ram_save.words);
    ram_save.take_bitmap = g_new0(uint64_t, ram_save.words);
    ram_save.cancelled = cancelled;
    ram_save.cancelled_opaque = opaque;
    ram_save.last_sync_ms = clock_ms();
    ram_save.last_tick_ms = ram_save.last_sync_ms;
    /* The header leaves at once: the destination drops a connection
     * that says nothing for a few seconds. */
    if (!mig_put_header(&s->writer, &h, errp) ||
        !mig_writer_flush(&s->writer, errp)) {
        return false;
    }
    /* Tracking starts before the first pass reads a page. */
    if (!memory_global_dirty_log_start(GLOBAL_DIRTY_MIGRATION, errp)) {
        error_prepend(errp, "cannot start dirty tracking: ");
        return false;
    }
    qatomic_set(&s->stats.remaining_bytes, ram_size() - RS_WORK_BASE);
    return true;
}

bool ram_save_first_pass(MigrationState *s, Error **errp)
{
    uint64_t first = ram_first_work_page(), last = ram_pages();

    /* The system area is not dirty-logged: it all goes at switchover. */
    qatomic_set(&s->stopped_bytes,
                mig_ram_wire_bytes(ram_host_base(), RS_WORK_BASE) +
                (uint64_t)cpus_count() * (8 + VMSTATE_CPU_BYTES) +
                2 * 8 /* END and checksum */);
    /* Pass 1 is the first sync, as QEMU counts (dirty-sync-count 1). */
    qatomic_set(&s->stats.dirty_sync_count, 1);
    if (migrate_events()) {
        qapi_event_send_migration_pass(1);
    }
    if (!mig_put_pass(&s->writer, 1, errp)) {
        return false;
    }
    trace_migration_ram_pass(1, last - first);
    ram_save.pass_left_pages = last - first;
    /* Tracking is on: a page the guest writes after its probe is resent. */
    for (uint64_t page = first; page < last; page += RAM_PROBE_MAX_PAGES) {
        uint64_t n = MIN(RAM_PROBE_MAX_PAGES, last - page);
        uint64_t untouched[RAM_PROBE_MAX_PAGES / BITS_PER_WORD];
        bool known = ram_probe_untouched(page, n, untouched);

        for (uint64_t i = 0; i < n; i++) {
            bool zero = known && (untouched[i / BITS_PER_WORD] >>
                                  (i % BITS_PER_WORD) & 1);

            if (i % RAM_SAVE_CHECK_PAGES == 0 && !ram_save_check(s, errp)) {
                return false;
            }
            if (!ram_save_one_known(s, page + i, zero, errp)) {
                return false;
            }
            ram_save.pass_left_pages--;
        }
    }
    ram_save.pass_pages = last - first;
    return true;
}

RamSyncStats ram_save_sync(MigrationState *s)
{
    RamSyncStats st = { 0 };
    int64_t now_ms = clock_ms();
    uint64_t pages, period_ms;

    memory_global_dirty_log_sync();
    ram_save.period_dirty_pages +=
        physmem_dirty_take(DIRTY_MEMORY_MIGRATION, 0, ram_save.words,
                           ram_save.take_bitmap);
    /* Pages taken before and not sent yet stay in the pass: merge. */
    pages = 0;
    for (uint64_t w = 0; w < ram_save.words; w++) {
        ram_save.pass_bitmap[w] |= ram_save.take_bitmap[w];
        pages += __builtin_popcountll(ram_save.pass_bitmap[w]);
    }
    ram_save.pass_pages = pages;
    ram_save.pass_left_pages = pages;
    st.pages = pages;
    st.sync_count = qatomic_add_fetch_relaxed(&s->stats.dirty_sync_count, 1);
    qatomic_set(&s->stats.remaining_bytes, pages * RS_PAGE_SIZE);
    if (migrate_events()) {
        qapi_event_send_migration_pass(st.sync_count);
    }
    /* QEMU's rule: judge the dirty rate over periods of at least 1 s. */
    period_ms = now_ms - ram_save.last_sync_ms;
    if (period_ms >= 1000 && !s->in_downtime) {
        uint64_t sent = qatomic_read(&s->stats.transferred_bytes);

        st.period_ended = true;
        st.period = (ConvergenceSync) {
            .period_ms = period_ms,
            .dirty_bytes = ram_save.period_dirty_pages * RS_PAGE_SIZE,
            .transferred_bytes = sent - ram_save.period_start_bytes,
        };
        st.dirty_pages_rate = ram_save.period_dirty_pages * 1000 / period_ms;
        ram_save.last_sync_ms = now_ms;
        ram_save.period_dirty_pages = 0;
        ram_save.period_start_bytes = sent;
    }
    trace_migration_ram_sync(pages);
    return st;
}

bool ram_save_pass(MigrationState *s, Error **errp)
{
    uint64_t pass = qatomic_read(&s->stats.dirty_sync_count);
    uint64_t sent = 0;

    trace_migration_ram_pass(pass, ram_save.pass_pages);
    if (!mig_put_pass(&s->writer, pass, errp)) {
        return false;
    }
    for (uint64_t w = 0; w < ram_save.words; w++) {
        uint64_t bits = ram_save.pass_bitmap[w];

        while (bits) {
            uint64_t page = w * BITS_PER_WORD + __builtin_ctzll(bits);

            bits &= bits - 1;
            if (sent++ % RAM_SAVE_CHECK_PAGES == 0 &&
                !ram_save_check(s, errp)) {
                return false;
            }
            if (!ram_save_one(s, page, errp)) {
                return false;
            }
            ram_save.pass_left_pages--;
        }
        ram_save.pass_bitmap[w] = 0;
    }
    return true;
}

bool ram_save_complete(MigrationState *s, Error **errp)
{
    /* The guest is stopped: no dirty-rate period ends here. */
    ram_save_sync(s);
    if (!ram_save_pass(s, errp)) {
        return false;
    }
    /* The system area: page tables, control blocks, program, stacks. */
    for (uint64_t page = 0; page < ram_first_work_page(); page++) {
        if (!ram_save_one(s, page, errp)) {
            return false;
        }
    }
    qatomic_set(&s->stats.remaining_bytes, 0);
    return true;
}

void ram_save_cleanup(MigrationState *s)
{
    if (memory_global_dirty_tracking() & GLOBAL_DIRTY_MIGRATION) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_MIGRATION);
    }
    g_free(ram_save.pass_bitmap);
    ram_save.pass_bitmap = NULL;
    g_free(ram_save.take_bitmap);
    ram_save.take_bitmap = NULL;
}
