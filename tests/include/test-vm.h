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

/* Options with @ram_bytes, @cpus and every vCPU idle; fill in the rest. */
VLOptions *test_vm_options(uint64_t ram_bytes, int cpus);
/* The same vCPU workload on each vCPU. */
void test_vm_set_workloads(VLOptions *opts, const WorkloadConfig *wl);

/* kvm_init, machine_init, vm_start: the guest runs when this returns. */
void test_vm_create(const VLOptions *opts);
/* The same in two steps, to prepare guest RAM before the vCPUs run. */
void test_vm_create_paused(const VLOptions *opts);
void test_vm_start(void);
/* Stop and free everything, in the order of softmmu/vl.c. */
void test_vm_destroy(void);
void test_vm_pause(void);

WorkloadSample test_vm_sample(int cpu_index);
/* Wait until every vCPU runs the workload generation last written. */
void test_vm_wait_workload(int cpus);

#endif /* TESTS_TEST_VM_H */
