/*
 * Global dirty tracking with independent users (migration, dirty rate,
 * dirty limit, checkers).
 *
 * KVM logs dirty pages of the workload memslot while any user is active.
 * A sync harvests into every active client's bitmap: in ring mode by
 * reaping every vCPU's ring, in bitmap mode by KVM_GET_DIRTY_LOG (and
 * KVM_CLEAR_DIRTY_LOG of what was taken).  Starting a client syncs first,
 * so pages dirtied before its start go to the others, not to it.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "sysemu/cpus.h"
#include "hw/core/cpu.h"
#include "sysemu/kvm-dirty-bitmap.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "trace.h"

typedef struct MemoryDirtyState {
    QemuMutex lock;                /* start, stop, sync */
    unsigned int users;         /* (atomic reads) GLOBAL_DIRTY_* */
    uint64_t syncs;
    uint64_t bitmap_pages;
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

DirtyTrackingMode memory_dirty_tracking_mode(void)
{
    return kvm_state && kvm_state->dirty_ring_entries ? DIRTY_TRACKING_RING
                                                      : DIRTY_TRACKING_BITMAP;
}

unsigned int memory_global_dirty_tracking(void)
{
    return __atomic_load_n(&mds.users, __ATOMIC_ACQUIRE);
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
    if (memory_dirty_tracking_mode() == DIRTY_TRACKING_RING) {
        kvm_dirty_ring_reap();
    } else {
        int64_t n = kvm_dirty_bitmap_sync(RAM_SLOT_WORK,
                                          RS_WORK_BASE / RS_PAGE_SIZE,
                                          (ram_size() - RS_WORK_BASE) /
                                          RS_PAGE_SIZE);
        if (n > 0) {
            mds.bitmap_pages += n;
        }
    }
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
        if (memory_dirty_tracking_mode() == DIRTY_TRACKING_RING) {
            kvm_dirty_ring_reaper_start(kvm_state->reaper_period_ms);
        }
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
    __atomic_store_n(&mds.users, old | flags, __ATOMIC_RELEASE);
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

        if (memory_dirty_tracking_mode() == DIRTY_TRACKING_RING) {
            kvm_dirty_ring_reaper_stop();
        }
        if (!memory_set_logging_locked(false, &err)) {
            error_report_err(err);
        }
        if (memory_dirty_tracking_mode() == DIRTY_TRACKING_RING) {
            /* Empty the rings so that the next start begins clean. */
            kvm_dirty_ring_reap();
        }
    }
    __atomic_store_n(&mds.users, users, __ATOMIC_RELEASE);
    trace_memory_dirty_log_stop(flags, users);
    qemu_mutex_unlock(&mds.lock);
}

void memory_dirty_tracking_stats(DirtyTrackingStats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->mode = memory_dirty_tracking_mode();
    stats->ring_entries = kvm_state ? kvm_state->dirty_ring_entries : 0;
    stats->manual_protect = kvm_state && kvm_state->manual_dirty_log_protect;
    stats->initially_set = kvm_state && kvm_state->dirty_log_initially_set;
    stats->users = memory_global_dirty_tracking();
    qemu_mutex_lock(&mds.lock);
    stats->syncs = mds.syncs;
    stats->bitmap_pages = mds.bitmap_pages;
    qemu_mutex_unlock(&mds.lock);
    kvm_dirty_ring_stats(&stats->ring_harvested, &stats->ring_dropped,
                         &stats->reaper_runs, &stats->ring_reset_mismatches,
                         &stats->ring_harvest_ns);
    for (int i = 0; i < cpus_count(); i++) {
        stats->ring_full_exits +=
            __atomic_load_n(&cpus_get(i)->dirty_ring_full_count,
                            __ATOMIC_RELAXED);
    }
}

void memory_cleanup(void)
{
    if (memory_global_dirty_tracking()) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_MASK);
    }
}
