/*
 * KVM dirty ring: map each vCPU's ring, harvest it into the sink
 * softmmu/memory.c handed us, reset it.  The walk of one ring is pure and
 * lives in dirty-ring-harvest.c; this file owns the slots lock, the
 * reaper thread and KVM_RESET_DIRTY_RINGS, and is one dirty source
 * (include/sysemu/dirty-source.h).
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include "hw/guest-abi.h"
#include "hw/core/cpu.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "qemu/dirty-window.h"
#include "sysemu/dirty-ring-harvest.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/kvm.h"
#include "trace.h"

/* Serialises harvesting and KVM_RESET_DIRTY_RINGS (the "slots lock"). */
static QemuMutex kvm_slots_lock;

/* The reaper: harvests every ring on a period and on demand. */
typedef struct KVMReaper {
    GThread *thread;
    QemuMutex lock;
    QemuCond cond;
    bool stop;                  /* (lock) */
    bool wakeup;                /* (lock) harvest now */
    uint32_t period_ms;
    uint64_t runs;              /* (atomic) */
} KVMReaper;

static KVMReaper reaper;
static uint64_t ring_harvested_total;   /* (atomic) */
static uint64_t ring_dropped_total;     /* (atomic) */
static uint64_t ring_reset_mismatches;  /* (atomic) */

/*
 * The page each vCPU's ring last reported (slots lock).  A store
 * interrupted by a kick after KVM logged its fault, but before it
 * retired, faults again on re-entry if the page was re-protected in
 * between: the ring then holds the same page twice in a row.  It is one
 * page dirtied, so CPUState.dirty_pages counts it once (the bitmaps get
 * it either way).  Without this a throttled vCPU, kicked thousands of
 * times a second, would seem to dirty pages it never wrote.
 */
static uint64_t ring_last_page[RS_MAX_CPUS];
static uint32_t ring_repeats;   /* (slots lock) of the harvest under way */
static uint64_t ring_harvest_ns;        /* (slots lock) time in harvests */
/* Where harvested pages go; NULL until the first start (slots lock). */
static const DirtySink *ring_sink;

/* Guest pages the memslots cover (RAM is registered before the vCPUs). */
static uint64_t kvm_dirty_ring_guest_pages(void)
{
    uint64_t pages = 0;

    for (int i = 0; i < KVM_NR_MEMSLOTS; i++) {
        pages = MAX(pages, qatomic_read(&kvm_state->memslots[i].first_page) +
                           qatomic_read(&kvm_state->memslots[i].pages));
    }
    return pages;
}

bool kvm_dirty_ring_init_vcpu(CPUState *cpu, Error **errp)
{
    uint32_t entries = kvm_state->dirty_ring_entries;
    size_t bytes = (size_t)entries * sizeof(struct kvm_dirty_gfn);
    void *ring;

    if (!entries) {
        return true;
    }
    ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                cpu->kvm_fd, KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
    if (ring == MAP_FAILED) {
        error_setg_errno(errp, errno, "kvm: mapping the dirty ring of cpu %d",
                         cpu->cpu_index);
        return false;
    }
    cpu->dirty_gfns = ring;
    cpu->dirty_ring_entries = entries;
    cpu->dirty_ring_fetch = 0;
    ring_last_page[cpu->cpu_index] = 0;
    cpu->dirty_window = dirty_window_new(kvm_dirty_ring_guest_pages(),
                                         DIRTY_WINDOW_DEFAULT_NS);
    return true;
}

void kvm_dirty_ring_cleanup_vcpu(CPUState *cpu)
{
    if (cpu->dirty_gfns) {
        munmap(cpu->dirty_gfns,
               (size_t)cpu->dirty_ring_entries * sizeof(struct kvm_dirty_gfn));
        cpu->dirty_gfns = NULL;
    }
    dirty_window_free(cpu->dirty_window);
    cpu->dirty_window = NULL;
}

/* The guest page of entry (@slot, @offset), both in range. */
static uint64_t kvm_dirty_ring_page(uint32_t slot, uint64_t offset)
{
    return qatomic_read(&kvm_state->memslots[slot].first_page) + offset;
}

static void kvm_dirty_ring_mark(uint32_t slot, uint64_t offset, void *opaque)
{
    CPUState *cpu = opaque;
    uint64_t page = kvm_dirty_ring_page(slot, offset);

    if (page + 1 == ring_last_page[cpu->cpu_index]) {
        ring_repeats++;
    } else {
        dirty_window_add(cpu->dirty_window, page);
    }
    ring_last_page[cpu->cpu_index] = page + 1;     /* 0: none yet */
    if (ring_sink) {
        ring_sink->page(cpu->cpu_index, page);
    }
}

static void kvm_dirty_ring_slot_pages(uint64_t *slot_pages)
{
    for (int i = 0; i < KVM_NR_MEMSLOTS; i++) {
        slot_pages[i] = qatomic_read(&kvm_state->memslots[i].pages);
    }
}

static uint64_t kvm_dirty_ring_reap_locked(CPUState *cpu, int64_t now_ns)
{
    uint64_t slot_pages[KVM_NR_MEMSLOTS];
    DirtyRingHarvest h;

    kvm_dirty_ring_slot_pages(slot_pages);
    /* What this harvest finds counts in the window of @now_ns. */
    if (dirty_window_advance(cpu->dirty_window, now_ns)) {
        DirtyWindowReport r;

        dirty_window_last(cpu->dirty_window, &r);
        trace_kvm_dirty_window(cpu->cpu_index, r.start_ns, r.pages);
    }

    ring_repeats = 0;
    h = kvm_dirty_ring_harvest_one(cpu->dirty_gfns, cpu->dirty_ring_entries,
                                   &cpu->dirty_ring_fetch,
                                   G_N_ELEMENTS(slot_pages), slot_pages,
                                   kvm_dirty_ring_mark, cpu);
    if (!h.harvested) {
        /* An idle vCPU's ring: one load, no shared counter touched. */
        return 0;
    }
    if (h.dropped) {
        trace_kvm_dirty_ring_dropped(cpu->cpu_index, h.dropped);
        qatomic_fetch_add_relaxed(&ring_dropped_total, h.dropped);
    }
    qatomic_fetch_add_relaxed(&ring_harvested_total, h.harvested);
    qatomic_fetch_add_relaxed(&cpu->dirty_ring_harvested, h.harvested);
    qatomic_fetch_add_release(&cpu->dirty_pages,
                              h.harvested - h.dropped - ring_repeats);
    return h.harvested;
}

static void kvm_dirty_ring_reset_locked(uint64_t harvested)
{
    int reset;

    if (!harvested) {
        return;
    }
    reset = ioctl(kvm_state->vmfd, KVM_RESET_DIRTY_RINGS, 0);
    if (reset < 0) {
        error_report("kvm: KVM_RESET_DIRTY_RINGS: %s", g_strerror(errno));
    } else if ((uint64_t)reset != harvested) {
        trace_kvm_dirty_ring_reset_mismatch(harvested, reset);
        qatomic_fetch_add_relaxed(&ring_reset_mismatches, 1);
    }
}

static int64_t kvm_dirty_ring_sync(DirtySourceEdgeFunc edge, void *opaque)
{
    uint64_t total = 0;
    int64_t start_ns;

    qemu_mutex_lock(&kvm_slots_lock);
    start_ns = clock_ns();
    for (int i = 0; i < cpus_count(); i++) {
        CPUState *cpu = cpus_get(i);

        if (cpu->dirty_gfns) {
            total += kvm_dirty_ring_reap_locked(cpu, start_ns);
        }
    }
    kvm_dirty_ring_reset_locked(total);
    ring_harvest_ns += clock_ns() - start_ns;
    if (edge) {
        edge(opaque);
    }
    qemu_mutex_unlock(&kvm_slots_lock);
    return total;
}

uint64_t kvm_dirty_ring_reap(void)
{
    return kvm_dirty_ring_sync(NULL, NULL);
}

uint64_t kvm_dirty_ring_reap_one(CPUState *cpu)
{
    uint64_t n;
    int64_t start_ns;

    qemu_mutex_lock(&kvm_slots_lock);
    start_ns = clock_ns();
    n = kvm_dirty_ring_reap_locked(cpu, start_ns);
    kvm_dirty_ring_reset_locked(n);
    ring_harvest_ns += clock_ns() - start_ns;
    qemu_mutex_unlock(&kvm_slots_lock);
    return n;
}

uint32_t kvm_dirty_ring_peek_pending(CPUState *cpu)
{
    return kvm_dirty_ring_count_pending(
        cpu->dirty_gfns, cpu->dirty_ring_entries,
        qatomic_load_acquire(&cpu->dirty_ring_fetch));
}

typedef struct RingNewPages {
    CPUState *cpu;
    uint64_t last_page;
    DirtyNewPages new;
} RingNewPages;

static void kvm_dirty_ring_count_new(uint32_t slot, uint64_t offset,
                                     void *opaque)
{
    RingNewPages *n = opaque;
    uint64_t page = kvm_dirty_ring_page(slot, offset);

    /* A page repeated in a row is one page, as the harvest counts it. */
    if (page != n->last_page &&
        !dirty_window_seen(n->cpu->dirty_window, page)) {
        n->new.pages++;
        n->new.carried += dirty_window_seen_prev(n->cpu->dirty_window, page);
    }
    n->last_page = page;
}

DirtyNewPages kvm_dirty_ring_peek_new_pages(CPUState *cpu)
{
    uint64_t slot_pages[KVM_NR_MEMSLOTS];
    RingNewPages n = { .cpu = cpu, .last_page = UINT64_MAX };

    if (!cpu->dirty_window) {
        return n.new;
    }
    kvm_dirty_ring_slot_pages(slot_pages);
    kvm_dirty_ring_walk_pending(cpu->dirty_gfns, cpu->dirty_ring_entries,
                                qatomic_load_acquire(&cpu->dirty_ring_fetch),
                                G_N_ELEMENTS(slot_pages), slot_pages,
                                kvm_dirty_ring_count_new, &n);
    return n.new;
}

bool kvm_handle_dirty_ring_full(CPUState *cpu)
{
    uint64_t harvested_before = cpu->dirty_ring_harvested_at_full;

    qatomic_fetch_add_relaxed(&cpu->dirty_ring_full_count, 1);
    kvm_dirty_ring_reap_one(cpu);
    /*
     * Any entry harvested from this vCPU's ring since its last ring-full
     * exit, by us or by the reaper, means the ring is moving.  Entries,
     * not dirty_pages: a vCPU rewriting one page fills its ring with
     * that page, which dirty_pages counts once.
     */
    cpu->dirty_ring_harvested_at_full =
        qatomic_read(&cpu->dirty_ring_harvested);
    if (cpu->dirty_ring_harvested_at_full != harvested_before) {
        cpu->dirty_ring_empty_full_exits = 0;
        return true;
    }
    if (++cpu->dirty_ring_empty_full_exits < KVM_DIRTY_RING_STUCK_EXITS) {
        return true;
    }
    /*
     * KVM keeps saying the ring is full and there is nothing in it: the
     * kernel overflowed the ring (emulated stores push one entry each and
     * check for room only when they leave the emulator).  The vCPU can
     * never run again; say so instead of spinning.
     */
    error_report("cpu %d: dirty ring stuck: %u ring-full exits in a row "
                 "with nothing to harvest (the kernel overflowed the ring, "
                 "e.g. with emulated guest stores); the vCPU is stopped",
                 cpu->cpu_index, cpu->dirty_ring_empty_full_exits);
    trace_kvm_dirty_ring_stuck(cpu->cpu_index,
                               cpu->dirty_ring_empty_full_exits);
    cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR, "dirty ring stuck");
    return false;
}

static void kvm_dirty_ring_stats(DirtyTrackingStats *stats)
{
    stats->ring_entries = kvm_state->dirty_ring_entries;
    qemu_mutex_lock(&kvm_slots_lock);
    stats->ring_harvest_ns = ring_harvest_ns;
    qemu_mutex_unlock(&kvm_slots_lock);
    stats->ring_reset_mismatches = qatomic_read(&ring_reset_mismatches);
    stats->ring_harvested = qatomic_read(&ring_harvested_total);
    stats->ring_dropped = qatomic_read(&ring_dropped_total);
    stats->reaper_runs = qatomic_read(&reaper.runs);
}

static gpointer kvm_dirty_ring_reaper_fn(gpointer opaque)
{
    qemu_mutex_lock(&reaper.lock);
    while (!reaper.stop) {
        int64_t deadline_us = clock_us() +
                              (int64_t)reaper.period_ms * 1000;
        uint64_t n;

        while (!reaper.stop && !reaper.wakeup &&
               qemu_cond_wait_until(&reaper.cond, &reaper.lock, deadline_us)) {
            /* spurious wake-up: wait again until the deadline */
        }
        if (reaper.stop) {
            break;
        }
        reaper.wakeup = false;
        qemu_mutex_unlock(&reaper.lock);
        n = kvm_dirty_ring_reap();
        qatomic_fetch_add_relaxed(&reaper.runs, 1);
        if (n) {
            trace_kvm_dirty_ring_reaper(n);
        }
        qemu_mutex_lock(&reaper.lock);
    }
    qemu_mutex_unlock(&reaper.lock);
    return NULL;
}

void kvm_dirty_ring_reaper_start(uint32_t period_ms)
{
    if (reaper.thread) {
        return;
    }
    reaper.stop = false;
    reaper.wakeup = false;
    reaper.period_ms = period_ms;
    reaper.thread = g_thread_new("kvm-reaper", kvm_dirty_ring_reaper_fn,
                                 NULL);
}

void kvm_dirty_ring_reaper_kick(void)
{
    qemu_mutex_lock(&reaper.lock);
    reaper.wakeup = true;
    qemu_cond_signal(&reaper.cond);
    qemu_mutex_unlock(&reaper.lock);
}

void kvm_dirty_ring_reaper_stop(void)
{
    if (!reaper.thread) {
        return;
    }
    qemu_mutex_lock(&reaper.lock);
    reaper.stop = true;
    qemu_cond_signal(&reaper.cond);
    qemu_mutex_unlock(&reaper.lock);
    g_thread_join(reaper.thread);
    reaper.thread = NULL;
}

/* ---- The dirty source. ---- */

static void kvm_dirty_ring_start(const DirtySink *sink)
{
    qemu_mutex_lock(&kvm_slots_lock);
    ring_sink = sink;
    qemu_mutex_unlock(&kvm_slots_lock);
    kvm_dirty_ring_reaper_start(kvm_state->reaper_period_ms);
}

static void kvm_dirty_ring_stop(void)
{
    kvm_dirty_ring_reaper_stop();
    /* Empty the rings so that the next start begins clean. */
    kvm_dirty_ring_reap();
}

const DirtySourceOps kvm_dirty_ring_source = {
    .name = "dirty-ring",
    .mode = DIRTY_TRACKING_RING,
    .start = kvm_dirty_ring_start,
    .stop = kvm_dirty_ring_stop,
    .sync = kvm_dirty_ring_sync,
    .vcpu_pending = kvm_dirty_ring_peek_pending,
    .vcpu_new_pages = kvm_dirty_ring_peek_new_pages,
    .stats = kvm_dirty_ring_stats,
};
