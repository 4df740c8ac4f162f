/*
 * KVM dirty bitmaps: get the log, merge it, re-protect what was taken.
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>

#include "sysemu/kvm-dirty-bitmap.h"
#include "sysemu/kvm.h"
#include "sysemu/physmem.h"
#include "trace.h"

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

int64_t kvm_dirty_bitmap_sync(uint32_t slot, uint64_t first_page,
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
            physmem_set_dirty_word(first_page / 64 + w, bits[w]);
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
