/*
 * A real VM inside a test or benchmark process: what softmmu/vl.c does,
 * without the command line and the monitors.  One VM at a time.
 */
#ifndef TESTS_TEST_VM_H
#define TESTS_TEST_VM_H

#include "hw/workload.h"
#include "sysemu/vl-options.h"

/* Bounded polling for tests: 5 ms steps, 30 s at most on a busy host. */
#define TEST_POLL_STEP_US 5000
#define TEST_POLL_MAX_STEPS 6000

/* Exit 77 (the harness's skip) with @why when /dev/kvm is unusable. */
void test_vm_require_kvm(const char *why);

/*
 * True when this process runs under a sanitizer that slows host threads
 * several times (ThreadSanitizer): a test of a timing-dependent figure
 * then calls g_test_skip() with the reason instead of asserting it.
 */
bool test_vm_timing_distorted(void);

/* Options with @ram_bytes, @cpus and every vCPU idle; fill in the rest. */
VLOptions *test_vm_options(uint64_t ram_bytes, int cpus);
/* The same vCPU workload on each vCPU. */
void test_vm_set_workloads(VLOptions *opts, const WorkloadConfig *wl);
/*
 * vCPU @cpu_index replays the trace at @trace_path in a loop (the path is
 * borrowed: keep it until the VM is destroyed).
 */
void test_vm_set_replay(VLOptions *opts, int cpu_index,
                        const char *trace_path);
/*
 * The exact distinct pages vCPU @cpu_index's replay dirtied between its
 * store visits @from and @to (hw/replay.h); aborts the test on error.
 */
uint64_t test_vm_replay_truth(int cpu_index, uint64_t from, uint64_t to);

/* kvm_init, machine_init, vm_start: the guest runs when this returns. */
void test_vm_create(const VLOptions *opts);
/*
 * Two vCPUs, vCPU 0 writing and vCPU 1 reading @region_bytes in order,
 * with a dirty ring of @ring_entries per vCPU (0: the bitmap): the dirty
 * limit's test and benchmark VM.  The guest runs when this returns.
 */
void test_vm_create_writer_reader(uint64_t ram_bytes, uint64_t region_bytes,
                                  uint32_t ring_entries);
/* The same in two steps, to prepare guest RAM before the vCPUs run. */
void test_vm_create_paused(const VLOptions *opts);
void test_vm_start(void);
/* Stop and free everything, in the order of softmmu/vl.c. */
void test_vm_destroy(void);
void test_vm_pause(void);

WorkloadSample test_vm_sample(int cpu_index);
/* Wait until every vCPU runs the workload generation last written. */
void test_vm_wait_workload(int cpus);
/*
 * Wait until vCPU @cpu_index has swept its region once: every page of it
 * is backed by host memory, so a measurement that follows sees the
 * guest's speed, not the host's first-touch faults.
 */
void test_vm_wait_first_sweep(int cpu_index);
/*
 * Nanoseconds vCPU @cpu_index's thread has run on a host CPU and waited
 * on a host run queue (/proc/self/task/TID/schedstat, first two fields);
 * false when the kernel keeps no per-thread scheduler statistics.
 */
bool test_vm_schedstat(int cpu_index, uint64_t *on_cpu_ns, uint64_t *wait_ns);
/* Only the wait of test_vm_schedstat(). */
bool test_vm_runqueue_wait_ns(int cpu_index, uint64_t *wait_ns);

/*
 * The guest's counters at the two edges of a measurement window, taken by
 * test_vm_truth_hook() (a dirtyrate window hook), and the distinct pages
 * each vCPU dirtied in between (exact for seq, expected for random).
 */
typedef struct TestVMTruth {
    int cpus;
    WorkloadSample at[2][RS_MAX_CPUS];
} TestVMTruth;

void test_vm_truth_hook(void *opaque, bool window_end);
double test_vm_truth_pages(const TestVMTruth *t, int cpu_index);

#endif /* TESTS_TEST_VM_H */
