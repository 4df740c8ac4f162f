/*
 * The sparse bitmap: the same answers as a dense one, memory only for
 * the chunks touched.
 */
#include "qemu/osdep.h"

#include "qemu/sparse-bitmap.h"

/* 64 GiB of 4 KiB pages, plus a ragged tail so the last chunk is short. */
#define TEST_BITS (UINT64_C(16) * 1024 * 1024 + 77)

static void test_matches_a_dense_bitmap(void)
{
    uint64_t words = DIV_ROUND_UP(TEST_BITS, 64);
    g_autofree uint64_t *dense = g_new0(uint64_t, words);
    g_autofree uint64_t *merged = g_new0(uint64_t, words);
    SparseBitmap *b = sparse_bitmap_new(TEST_BITS);
    GRand *rand = g_rand_new_with_seed(20261129);
    uint64_t want = 0;

    for (int i = 0; i < 100000; i++) {
        /* Mostly in two chunks, some anywhere, the very last bit too. */
        uint64_t bit = i % 10 ? (uint64_t)g_rand_int_range(rand, 0, 1 << 19)
                              : (uint64_t)g_rand_double_range(rand, 0,
                                                              TEST_BITS);

        bit = i == 0 ? TEST_BITS - 1 : MIN(bit, TEST_BITS - 1);
        sparse_bitmap_set(b, bit);
        dense[bit / 64] |= UINT64_C(1) << (bit % 64);
    }
    for (uint64_t w = 0; w < words; w++) {
        want += __builtin_popcountll(dense[w]);
    }
    g_assert_cmpuint(sparse_bitmap_count(b), ==, want);
    sparse_bitmap_or_into(b, merged);
    g_assert_cmpmem(merged, words * 8, dense, words * 8);
    g_rand_free(rand);
    sparse_bitmap_free(b);
}

static void test_memory_follows_the_bits_set(void)
{
    SparseBitmap *b = sparse_bitmap_new(TEST_BITS);
    uint64_t table = b->nchunks * sizeof(uint64_t *);
    uint64_t chunk = SPARSE_BITMAP_CHUNK_WORDS * sizeof(uint64_t);

    g_assert_cmpuint(sparse_bitmap_bytes(b), ==, table);
    g_assert_cmpuint(sparse_bitmap_count(b), ==, 0);
    for (uint64_t bit = 0; bit < SPARSE_BITMAP_CHUNK_BITS; bit += 7) {
        sparse_bitmap_set(b, bit);
    }
    g_assert_cmpuint(sparse_bitmap_bytes(b), ==, table + chunk);
    sparse_bitmap_set(b, TEST_BITS - 1);
    g_assert_cmpuint(sparse_bitmap_bytes(b), ==, table + 2 * chunk);
    sparse_bitmap_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sparse-bitmap/matches-a-dense-bitmap",
                    test_matches_a_dense_bitmap);
    g_test_add_func("/sparse-bitmap/memory-follows-the-bits-set",
                    test_memory_follows_the_bits_set);
    return g_test_run();
}
