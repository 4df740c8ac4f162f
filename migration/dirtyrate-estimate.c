/*
 * The pure part of dirty-rate measurement: the page hash, where to sample,
 * the estimate and its interval, unit conversions and the ground truth of
 * a writer.  Plain data in, plain data out: unit-tested without KVM.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "migration/dirtyrate.h"
#include "qemu/atomic.h"
#include "qemu/page-rate.h"

/*
 * Hash constants: odd 64-bit multipliers with about half their bits set,
 * so every input bit reaches the high half of the product.  K1 is 2^64
 * divided by the golden ratio.
 */
#define DIRTYRATE_HASH_K1 UINT64_C(0x9e3779b97f4a7c15)
#define DIRTYRATE_HASH_K2 UINT64_C(0xd6e8feb86659fd93)
#define DIRTYRATE_HASH_K3 UINT64_C(0xa0761d6478bd642f)
/* Lanes: four independent multiply chains keep a core's multipliers busy. */
#define DIRTYRATE_HASH_LANES 4
#define DIRTYRATE_PAGE_WORDS (RS_PAGE_SIZE / sizeof(uint64_t))
/* 95% two-sided normal quantile, for the Wilson score interval. */
#define DIRTYRATE_Z95 1.959963984540054

static inline uint64_t rotl64(uint64_t x, unsigned int n)
{
    return (x << n) | (x >> (64 - n));
}

/*
 * One lane step.  Each operation is a bijection of the lane for a fixed
 * word, and the word enters by an odd multiply, so a change confined to
 * one lane's words can never be cancelled within the lane.
 */
static inline uint64_t dirtyrate_hash_step(uint64_t lane, uint64_t word)
{
    lane += word * DIRTYRATE_HASH_K2;
    lane = rotl64(lane, 31);
    return lane * DIRTYRATE_HASH_K1;
}

static inline uint64_t dirtyrate_hash_finish(uint64_t x)
{
    x ^= x >> 32;
    x *= DIRTYRATE_HASH_K3;
    x ^= x >> 29;
    x *= DIRTYRATE_HASH_K2;
    x ^= x >> 32;
    return x;
}

uint64_t dirtyrate_page_hash(const void *page)
{
    const uint64_t *w = page;
    uint64_t lane[DIRTYRATE_HASH_LANES] = {
        DIRTYRATE_HASH_K1, DIRTYRATE_HASH_K2, DIRTYRATE_HASH_K3,
        DIRTYRATE_HASH_K1 ^ DIRTYRATE_HASH_K2,
    };
    uint64_t h;

    for (size_t i = 0; i < DIRTYRATE_PAGE_WORDS; i += DIRTYRATE_HASH_LANES) {
        /* The guest writes while we read: each word is read once. */
        for (int l = 0; l < DIRTYRATE_HASH_LANES; l++) {
            lane[l] = dirtyrate_hash_step(lane[l],
                                          qatomic_read(&w[i + l]));
        }
    }
    /* With the other lanes fixed, the sum is a bijection of each lane. */
    h = rotl64(lane[0], 1) + rotl64(lane[1], 7) + rotl64(lane[2], 12) +
        rotl64(lane[3], 18);
    return dirtyrate_hash_finish(h);
}

uint32_t dirtyrate_sample_count(uint64_t nr_pages, uint32_t per_gib)
{
    uint64_t pages_per_gib = GiB / RS_PAGE_SIZE;
    uint64_t n = (nr_pages * per_gib + pages_per_gib / 2) / pages_per_gib;

    n = MAX(n, 1);
    n = MIN(n, nr_pages);
    return (uint32_t)n;
}

/* splitmix64: a full-period generator from any seed. */
static uint64_t dirtyrate_rand_next(uint64_t *state)
{
    uint64_t x = (*state += DIRTYRATE_HASH_K1);

    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

void dirtyrate_sample_positions(uint64_t first_page, uint64_t nr_pages,
                                uint32_t nr_samples, uint64_t seed,
                                uint64_t *pages)
{
    uint64_t state = seed;

    for (uint32_t i = 0; i < nr_samples; i++) {
        uint64_t lo = (uint64_t)(((unsigned __int128)i * nr_pages) /
                                 nr_samples);
        uint64_t hi = (uint64_t)(((unsigned __int128)(i + 1) * nr_pages) /
                                 nr_samples);
        uint64_t width = MAX(hi - lo, 1);
        uint64_t r = dirtyrate_rand_next(&state);

        /* Multiply-high: uniform in [0, width) without a division. */
        pages[i] = first_page + lo +
                   (uint64_t)(((unsigned __int128)r * width) >> 64);
    }
}

DirtyRateEstimate dirtyrate_estimate(uint32_t changed, uint32_t sampled,
                                     uint64_t nr_pages)
{
    DirtyRateEstimate e = { 0, 0, 0 };
    double n = sampled, p, z2, denom, center, half;

    if (!sampled) {
        e.high_pages = nr_pages;
        return e;
    }
    p = (double)changed / n;
    z2 = DIRTYRATE_Z95 * DIRTYRATE_Z95;
    denom = 1.0 + z2 / n;
    center = (p + z2 / (2.0 * n)) / denom;
    half = DIRTYRATE_Z95 * sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) /
           denom;
    e.dirty_pages = (uint64_t)llround(p * (double)nr_pages);
    e.low_pages = (uint64_t)floor(MAX(center - half, 0.0) * nr_pages);
    e.high_pages = (uint64_t)ceil(MIN(center + half, 1.0) * nr_pages);
    /* Rounding must never leave the point outside its own interval. */
    e.low_pages = MIN(e.low_pages, e.dirty_pages);
    e.high_pages = MAX(e.high_pages, e.dirty_pages);
    return e;
}

double dirtyrate_pages_to_mbps(uint64_t pages, int64_t window_ns)
{
    if (window_ns <= 0) {
        return 0.0;
    }
    return pages_per_s_to_mbps((double)pages * NANOSECONDS_PER_SECOND /
                               (double)window_ns);
}

int64_t dirtyrate_mbps_round(double mbps)
{
    return (int64_t)llround(mbps);
}

double dirtyrate_expected_distinct_pages(uint64_t region_pages,
                                         uint64_t stores, bool random)
{
    double n = region_pages;

    if (!region_pages) {
        return 0.0;
    }
    if (!random || region_pages == 1) {
        return (double)MIN(stores, region_pages);
    }
    /* (1 - 1/N)^k as exp(k * log1p(-1/N)): exact for large N. */
    return n * -expm1((double)stores * log1p(-1.0 / n));
}
