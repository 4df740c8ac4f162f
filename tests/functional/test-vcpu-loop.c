/*
 * The vCPU loop of softmmu/cpus.c and what it was handed (issue 12,
 * seams 1, 2 and 6), on real KVM:
 *   - each before-run hook runs exactly once before each run of the
 *     accelerator, however often it was registered;
 *   - a guest crash (the panic doorbell, a triple fault) reaches the halt
 *     notifier once, with its reason, from the exit handler's request,
 *     and the halted vCPU stays parked.
 * The test wires the loop itself (vl_connect(), then its own hook and
 * notifier) instead of tests/test-vm.c's test_vm_create().
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "hw/workload.h"
#include "qemu/atomic.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/kvm.h"
#include "sysemu/vl-connect.h"
#include "sysemu/vl-machine.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_RAM_BYTES (16 * MiB + 32 * MiB)
#define TEST_CPUS 2
/* A paced writer sleeps through the doorbell: many MMIO exits. */
#define TEST_RATE_MBPS 20
#define TEST_RUN_US (300 * 1000)
/* After a halt: long enough for a second notification to show up. */
#define TEST_QUIET_US (100 * 1000)

typedef struct HaltSeen {
    int calls;                  /* (atomic, release) */
    int cpu_index;
    CPUHaltReason reason;
    char why[64];
} HaltSeen;

static uint64_t hook_calls[TEST_CPUS];   /* (atomic) */
static HaltSeen halt_seen;

static void test_count_hook(CPUState *cpu)
{
    qatomic_fetch_add_relaxed(&hook_calls[cpu_index(cpu)], 1);
}

static void test_halt_notifier(int cpu_index, CPUHaltReason reason,
                               const char *why)
{
    halt_seen.cpu_index = cpu_index;
    halt_seen.reason = reason;
    g_strlcpy(halt_seen.why, why, sizeof(halt_seen.why));
    qatomic_fetch_add_release(&halt_seen.calls, 1);
}

/* What tests/test-vm.c does, with this test's hook and notifier. */
static void vm_create_wired(const VLOptions *opts)
{
    Error *err = NULL;

    memset(hook_calls, 0, sizeof(hook_calls));
    memset(&halt_seen, 0, sizeof(halt_seen));
    vl_connect();
    cpus_add_before_run_hook(test_count_hook);
    cpus_add_before_run_hook(test_count_hook);     /* counts once */
    cpus_set_halt_notifier(test_halt_notifier);
    if (!kvm_init(&opts->accel, &err) || !machine_init(opts, &err)) {
        g_error("cannot create the VM: %s", error_get_pretty(err));
    }
    test_vm_start();
}

static void test_hooks_run_once_before_each_run(void)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, TEST_CPUS);
    WorkloadConfig paced = {
        .kind = RS_WL_WRITE, .pattern = RS_PAT_SEQ,
        .size_bytes = 4 * MiB, .rate_mbps = TEST_RATE_MBPS,
    };

    test_vm_set_workloads(opts, &paced);
    vm_create_wired(opts);
    test_vm_wait_workload(TEST_CPUS);
    g_usleep(TEST_RUN_US);
    test_vm_pause();
    /*
     * Parked: every pass of the loop has ended.  Each pass calls the
     * hooks once, then run_once, which ends in a handled exit
     * (exit_count) or a kick (kick_ack_count).
     */
    for (int i = 0; i < TEST_CPUS; i++) {
        CPUState *cpu = cpus_get(i);
        uint64_t hooks = qatomic_read(&hook_calls[i]);
        uint64_t runs = qatomic_read(&cpu->exit_count) +
                        qatomic_read(&cpu->kick_ack_count);

        g_test_message("cpu %d: %" PRIu64 " hook calls, %" PRIu64
                       " runs (%" PRIu64 " MMIO exits)", i, hooks, runs,
                       qatomic_read(&cpu->mmio_exit_count));
        g_assert_cmpuint(qatomic_read(&cpu->mmio_exit_count), >, 0);
        g_assert_cmpuint(hooks, ==, runs);
    }
    test_vm_destroy();
}

typedef struct CrashCase {
    const char *guest_env;      /* the variable naming the guest ELF */
    const char *why;
} CrashCase;

static const CrashCase crash_cases[] = {
    { "TEST_GUEST_PANIC", "guest panic, code 42" },
    { "TEST_GUEST_UD2", "triple fault" },
};

static void test_a_crash_reaches_the_halt_notifier(gconstpointer data)
{
    const CrashCase *c = data;
    const char *path = g_getenv(c->guest_env);
    g_autoptr(VLOptions) opts = NULL;
    CPUState *cpu;
    bool parked = false;

    if (!path) {
        g_test_skip("the test guests are not built ($TEST_GUEST_*)");
        return;
    }
    opts = test_vm_options(TEST_RAM_BYTES, 1);
    opts->kernel_path = g_strdup(path);
    vm_create_wired(opts);
    cpu = cpus_get(0);
    for (int step = 0; step < TEST_POLL_MAX_STEPS && !parked; step++) {
        if (qatomic_load_acquire(&halt_seen.calls)) {
            vm_lock();
            parked = cpu->stopped;
            vm_unlock();
        }
        if (!parked) {
            g_usleep(TEST_POLL_STEP_US);
        }
    }
    g_assert_true(parked);
    g_usleep(TEST_QUIET_US);
    g_assert_cmpint(qatomic_load_acquire(&halt_seen.calls), ==, 1);
    g_assert_cmpint(halt_seen.cpu_index, ==, 0);
    g_assert_cmpint(halt_seen.reason, ==, CPU_HALT_GUEST_CRASH);
    g_assert_cmpstr(halt_seen.why, ==, c->why);
    g_assert_true(cpu_halt_pending(cpu));
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the vCPU loop runs real vCPUs");
    g_test_add_func("/vcpu-loop/kvm/hooks-run-once-before-each-run",
                    test_hooks_run_once_before_each_run);
    g_test_add_data_func("/vcpu-loop/kvm/a-doorbell-panic-reaches-the-"
                         "halt-notifier", &crash_cases[0],
                         test_a_crash_reaches_the_halt_notifier);
    g_test_add_data_func("/vcpu-loop/kvm/a-triple-fault-reaches-the-"
                         "halt-notifier", &crash_cases[1],
                         test_a_crash_reaches_the_halt_notifier);
    return g_test_run();
}
