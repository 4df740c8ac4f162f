/*
 * KVM dirty bitmaps: get the log of each logged memslot, hand it to the
 * sink softmmu/memory.c gave us, re-protect what was taken.  One dirty
 * source (include/sysemu/dirty-source.h).
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>

#include "qemu/atomic.h"
#include "sysemu/kvm-dirty-bitmap.h"
#include "sysemu/kvm.h"
#include "trace.h"

/* Serialises syncs: the source's harvest lock. */
static QemuMutex bitmap_lock;
/* Where dirty words go; NULL until the first start (bitmap_lock). */
static const DirtySink *bitmap_sink;
static uint64_t bitmap_pages;   /* (atomic) pages GET_DIRTY_LOG reported */

static bool kvm_clear_dirty_chunk(uint32_t slot, uint64_t first,
                                  uint64_t npages, uint64_t *bits)
{
    struct kvm_clear_dirty_log clear = {
        .slot = slot,
        .first_page = first,
        .num_pages = npages,
        .dirty_bitmap = bits,
    };

    if (ioctl(kvm_state->vmfd, KVM_CLEAR_DIRTY_LOG, &clear) < 0) {
        error_report("kvm: KVM_CLEAR_DIRTY_LOG slot %u pages [%" PRIu64
                     ", +%" PRIu64 "): %s", slot, first, npages,
                     g_strerror(errno));
        return false;
    }
    return true;
}

static int64_t kvm_dirty_bitmap_sync_slot(uint32_t slot, uint64_t first_page,
                                          uint64_t npages)
{
    uint64_t nwords = DIV_ROUND_UP(npages, 64);
    g_autofree uint64_t *bits = g_new0(uint64_t, nwords);
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bits };
    uint64_t dirty = 0;

    assert(first_page % 64 == 0);
    if (ioctl(kvm_state->vmfd, KVM_GET_DIRTY_LOG, &log) < 0) {
        error_report("kvm: KVM_GET_DIRTY_LOG slot %u: %s", slot,
                     g_strerror(errno));
        return -1;
    }
    for (uint64_t w = 0; w < nwords; w++) {
        if (bits[w]) {
            dirty += __builtin_popcountll(bits[w]);
            bitmap_sink->word(first_page / 64 + w, bits[w]);
        }
    }
    if (kvm_state->manual_dirty_log_protect && dirty) {
        /* Re-protect exactly the pages we took, chunk by chunk. */
        for (uint64_t p = 0; p < npages; p += KVM_CLEAR_CHUNK_PAGES) {
            uint64_t n = MIN(KVM_CLEAR_CHUNK_PAGES, npages - p);
            bool any = false;

            for (uint64_t w = p / 64; w < DIV_ROUND_UP(p + n, 64); w++) {
                if (bits[w]) {
                    any = true;
                    break;
                }
            }
            if (any && !kvm_clear_dirty_chunk(slot, p, n, &bits[p / 64])) {
                return -1;
            }
        }
    }
    trace_kvm_dirty_bitmap_sync(slot, npages, dirty);
    return dirty;
}

/* ---- The dirty source. ---- */

static void kvm_dirty_bitmap_start(const DirtySink *sink)
{
    qemu_mutex_lock(&bitmap_lock);
    bitmap_sink = sink;
    qemu_mutex_unlock(&bitmap_lock);
}

static void kvm_dirty_bitmap_stop(void)
{
    /* KVM keeps no log once logging is off: nothing is left to take. */
}

static int64_t kvm_dirty_bitmap_sync(DirtySourceEdgeFunc edge, void *opaque)
{
    int64_t total = 0;

    qemu_mutex_lock(&bitmap_lock);
    for (uint32_t slot = 0; slot < KVM_NR_MEMSLOTS && bitmap_sink; slot++) {
        KVMMemslot *m = &kvm_state->memslots[slot];
        int64_t n;

        if (!qatomic_read(&m->log_dirty)) {
            continue;
        }
        n = kvm_dirty_bitmap_sync_slot(slot, qatomic_read(&m->first_page),
                                       qatomic_read(&m->pages));
        if (n < 0) {
            total = -1;
            break;
        }
        total += n;
    }
    if (total > 0) {
        qatomic_fetch_add_relaxed(&bitmap_pages, total);
    }
    if (edge) {
        edge(opaque);
    }
    qemu_mutex_unlock(&bitmap_lock);
    return total;
}

static void kvm_dirty_bitmap_stats(DirtyTrackingStats *stats)
{
    stats->manual_protect = kvm_state->manual_dirty_log_protect;
    stats->initially_set = kvm_state->dirty_log_initially_set;
    stats->bitmap_pages = qatomic_read(&bitmap_pages);
}

const DirtySourceOps kvm_dirty_bitmap_source = {
    .name = "dirty-bitmap",
    .mode = DIRTY_TRACKING_BITMAP,
    .start = kvm_dirty_bitmap_start,
    .stop = kvm_dirty_bitmap_stop,
    .sync = kvm_dirty_bitmap_sync,
    .stats = kvm_dirty_bitmap_stats,
};
