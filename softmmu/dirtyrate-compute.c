/*
 * The per-vCPU dirty-rate calculator's pure core: the rate of each vCPU
 * between two readings of its monotonic counter.  Linked alone by its
 * unit test (tests/unit/test-dirtyrate-compute.c); the thread, the source
 * and the lock-free publication are softmmu/dirtyrate-stat.c.
 */
#include "qemu/osdep.h"

#include "sysemu/dirtyrate-compute.h"

bool dirtyrate_stat_compute(const DirtyRateStatSnapshot *prev,
                            const DirtyRateStatSnapshot *cur,
                            VcpuDirtyStat *out)
{
    uint64_t period_ns;

    if (prev->generation != cur->generation ||
        prev->nr_cpus != cur->nr_cpus || cur->now_ns <= prev->now_ns) {
        return false;
    }
    period_ns = (uint64_t)(cur->now_ns - prev->now_ns);
    for (int i = 0; i < cur->nr_cpus; i++) {
        uint64_t pages = cur->dirty_pages[i] - prev->dirty_pages[i];

        out[i].dirty_pages = cur->dirty_pages[i];
        out[i].rate_pages_per_s = (uint64_t)(
            ((unsigned __int128)pages * NANOSECONDS_PER_SECOND +
             period_ns / 2) / period_ns);
        out[i].measured_ns = cur->now_ns;
        out[i].period_ns = period_ns;
    }
    return true;
}
