/*
 * Live per-vCPU statistics, sampled once a second on the main loop for
 * the live view (monitor/live-view.c) and the Prometheus endpoint
 * (monitor/metrics.c).
 *
 *   calculator thread --dirtyrate_stat_get--\
 *   guest counters ----workload_sample------+--> LiveStats --> listeners
 *   dirty limiter -----dirtylimit_vcpu_info-/    (rates over the last
 *                                                 sample period)
 *
 * Rates are differences of monotonic counters between two samples, so
 * the measured rate and the guest's own rate cover (nearly) the same
 * second and can be compared line by line.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "hw/workload.h"
#include "monitor/live-stats.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/memory.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

typedef struct LiveStatsListenerEntry {
    LiveStatsListener fn;
    void *opaque;
} LiveStatsListenerEntry;

/* The previous sample of one vCPU's counters, for the differences. */
typedef struct LiveVcpuPrev {
    bool has_stat;
    uint64_t dirty_pages;
    int64_t measured_ns;
    bool has_guest;
    uint64_t pages_written;
    uint64_t bytes_read;
    int64_t host_ns;
} LiveVcpuPrev;

typedef struct LiveStatsState {
    unsigned int refs;
    guint timer_id;
    bool observing;             /* GLOBAL_DIRTY_OBSERVE is ours */
    bool calculating;           /* we hold a dirtyrate_stat reference */
    LiveStats cur;
    LiveVcpuPrev prev[RS_MAX_CPUS];
    GArray *listeners;          /* of LiveStatsListenerEntry */
} LiveStatsState;

static LiveStatsState ls;

static double live_stats_rate(uint64_t old_count, uint64_t new_count,
                              int64_t old_ns, int64_t new_ns)
{
    if (new_ns <= old_ns || new_count < old_count) {
        return 0;
    }
    return (double)(new_count - old_count) * NANOSECONDS_PER_SECOND /
           (new_ns - old_ns);
}

static void live_stats_sample_vcpu(int i, LiveVcpuStats *v)
{
    LiveVcpuPrev *p = &ls.prev[i];
    VcpuDirtyStat ds;
    WorkloadSample ws;
    DirtyLimitVcpuInfo li;

    memset(v, 0, sizeof(*v));
    v->cpu_index = i;
    v->workload_kind = "-";

    if (ls.cur.per_vcpu_rates && dirtyrate_stat_get(i, &ds)) {
        if (p->has_stat && ds.measured_ns > p->measured_ns) {
            v->has_measured = true;
            v->measured_bytes_per_s =
                live_stats_rate(p->dirty_pages, ds.dirty_pages,
                                p->measured_ns, ds.measured_ns) *
                RS_PAGE_SIZE;
        } else if (p->has_stat) {
            /* No new period since: keep the calculator's own rate. */
            v->has_measured = true;
            v->measured_bytes_per_s = (double)ds.rate_pages_per_s *
                                      RS_PAGE_SIZE;
        }
        v->measured_dirty_pages = ds.dirty_pages;
        p->has_stat = true;
        p->dirty_pages = ds.dirty_pages;
        p->measured_ns = ds.measured_ns;
    }

    if (workload_sample(i, &ws, NULL)) {
        v->workload_kind = workload_kind_name(ws.kind);
        v->guest_pages_written = ws.pages_written;
        v->guest_bytes_read = ws.bytes_read;
        if (p->has_guest) {
            v->has_guest = true;
            v->guest_write_bytes_per_s =
                live_stats_rate(p->pages_written, ws.pages_written,
                                p->host_ns, ws.host_ns) *
                RS_PAGE_SIZE;
            v->guest_read_bytes_per_s =
                live_stats_rate(p->bytes_read, ws.bytes_read, p->host_ns,
                                ws.host_ns);
        }
        p->has_guest = true;
        p->pages_written = ws.pages_written;
        p->bytes_read = ws.bytes_read;
        p->host_ns = ws.host_ns;
    }

    if (dirtylimit_vcpu_info(i, &li)) {
        v->quota_mbps = li.quota_mbps;
        v->limiter_rate_bytes_per_s = (double)li.current_mbps * MiB;
        v->sleep_share = li.sleep_share;
    }
    if (ls.cur.cpu_throttle_pct > 0) {
        /* auto-converge: every vCPU sleeps that share, limits or not. */
        v->sleep_share = MAX(v->sleep_share,
                             ls.cur.cpu_throttle_pct / 100.0);
    }
}

static void live_stats_sample(void)
{
    vm_lock();
    ls.cur.per_vcpu_rates =
        memory_dirty_tracking_mode() == DIRTY_TRACKING_RING;
    ls.cur.cpu_throttle_pct = cpu_throttle_active() ?
                              cpu_throttle_get_percentage() : 0;
    ls.cur.nr_cpus = MIN(cpus_count(), RS_MAX_CPUS);
    for (int i = 0; i < ls.cur.nr_cpus; i++) {
        live_stats_sample_vcpu(i, &ls.cur.vcpu[i]);
    }
    vm_unlock();
    ls.cur.sampled_ns = g_get_monotonic_time() * 1000;
    ls.cur.samples++;
    for (int i = 0; i < ls.cur.nr_cpus; i++) {
        const LiveVcpuStats *v = &ls.cur.vcpu[i];

        trace_live_stats_vcpu(i, (uint64_t)v->measured_bytes_per_s,
                              (uint64_t)v->guest_write_bytes_per_s,
                              v->quota_mbps,
                              (unsigned int)(v->sleep_share * 100));
    }
}

static gboolean live_stats_tick(gpointer opaque)
{
    g_autoptr(GArray) copy = NULL;

    live_stats_sample();
    /* A listener may remove itself: iterate over a copy. */
    copy = g_array_copy(ls.listeners);

    for (guint i = 0; i < copy->len; i++) {
        LiveStatsListenerEntry *e = &g_array_index(copy,
                                                   LiveStatsListenerEntry, i);

        e->fn(&ls.cur, e->opaque);
    }
    return G_SOURCE_CONTINUE;
}

bool live_stats_start(Error **errp)
{
    if (ls.refs++) {
        return true;
    }
    if (!ls.listeners) {
        ls.listeners = g_array_new(FALSE, FALSE,
                                   sizeof(LiveStatsListenerEntry));
    }
    memset(&ls.cur, 0, sizeof(ls.cur));
    memset(ls.prev, 0, sizeof(ls.prev));
    /*
     * Per-vCPU counters move only while dirty tracking is on, and only
     * the ring says which vCPU dirtied a page: in bitmap mode the view
     * shows the guest's rates and the limiter only.
     */
    if (memory_dirty_tracking_mode() == DIRTY_TRACKING_RING) {
        bool ok;

        vm_lock();
        ok = memory_global_dirty_log_start(GLOBAL_DIRTY_OBSERVE, errp);
        vm_unlock();
        if (!ok) {
            ls.refs--;
            return false;
        }
        ls.observing = true;
        /* Not under the VM lock: its listeners may take it. */
        if (!dirtyrate_stat_start(errp)) {
            vm_lock();
            memory_global_dirty_log_stop(GLOBAL_DIRTY_OBSERVE);
            vm_unlock();
            ls.observing = false;
            ls.refs--;
            return false;
        }
        ls.calculating = true;
    }
    trace_live_stats_start(ls.observing);
    /* A first sample now, so the first period already has a rate. */
    live_stats_sample();
    ls.timer_id = g_timeout_add(LIVE_STATS_PERIOD_MS, live_stats_tick, NULL);
    return true;
}

void live_stats_stop(void)
{
    if (!ls.refs || --ls.refs) {
        return;
    }
    if (ls.timer_id) {
        g_source_remove(ls.timer_id);
        ls.timer_id = 0;
    }
    /* The thread is joined with no lock held. */
    if (ls.calculating) {
        dirtyrate_stat_stop();
        ls.calculating = false;
    }
    if (ls.observing) {
        vm_lock();
        memory_global_dirty_log_stop(GLOBAL_DIRTY_OBSERVE);
        vm_unlock();
        ls.observing = false;
    }
    trace_live_stats_stop();
}

const LiveStats *live_stats_get(void)
{
    return &ls.cur;
}

void live_stats_add_listener(LiveStatsListener fn, void *opaque)
{
    LiveStatsListenerEntry e = { fn, opaque };

    if (!ls.listeners) {
        ls.listeners = g_array_new(FALSE, FALSE,
                                   sizeof(LiveStatsListenerEntry));
    }
    g_array_append_val(ls.listeners, e);
}

void live_stats_remove_listener(LiveStatsListener fn, void *opaque)
{
    if (!ls.listeners) {
        return;
    }
    for (guint i = 0; i < ls.listeners->len; i++) {
        LiveStatsListenerEntry *e = &g_array_index(ls.listeners,
                                                   LiveStatsListenerEntry, i);

        if (e->fn == fn && e->opaque == opaque) {
            g_array_remove_index(ls.listeners, i);
            return;
        }
    }
}
