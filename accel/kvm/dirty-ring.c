/*
 * KVM dirty ring: map each vCPU's ring, harvest it, reset it.
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "qemu/dirty-window.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/kvm.h"
#include "sysemu/physmem.h"
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
/* Per-vCPU measurement page sets, or NULL (slots lock). */
static SparseBitmap *const *ring_vcpu_bitmaps;
static int ring_vcpu_bitmaps_cpus;

DirtyRingHarvest kvm_dirty_ring_harvest_one(struct kvm_dirty_gfn *ring,
                                            uint32_t entries,
                                            uint32_t *fetch,
                                            uint32_t nr_slots,
                                            const uint64_t *slot_pages,
                                            DirtyGfnFunc fn, void *opaque)
{
    DirtyRingHarvest h = { 0, 0 };

    for (uint32_t n = 0; n < entries; n++) {
        struct kvm_dirty_gfn *e = &ring[*fetch & (entries - 1)];
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
        uint32_t slot;
        uint64_t offset;

        if (!(flags & KVM_DIRTY_GFN_F_DIRTY)) {
            break;
        }
        slot = e->slot & 0xffff;    /* the high half is the address space */
        offset = e->offset;
        if (slot < nr_slots && offset < slot_pages[slot]) {
            fn(slot, offset, opaque);
        } else {
            h.dropped++;
        }
        /* Give the entry back even when it was bad: never wedge the ring. */
        __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
        /* Atomic: kvm_dirty_ring_peek_pending() reads it unlocked. */
        __atomic_store_n(fetch, *fetch + 1, __ATOMIC_RELEASE);
        h.harvested++;
    }
    return h;
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
    cpu->dirty_window = dirty_window_new(ram_pages(),
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

static const uint64_t ring_slot_first_page[] = {
    [RAM_SLOT_SYSTEM] = 0,
    [RAM_SLOT_WORK] = RS_WORK_BASE / RS_PAGE_SIZE,
};

static void kvm_dirty_ring_mark(uint32_t slot, uint64_t offset, void *opaque)
{
    CPUState *cpu = opaque;
    uint64_t page = ring_slot_first_page[slot] + offset;

    if (page + 1 == ring_last_page[cpu->cpu_index]) {
        ring_repeats++;
    } else {
        dirty_window_add(cpu->dirty_window, page);
    }
    ring_last_page[cpu->cpu_index] = page + 1;     /* 0: none yet */
    physmem_set_dirty_page(page);
    if (ring_vcpu_bitmaps && cpu->cpu_index < ring_vcpu_bitmaps_cpus) {
        sparse_bitmap_set(ring_vcpu_bitmaps[cpu->cpu_index], page);
    }
}

static uint64_t kvm_dirty_ring_reap_locked(CPUState *cpu, int64_t now_ns)
{
    uint64_t slot_pages[2] = {
        [RAM_SLOT_SYSTEM] = RS_SYS_SIZE / RS_PAGE_SIZE,
        [RAM_SLOT_WORK] = (ram_size() - RS_WORK_BASE) / RS_PAGE_SIZE,
    };
    DirtyRingHarvest h;

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
        __atomic_fetch_add(&ring_dropped_total, h.dropped, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&ring_harvested_total, h.harvested, __ATOMIC_RELAXED);
    __atomic_fetch_add(&cpu->dirty_ring_harvested, h.harvested,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&cpu->dirty_pages,
                       h.harvested - h.dropped - ring_repeats,
                       __ATOMIC_RELEASE);
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
        __atomic_fetch_add(&ring_reset_mismatches, 1, __ATOMIC_RELAXED);
    }
}

uint64_t kvm_dirty_ring_reap(void)
{
    uint64_t total = 0;
    int64_t start_ns;

    qemu_mutex_lock(&kvm_slots_lock);
    start_ns = g_get_monotonic_time() * 1000;
    for (int i = 0; i < cpus_count(); i++) {
        CPUState *cpu = cpus_get(i);

        if (cpu->dirty_gfns) {
            total += kvm_dirty_ring_reap_locked(cpu, start_ns);
        }
    }
    kvm_dirty_ring_reset_locked(total);
    ring_harvest_ns += g_get_monotonic_time() * 1000 - start_ns;
    qemu_mutex_unlock(&kvm_slots_lock);
    return total;
}

uint64_t kvm_dirty_ring_reap_one(CPUState *cpu)
{
    uint64_t n;
    int64_t start_ns;

    qemu_mutex_lock(&kvm_slots_lock);
    start_ns = g_get_monotonic_time() * 1000;
    n = kvm_dirty_ring_reap_locked(cpu, start_ns);
    kvm_dirty_ring_reset_locked(n);
    ring_harvest_ns += g_get_monotonic_time() * 1000 - start_ns;
    qemu_mutex_unlock(&kvm_slots_lock);
    return n;
}

void kvm_dirty_ring_track_vcpus(SparseBitmap *const *bitmaps, int nr_cpus,
                                uint64_t *dirty_pages)
{
    uint64_t total = 0;
    int64_t now_ns;

    qemu_mutex_lock(&kvm_slots_lock);
    now_ns = clock_ns();
    for (int i = 0; i < cpus_count(); i++) {
        CPUState *cpu = cpus_get(i);

        if (cpu->dirty_gfns) {
            total += kvm_dirty_ring_reap_locked(cpu, now_ns);
        }
        if (dirty_pages && i < nr_cpus) {
            dirty_pages[i] = __atomic_load_n(&cpu->dirty_pages,
                                             __ATOMIC_RELAXED);
        }
    }
    kvm_dirty_ring_reset_locked(total);
    ring_vcpu_bitmaps = bitmaps;
    ring_vcpu_bitmaps_cpus = bitmaps ? nr_cpus : 0;
    qemu_mutex_unlock(&kvm_slots_lock);
}

uint32_t kvm_dirty_ring_peek_pending(CPUState *cpu)
{
    uint32_t entries = cpu->dirty_ring_entries;
    uint32_t fetch = __atomic_load_n(&cpu->dirty_ring_fetch, __ATOMIC_ACQUIRE);
    uint32_t n = 0;

    while (cpu->dirty_gfns && n < entries) {
        struct kvm_dirty_gfn *e =
            &cpu->dirty_gfns[(fetch + n) & (entries - 1)];

        if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
              KVM_DIRTY_GFN_F_DIRTY)) {
            break;
        }
        n++;
    }
    return n;
}

uint32_t kvm_dirty_ring_peek_new_pages(CPUState *cpu)
{
    uint32_t entries = cpu->dirty_ring_entries;
    uint32_t fetch = qatomic_load_acquire(&cpu->dirty_ring_fetch);
    uint64_t slot_pages[2] = {
        [RAM_SLOT_SYSTEM] = RS_SYS_SIZE / RS_PAGE_SIZE,
        [RAM_SLOT_WORK] = (ram_size() - RS_WORK_BASE) / RS_PAGE_SIZE,
    };
    uint64_t last_page = UINT64_MAX;
    uint32_t new_pages = 0;

    for (uint32_t n = 0; cpu->dirty_gfns && n < entries; n++) {
        struct kvm_dirty_gfn *e =
            &cpu->dirty_gfns[(fetch + n) & (entries - 1)];
        uint32_t slot;
        uint64_t offset, page;

        if (!(qatomic_load_acquire(&e->flags) & KVM_DIRTY_GFN_F_DIRTY)) {
            break;
        }
        slot = qatomic_read(&e->slot) & 0xffff;
        offset = qatomic_read(&e->offset);
        if (slot >= G_N_ELEMENTS(slot_pages) || offset >= slot_pages[slot]) {
            continue;       /* the harvest drops it */
        }
        page = ring_slot_first_page[slot] + offset;
        if (page != last_page && !dirty_window_seen(cpu->dirty_window, page)) {
            new_pages++;
        }
        last_page = page;
    }
    return new_pages;
}

bool kvm_handle_dirty_ring_full(CPUState *cpu)
{
    uint64_t harvested_before = cpu->dirty_ring_harvested_at_full;

    __atomic_fetch_add(&cpu->dirty_ring_full_count, 1, __ATOMIC_RELAXED);
    kvm_dirty_ring_reap_one(cpu);
    /*
     * Any entry harvested from this vCPU's ring since its last ring-full
     * exit, by us or by the reaper, means the ring is moving.  Entries,
     * not dirty_pages: a vCPU rewriting one page fills its ring with
     * that page, which dirty_pages counts once.
     */
    cpu->dirty_ring_harvested_at_full =
        __atomic_load_n(&cpu->dirty_ring_harvested, __ATOMIC_RELAXED);
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
    cpu_halt(cpu, CPU_HALT_INTERNAL_ERROR, "dirty ring stuck");
    return false;
}

void kvm_dirty_ring_stats(uint64_t *harvested, uint64_t *dropped,
                          uint64_t *reaper_runs, uint64_t *reset_mismatches,
                          uint64_t *harvest_ns)
{
    qemu_mutex_lock(&kvm_slots_lock);
    *harvest_ns = ring_harvest_ns;
    qemu_mutex_unlock(&kvm_slots_lock);
    *reset_mismatches = __atomic_load_n(&ring_reset_mismatches,
                                        __ATOMIC_RELAXED);
    *harvested = __atomic_load_n(&ring_harvested_total, __ATOMIC_RELAXED);
    *dropped = __atomic_load_n(&ring_dropped_total, __ATOMIC_RELAXED);
    *reaper_runs = __atomic_load_n(&reaper.runs, __ATOMIC_RELAXED);
}

static gpointer kvm_dirty_ring_reaper_fn(gpointer opaque)
{
    qemu_mutex_lock(&reaper.lock);
    while (!reaper.stop) {
        int64_t deadline_us = g_get_monotonic_time() +
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
        __atomic_fetch_add(&reaper.runs, 1, __ATOMIC_RELAXED);
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
