/*
 * A bitmap whose memory grows with the bits set (include/qemu/sparse-bitmap.h).
 */
#include "qemu/osdep.h"

#include "qemu/sparse-bitmap.h"

SparseBitmap *sparse_bitmap_new(uint64_t nbits)
{
    SparseBitmap *b = g_new0(SparseBitmap, 1);

    b->nbits = nbits;
    b->nchunks = DIV_ROUND_UP(nbits, SPARSE_BITMAP_CHUNK_BITS);
    b->chunks = g_new0(uint64_t *, b->nchunks);
    return b;
}

void sparse_bitmap_free(SparseBitmap *b)
{
    if (!b) {
        return;
    }
    for (uint64_t c = 0; c < b->nchunks; c++) {
        g_free(b->chunks[c]);
    }
    g_free(b->chunks);
    g_free(b);
}

void sparse_bitmap_set(SparseBitmap *b, uint64_t bit)
{
    uint64_t c = bit >> SPARSE_BITMAP_CHUNK_SHIFT;
    uint64_t in_chunk = bit & (SPARSE_BITMAP_CHUNK_BITS - 1);

    assert(bit < b->nbits);
    if (!b->chunks[c]) {
        b->chunks[c] = g_new0(uint64_t, SPARSE_BITMAP_CHUNK_WORDS);
    }
    b->chunks[c][in_chunk / 64] |= UINT64_C(1) << (in_chunk % 64);
}

uint64_t sparse_bitmap_count(const SparseBitmap *b)
{
    uint64_t n = 0;

    for (uint64_t c = 0; c < b->nchunks; c++) {
        if (!b->chunks[c]) {
            continue;
        }
        for (uint64_t w = 0; w < SPARSE_BITMAP_CHUNK_WORDS; w++) {
            n += __builtin_popcountll(b->chunks[c][w]);
        }
    }
    return n;
}

void sparse_bitmap_or_into(const SparseBitmap *b, uint64_t *dense)
{
    uint64_t words = DIV_ROUND_UP(b->nbits, 64);

    for (uint64_t c = 0; c < b->nchunks; c++) {
        uint64_t first = c * SPARSE_BITMAP_CHUNK_WORDS;
        uint64_t n = MIN(SPARSE_BITMAP_CHUNK_WORDS, words - first);

        if (!b->chunks[c]) {
            continue;
        }
        for (uint64_t w = 0; w < n; w++) {
            dense[first + w] |= b->chunks[c][w];
        }
    }
}

uint64_t sparse_bitmap_bytes(const SparseBitmap *b)
{
    uint64_t bytes = b->nchunks * sizeof(uint64_t *);

    for (uint64_t c = 0; c < b->nchunks; c++) {
        if (b->chunks[c]) {
            bytes += SPARSE_BITMAP_CHUNK_WORDS * sizeof(uint64_t);
        }
    }
    return bytes;
}
