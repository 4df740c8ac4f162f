/*
 * KVM dirty bitmaps: KVM_GET_DIRTY_LOG, and with manual protection
 * KVM_CLEAR_DIRTY_LOG of exactly what was taken.  One dirty source
 * (include/sysemu/dirty-source.h).
 */
#ifndef SYSEMU_KVM_DIRTY_BITMAP_H
#define SYSEMU_KVM_DIRTY_BITMAP_H

#include <stdint.h>

#include "sysemu/dirty-source.h"

/* Pages re-protected per KVM_CLEAR_DIRTY_LOG call: 256 MiB, 64-aligned. */
#define KVM_CLEAR_CHUNK_PAGES (64 * 1024)

/* The dirty source of a VM created without a dirty ring. */
extern const DirtySourceOps kvm_dirty_bitmap_source;

#endif /* SYSEMU_KVM_DIRTY_BITMAP_H */
