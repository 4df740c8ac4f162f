/*
 * KVM dirty bitmaps: KVM_GET_DIRTY_LOG, and with manual protection
 * KVM_CLEAR_DIRTY_LOG of exactly what was taken.
 */
#ifndef SYSEMU_KVM_DIRTY_BITMAP_H
#define SYSEMU_KVM_DIRTY_BITMAP_H

#include <stdint.h>

/* Pages re-protected per KVM_CLEAR_DIRTY_LOG call: 256 MiB, 64-aligned. */
#define KVM_CLEAR_CHUNK_PAGES (64 * 1024)

/*
 * Get memslot @slot's dirty bitmap (its first page is guest page
 * @first_page, a multiple of 64, and it has @npages pages), merge it into
 * every active client's bitmap, and re-protect the pages taken.  Returns
 * the number of dirty pages, or -1 (reported) on an ioctl failure.
 */
int64_t kvm_dirty_bitmap_sync(uint32_t slot, uint64_t first_page,
                              uint64_t npages);

#endif /* SYSEMU_KVM_DIRTY_BITMAP_H */
