/*
 * Dirty tracking loses nothing: the stamp workload on real KVM, harvested
 * at random moments while the guest runs and once more after pausing, for
 * ring sizes 1024, 4096, 65536 and the bitmap with and without manual
 * protection, on 1 and 2 vCPUs; then two clients at once.
 *
 * The guest writes the sweep number s (1, 2, ...) into the first 8 bytes
 * of every page of its region, page by page.  For each client we keep the
 * stamp each page had when we last saw it reported (snapshot).  At a check
 * point we read s0 = the sweep being written, sync, take the client's
 * bits, then read every page's stamp:
 *
 *   - a page whose stamp changed and is < s0 was written before the sync
 *     started: it MUST be reported;
 *   - a page whose stamp is >= s0 may have been written after the sync
 *     (legal race 1: the write lands after the harvest; it is reported at
 *     the next harvest): not checked now, and its snapshot is kept so the
 *     next check looks at it again;
 *   - a page reported whose stamp did not change is legal (race 2: a page
 *     reported twice, e.g. the last ring entry harvested by a vCPU at
 *     ring-full and again by the reaper, or written, harvested and
 *     written with the same value);
 *
 * After pausing every vCPU, the last check is strict: every changed page
 * must be reported.
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "qemu/atomic.h"
#include "sysemu/cpus.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_RAM_BYTES (16 * MiB + 2 * 64 * MiB)
#define TEST_REGION_BYTES (32 * MiB)
#define TEST_CHECKS 40
#define TEST_SEED 20261122

typedef struct Checker {
    DirtyMemoryClient client;
    unsigned int user;
    uint64_t *snapshot;         /* per page of the region, all vCPUs */
    uint64_t checked_pages;
    uint64_t missed_pages;
    uint64_t legal_late;
    uint64_t legal_twice;
} Checker;

typedef struct Config {
    const char *name;
    uint32_t ring_entries;
    bool manual_protect;
    int cpus;
    bool two_clients;
} Config;

static uint64_t region_pages(void)
{
    return TEST_REGION_BYTES / RS_PAGE_SIZE;
}

static uint64_t *page_word(int cpu, uint64_t page)
{
    return ram_host_ptr(machine_slice_base(cpu) + page * RS_PAGE_SIZE, 8);
}

static uint64_t current_sweep(int cpus)
{
    uint64_t s = UINT64_MAX;

    for (int i = 0; i < cpus; i++) {
        s = MIN(s, qatomic_load_acquire(&machine_ctl(i)->stamp));
    }
    return s;
}

static void checker_init(Checker *c, DirtyMemoryClient client,
                         unsigned int user, int cpus)
{
    g_autoptr(GError) gerr = NULL;
    Error *err = NULL;

    c->client = client;
    c->user = user;
    c->snapshot = g_new0(uint64_t, region_pages() * cpus);
    if (!memory_global_dirty_log_start(user, &err)) {
        g_error("dirty log start: %s", error_get_pretty(err));
    }
    /* Everything the guest did before the start is the baseline. */
    for (int i = 0; i < cpus; i++) {
        for (uint64_t p = 0; p < region_pages(); p++) {
            c->snapshot[i * region_pages() + p] =
                qatomic_read(page_word(i, p));
        }
    }
}

static bool bit_is_set(const uint64_t *bits, uint64_t page)
{
    return bits[page / 64] & (1ULL << (page % 64));
}

static void checker_check(Checker *c, int cpus, bool strict)
{
    uint64_t first = RS_WORK_BASE / RS_PAGE_SIZE;
    uint64_t span = ram_pages() - first;
    g_autofree uint64_t *bits = g_new0(uint64_t, DIV_ROUND_UP(span, 64));
    uint64_t s0 = current_sweep(cpus);

    memory_global_dirty_log_sync();
    physmem_dirty_take(c->client, first, DIV_ROUND_UP(span, 64), bits);
    for (int i = 0; i < cpus; i++) {
        uint64_t base = (machine_slice_base(i) - RS_WORK_BASE) / RS_PAGE_SIZE;

        for (uint64_t p = 0; p < region_pages(); p++) {
            uint64_t *snap = &c->snapshot[i * region_pages() + p];
            uint64_t now = qatomic_read(page_word(i, p));
            bool reported = bit_is_set(bits, base + p);

            c->checked_pages++;
            if (reported) {
                if (now == *snap) {
                    c->legal_twice++;
                }
                *snap = now;
            } else if (now != *snap) {
                if (!strict && now >= s0) {
                    c->legal_late++;
                } else {
                    if (c->missed_pages < 5) {
                        g_test_message("client %d: cpu %d page %" PRIu64
                                       " changed %" PRIu64 " -> %" PRIu64
                                       " (sweep %" PRIu64 ") unreported",
                                       c->client, i, p, *snap, now, s0);
                    }
                    c->missed_pages++;
                    *snap = now;
                }
            }
        }
    }
}

static void vm_create(const Config *cfg)
{
    const WorkloadConfig stamp = {
        .kind = RS_WL_STAMP, .pattern = RS_PAT_SEQ,
        .size_bytes = TEST_REGION_BYTES,
    };
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, cfg->cpus);

    opts->accel.dirty_ring_entries = cfg->ring_entries;
    opts->accel.manual_protect = cfg->manual_protect;
    test_vm_set_workloads(opts, &stamp);
    test_vm_create(opts);
}

static void wait_for_sweeps(int cpus, uint64_t sweeps)
{
    /* Bounded polling: the guest sweeps 32 MiB in well under a second. */
    for (int i = 0; i < TEST_POLL_MAX_STEPS && current_sweep(cpus) < sweeps;
         i++) {
        g_usleep(TEST_POLL_STEP_US);
    }
    g_assert_cmpuint(current_sweep(cpus), >=, sweeps);
}

static void test_lossless(gconstpointer data)
{
    const Config *cfg = data;
    Checker a = { 0 }, b = { 0 };
    GRand *rng = g_rand_new_with_seed(TEST_SEED);
    DirtyTrackingStats st;

    vm_create(cfg);
    wait_for_sweeps(cfg->cpus, 2);
    checker_init(&a, DIRTY_MEMORY_CHECK, GLOBAL_DIRTY_CHECK, cfg->cpus);
    if (cfg->two_clients) {
        checker_init(&b, DIRTY_MEMORY_MIGRATION, GLOBAL_DIRTY_MIGRATION,
                     cfg->cpus);
    }
    for (int n = 0; n < TEST_CHECKS; n++) {
        g_usleep(g_rand_int_range(rng, 1000, 20000));
        /* With two clients, each syncs at its own random moments. */
        if (!cfg->two_clients || g_rand_boolean(rng)) {
            checker_check(&a, cfg->cpus, false);
        } else {
            checker_check(&b, cfg->cpus, false);
        }
    }
    test_vm_pause();
    checker_check(&a, cfg->cpus, true);
    if (cfg->two_clients) {
        checker_check(&b, cfg->cpus, true);
    }
    memory_dirty_tracking_stats(&st);
    g_test_message("%s: sweeps %" PRIu64 ", pages checked %" PRIu64
                   ", missed %" PRIu64 ", written after the harvest %"
                   PRIu64 ", reported twice %" PRIu64 "; ring entries %"
                   PRIu64 ", ring-full exits %" PRIu64 ", reset mismatches %"
                   PRIu64, cfg->name, current_sweep(cfg->cpus),
                   a.checked_pages + b.checked_pages,
                   a.missed_pages + b.missed_pages,
                   a.legal_late + b.legal_late,
                   a.legal_twice + b.legal_twice, st.ring_harvested,
                   st.ring_full_exits, st.ring_reset_mismatches);
    g_assert_cmpuint(a.missed_pages, ==, 0);
    g_assert_cmpuint(b.missed_pages, ==, 0);
    g_assert_cmpuint(st.ring_reset_mismatches, ==, 0);
    /* The guest really wrote during the checks: it is no empty proof. */
    g_assert_cmpuint(current_sweep(cfg->cpus), >=, 4);
    memory_global_dirty_log_stop(GLOBAL_DIRTY_MASK);
    g_free(a.snapshot);
    g_free(b.snapshot);
    g_rand_free(rng);
    test_vm_destroy();
}

static const Config configs[] = {
    { "ring-1024", 1024, false, 1, false },
    { "ring-4096", 4096, false, 1, false },
    { "ring-65536", 65536, false, 1, false },
    { "ring-4096-2cpus", 4096, false, 2, false },
    { "bitmap-manual-protect", 0, true, 1, false },
    { "bitmap-get-only", 0, false, 1, false },
    { "bitmap-manual-protect-2cpus", 0, true, 2, false },
    { "ring-4096-two-clients", 4096, false, 2, true },
    { "bitmap-two-clients", 0, true, 2, true },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("dirty tracking needs real KVM");
    for (size_t i = 0; i < G_N_ELEMENTS(configs); i++) {
        g_autofree char *path = g_strdup_printf("/dirty-tracking/lossless/%s",
                                                configs[i].name);
        g_test_add_data_func(path, &configs[i], test_lossless);
    }
    return g_test_run();
}
