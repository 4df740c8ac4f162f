/*
 * A real VM inside a test or benchmark process.
 */
#include "qemu/osdep.h"

#include <fcntl.h>

#include "hw/core/cpu.h"
#include "hw/machine.h"
#include "hw/replay.h"
#include "migration/dirtyrate.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/vcpu-throttle.h"
#include "sysemu/vl-connect.h"
#include "sysemu/vl-machine.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

void test_vm_require_kvm(const char *why)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        printf("SKIP: /dev/kvm is missing or not usable (%s): %s\n",
               g_strerror(errno), why);
        exit(77);
    }
    close(fd);
}

bool test_vm_timing_distorted(void)
{
#if defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

VLOptions *test_vm_options(uint64_t ram_bytes, int cpus)
{
    VLOptions *opts = vl_options_new();

    opts->ram_bytes = ram_bytes;
    opts->smp_cpus = cpus;
    return opts;
}

void test_vm_set_workloads(VLOptions *opts, const WorkloadConfig *wl)
{
    for (int i = 0; i < opts->smp_cpus; i++) {
        opts->workload_given[i] = true;
        opts->workloads[i] = *wl;
    }
}

void test_vm_set_replay(VLOptions *opts, int cpu_index,
                        const char *trace_path)
{
    opts->workload_given[cpu_index] = true;
    opts->workloads[cpu_index] = (WorkloadConfig) {
        .kind = RS_WL_REPLAY, .replay_pid = -1, .replay_loop = true,
        .trace_path = trace_path,
    };
}

uint64_t test_vm_replay_truth(int cpu_index, uint64_t from, uint64_t to)
{
    Error *err = NULL;
    uint64_t pages;

    if (!replay_distinct_pages_between(cpu_index, from, to, &pages, &err)) {
        g_error("replay truth of vCPU %d: %s", cpu_index,
                error_get_pretty(err));
    }
    return pages;
}

void test_vm_create_paused(const VLOptions *opts)
{
    Error *err = NULL;

    vl_connect();
    if (!kvm_init(&opts->accel, &err) || !machine_init(opts, &err)) {
        g_error("cannot create the VM: %s", error_get_pretty(err));
    }
}

void test_vm_start(void)
{
    Error *err = NULL;

    vm_lock();
    /* A process may create several VMs in turn: each starts afresh. */
    runstate_set(RUN_STATE_PRELAUNCH);
    if (!vm_start(&err)) {
        g_error("cannot start the VM: %s", error_get_pretty(err));
    }
    vm_unlock();
}

void test_vm_create(const VLOptions *opts)
{
    test_vm_create_paused(opts);
    test_vm_start();
}

void test_vm_create_writer_reader(uint64_t ram_bytes, uint64_t region_bytes,
                                  uint32_t ring_entries)
{
    g_autoptr(VLOptions) opts = test_vm_options(ram_bytes, 2);

    opts->accel.dirty_ring_entries = ring_entries;
    opts->workload_given[0] = opts->workload_given[1] = true;
    opts->workloads[0] = (WorkloadConfig) {
        .kind = RS_WL_WRITE, .pattern = RS_PAT_SEQ,
        .size_bytes = region_bytes,
    };
    opts->workloads[1] = (WorkloadConfig) {
        .kind = RS_WL_READ, .pattern = RS_PAT_SEQ,
        .size_bytes = region_bytes,
    };
    test_vm_create(opts);
}

void test_vm_pause(void)
{
    vm_lock();
    vm_stop(RUN_STATE_PAUSED);
    vm_unlock();
}

void test_vm_destroy(void)
{
    vm_lock();
    vm_stop(RUN_STATE_SHUTDOWN);
    vm_unlock();
    dirtyrate_cleanup();
    dirtyrate_stat_cleanup();
    memory_cleanup();
    machine_cleanup();
    cpu_throttle_cleanup();
    dirtylimit_cleanup();
    vcpu_throttle_cleanup();
    kvm_cleanup();
}

WorkloadSample test_vm_sample(int cpu_index)
{
    WorkloadSample s;
    Error *err = NULL;

    if (!workload_sample(cpu_index, &s, &err)) {
        g_error("%s", error_get_pretty(err));
    }
    return s;
}

void test_vm_wait_workload(int cpus)
{
    for (int step = 0; step < TEST_POLL_MAX_STEPS; step++) {
        bool all = true;

        for (int i = 0; i < cpus; i++) {
            WorkloadSample s = test_vm_sample(i);

            all = all && s.seen_generation == s.generation;
        }
        if (all) {
            return;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    g_error("the guest never picked up its workload");
}

void test_vm_wait_first_sweep(int cpu_index)
{
    for (int step = 0; step < TEST_POLL_MAX_STEPS; step++) {
        if (test_vm_sample(cpu_index).sweeps >= 1) {
            return;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    g_error("vCPU %d never swept its region", cpu_index);
}

bool test_vm_schedstat(int cpu_index, uint64_t *on_cpu_ns, uint64_t *wait_ns)
{
    g_autofree char *path = g_strdup_printf(
        "/proc/self/task/%d/schedstat", cpu_thread_id(cpus_get(cpu_index)));
    g_autofree char *text = NULL;

    return g_file_get_contents(path, &text, NULL, NULL) &&
           sscanf(text, "%" SCNu64 " %" SCNu64, on_cpu_ns, wait_ns) == 2;
}

bool test_vm_runqueue_wait_ns(int cpu_index, uint64_t *wait_ns)
{
    uint64_t on_cpu_ns;

    return test_vm_schedstat(cpu_index, &on_cpu_ns, wait_ns);
}

void test_vm_truth_hook(void *opaque, bool window_end)
{
    TestVMTruth *t = opaque;

    for (int i = 0; i < t->cpus; i++) {
        t->at[window_end][i] = test_vm_sample(i);
    }
}

double test_vm_truth_pages(const TestVMTruth *t, int cpu_index)
{
    const WorkloadSample *a = &t->at[0][cpu_index];
    const WorkloadSample *b = &t->at[1][cpu_index];

    return dirtyrate_expected_distinct_pages(
        a->region_size / RS_PAGE_SIZE, b->pages_written - a->pages_written,
        a->pattern == RS_PAT_RANDOM);
}
