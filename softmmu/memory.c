/*
 * Global dirty tracking with independent users (migration, dirty rate,
 * dirty limit, checkers).
 *
 * KVM logs dirty pages of the workload memslot while any user is active.
 * A sync harvests the accelerator's dirty source (the ring or the bitmap,
 * include/sysemu/dirty-source.h) into the sink below, which sets the
 * pages in every active client's bitmap.  Starting a client syncs first,
 * so pages dirtied before its start go to the others, not to it.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "sysemu/cpus.h"
#include "hw/core/cpu.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "trace.h"

typedef struct MemoryDirtyState {
    QemuMutex lock;                /* start, stop, sync */
    unsigned int users;         /* (atomic reads) GLOBAL_DIRTY_* */
    uint64_t syncs;
} MemoryDirtyState;

static MemoryDirtyState mds;

static const struct {
    unsigned int flag;
    int client;                 /* -1: no bitmap */
    const char *name;
} dirty_users[] = {
    { GLOBAL_DIRTY_MIGRATION, DIRTY_MEMORY_MIGRATION, "migration" },
    { GLOBAL_DIRTY_DIRTY_RATE, DIRTY_MEMORY_DIRTY_RATE, "dirty-rate" },
    { GLOBAL_DIRTY_LIMIT, -1, "dirty-limit" },
    { GLOBAL_DIRTY_CHECK, DIRTY_MEMORY_CHECK, "check" },
    { GLOBAL_DIRTY_OBSERVE, -1, "observe" },
};

const char *memory_dirty_user_name(unsigned int flag)
{
    for (size_t i = 0; i < G_N_ELEMENTS(dirty_users); i++) {
        if (dirty_users[i].flag == flag) {
            return dirty_users[i].name;
        }
    }
    return NULL;
}

/* The accelerator's dirty source, or NULL without one. */
static const DirtySourceOps *memory_dirty_source(void)
{
    return kvm_dirty_source();
}

DirtyTrackingMode memory_dirty_tracking_mode(void)
{
    const DirtySourceOps *src = memory_dirty_source();

    return src ? src->mode : DIRTY_TRACKING_BITMAP;
}

/* ---- The sink every source writes into. ---- */

/*
 * The vCPUs' page sets of a measurement window, or NULL.  Read and
 * written under the source's harvest lock only: by the sink (called
 * under it) and by memory_vcpu_edge() (sync() calls it under it).
 */
static SparseBitmap *const *vcpu_sets;
static int vcpu_sets_cpus;

static void memory_sink_page(int cpu_index, uint64_t page)
{
    physmem_set_dirty_page(page);
    if (vcpu_sets && cpu_index >= 0 && cpu_index < vcpu_sets_cpus) {
        sparse_bitmap_set(vcpu_sets[cpu_index], page);
    }
}

static void memory_sink_word(uint64_t word, uint64_t bits)
{
    physmem_set_dirty_word(word, bits);
}

static const DirtySink memory_sink = {
    .page = memory_sink_page,
    .word = memory_sink_word,
};

typedef struct VcpuEdge {
    SparseBitmap *const *sets;
    int nr_cpus;
    uint64_t *dirty_pages;
} VcpuEdge;

static void memory_vcpu_edge(void *opaque)
{
    VcpuEdge *e = opaque;

    for (int i = 0; e->dirty_pages && i < MIN(cpus_count(), e->nr_cpus);
         i++) {
        e->dirty_pages[i] = qatomic_read(&cpus_get(i)->dirty_pages);
    }
    vcpu_sets = e->sets;
    vcpu_sets_cpus = e->sets ? e->nr_cpus : 0;
}

void memory_dirty_track_vcpus(SparseBitmap *const *sets, int nr_cpus,
                              uint64_t *dirty_pages)
{
    const DirtySourceOps *src = memory_dirty_source();
    VcpuEdge e = { sets, nr_cpus, dirty_pages };

    if (src) {
        src->sync(memory_vcpu_edge, &e);
    }
}

void memory_dirty_harvest_vcpus(void)
{
    const DirtySourceOps *src = memory_dirty_source();

    /* A source with no per-vCPU count has nothing to bring up to date. */
    if (src && src->vcpu_pending && memory_global_dirty_tracking()) {
        src->sync(NULL, NULL);
    }
}

uint32_t memory_dirty_vcpu_pending(CPUState *cpu)
{
    const DirtySourceOps *src = memory_dirty_source();

    return src && src->vcpu_pending ? src->vcpu_pending(cpu) : 0;
}

DirtyNewPages memory_dirty_vcpu_new_pages(CPUState *cpu)
{
    const DirtySourceOps *src = memory_dirty_source();
    DirtyNewPages none = { 0, 0 };

    return src && src->vcpu_new_pages ? src->vcpu_new_pages(cpu) : none;
}

unsigned int memory_global_dirty_tracking(void)
{
    return qatomic_load_acquire(&mds.users);
}

static bool memory_set_logging_locked(bool on, Error **errp)
{
    uint8_t *base = ram_host_base();

    return kvm_set_user_memory(RAM_SLOT_WORK, RS_WORK_BASE,
                               ram_size() - RS_WORK_BASE,
                               base + RS_WORK_BASE, on, errp);
}

static void memory_sync_locked(void)
{
    mds.syncs++;
    trace_memory_dirty_log_sync(mds.users, mds.syncs);
    memory_dirty_source()->sync(NULL, NULL);
}

void memory_global_dirty_log_sync(void)
{
    qemu_mutex_lock(&mds.lock);
    if (mds.users) {
        memory_sync_locked();
    }
    qemu_mutex_unlock(&mds.lock);
}

bool memory_global_dirty_log_start(unsigned int flags, Error **errp)
{
    unsigned int old;

    assert(flags && !(flags & ~GLOBAL_DIRTY_MASK));
    qemu_mutex_lock(&mds.lock);
    old = mds.users;
    if (old & flags) {
        error_setg(errp, "dirty tracking is already on for this user");
        qemu_mutex_unlock(&mds.lock);
        return false;
    }
    if (!old) {
        if (!memory_set_logging_locked(true, errp)) {
            qemu_mutex_unlock(&mds.lock);
            return false;
        }
        memory_dirty_source()->start(&memory_sink);
    }
    /*
     * What is dirty now belongs to the users already running (and with
     * KVM_DIRTY_LOG_INITIALLY_SET, the first harvest is every page: it is
     * dropped here), so a new user sees only what is dirtied from now on.
     */
    memory_sync_locked();
    for (size_t i = 0; i < G_N_ELEMENTS(dirty_users); i++) {
        if ((flags & dirty_users[i].flag) && dirty_users[i].client >= 0) {
            physmem_dirty_client_start(dirty_users[i].client);
        }
    }
    qatomic_store_release(&mds.users, old | flags);
    trace_memory_dirty_log_start(flags, old | flags);
    qemu_mutex_unlock(&mds.lock);
    return true;
}

void memory_global_dirty_log_stop(unsigned int flags)
{
    unsigned int users;

    qemu_mutex_lock(&mds.lock);
    users = mds.users & ~flags;
    for (size_t i = 0; i < G_N_ELEMENTS(dirty_users); i++) {
        if ((flags & mds.users & dirty_users[i].flag) &&
            dirty_users[i].client >= 0) {
            physmem_dirty_client_stop(dirty_users[i].client);
        }
    }
    if (mds.users && !users) {
        Error *err = NULL;

        if (!memory_set_logging_locked(false, &err)) {
            error_report_err(err);
        }
        memory_dirty_source()->stop();
    }
    qatomic_store_release(&mds.users, users);
    trace_memory_dirty_log_stop(flags, users);
    qemu_mutex_unlock(&mds.lock);
}

void memory_dirty_tracking_stats(DirtyTrackingStats *stats)
{
    const DirtySourceOps *src = memory_dirty_source();

    memset(stats, 0, sizeof(*stats));
    stats->mode = memory_dirty_tracking_mode();
    stats->users = memory_global_dirty_tracking();
    qemu_mutex_lock(&mds.lock);
    stats->syncs = mds.syncs;
    qemu_mutex_unlock(&mds.lock);
    if (src) {
        src->stats(stats);
    }
    for (int i = 0; i < cpus_count(); i++) {
        stats->ring_full_exits +=
            qatomic_read(&cpus_get(i)->dirty_ring_full_count);
    }
}

void memory_cleanup(void)
{
    if (memory_global_dirty_tracking()) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_MASK);
    }
}
