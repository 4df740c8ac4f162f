/*
 * The per-vCPU dirty-rate calculator: a thread that, every period, reads
 * each vCPU's monotonic dirty-page counter (ring entries harvested for it)
 * and publishes the rate over the period, lock-free, for the dirty
 * limiter and the monitor.  See docs/devel/dirty-rate.md.
 *
 *   source (counters, clock) --snapshot--> compute (pure, in
 *   softmmu/dirtyrate-compute.c) --> slots
 *        (seqcount per vCPU) --> dirtyrate_stat_get() on any thread
 *                              \-> listeners, on this thread, no lock held
 *
 * Users start and stop it independently (refcounted).  It does not turn
 * dirty tracking on: a user that wants rates starts its own tracking user
 * (the limiter: GLOBAL_DIRTY_LIMIT); with tracking off the rates are 0.
 */
#include "qemu/osdep.h"

#include <time.h>

#include "hw/core/cpu.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/memory.h"
#include "trace.h"

/*
 * DIRTYRATE_STAT_DEFAULT_PERIOD_MS = 100 (the header): the limiter wants
 * a fresh rate several times a second, and each period starts with its
 * own harvest so the counters are exact at the sample; what remains is
 * the guest's own burstiness.  Measured with a guest paced at 100 MB/s
 * (tests/bench/dirtyrate-accuracy, "calculator period" table): the
 * spread of per-period rates is a few % at 100 ms and grows to over 10%
 * at 10-20 ms, where a paced guest's 1 ms sleep granularity and host
 * scheduling on 2 busy cores show through.
 */

typedef struct StatSlot {
    uint32_t seq;               /* (atomic) odd while being written */
    uint32_t valid;             /* (atomic) */
    uint64_t dirty_pages;       /* (atomic) */
    uint64_t rate_pages_per_s;  /* (atomic) */
    int64_t measured_ns;        /* (atomic) */
    uint64_t period_ns;         /* (atomic) */
} StatSlot;

typedef struct StatListener {
    DirtyRateStatListener fn;
    void *opaque;
} StatListener;

/* One running thread; a restart gets a new one, never reusing a flag. */
typedef struct StatRun {
    GThread *thread;
    bool stop;                  /* (ctl_lock) */
} StatRun;

typedef struct DirtyRateStat {
    QemuMutex ctl_lock;            /* refs, run, wakeups */
    QemuCond ctl_cond;
    unsigned int refs;
    StatRun *run;
    uint32_t period_ms;         /* (atomic) */

    QemuMutex step_lock;           /* one step at a time; prev, source */
    const DirtyRateStatSource *src;
    bool has_prev;
    DirtyRateStatSnapshot prev;

    StatSlot slots[DIRTYRATE_STAT_MAX_CPUS];

    QemuMutex listeners_lock;      /* listeners, calling */
    QemuCond listeners_cond;
    GArray *listeners;          /* of StatListener */
    GThread *calling;           /* the thread calling listeners, or NULL */
} DirtyRateStat;

static DirtyRateStat stat = {
    .period_ms = DIRTYRATE_STAT_DEFAULT_PERIOD_MS,
};

/* ---- The real source. ---- */

static uint64_t real_generation(void *opaque)
{
    /* restraint has no vCPU hot-plug: the list changes only when the
     * machine is created or torn down, which changes the count. */
    return (uint64_t)cpus_count() * 2;
}

static int real_nr_cpus(void *opaque)
{
    return MIN(cpus_count(), DIRTYRATE_STAT_MAX_CPUS);
}

static uint64_t real_dirty_pages(void *opaque, int cpu_index)
{
    CPUState *cpu = cpus_get(cpu_index);

    return cpu ? qatomic_load_acquire(&cpu->dirty_pages) : 0;
}

static int64_t real_clock_ns(void *opaque)
{
    return clock_ns();
}

static void real_harvest(void *opaque)
{
    /* Exact counters at the sample, not as of the reaper's last pass. */
    memory_dirty_harvest_vcpus();
}

static const DirtyRateStatSource real_source = {
    .generation = real_generation,
    .nr_cpus = real_nr_cpus,
    .dirty_pages = real_dirty_pages,
    .clock_ns = real_clock_ns,
    .harvest = real_harvest,
};

/* ---- Reading the source (the rate itself: dirtyrate-compute.c). ---- */

bool dirtyrate_stat_snapshot(const DirtyRateStatSource *src,
                             DirtyRateStatSnapshot *out)
{
    for (int tries = 0; tries < DIRTYRATE_STAT_SNAPSHOT_TRIES; tries++) {
        uint64_t gen = src->generation(src->opaque);
        int n;

        if (gen & 1) {
            continue;                   /* the list is changing */
        }
        if (src->harvest) {
            src->harvest(src->opaque);
        }
        n = MIN(MAX(src->nr_cpus(src->opaque), 0), DIRTYRATE_STAT_MAX_CPUS);
        for (int i = 0; i < n; i++) {
            out->dirty_pages[i] = src->dirty_pages(src->opaque, i);
        }
        out->now_ns = src->clock_ns(src->opaque);
        if (src->generation(src->opaque) == gen) {
            out->generation = gen;
            out->nr_cpus = n;
            return true;
        }
        trace_dirtyrate_stat_retry(gen, tries);
    }
    return false;
}

/* ---- Lock-free publication: a seqcount per vCPU, one writer. ---- */

/*
 * Writer: seq odd, then each field with a release store (ordered after the
 * odd seq), then seq even (release).  Reader: seq (acquire), each field
 * (acquire: a field from the next write makes the second seq read see
 * the change), seq again.  No fences: plain moves on x86, and visible to
 * ThreadSanitizer.
 */
static void stat_slot_publish(StatSlot *s, const VcpuDirtyStat *v)
{
    uint32_t seq = qatomic_read(&s->seq);

    qatomic_set(&s->seq, seq + 1);
    qatomic_store_release(&s->dirty_pages, v->dirty_pages);
    qatomic_store_release(&s->rate_pages_per_s, v->rate_pages_per_s);
    qatomic_store_release(&s->measured_ns, v->measured_ns);
    qatomic_store_release(&s->period_ns, v->period_ns);
    qatomic_store_release(&s->valid, 1);
    qatomic_store_release(&s->seq, seq + 2);
}

static void stat_slot_invalidate(StatSlot *s)
{
    uint32_t seq = qatomic_read(&s->seq);

    qatomic_set(&s->seq, seq + 1);
    qatomic_store_release(&s->valid, 0);
    qatomic_store_release(&s->seq, seq + 2);
}

bool dirtyrate_stat_get(int cpu_index, VcpuDirtyStat *out)
{
    StatSlot *s;
    uint32_t seq;
    bool valid;

    if (cpu_index < 0 || cpu_index >= DIRTYRATE_STAT_MAX_CPUS) {
        return false;
    }
    s = &stat.slots[cpu_index];
    do {
        seq = qatomic_load_acquire(&s->seq);
        if (seq & 1) {
            continue;           /* the writer is in the middle: retry */
        }
        valid = qatomic_load_acquire(&s->valid);
        out->dirty_pages = qatomic_load_acquire(&s->dirty_pages);
        out->rate_pages_per_s = qatomic_load_acquire(&s->rate_pages_per_s);
        out->measured_ns = qatomic_load_acquire(&s->measured_ns);
        out->period_ns = qatomic_load_acquire(&s->period_ns);
    } while ((seq & 1) || qatomic_read(&s->seq) != seq);
    return valid;
}

static void stat_invalidate_all(void)
{
    for (int i = 0; i < DIRTYRATE_STAT_MAX_CPUS; i++) {
        stat_slot_invalidate(&stat.slots[i]);
    }
}

/* ---- Listeners. ---- */

void dirtyrate_stat_add_listener(DirtyRateStatListener fn, void *opaque)
{
    StatListener l = { fn, opaque };

    qemu_mutex_lock(&stat.listeners_lock);
    if (!stat.listeners) {
        stat.listeners = g_array_new(false, false, sizeof(StatListener));
    }
    g_array_append_val(stat.listeners, l);
    qemu_mutex_unlock(&stat.listeners_lock);
}

void dirtyrate_stat_remove_listener(DirtyRateStatListener fn, void *opaque)
{
    qemu_mutex_lock(&stat.listeners_lock);
    for (guint i = 0; stat.listeners && i < stat.listeners->len; i++) {
        StatListener *l = &g_array_index(stat.listeners, StatListener, i);

        if (l->fn == fn && l->opaque == opaque) {
            g_array_remove_index(stat.listeners, i);
            break;
        }
    }
    /* When this returns, @fn is not running (unless we are inside it). */
    while (stat.calling && stat.calling != g_thread_self()) {
        qemu_cond_wait(&stat.listeners_cond, &stat.listeners_lock);
    }
    qemu_mutex_unlock(&stat.listeners_lock);
}

static void stat_call_listeners(void)
{
    g_autoptr(GArray) copy = NULL;

    qemu_mutex_lock(&stat.listeners_lock);
    /* One caller at a time, so remove_listener's wait means something. */
    while (stat.calling) {
        qemu_cond_wait(&stat.listeners_cond, &stat.listeners_lock);
    }
    if (!stat.listeners || !stat.listeners->len) {
        qemu_mutex_unlock(&stat.listeners_lock);
        return;
    }
    copy = g_array_sized_new(false, false, sizeof(StatListener),
                             stat.listeners->len);
    g_array_append_vals(copy, stat.listeners->data, stat.listeners->len);
    stat.calling = g_thread_self();
    qemu_mutex_unlock(&stat.listeners_lock);

    for (guint i = 0; i < copy->len; i++) {
        StatListener *l = &g_array_index(copy, StatListener, i);

        l->fn(l->opaque);
    }

    qemu_mutex_lock(&stat.listeners_lock);
    stat.calling = NULL;
    qemu_cond_broadcast(&stat.listeners_cond);
    qemu_mutex_unlock(&stat.listeners_lock);
}

/* ---- One period. ---- */

static void stat_step(bool notify)
{
    DirtyRateStatSnapshot *cur = g_new(DirtyRateStatSnapshot, 1);
    VcpuDirtyStat rates[DIRTYRATE_STAT_MAX_CPUS];
    const DirtyRateStatSource *src;

    qemu_mutex_lock(&stat.step_lock);
    src = stat.src ? stat.src : &real_source;
    if (!dirtyrate_stat_snapshot(src, cur)) {
        /* The vCPU list kept changing: skip this period. */
        qemu_mutex_unlock(&stat.step_lock);
        g_free(cur);
        return;
    }
    if (stat.has_prev && dirtyrate_stat_compute(&stat.prev, cur, rates)) {
        for (int i = 0; i < cur->nr_cpus; i++) {
            stat_slot_publish(&stat.slots[i], &rates[i]);
            trace_dirtyrate_stat_rate(i, rates[i].rate_pages_per_s,
                                      rates[i].period_ns);
        }
    } else if (stat.has_prev && (stat.prev.generation != cur->generation ||
                                 stat.prev.nr_cpus != cur->nr_cpus)) {
        /* A new vCPU list: old rates mean nothing; this is the baseline. */
        trace_dirtyrate_stat_generation(stat.prev.generation,
                                        cur->generation, cur->nr_cpus);
        stat_invalidate_all();
    }
    if (!stat.has_prev || cur->now_ns > stat.prev.now_ns ||
        stat.prev.generation != cur->generation) {
        stat.prev = *cur;
        stat.has_prev = true;
    }
    qemu_mutex_unlock(&stat.step_lock);
    g_free(cur);
    if (notify) {
        stat_call_listeners();
    }
}

void dirtyrate_stat_step(void)
{
    stat_step(true);
}

/* ---- The thread and its users. ---- */

static gpointer dirtyrate_stat_thread(gpointer opaque)
{
    StatRun *run = opaque;
    int64_t next_us = clock_us();

    qemu_mutex_lock(&stat.ctl_lock);
    while (!run->stop) {
        int64_t period_us = (int64_t)qatomic_read(&stat.period_ms) * 1000;
        int64_t now_us = clock_us();

        /* A steady cadence; after a long stall, start afresh from now. */
        next_us += period_us;
        if (next_us < now_us - period_us) {
            next_us = now_us + period_us;
        }
        while (!run->stop &&
               qemu_cond_wait_until(&stat.ctl_cond, &stat.ctl_lock, next_us)) {
            /* woken early (a stop, or spuriously): look again */
        }
        if (run->stop) {
            break;
        }
        qemu_mutex_unlock(&stat.ctl_lock);
        dirtyrate_stat_step();
        qemu_mutex_lock(&stat.ctl_lock);
    }
    qemu_mutex_unlock(&stat.ctl_lock);
    return NULL;
}

bool dirtyrate_stat_start(Error **errp)
{
    StatRun *run;

    qemu_mutex_lock(&stat.ctl_lock);
    if (stat.refs++) {
        qemu_mutex_unlock(&stat.ctl_lock);
        return true;
    }
    /* A fresh run: no rate of a previous run is reported as current. */
    qemu_mutex_lock(&stat.step_lock);
    stat.has_prev = false;
    stat_invalidate_all();
    qemu_mutex_unlock(&stat.step_lock);
    run = g_new0(StatRun, 1);
    run->thread = g_thread_try_new("dirtyrate-stat", dirtyrate_stat_thread,
                                   run, NULL);
    if (!run->thread) {
        stat.refs--;
        qemu_mutex_unlock(&stat.ctl_lock);
        g_free(run);
        error_setg(errp, "cannot create the dirtyrate-stat thread");
        return false;
    }
    stat.run = run;
    trace_dirtyrate_stat_start(qatomic_read(&stat.period_ms));
    qemu_mutex_unlock(&stat.ctl_lock);
    /*
     * A first baseline now, so the first rate comes one period later.
     * Listeners run only on the calculator thread, not here.
     */
    stat_step(false);
    return true;
}

static void dirtyrate_stat_join(StatRun *run)
{
    if (run->thread == g_thread_self()) {
        /* Stopped from a listener: the thread sees run->stop and ends. */
        g_thread_unref(run->thread);
        return;
    }
    g_thread_join(run->thread);
    g_free(run);
}

void dirtyrate_stat_stop(void)
{
    StatRun *run = NULL;

    qemu_mutex_lock(&stat.ctl_lock);
    if (stat.refs && --stat.refs == 0) {
        run = stat.run;
        stat.run = NULL;
        run->stop = true;
        qemu_cond_broadcast(&stat.ctl_cond);
        trace_dirtyrate_stat_stop();
    }
    qemu_mutex_unlock(&stat.ctl_lock);
    /* Joined with no lock held: the thread takes ctl_lock to leave. */
    if (run) {
        dirtyrate_stat_join(run);
    }
}

void dirtyrate_stat_cleanup(void)
{
    StatRun *run;

    qemu_mutex_lock(&stat.ctl_lock);
    run = stat.run;
    stat.run = NULL;
    stat.refs = 0;
    if (run) {
        run->stop = true;
        qemu_cond_broadcast(&stat.ctl_cond);
    }
    qemu_mutex_unlock(&stat.ctl_lock);
    if (run) {
        dirtyrate_stat_join(run);
    }
    qemu_mutex_lock(&stat.step_lock);
    stat.has_prev = false;
    stat_invalidate_all();
    qemu_mutex_unlock(&stat.step_lock);
}

bool dirtyrate_stat_running(void)
{
    bool running;

    qemu_mutex_lock(&stat.ctl_lock);
    running = stat.refs > 0;
    qemu_mutex_unlock(&stat.ctl_lock);
    return running;
}

void dirtyrate_stat_set_period_ms(uint32_t period_ms)
{
    period_ms = MAX(period_ms, DIRTYRATE_STAT_MIN_PERIOD_MS);
    period_ms = MIN(period_ms, DIRTYRATE_STAT_MAX_PERIOD_MS);
    /* Applies from the next period on. */
    qatomic_set(&stat.period_ms, period_ms);
}

uint32_t dirtyrate_stat_period_ms(void)
{
    return qatomic_read(&stat.period_ms);
}

void dirtyrate_stat_set_source(const DirtyRateStatSource *src)
{
    qemu_mutex_lock(&stat.step_lock);
    stat.src = src;
    stat.has_prev = false;
    stat_invalidate_all();
    qemu_mutex_unlock(&stat.step_lock);
}
