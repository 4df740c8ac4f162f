/*
 * A bitmap over a large range whose memory grows with the bits set:
 * chunks of SPARSE_BITMAP_CHUNK_BITS bits are allocated on their first
 * set.  Made for per-vCPU page sets (one bit per 4 KiB page of RAM):
 * a vCPU that writes 1 GiB of a 64 GiB guest costs 32 KiB, not 2 MiB, and
 * an idle one costs its chunk table only.
 *
 * Not thread-safe: the caller serialises (the slots lock for the dirty
 * ring's per-vCPU windows).
 */
#ifndef QEMU_SPARSE_BITMAP_H
#define QEMU_SPARSE_BITMAP_H

#include <stdint.h>

/* 2^18 bits = 1 GiB of 4 KiB pages = a 32 KiB chunk. */
#define SPARSE_BITMAP_CHUNK_SHIFT 18
#define SPARSE_BITMAP_CHUNK_BITS (UINT64_C(1) << SPARSE_BITMAP_CHUNK_SHIFT)
#define SPARSE_BITMAP_CHUNK_WORDS (SPARSE_BITMAP_CHUNK_BITS / 64)

typedef struct SparseBitmap {
    uint64_t nbits;
    uint64_t nchunks;
    uint64_t **chunks;          /* NULL: no bit set in that chunk */
} SparseBitmap;

SparseBitmap *sparse_bitmap_new(uint64_t nbits);
void sparse_bitmap_free(SparseBitmap *b);
/* Set bit @bit (< nbits), allocating its chunk on first use. */
void sparse_bitmap_set(SparseBitmap *b, uint64_t bit);
uint64_t sparse_bitmap_count(const SparseBitmap *b);
/* OR @b into the dense bitmap @dense of DIV_ROUND_UP(nbits, 64) words. */
void sparse_bitmap_or_into(const SparseBitmap *b, uint64_t *dense);
/* Bytes of chunk memory in use (what the sparseness saves is measurable). */
uint64_t sparse_bitmap_bytes(const SparseBitmap *b);

#endif /* QEMU_SPARSE_BITMAP_H */
