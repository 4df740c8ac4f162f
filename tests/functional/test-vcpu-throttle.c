/*
 * The vCPU throttle actuator on real KVM, in-process, driven by two test
 * throttles of our own: which throttles a vCPU asks, whose sleep it
 * takes, and that the per-vCPU timer ends the slices.  Both vCPUs run the
 * read workload, which never exits on its own: every step after the
 * first is a slice the actuator's timer ended.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "qemu/atomic.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/vcpu-throttle.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_CPUS 2
#define TEST_RAM_BYTES (64 * MiB)
#define TEST_REGION_BYTES (8 * MiB)
/* Slices ended by the timer before we believe it ends them. */
#define TEST_TIMER_SLICES 20
/* Sleeps heard by both throttles before we look at them. */
#define TEST_SLEEPS 10
#define TEST_SLICE_NS (1 * 1000 * 1000)
#define TEST_LONG_SLEEP_NS (4 * 1000 * 1000)
#define TEST_SHORT_SLEEP_NS (1 * 1000 * 1000)
/* After a disable, how long a step still in flight may take to show. */
#define TEST_QUIET_US (200 * 1000)

/* What a test throttle asks for and what the actuator told it. */
typedef struct TestThrottle {
    VcpuThrottleDecision want;  /* (atomic) each field */
    /* (atomic) per vCPU */
    uint64_t steps[TEST_CPUS];
    uint64_t runs[TEST_CPUS];
    uint64_t sleeps[TEST_CPUS];
    int64_t min_slept_ns[TEST_CPUS];
} TestThrottle;

static TestThrottle throttle_a, throttle_b;

static VcpuThrottleDecision test_step(TestThrottle *t, CPUState *cpu)
{
    VcpuThrottleDecision d = {
        .sleep_ns = qatomic_read(&t->want.sleep_ns),
        .run_ns = qatomic_read(&t->want.run_ns),
    };

    qatomic_fetch_add(&t->steps[cpu_index(cpu)], 1);
    return d;
}

static void test_want(TestThrottle *t, int64_t sleep_ns, int64_t run_ns)
{
    qatomic_set(&t->want.sleep_ns, sleep_ns);
    qatomic_set(&t->want.run_ns, run_ns);
}

static void test_slept(TestThrottle *t, CPUState *cpu, int64_t slept_ns)
{
    int i = cpu_index(cpu);
    int64_t min_ns = qatomic_read(&t->min_slept_ns[i]);

    if (!qatomic_read(&t->sleeps[i]) || slept_ns < min_ns) {
        qatomic_set(&t->min_slept_ns[i], slept_ns);
    }
    qatomic_fetch_add(&t->sleeps[i], 1);
}

static void test_run(TestThrottle *t, CPUState *cpu)
{
    qatomic_fetch_add(&t->runs[cpu_index(cpu)], 1);
}

static VcpuThrottleDecision a_step(CPUState *cpu)
{
    return test_step(&throttle_a, cpu);
}

static void a_slept(CPUState *cpu, int64_t slept_ns)
{
    test_slept(&throttle_a, cpu, slept_ns);
}

static void a_run(CPUState *cpu)
{
    test_run(&throttle_a, cpu);
}

static VcpuThrottleDecision b_step(CPUState *cpu)
{
    return test_step(&throttle_b, cpu);
}

static void b_slept(CPUState *cpu, int64_t slept_ns)
{
    test_slept(&throttle_b, cpu, slept_ns);
}

static const VcpuThrottleOps ops_a = {
    .step = a_step, .slept = a_slept, .run = a_run,
};
/* No run callback: the actuator must do without one. */
static const VcpuThrottleOps ops_b = {
    .step = b_step, .slept = b_slept,
};

static void vm_create_reading(void)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, TEST_CPUS);
    WorkloadConfig wl = {
        .kind = RS_WL_READ, .pattern = RS_PAT_SEQ,
        .size_bytes = TEST_REGION_BYTES,
    };

    memset(&throttle_a, 0, sizeof(throttle_a));
    memset(&throttle_b, 0, sizeof(throttle_b));
    test_vm_set_workloads(opts, &wl);
    test_vm_create(opts);
    test_vm_wait_workload(TEST_CPUS);
}

static void enable(const VcpuThrottleOps *ops, int cpu_index, bool on)
{
    vm_lock();
    vcpu_throttle_enable(ops, cpu_index, on);
    vm_unlock();
}

/* Bounded polling: true once *@counter >= @n. */
static bool wait_count(uint64_t *counter, uint64_t n)
{
    for (int i = 0; i < TEST_POLL_MAX_STEPS; i++) {
        if (qatomic_read(counter) >= n) {
            return true;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    return false;
}

static void test_only_enabled_throttles_step(void)
{
    WorkloadSample before, after;
    uint64_t steps;

    vm_create_reading();
    /* Asked for no slice, the actuator arms no timer: the vCPU comes
     * back only for an exit of its own (or the enable's kick). */
    test_want(&throttle_a, 0, 0);
    enable(&ops_a, 0, true);
    g_assert_true(wait_count(&throttle_a.steps[0], 1));
    before = test_vm_sample(0);
    steps = qatomic_read(&throttle_a.steps[0]);
    g_usleep(TEST_QUIET_US);
    after = test_vm_sample(0);
    g_assert_cmpuint(qatomic_read(&throttle_a.steps[0]) - steps, <=,
                     after.exits - before.exits + 1);

    test_want(&throttle_a, 0, TEST_SLICE_NS);
    test_want(&throttle_b, 0, TEST_SLICE_NS);
    /* The next step asks for 1 ms slices; the kick makes it come. */
    enable(&ops_a, 0, true);
    /* A guest that never exits comes back only when the timer says. */
    g_assert_true(wait_count(&throttle_a.steps[0],
                             steps + TEST_TIMER_SLICES));
    g_assert_cmpuint(qatomic_read(&throttle_a.steps[1]), ==, 0);
    g_assert_cmpuint(qatomic_read(&throttle_b.steps[0]), ==, 0);
    g_assert_cmpuint(qatomic_read(&throttle_b.steps[1]), ==, 0);
    /* Every step without a sleep opened a slice (one may be opening). */
    steps = qatomic_read(&throttle_a.steps[0]);
    g_assert_cmpuint(qatomic_read(&throttle_a.runs[0]) + 1, >=, steps);
    g_assert_cmpuint(qatomic_read(&throttle_a.sleeps[0]), ==, 0);

    /* Disabled: at most the step in flight, then never again. */
    enable(&ops_a, 0, false);
    steps = qatomic_read(&throttle_a.steps[0]);
    g_usleep(TEST_QUIET_US);
    g_assert_cmpuint(qatomic_read(&throttle_a.steps[0]), <=, steps + 1);
    test_vm_destroy();
}

static void test_longest_sleep_wins_and_all_hear_it(void)
{
    vm_create_reading();
    test_want(&throttle_a, TEST_LONG_SLEEP_NS, 0);
    test_want(&throttle_b, TEST_SHORT_SLEEP_NS, 0);
    enable(&ops_a, 1, true);
    enable(&ops_b, 1, true);
    g_assert_true(wait_count(&throttle_b.sleeps[1], TEST_SLEEPS));
    /* B first: whenever B steps, A steps too. */
    enable(&ops_b, 1, false);
    enable(&ops_a, 1, false);
    /* B asked for 1 ms each time, and slept A's 4 ms every time. */
    g_assert_cmpint(qatomic_read(&throttle_b.min_slept_ns[1]), >=,
                    TEST_LONG_SLEEP_NS);
    g_assert_cmpint(qatomic_read(&throttle_a.min_slept_ns[1]), >=,
                    TEST_LONG_SLEEP_NS);
    g_assert_cmpuint(qatomic_read(&throttle_a.sleeps[1]), >=, TEST_SLEEPS);
    /* Nothing ran: a throttle that sleeps forever never opens a slice. */
    g_assert_cmpuint(qatomic_read(&throttle_a.runs[1]), ==, 0);
    g_assert_cmpuint(qatomic_read(&throttle_a.steps[0]), ==, 0);
    test_vm_destroy();
}

static void test_teardown_stops_every_throttle(void)
{
    vm_create_reading();
    vm_lock();
    cpu_throttle_set(50);
    vm_unlock();
    enable(&ops_a, 0, true);
    test_vm_destroy();
    /* Each throttle's own cleanup: not the dirty limit's any more. */
    g_assert_false(cpu_throttle_active());
    g_assert_false(dirtylimit_in_service());

    /* The next VM starts with nothing acting on its vCPUs. */
    vm_create_reading();
    test_want(&throttle_a, 0, TEST_SLICE_NS);
    g_usleep(TEST_QUIET_US);
    g_assert_cmpuint(qatomic_read(&throttle_a.steps[0]), ==, 0);
    test_vm_destroy();
}

static const struct {
    const char *path;
    GTestFunc fn;
} tests[] = {
    { "/vcpu-throttle/kvm/only-enabled-throttles-step",
      test_only_enabled_throttles_step },
    { "/vcpu-throttle/kvm/longest-sleep-wins-and-all-hear-it",
      test_longest_sleep_wins_and_all_hear_it },
    { "/vcpu-throttle/kvm/teardown-stops-every-throttle",
      test_teardown_stops_every_throttle },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the throttle actuator runs real vCPUs");
    for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
        g_test_add_func(tests[i].path, tests[i].fn);
    }
    return g_test_run();
}
