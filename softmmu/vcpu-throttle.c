/*
 * The vCPU throttle actuator: the per-vCPU slice timer and the sleeps,
 * for every throttle.
 *
 * Each throttle (softmmu/dirtylimit.c, softmmu/cpu-throttle.c) hands us
 * an ops table and enables it per vCPU; the table takes a bit in the
 * vCPU's active word the first time it is enabled anywhere.  Before each
 * KVM_RUN the vCPU thread reads that word (one relaxed load: a vCPU
 * nobody throttles pays nothing more), and when it is not zero asks each
 * enabled table to step, sleeps the longest sleep asked for outside
 * KVM_RUN with no lock held (cpu_sleep_ns: stop and quit interrupt it),
 * tells every table how long it slept, and steps again until nobody asks
 * for a sleep.  Then it arms its own one-shot timer for the shortest
 * slice asked for: the timer sends SIG_IPI to this thread, KVM_RUN
 * returns EINTR and the loop comes back here.
 *
 * No lock of ours is held while a table's callback runs.
 * See docs/devel/dirty-limit.md.
 */
#include "qemu/osdep.h"

#include <signal.h>
#include <time.h>

#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/cpus.h"
#include "sysemu/vcpu-throttle.h"
#include "trace.h"

/* The one-shot timer ending a vCPU's slices.  Its own thread only. */
typedef struct VcpuThrottleTimer {
    timer_t timer;
    bool created;
    bool failed;
} VcpuThrottleTimer;

typedef struct VcpuThrottleState {
    QemuMutex lock;                             /* registration */
    /* Bit n of active[] is ops[n].  Written once, under lock, release. */
    const VcpuThrottleOps *ops[VCPU_THROTTLE_MAX];
    unsigned int active[RS_MAX_CPUS];           /* (atomic) */
    VcpuThrottleTimer timer[RS_MAX_CPUS];
} VcpuThrottleState;

static VcpuThrottleState vt;

/* The bit @ops owns in active[]; the first call gives it one. */
static unsigned int vcpu_throttle_bit(const VcpuThrottleOps *ops)
{
    unsigned int n;

    qemu_mutex_lock(&vt.lock);
    for (n = 0; n < VCPU_THROTTLE_MAX; n++) {
        const VcpuThrottleOps *o = qatomic_read(&vt.ops[n]);

        if (o == ops) {
            break;
        }
        if (!o) {
            /* Seen by any vCPU thread that later sees the bit. */
            qatomic_store_release(&vt.ops[n], ops);
            break;
        }
    }
    qemu_mutex_unlock(&vt.lock);
    assert(n < VCPU_THROTTLE_MAX);
    return 1u << n;
}

void vcpu_throttle_enable(const VcpuThrottleOps *ops, int cpu_index,
                          bool on)
{
    unsigned int bit = vcpu_throttle_bit(ops);
    CPUState *cpu;

    assert(cpu_index >= 0 && cpu_index < RS_MAX_CPUS);
    if (!on) {
        qatomic_fetch_and(&vt.active[cpu_index], ~bit);
        return;
    }
    qatomic_fetch_or(&vt.active[cpu_index], bit);
    /* Out of a long KVM_RUN, so the new throttle acts at once. */
    cpu = cpus_get(cpu_index);
    if (cpu) {
        cpu_kick(cpu);
    }
}

/* Arm (or, @run_ns 0, disarm) the one-shot timer ending this slice. */
static void vcpu_throttle_timer_arm(CPUState *cpu, VcpuThrottleTimer *t,
                                    int64_t run_ns)
{
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };

    if (!t->created) {
        struct sigevent sev;

        if (!run_ns || t->failed) {
            return;
        }
        memset(&sev, 0, sizeof(sev));
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = SIG_IPI;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) < 0) {
            /* Without it slices end at exits only: coarser, still right
             * on average. */
            error_report("cpu %d: throttle slice timer: %s",
                         cpu_index(cpu), g_strerror(errno));
            t->failed = true;
            return;
        }
        t->created = true;
    }
    its.it_value.tv_sec = run_ns / NANOSECONDS_PER_SECOND;
    its.it_value.tv_nsec = run_ns % NANOSECONDS_PER_SECOND;
    timer_settime(t->timer, 0, &its, NULL);
}

/* The sooner-ending and longer-sleeping of two decisions. */
static VcpuThrottleDecision vcpu_throttle_merge(VcpuThrottleDecision a,
                                                VcpuThrottleDecision b)
{
    VcpuThrottleDecision d;

    d.sleep_ns = MAX(a.sleep_ns, b.sleep_ns);
    if (!a.run_ns || !b.run_ns) {
        d.run_ns = a.run_ns ? a.run_ns : b.run_ns;
    } else {
        d.run_ns = MIN(a.run_ns, b.run_ns);
    }
    return d;
}

/* The ops behind bit @n; the bit was read with acquire. */
static const VcpuThrottleOps *vcpu_throttle_ops(unsigned int n)
{
    return qatomic_load_acquire(&vt.ops[n]);
}

static VcpuThrottleDecision vcpu_throttle_step(CPUState *cpu,
                                               unsigned int by)
{
    VcpuThrottleDecision d = { 0, 0 };

    for (unsigned int n = 0; n < VCPU_THROTTLE_MAX; n++) {
        if (by & (1u << n)) {
            d = vcpu_throttle_merge(d, vcpu_throttle_ops(n)->step(cpu));
        }
    }
    return d;
}

static void vcpu_throttle_slept(CPUState *cpu, unsigned int by,
                                int64_t slept_ns)
{
    for (unsigned int n = 0; n < VCPU_THROTTLE_MAX; n++) {
        if (by & (1u << n)) {
            vcpu_throttle_ops(n)->slept(cpu, slept_ns);
        }
    }
}

static void vcpu_throttle_run(CPUState *cpu, unsigned int by)
{
    for (unsigned int n = 0; n < VCPU_THROTTLE_MAX; n++) {
        const VcpuThrottleOps *ops;

        if (!(by & (1u << n))) {
            continue;
        }
        ops = vcpu_throttle_ops(n);
        if (ops->run) {
            ops->run(cpu);
        }
    }
}

/* The slow path: some throttle acts on this vCPU. */
static void vcpu_throttle_throttled(CPUState *cpu)
{
    int i = cpu_index(cpu);
    VcpuThrottleDecision d;
    unsigned int by;

    for (;;) {
        int64_t slept_ns;

        /* A cancel or a new throttle, before the first step or a sleep. */
        by = qatomic_load_acquire(&vt.active[i]);
        if (!by) {
            return;
        }
        if (cpu_stop_pending(cpu)) {
            return;     /* KVM_RUN returns at once; we park */
        }
        d = vcpu_throttle_step(cpu, by);
        if (!d.sleep_ns) {
            break;
        }
        trace_throttle_vcpu_sleep(i, d.sleep_ns);
        slept_ns = cpu_sleep_ns(cpu, MIN(d.sleep_ns,
                                         VCPU_THROTTLE_SLEEP_MAX_NS));
        vcpu_throttle_slept(cpu, by, slept_ns);
    }
    vcpu_throttle_run(cpu, by);
    vcpu_throttle_timer_arm(cpu, &vt.timer[i], d.run_ns);
}

void throttle_vcpu_before_run(CPUState *cpu)
{
    if (G_LIKELY(!qatomic_read(&vt.active[cpu_index(cpu)]))) {
        return;
    }
    vcpu_throttle_throttled(cpu);
}

void vcpu_throttle_cleanup(void)
{
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        VcpuThrottleTimer *t = &vt.timer[i];

        /* The vCPU threads have ended: nobody else touches the timer. */
        if (t->created) {
            timer_delete(t->timer);
        }
        memset(t, 0, sizeof(*t));
        qatomic_set_seq(&vt.active[i], 0);
    }
}
