/*
 * The dirty ring's ring-full handling on real KVM: a vCPU whose ring keeps
 * moving is never declared stuck, whatever it writes.
 *
 * A vCPU that rewrites one page puts that page in its ring again after
 * every reset: each harvest takes one entry, always the same page, so the
 * count of distinct pages dirtied (CPUState.dirty_pages) stands still
 * while the ring is emptied every time.  The ring-full handler must judge
 * "stuck" by the entries it harvests, not by that count.
 *
 * A one-page writer never fills a 1024-entry ring, so the test stands in
 * for the vCPU's ring-full exits: it pauses the VM (the vCPU thread is
 * parked, so its ring-full state is ours to use), calls the handler,
 * and resumes, more times than the handler allows empty exits.
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "qemu/atomic.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_RAM_BYTES (16 * MiB + 64 * MiB)
#define TEST_RING_ENTRIES 1024
/* More ring-full exits than the handler's limit of empty ones. */
#define TEST_FULL_EXITS (KVM_DIRTY_RING_STUCK_EXITS + 36)

static uint64_t ring_harvested(void)
{
    DirtyTrackingStats stats;

    memory_dirty_tracking_stats(&stats);
    return stats.ring_harvested;
}

/* Until the ring has moved since @harvested: an entry is waiting in it,
 * or the reaper took one. */
static void wait_for_ring_entry(CPUState *cpu, uint64_t harvested)
{
    for (int step = 0; step < TEST_POLL_MAX_STEPS; step++) {
        if (kvm_dirty_ring_peek_pending(cpu) || ring_harvested() > harvested) {
            return;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    g_error("the guest wrote nothing the dirty ring reported");
}

static void test_one_page_writer_is_not_stuck(void)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, 1);
    WorkloadConfig one_page = {
        .kind = RS_WL_WRITE, .pattern = RS_PAT_SEQ,
        .size_bytes = RS_PAGE_SIZE,
    };
    CPUState *cpu;
    Error *err = NULL;

    opts->accel.dirty_ring_entries = TEST_RING_ENTRIES;
    test_vm_set_workloads(opts, &one_page);
    test_vm_create(opts);
    test_vm_wait_workload(1);
    cpu = cpus_get(0);
    vm_lock();
    g_assert_true(memory_global_dirty_log_start(GLOBAL_DIRTY_OBSERVE, &err));
    vm_unlock();

    for (int i = 0; i < TEST_FULL_EXITS; i++) {
        uint64_t harvested = ring_harvested();
        bool running;

        wait_for_ring_entry(cpu, harvested);
        test_vm_pause();
        running = kvm_handle_dirty_ring_full(cpu);
        if (!running) {
            g_test_message("declared stuck at ring-full exit %d", i + 1);
        }
        g_assert_true(running);
        g_assert_cmpint(cpu->halt_request, ==, CPU_HALT_NONE);
        vm_lock();
        g_assert_true(vm_start(NULL));
        vm_unlock();
    }
    g_test_message("%d ring-full exits, %" PRIu64 " entries harvested, "
                   "%" PRIu64 " distinct pages counted", TEST_FULL_EXITS,
                   ring_harvested(),
                   qatomic_read(&cpu->dirty_pages));
    vm_lock();
    memory_global_dirty_log_stop(GLOBAL_DIRTY_OBSERVE);
    vm_unlock();
    test_vm_destroy();
}

static void test_a_ring_that_never_moves_is_stuck(void)
{
    /*
     * The other side: ring-full exits with nothing ever harvested (what
     * a kernel that overflowed the ring does) still stop the vCPU, after
     * KVM_DIRTY_RING_STUCK_EXITS in a row, instead of spinning.
     */
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, 1);
    CPUState *cpu;
    int exits = 0;

    opts->accel.dirty_ring_entries = TEST_RING_ENTRIES;
    test_vm_create(opts);
    cpu = cpus_get(0);
    test_vm_pause();
    while (exits < TEST_FULL_EXITS && kvm_handle_dirty_ring_full(cpu)) {
        exits++;
    }
    g_test_message("stuck after %d empty ring-full exits", exits + 1);
    g_assert_cmpint(exits + 1, ==, KVM_DIRTY_RING_STUCK_EXITS);
    g_assert_cmpint(cpu->halt_request, ==, CPU_HALT_INTERNAL_ERROR);
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the dirty ring needs real KVM");
    g_test_add_func("/dirty-ring/kvm/one-page-writer-is-not-stuck",
                    test_one_page_writer_is_not_stuck);
    g_test_add_func("/dirty-ring/kvm/a-ring-that-never-moves-is-stuck",
                    test_a_ring_that_never_moves_is_stuck);
    return g_test_run();
}
