/*
 * calc-dirty-rate / query-dirty-rate: measure how many distinct pages the
 * guest dirties per second, in three modes (docs/devel/dirty-rate.md):
 *
 *   page-sampling  hash a stratified random sample of pages before and
 *                  after the window; no dirty logging at all
 *   dirty-ring     per-vCPU page sets filled by the ring harvest during
 *                  the window (accel/kvm/dirty-ring.c), plus the raw
 *                  ring-entry counts the dirty limiter works with
 *   dirty-bitmap   the DIRTY_RATE client's bitmap over the window, fed by
 *                  KVM's dirty log or by the ring harvest
 *
 * A measurement runs on its own `dirtyrate-calc` thread, holds no lock
 * while it waits, and is one dirty-tracking user among others: it starts
 * and stops only GLOBAL_DIRTY_DIRTY_RATE, and its syncs feed every
 * client, so migration and the limiter never lose a page to it.
 */
#include "qemu/osdep.h"

#include <time.h>

#include "hw/core/cpu.h"
#include "migration/dirtyrate.h"
#include "qapi/qapi-commands.h"
#include "qemu/clock.h"
#include "sysemu/cpus.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "trace.h"

#define BITS_PER_WORD 64
#define MS_PER_SECOND 1000
#define NS_PER_MS 1000000
#define NS_PER_US 1000

typedef struct DirtyRateState {
    QemuMutex lock;                /* everything below */
    QemuCond cond;                 /* wakes a measurement waiting its window */
    DirtyRateStatus status;
    bool cancel;                /* dirtyrate_cleanup(): end early */
    GThread *thread;            /* the last dirtyrate-calc thread */
    DirtyRateConfig config;     /* of the running or last measurement */
    int64_t start_time_s;
    bool has_result;
    DirtyRateResult result;
} DirtyRateState;

static DirtyRateState drs = {
    .status = DIRTY_RATE_STATUS_UNSTARTED,
};

static uint64_t dirtyrate_work_first_page(void)
{
    return RS_WORK_BASE / RS_PAGE_SIZE;
}

static uint64_t dirtyrate_work_pages(void)
{
    return ram_pages() - dirtyrate_work_first_page();
}

/*
 * Sleep until @deadline_ns (monotonic) unless cancelled.  Returns false
 * when cancelled.  Holds no lock on return.
 */
static bool dirtyrate_wait_until(int64_t deadline_ns)
{
    bool ok;

    qemu_mutex_lock(&drs.lock);
    while (!drs.cancel) {
        int64_t now_ns = clock_ns();
        int64_t end_us;

        if (now_ns >= deadline_ns) {
            break;
        }
        end_us = clock_us() +
                 DIV_ROUND_UP(deadline_ns - now_ns, NS_PER_US);
        qemu_cond_wait_until(&drs.cond, &drs.lock, end_us);
    }
    ok = !drs.cancel;
    qemu_mutex_unlock(&drs.lock);
    return ok;
}

static void dirtyrate_edge(DirtyRateWindowHook hook, void *opaque,
                           bool window_end)
{
    if (hook) {
        hook(opaque, window_end);
    }
}

static bool dirtyrate_measure_sampling(const DirtyRateConfig *cfg,
                                       DirtyRateWindowHook hook,
                                       void *opaque, DirtyRateResult *out,
                                       Error **errp)
{
    uint64_t first = dirtyrate_work_first_page();
    uint64_t nr_pages = dirtyrate_work_pages();
    uint32_t n = dirtyrate_sample_count(nr_pages, cfg->sample_pages_per_gib);
    g_autofree uint64_t *pages = g_new(uint64_t, n);
    g_autofree uint64_t *hashes = g_new(uint64_t, n);
    uint64_t seed = ((uint64_t)g_random_int() << 32) | g_random_int();
    uint8_t *base = ram_host_base();
    int64_t t0_ns, t1_ns;
    uint32_t changed = 0;
    DirtyRateEstimate e;

    dirtyrate_sample_positions(first, nr_pages, n, seed, pages);
    /* Each page's window runs from its first hash to its second: both
     * passes go in the same order at the same speed. */
    dirtyrate_edge(hook, opaque, false);
    t0_ns = clock_ns();
    for (uint32_t i = 0; i < n; i++) {
        hashes[i] = dirtyrate_page_hash(base + pages[i] * RS_PAGE_SIZE);
    }
    if (!dirtyrate_wait_until(t0_ns + cfg->calc_time_ms * NS_PER_MS)) {
        error_setg(errp, "the dirty rate measurement was cancelled");
        return false;
    }
    dirtyrate_edge(hook, opaque, true);
    t1_ns = clock_ns();
    for (uint32_t i = 0; i < n; i++) {
        if (dirtyrate_page_hash(base + pages[i] * RS_PAGE_SIZE) !=
            hashes[i]) {
            changed++;
        }
    }
    e = dirtyrate_estimate(changed, n, nr_pages);
    out->window_ns = t1_ns - t0_ns;
    out->sampled_pages = n;
    out->changed_pages = changed;
    out->dirty_pages = e.dirty_pages;
    out->dirty_pages_low = e.low_pages;
    out->dirty_pages_high = e.high_pages;
    trace_dirtyrate_sampling(n, changed, e.low_pages, e.dirty_pages,
                             e.high_pages);
    return true;
}

static uint64_t dirtyrate_popcount(const uint64_t *bits, uint64_t words)
{
    uint64_t n = 0;

    for (uint64_t w = 0; w < words; w++) {
        n += __builtin_popcountll(bits[w]);
    }
    return n;
}

static bool dirtyrate_measure_ring(const DirtyRateConfig *cfg,
                                   DirtyRateWindowHook hook, void *opaque,
                                   DirtyRateResult *out, Error **errp)
{
    int nr_cpus = MIN(cpus_count(), RS_MAX_CPUS);
    uint64_t words = DIV_ROUND_UP(ram_pages(), BITS_PER_WORD);
    /* Sparse page sets: an idle vCPU's costs its chunk table only. */
    g_autofree SparseBitmap **bitmaps = g_new0(SparseBitmap *, nr_cpus);
    g_autofree uint64_t *vm_bits = g_new0(uint64_t, words);
    g_autofree uint64_t *start_faults = g_new0(uint64_t, nr_cpus);
    g_autofree uint64_t *end_faults = g_new0(uint64_t, nr_cpus);
    int64_t a_ns, t0_ns, t1_ns;
    bool ok;

    for (int i = 0; i < nr_cpus; i++) {
        bitmaps[i] = sparse_bitmap_new(ram_pages());
    }
    if (!memory_global_dirty_log_start(GLOBAL_DIRTY_DIRTY_RATE, errp)) {
        for (int i = 0; i < nr_cpus; i++) {
            sparse_bitmap_free(bitmaps[i]);
        }
        return false;
    }
    /* Both edges harvest the whole source first, under its lock. */
    a_ns = clock_ns();
    memory_dirty_track_vcpus(bitmaps, nr_cpus, start_faults);
    t0_ns = a_ns + (clock_ns() - a_ns) / 2;
    dirtyrate_edge(hook, opaque, false);
    ok = dirtyrate_wait_until(t0_ns + cfg->calc_time_ms * NS_PER_MS);
    a_ns = clock_ns();
    memory_dirty_track_vcpus(NULL, nr_cpus, end_faults);
    t1_ns = a_ns + (clock_ns() - a_ns) / 2;
    dirtyrate_edge(hook, opaque, true);
    memory_global_dirty_log_stop(GLOBAL_DIRTY_DIRTY_RATE);

    out->nr_vcpus = nr_cpus;
    out->window_ns = t1_ns - t0_ns;
    for (int i = 0; i < nr_cpus; i++) {
        DirtyRateVcpuResult *v = &out->vcpus[i];

        v->dirty_pages = sparse_bitmap_count(bitmaps[i]);
        /* Monotonic counters: the difference survives a wrap. */
        v->write_faults = end_faults[i] - start_faults[i];
        out->write_faults += v->write_faults;
        sparse_bitmap_or_into(bitmaps[i], vm_bits);
        trace_dirtyrate_vcpu(i, v->dirty_pages, v->write_faults);
        sparse_bitmap_free(bitmaps[i]);
    }
    /* VM-wide: a page two vCPUs wrote is one page. */
    out->dirty_pages = dirtyrate_popcount(vm_bits, words);
    if (!ok) {
        error_setg(errp, "the dirty rate measurement was cancelled");
    }
    return ok;
}

static bool dirtyrate_measure_bitmap(const DirtyRateConfig *cfg,
                                     DirtyRateWindowHook hook, void *opaque,
                                     DirtyRateResult *out, Error **errp)
{
    int64_t a_ns, t0_ns, t1_ns;
    bool ok;

    /* The start syncs first: what was dirty before goes to the others. */
    if (!memory_global_dirty_log_start(GLOBAL_DIRTY_DIRTY_RATE, errp)) {
        return false;
    }
    t0_ns = clock_ns();
    dirtyrate_edge(hook, opaque, false);
    ok = dirtyrate_wait_until(t0_ns + cfg->calc_time_ms * NS_PER_MS);
    a_ns = clock_ns();
    memory_global_dirty_log_sync();
    t1_ns = a_ns + (clock_ns() - a_ns) / 2;
    dirtyrate_edge(hook, opaque, true);
    out->dirty_pages = physmem_dirty_count(DIRTY_MEMORY_DIRTY_RATE);
    out->window_ns = t1_ns - t0_ns;
    memory_global_dirty_log_stop(GLOBAL_DIRTY_DIRTY_RATE);
    if (!ok) {
        error_setg(errp, "the dirty rate measurement was cancelled");
    }
    return ok;
}

bool dirtyrate_check_config(const DirtyRateConfig *cfg, bool has_sample_pages,
                            Error **errp)
{
    /* QEMU 8.2's checks, in its order and with its words. */
    if (cfg->calc_time_ms < DIRTYRATE_MIN_CALC_TIME_MS ||
        cfg->calc_time_ms > DIRTYRATE_MAX_CALC_TIME_MS) {
        error_setg(errp, "Calculation time is out of range [%dms, %dms].",
                   DIRTYRATE_MIN_CALC_TIME_MS, DIRTYRATE_MAX_CALC_TIME_MS);
        return false;
    }
    if (has_sample_pages &&
        cfg->mode != DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING) {
        error_setg(errp, "sample-pages is used only in page-sampling mode");
        return false;
    }
    if (cfg->mode == DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING &&
        (cfg->sample_pages_per_gib < DIRTYRATE_MIN_SAMPLE_PAGES ||
         cfg->sample_pages_per_gib > DIRTYRATE_MAX_SAMPLE_PAGES)) {
        error_setg(errp, "sample-pages is out of range[%d, %d].",
                   DIRTYRATE_MIN_SAMPLE_PAGES, DIRTYRATE_MAX_SAMPLE_PAGES);
        return false;
    }
    /* Only the ring says which vCPU dirtied a page.  Unlike QEMU, the
     * bitmap mode works with the ring too. */
    if (cfg->mode == DIRTY_RATE_MEASURE_MODE_DIRTY_RING &&
        memory_dirty_tracking_mode() != DIRTY_TRACKING_RING) {
        error_setg(errp, "mode %s is not enabled, use other method instead.",
                   DirtyRateMeasureMode_str(cfg->mode));
        return false;
    }
    return true;
}

bool dirtyrate_measure(const DirtyRateConfig *cfg, DirtyRateWindowHook hook,
                       void *opaque, DirtyRateResult *out, Error **errp)
{
    bool ok = false;

    memset(out, 0, sizeof(*out));
    out->mode = cfg->mode;
    out->start_time_s = g_get_real_time() / G_USEC_PER_SEC;
    if (!dirtyrate_check_config(cfg, false, errp)) {
        return false;
    }
    if (!ram_host_base() || !cpus_count()) {
        error_setg(errp, "there is no guest to measure");
        return false;
    }
    trace_dirtyrate_measure_start(DirtyRateMeasureMode_str(cfg->mode),
                                  cfg->calc_time_ms,
                                  cfg->sample_pages_per_gib);
    switch (cfg->mode) {
    case DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING:
        ok = dirtyrate_measure_sampling(cfg, hook, opaque, out, errp);
        break;
    case DIRTY_RATE_MEASURE_MODE_DIRTY_RING:
        ok = dirtyrate_measure_ring(cfg, hook, opaque, out, errp);
        break;
    case DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP:
        ok = dirtyrate_measure_bitmap(cfg, hook, opaque, out, errp);
        break;
    default:
        g_assert_not_reached();
    }
    if (ok) {
        trace_dirtyrate_measure_done(DirtyRateMeasureMode_str(cfg->mode),
                                     out->window_ns, out->dirty_pages,
                                     out->write_faults);
    }
    return ok;
}

/* ---- calc-dirty-rate: one measurement at a time, on its thread. ---- */

static gpointer dirtyrate_calc_thread(gpointer opaque)
{
    DirtyRateConfig cfg;
    DirtyRateResult *res = g_new0(DirtyRateResult, 1);
    Error *err = NULL;
    bool ok;

    qemu_mutex_lock(&drs.lock);
    cfg = drs.config;
    qemu_mutex_unlock(&drs.lock);

    ok = dirtyrate_measure(&cfg, NULL, NULL, res, &err);
    if (!ok) {
        error_report_err(err);
    }

    qemu_mutex_lock(&drs.lock);
    drs.has_result = ok;
    if (ok) {
        drs.result = *res;
    }
    drs.status = DIRTY_RATE_STATUS_MEASURED;
    trace_dirtyrate_status(DirtyRateStatus_str(drs.status));
    qemu_mutex_unlock(&drs.lock);
    g_free(res);
    return NULL;
}

void qmp_calc_dirty_rate(int64_t calc_time, bool has_calc_time_unit,
                         TimeUnit calc_time_unit, bool has_sample_pages,
                         int64_t sample_pages, bool has_mode,
                         DirtyRateMeasureMode mode, Error **errp)
{
    DirtyRateConfig cfg = {
        .mode = has_mode ? mode : DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING,
        .sample_pages_per_gib = DIRTYRATE_DEFAULT_SAMPLE_PAGES,
    };
    GThread *old;

    if (dirtyrate_status() == DIRTY_RATE_STATUS_MEASURING) {
        error_setg(errp, "the dirty rate is already being measured.");
        return;
    }
    if (has_calc_time_unit && calc_time_unit == TIME_UNIT_MILLISECOND) {
        cfg.calc_time_ms = calc_time;
    } else if (calc_time > DIRTYRATE_MAX_CALC_TIME_MS / MS_PER_SECOND ||
               calc_time < 0) {
        cfg.calc_time_ms = -1;     /* out of range, without overflow */
    } else {
        cfg.calc_time_ms = calc_time * MS_PER_SECOND;
    }
    if (has_sample_pages) {
        cfg.sample_pages_per_gib = sample_pages < 0 || sample_pages > UINT32_MAX
                                   ? 0 : (uint32_t)sample_pages;
    }
    if (!dirtyrate_check_config(&cfg, has_sample_pages, errp)) {
        return;
    }

    /* Claim the state first: query-dirty-rate says measuring at once. */
    qemu_mutex_lock(&drs.lock);
    old = drs.thread;
    drs.thread = NULL;
    drs.status = DIRTY_RATE_STATUS_MEASURING;
    drs.config = cfg;
    drs.start_time_s = g_get_real_time() / G_USEC_PER_SEC;
    drs.has_result = false;
    trace_dirtyrate_status(DirtyRateStatus_str(drs.status));
    qemu_mutex_unlock(&drs.lock);

    /*
     * The previous thread has finished (it set "measured" as its last
     * act and never takes the VM lock): joining it here, with the VM
     * lock held and our lock dropped, cannot block for long.
     */
    if (old) {
        g_thread_join(old);
    }
    qemu_mutex_lock(&drs.lock);
    drs.thread = g_thread_new("dirtyrate-calc", dirtyrate_calc_thread, NULL);
    qemu_mutex_unlock(&drs.lock);
}

static int64_t dirtyrate_ms_to_unit(int64_t ms, TimeUnit unit)
{
    return unit == TIME_UNIT_MILLISECOND ? ms : ms / MS_PER_SECOND;
}

DirtyRateInfo *qmp_query_dirty_rate(bool has_calc_time_unit,
                                    TimeUnit calc_time_unit, Error **errp)
{
    DirtyRateInfo *info = g_new0(DirtyRateInfo, 1);
    TimeUnit unit = has_calc_time_unit ? calc_time_unit : TIME_UNIT_SECOND;
    DirtyRateVcpuList **tail = &info->vcpu_dirty_rate;
    const DirtyRateResult *r = &drs.result;
    int64_t calc_time_ms;

    qemu_mutex_lock(&drs.lock);
    info->status = drs.status;
    info->start_time = drs.start_time_s;
    info->calc_time_unit = unit;
    info->mode = drs.config.mode;
    info->sample_pages = drs.status == DIRTY_RATE_STATUS_UNSTARTED
                         ? 0 : drs.config.sample_pages_per_gib;
    calc_time_ms = drs.config.calc_time_ms;
    if (drs.status == DIRTY_RATE_STATUS_MEASURED && drs.has_result) {
        calc_time_ms = r->window_ns / NS_PER_MS;
        info->has_dirty_rate = true;
        info->dirty_rate = dirtyrate_mbps_round(
            dirtyrate_pages_to_mbps(r->dirty_pages, r->window_ns));
        info->has_x_dirty_pages = true;
        info->x_dirty_pages = r->dirty_pages;
        if (r->mode != DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING) {
            info->sample_pages = 0;     /* as QEMU: no sampling was done */
        } else {
            info->has_x_dirty_rate_low = true;
            info->x_dirty_rate_low = dirtyrate_mbps_round(
                dirtyrate_pages_to_mbps(r->dirty_pages_low, r->window_ns));
            info->has_x_dirty_rate_high = true;
            info->x_dirty_rate_high = dirtyrate_mbps_round(
                dirtyrate_pages_to_mbps(r->dirty_pages_high, r->window_ns));
        }
        if (r->mode == DIRTY_RATE_MEASURE_MODE_DIRTY_RING) {
            info->has_x_write_fault_rate = true;
            info->x_write_fault_rate = dirtyrate_mbps_round(
                dirtyrate_pages_to_mbps(r->write_faults, r->window_ns));
            for (int i = 0; i < r->nr_vcpus; i++) {
                DirtyRateVcpuList *node = g_new0(DirtyRateVcpuList, 1);
                DirtyRateVcpu *v = g_new0(DirtyRateVcpu, 1);

                v->id = i;
                v->dirty_rate = dirtyrate_mbps_round(
                    dirtyrate_pages_to_mbps(r->vcpus[i].dirty_pages,
                                            r->window_ns));
                v->has_x_write_fault_rate = true;
                v->x_write_fault_rate = dirtyrate_mbps_round(
                    dirtyrate_pages_to_mbps(r->vcpus[i].write_faults,
                                            r->window_ns));
                node->value = v;
                *tail = node;
                tail = &node->next;
            }
        }
    }
    info->calc_time = dirtyrate_ms_to_unit(calc_time_ms, unit);
    qemu_mutex_unlock(&drs.lock);
    return info;
}

DirtyRateStatus dirtyrate_status(void)
{
    DirtyRateStatus s;

    qemu_mutex_lock(&drs.lock);
    s = drs.status;
    qemu_mutex_unlock(&drs.lock);
    return s;
}

bool dirtyrate_last_result(DirtyRateResult *out)
{
    bool has;

    qemu_mutex_lock(&drs.lock);
    has = drs.status == DIRTY_RATE_STATUS_MEASURED && drs.has_result;
    if (has) {
        *out = drs.result;
    }
    qemu_mutex_unlock(&drs.lock);
    return has;
}

void dirtyrate_cleanup(void)
{
    GThread *t;

    qemu_mutex_lock(&drs.lock);
    drs.cancel = true;
    qemu_cond_broadcast(&drs.cond);
    t = drs.thread;
    drs.thread = NULL;
    qemu_mutex_unlock(&drs.lock);
    /* Our lock is dropped: the thread takes it to finish. */
    if (t) {
        g_thread_join(t);
    }
    qemu_mutex_lock(&drs.lock);
    drs.cancel = false;
    drs.status = DIRTY_RATE_STATUS_UNSTARTED;
    drs.has_result = false;
    memset(&drs.config, 0, sizeof(drs.config));
    drs.start_time_s = 0;
    qemu_mutex_unlock(&drs.lock);
}
