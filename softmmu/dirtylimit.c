/*
 * Per-vCPU dirty page rate limits: the commands, the state of each
 * vCPU, and the actuator shared with cpu-throttle.
 *
 * The actuator runs on the vCPU thread before each KVM_RUN
 * (throttle_vcpu_before_run): a vCPU nobody throttles pays one relaxed
 * load.  A throttled vCPU asks its controllers (pure, in
 * softmmu/dirtylimit-controller.c) what to do, sleeps outside KVM_RUN
 * with no lock held (cpu_sleep_ns: stop and quit interrupt it), and arms
 * its own one-shot timer, which ends the next slice by sending SIG_IPI
 * to its own thread: KVM_RUN returns EINTR and the loop comes back here.
 * Under the duty-cycle policy the vCPU harvests its own dirty ring first,
 * so its controller counts every page up to that instant.
 *
 * Locks: VM lock (commands) -> dirtylimit state lock -> slots lock.  The
 * state lock is never held across a sleep or a harvest.
 * See docs/devel/dirty-limit.md.
 */
#include "qemu/osdep.h"

#include <signal.h>
#include <time.h>

#include "hw/guest-abi.h"
#include "qapi/qapi-commands.h"
#include "qemu/atomic.h"
#include "qemu/dirty-window.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "trace.h"

typedef struct DirtyLimitVcpu {
    /* (state lock) */
    uint64_t quota_mbps;            /* 0: not limited */
    unsigned int generation;        /* bumped when quota or policy change */
    unsigned int seen_generation;   /* what the controller was set up for */
    bool ctl_ready;
    DirtyLimitPolicyKind ctl_policy;
    DirtyLimitCtl duty;
    DirtyLimitRingFullCtl ringfull;

    /* (the vCPU's own thread) */
    timer_t timer;
    bool timer_created;
    bool timer_failed;
} DirtyLimitVcpu;

typedef struct DirtyLimitState {
    QemuMutex lock;                        /* the "dirtylimit state lock" */
    unsigned int active[RS_MAX_CPUS];   /* (atomic) THROTTLE_BY_* */
    DirtyLimitVcpu vcpu[RS_MAX_CPUS];
    int limited_vcpus;                  /* (VM lock) with a quota */
    bool tracking;                      /* (VM lock) GLOBAL_DIRTY_LIMIT on */
    DirtyLimitPolicyKind policy;        /* (atomic) */
    bool migration_active;              /* (atomic) */
} DirtyLimitState;

static DirtyLimitState dl;

static const char *const dirtylimit_policy_names[] = {
    [DIRTYLIMIT_DUTY_CYCLE] = "duty-cycle",
    [DIRTYLIMIT_RING_FULL] = "ring-full",
};

/* ---- the actuator, on the vCPU thread ---- */

void throttle_vcpu_enable(int cpu_index, unsigned int by, bool on)
{
    CPUState *cpu = cpus_get(cpu_index);

    assert(cpu_index >= 0 && cpu_index < RS_MAX_CPUS);
    if (on) {
        __atomic_fetch_or(&dl.active[cpu_index], by, __ATOMIC_SEQ_CST);
        /* Out of a long KVM_RUN, so the new throttle acts at once. */
        if (cpu) {
            cpu_kick(cpu);
        }
    } else {
        __atomic_fetch_and(&dl.active[cpu_index], ~by, __ATOMIC_SEQ_CST);
    }
}

/* Arm (or, @run_ns 0, disarm) the one-shot timer ending this slice. */
static void dirtylimit_vcpu_timer_arm(CPUState *cpu, DirtyLimitVcpu *v,
                                      int64_t run_ns)
{
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };

    if (!v->timer_created) {
        struct sigevent sev;

        if (!run_ns || v->timer_failed) {
            return;
        }
        memset(&sev, 0, sizeof(sev));
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = SIG_IPI;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &sev, &v->timer) < 0) {
            /* Without it slices end at exits only: coarser, still right
             * on average. */
            error_report("cpu %d: dirty limit slice timer: %s",
                         cpu_index(cpu), g_strerror(errno));
            v->timer_failed = true;
            return;
        }
        v->timer_created = true;
    }
    its.it_value.tv_sec = run_ns / NANOSECONDS_PER_SECOND;
    its.it_value.tv_nsec = run_ns % NANOSECONDS_PER_SECOND;
    timer_settime(v->timer, 0, &its, NULL);
}

/*
 * The duty cycle's active clock (see dirtylimit-controller.h): @now_ns
 * less the time the vCPU was parked or asleep at the guest's request.
 */
static int64_t dirtylimit_vcpu_active_ns(CPUState *cpu, int64_t now_ns)
{
    return now_ns - __atomic_load_n(&cpu->parked_ns, __ATOMIC_RELAXED) -
           (int64_t)__atomic_load_n(&cpu->doorbell_sleep_ns,
                                    __ATOMIC_RELAXED);
}

/* Set up the controller for a new quota or policy.  State lock held. */
static void dirtylimit_vcpu_ctl_setup_locked(CPUState *cpu,
                                             DirtyLimitVcpu *v,
                                             DirtyLimitPolicyKind policy,
                                             int64_t now_ns,
                                             uint64_t dirty_pages)
{
    uint64_t quota_pages_per_s = v->quota_mbps * DIRTYLIMIT_PAGES_PER_MB;

    if (v->ctl_ready && v->ctl_policy == policy &&
        policy == DIRTYLIMIT_DUTY_CYCLE) {
        /* Same vCPU, same workload: keep what it learnt of its rate. */
        dirtylimit_ctl_set_quota(&v->duty, quota_pages_per_s);
    } else if (policy == DIRTYLIMIT_DUTY_CYCLE) {
        dirtylimit_ctl_init(&v->duty, quota_pages_per_s, now_ns, dirty_pages);
    } else {
        dirtylimit_ringfull_init(&v->ringfull, v->quota_mbps,
                                 kvm_state->dirty_ring_entries, now_ns,
                                 dirty_pages);
    }
    v->ctl_policy = policy;
    v->ctl_ready = true;
    v->seen_generation = v->generation;
}

/*
 * What @policy holds to the quota, up to now: those harvested, plus
 * those still in the ring, counted without harvesting.  Harvesting here
 * would move the reset's cost (re-protecting every page) from the
 * reaper's thread onto this vCPU's, slowing a vCPU whose quota it does
 * not reach.  The duty cycle counts distinct pages per 1-s window (a
 * page rewritten all second costs migration one page); the ring-full
 * baseline counts ring entries, as QEMU does.
 */
static uint64_t dirtylimit_vcpu_count(CPUState *cpu,
                                      DirtyLimitPolicyKind policy)
{
    uint64_t count;

    if (policy == DIRTYLIMIT_DUTY_CYCLE && cpu->dirty_window) {
        count = dirty_window_total(cpu->dirty_window);
        return count + memory_dirty_vcpu_new_pages(cpu);
    }
    count = qatomic_load_acquire(&cpu->dirty_pages);
    return count + memory_dirty_vcpu_pending(cpu);
}

static DirtyLimitDecision dirtylimit_vcpu_step(CPUState *cpu,
                                               DirtyLimitVcpu *v)
{
    DirtyLimitDecision d = { 0, 0 };
    DirtyLimitPolicyKind policy = dirtylimit_get_policy();
    uint64_t dirty_pages;
    int64_t now_ns, active_ns;

    dirty_pages = dirtylimit_vcpu_count(cpu, policy);
    now_ns = clock_monotonic_ns();
    active_ns = dirtylimit_vcpu_active_ns(cpu, now_ns);

    qemu_mutex_lock(&dl.lock);
    if (v->quota_mbps) {
        if (!v->ctl_ready || v->seen_generation != v->generation) {
            dirtylimit_vcpu_ctl_setup_locked(cpu, v, policy, now_ns,
                                             dirty_pages);
        }
        if (v->ctl_policy != policy) {
            /* The policy is changing: step again soon, once it has. */
            d.run_ns = DIRTYLIMIT_RUN_MIN_NS;
        } else if (v->ctl_policy == DIRTYLIMIT_DUTY_CYCLE) {
            d = dirtylimit_ctl_step(&v->duty, now_ns, dirty_pages,
                                    active_ns);
            trace_dirtylimit_step(cpu_index(cpu), dirty_pages,
                                  (int64_t)v->duty.debt_pages, d.sleep_ns,
                                  d.run_ns);
        } else {
            d = dirtylimit_ringfull_step(&v->ringfull, now_ns,
                                         dirty_pages);
        }
    }
    qemu_mutex_unlock(&dl.lock);
    return d;
}

static void dirtylimit_vcpu_slept(DirtyLimitVcpu *v, int64_t slept_ns)
{
    qemu_mutex_lock(&dl.lock);
    if (v->ctl_ready && v->ctl_policy == DIRTYLIMIT_DUTY_CYCLE) {
        dirtylimit_ctl_slept(&v->duty, slept_ns);
    } else if (v->ctl_ready) {
        dirtylimit_ringfull_slept(&v->ringfull, slept_ns);
    }
    qemu_mutex_unlock(&dl.lock);
}

static void dirtylimit_vcpu_run(CPUState *cpu, DirtyLimitVcpu *v)
{
    int64_t active_ns = dirtylimit_vcpu_active_ns(cpu, clock_monotonic_ns());

    qemu_mutex_lock(&dl.lock);
    if (v->ctl_ready && v->ctl_policy == DIRTYLIMIT_DUTY_CYCLE) {
        dirtylimit_ctl_run(&v->duty, active_ns);
    }
    qemu_mutex_unlock(&dl.lock);
}

/* The slow path: this vCPU is throttled by @by. */
static void throttle_vcpu_throttled(CPUState *cpu, unsigned int by)
{
    DirtyLimitVcpu *v = &dl.vcpu[cpu_index(cpu)];
    DirtyLimitDecision d;

    for (;;) {
        int64_t slept_ns;

        if (cpu_stop_pending(cpu)) {
            return;     /* KVM_RUN returns at once; we park */
        }
        d = (DirtyLimitDecision) { 0, 0 };
        if (by & THROTTLE_BY_DIRTYLIMIT) {
            d = dirtylimit_decision_merge(d, dirtylimit_vcpu_step(cpu, v));
        }
        if (by & THROTTLE_BY_CPU_THROTTLE) {
            d = dirtylimit_decision_merge(d, cpu_throttle_vcpu_step(cpu));
        }
        if (!d.sleep_ns) {
            break;
        }
        trace_throttle_vcpu_sleep(cpu_index(cpu), d.sleep_ns);
        slept_ns = cpu_sleep_ns(cpu, MIN(d.sleep_ns,
                                         DIRTYLIMIT_SLEEP_MAX_NS));
        if (by & THROTTLE_BY_DIRTYLIMIT) {
            dirtylimit_vcpu_slept(v, slept_ns);
        }
        if (by & THROTTLE_BY_CPU_THROTTLE) {
            cpu_throttle_vcpu_slept(cpu, slept_ns);
        }
        /* A cancel or a new throttle while we slept. */
        by = __atomic_load_n(&dl.active[cpu_index(cpu)], __ATOMIC_ACQUIRE);
        if (!by) {
            return;
        }
    }
    if (by & THROTTLE_BY_DIRTYLIMIT) {
        dirtylimit_vcpu_run(cpu, v);
    }
    dirtylimit_vcpu_timer_arm(cpu, v, d.run_ns);
}

void throttle_vcpu_before_run(CPUState *cpu)
{
    unsigned int by = __atomic_load_n(&dl.active[cpu_index(cpu)],
                                      __ATOMIC_RELAXED);

    if (G_LIKELY(!by)) {
        return;
    }
    throttle_vcpu_throttled(cpu, by);
}

/* ---- limits (VM lock held) ---- */

static bool dirtylimit_check_ring(Error **errp)
{
    if (!kvm_state || !kvm_state->dirty_ring_entries) {
        error_setg(errp, "dirty page limit needs the KVM dirty ring: start "
                   "restraint with -accel kvm,dirty-ring-size=N (N a power "
                   "of two, at least %d)", KVM_DIRTY_RING_MIN_ENTRIES);
        return false;
    }
    return true;
}

static bool dirtylimit_check_index(int cpu_index, Error **errp)
{
    if (cpu_index != -1 && (cpu_index < 0 || cpu_index >= cpus_count())) {
        error_setg(errp, "incorrect cpu index specified");
        return false;
    }
    return true;
}

/* Before the first limit is set: a limit without tracking is no limit. */
static bool dirtylimit_tracking_start(Error **errp)
{
    if (dl.tracking) {
        return true;
    }
    if (!memory_global_dirty_log_start(GLOBAL_DIRTY_LIMIT, errp)) {
        error_prepend(errp, "cannot start dirty page tracking for the "
                      "limit: ");
        return false;
    }
    dl.tracking = true;
    return true;
}

/* After the last limit is cancelled. */
static void dirtylimit_tracking_stop_unused(void)
{
    if (!dl.limited_vcpus && dl.tracking) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_LIMIT);
        dl.tracking = false;
    }
}

static void dirtylimit_set_one(int i, uint64_t quota_mbps)
{
    DirtyLimitVcpu *v = &dl.vcpu[i];
    bool was_limited;

    qemu_mutex_lock(&dl.lock);
    was_limited = v->quota_mbps != 0;
    v->quota_mbps = quota_mbps;
    v->generation++;
    if (!quota_mbps) {
        v->ctl_ready = false;
    }
    qemu_mutex_unlock(&dl.lock);
    dl.limited_vcpus += (quota_mbps != 0) - was_limited;
    if (quota_mbps) {
        trace_dirtylimit_set(i, quota_mbps);
        throttle_vcpu_enable(i, THROTTLE_BY_DIRTYLIMIT, true);
    } else if (was_limited) {
        trace_dirtylimit_cancel(i);
        throttle_vcpu_enable(i, THROTTLE_BY_DIRTYLIMIT, false);
    }
}

bool dirtylimit_set_vcpu(int cpu_index, uint64_t quota_mbps, Error **errp)
{
    if (!dirtylimit_check_index(cpu_index, errp)) {
        return false;
    }
    if (!quota_mbps) {
        dirtylimit_cancel_vcpu(cpu_index);
        return true;
    }
    if (!dirtylimit_check_ring(errp)) {
        return false;
    }
    if (quota_mbps > DIRTYLIMIT_MAX_QUOTA_MBPS) {
        error_setg(errp, "dirty-rate %" PRIu64 " MB/s is out of range "
                   "[1, %llu] MB/s", quota_mbps, DIRTYLIMIT_MAX_QUOTA_MBPS);
        return false;
    }
    /* First, so that a failure leaves every limit as it was. */
    if (!dirtylimit_tracking_start(errp)) {
        return false;
    }
    for (int i = 0; i < cpus_count(); i++) {
        if (cpu_index == -1 || cpu_index == i) {
            dirtylimit_set_one(i, quota_mbps);
        }
    }
    return true;
}

void dirtylimit_cancel_vcpu(int cpu_index)
{
    for (int i = 0; i < cpus_count(); i++) {
        if (cpu_index == -1 || cpu_index == i) {
            dirtylimit_set_one(i, 0);
        }
    }
    dirtylimit_tracking_stop_unused();
}

bool dirtylimit_vcpu_limited(int cpu_index)
{
    bool limited;

    if (cpu_index < 0 || cpu_index >= RS_MAX_CPUS) {
        return false;
    }
    qemu_mutex_lock(&dl.lock);
    limited = dl.vcpu[cpu_index].quota_mbps != 0;
    qemu_mutex_unlock(&dl.lock);
    return limited;
}

bool dirtylimit_in_service(void)
{
    return dl.limited_vcpus > 0;
}

void dirtylimit_set_policy(DirtyLimitPolicyKind policy)
{
    __atomic_store_n(&dl.policy, policy, __ATOMIC_RELAXED);
    trace_dirtylimit_policy(dirtylimit_policy_names[policy]);
    qemu_mutex_lock(&dl.lock);
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        dl.vcpu[i].generation++;
    }
    qemu_mutex_unlock(&dl.lock);
    for (int i = 0; i < cpus_count(); i++) {
        if (dirtylimit_vcpu_limited(i)) {
            cpu_kick(cpus_get(i));
        }
    }
}

DirtyLimitPolicyKind dirtylimit_get_policy(void)
{
    return __atomic_load_n(&dl.policy, __ATOMIC_RELAXED);
}

/*
 * The duty cycle's current rate: the distinct pages of the vCPU's last
 * complete dirty window (the sleep share stays the controller's).
 */
static void dirtylimit_vcpu_window_rate(CPUState *cpu,
                                        DirtyLimitReport *report)
{
    DirtyWindowReport w;

    if (!cpu || !cpu->dirty_window ||
        !dirty_window_last(cpu->dirty_window, &w)) {
        report->rate_pages_per_s = 0;
        report->measured_ns = 0;
        return;
    }
    report->rate_pages_per_s = w.pages * NANOSECONDS_PER_SECOND /
                               (uint64_t)(w.end_ns - w.start_ns);
    report->measured_ns = w.end_ns;
}

bool dirtylimit_vcpu_info(int cpu_index, DirtyLimitVcpuInfo *info)
{
    DirtyLimitVcpu *v;
    DirtyLimitReport report = { 0, 0, 0 };
    int64_t now_ns = clock_monotonic_ns();

    if (cpu_index < 0 || cpu_index >= RS_MAX_CPUS) {
        return false;
    }
    v = &dl.vcpu[cpu_index];
    qemu_mutex_lock(&dl.lock);
    if (!v->quota_mbps) {
        qemu_mutex_unlock(&dl.lock);
        return false;
    }
    info->cpu_index = cpu_index;
    info->quota_mbps = v->quota_mbps;
    info->policy = v->ctl_ready ? v->ctl_policy : dirtylimit_get_policy();
    if (v->ctl_ready) {
        report = v->ctl_policy == DIRTYLIMIT_DUTY_CYCLE ?
                 v->duty.window.last : v->ringfull.window.last;
    }
    qemu_mutex_unlock(&dl.lock);
    if (info->policy == DIRTYLIMIT_DUTY_CYCLE) {
        dirtylimit_vcpu_window_rate(cpus_get(cpu_index), &report);
    }
    info->current_pages_per_s = report.rate_pages_per_s;
    /* Rounded, not truncated: 2559 pages/s is 10 MB/s, not 9. */
    info->current_mbps = (report.rate_pages_per_s +
                          DIRTYLIMIT_PAGES_PER_MB / 2) /
                         DIRTYLIMIT_PAGES_PER_MB;
    info->sleep_share = report.sleep_share;
    info->rate_age_ms = report.measured_ns ?
                        (now_ns - report.measured_ns) / 1000000 : -1;
    return true;
}

void dirtylimit_set_migration_active(bool active)
{
    __atomic_store_n(&dl.migration_active, active, __ATOMIC_RELEASE);
}

void dirtylimit_cleanup(void)
{
    if (dl.tracking) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_LIMIT);
    }
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        DirtyLimitVcpu *v = &dl.vcpu[i];

        /* The vCPU threads have ended: nobody else touches the timer. */
        if (v->timer_created) {
            timer_delete(v->timer);
        }
        memset(v, 0, sizeof(*v));
        __atomic_store_n(&dl.active[i], 0, __ATOMIC_SEQ_CST);
    }
    dl.limited_vcpus = 0;
    dl.tracking = false;
    __atomic_store_n(&dl.migration_active, false, __ATOMIC_RELEASE);
    cpu_throttle_stop();
}

/* ---- QMP ---- */

static bool dirtylimit_check_migration(const char *what, Error **errp)
{
    if (__atomic_load_n(&dl.migration_active, __ATOMIC_ACQUIRE)) {
        error_setg(errp, "cannot %s a dirty page rate limit while a "
                   "migration with the dirty-limit capability runs", what);
        return false;
    }
    return true;
}

void qmp_set_vcpu_dirty_limit(bool has_cpu_index, int64_t cpu_index,
                              uint64_t dirty_rate, Error **errp)
{
    if (has_cpu_index && (cpu_index < 0 || cpu_index >= cpus_count())) {
        error_setg(errp, "incorrect cpu index specified");
        return;
    }
    if (!dirtylimit_check_migration("set", errp)) {
        return;
    }
    dirtylimit_set_vcpu(has_cpu_index ? (int)cpu_index : -1, dirty_rate,
                        errp);
}

void qmp_cancel_vcpu_dirty_limit(bool has_cpu_index, int64_t cpu_index,
                                 Error **errp)
{
    if (has_cpu_index && (cpu_index < 0 || cpu_index >= cpus_count())) {
        error_setg(errp, "incorrect cpu index specified");
        return;
    }
    if (!dirtylimit_check_migration("cancel", errp)) {
        return;
    }
    dirtylimit_cancel_vcpu(has_cpu_index ? (int)cpu_index : -1);
}

DirtyLimitInfoList *qmp_query_vcpu_dirty_limit(Error **errp)
{
    DirtyLimitInfoList *head = NULL, **tail = &head;

    for (int i = 0; i < cpus_count(); i++) {
        DirtyLimitVcpuInfo vi;
        DirtyLimitInfo *info;

        if (!dirtylimit_vcpu_info(i, &vi)) {
            continue;
        }
        info = g_new0(DirtyLimitInfo, 1);
        info->cpu_index = vi.cpu_index;
        info->limit_rate = vi.quota_mbps;
        info->current_rate = vi.current_mbps;
        info->sleep_share = vi.sleep_share * 100.0;
        info->rate_age = vi.rate_age_ms;
        info->policy = vi.policy == DIRTYLIMIT_DUTY_CYCLE ?
                       DIRTY_LIMIT_POLICY_DUTY_CYCLE :
                       DIRTY_LIMIT_POLICY_RING_FULL;
        *tail = g_new0(DirtyLimitInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    return head;
}

void qmp_x_set_dirty_limit_policy(DirtyLimitPolicy policy, Error **errp)
{
    dirtylimit_set_policy(policy == DIRTY_LIMIT_POLICY_RING_FULL ?
                          DIRTYLIMIT_RING_FULL : DIRTYLIMIT_DUTY_CYCLE);
}
