/*
 * Per-vCPU dirty page rate limits: the commands, the state of each
 * vCPU, and the throttle ops this policy hands the vCPU throttle
 * actuator (softmmu/vcpu-throttle.c).
 *
 * Before each KVM_RUN of a limited vCPU the actuator calls
 * dirtylimit_vcpu_step on the vCPU's thread: it counts the vCPU's dirty
 * pages up to that instant and asks the vCPU's controller (pure, in
 * softmmu/dirtylimit-controller.c) how long to sleep and how long the
 * next slice may run, through its policy's table (duty cycle or
 * ring-full, softmmu/dirtylimit-policy.c), chosen when the vCPU next
 * steps after a quota or policy change.
 *
 * Locks: VM lock (commands) -> dirtylimit state lock -> slots lock.  The
 * state lock is never held across a sleep or a harvest.
 * See docs/devel/dirty-limit.md.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "qapi/qapi-commands.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "qemu/dirty-window.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit-policy.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/vcpu-throttle.h"
#include "trace.h"

typedef struct DirtyLimitVcpu {
    /* (state lock) */
    uint64_t quota_mbps;            /* 0: not limited */
    unsigned int generation;        /* bumped when quota or policy change */
    unsigned int seen_generation;   /* what the controller was set up for */
    const DirtyLimitPolicyOps *ctl; /* NULL: not set up */
    DirtyLimitVcpuCtl c;
} DirtyLimitVcpu;

typedef struct DirtyLimitState {
    QemuMutex lock;                        /* the "dirtylimit state lock" */
    DirtyLimitVcpu vcpu[RS_MAX_CPUS];
    int limited_vcpus;                  /* (VM lock) with a quota */
    bool tracking;                      /* (VM lock) GLOBAL_DIRTY_LIMIT on */
    DirtyLimitPolicyKind policy;        /* (atomic) */
    bool migration_active;              /* (atomic) */
} DirtyLimitState;

static DirtyLimitState dl;

/* ---- the throttle ops, on the vCPU thread ---- */

/*
 * The duty cycle's active clock (see dirtylimit-controller.h): @now_ns
 * less the time the vCPU was parked or asleep at the guest's request.
 */
static int64_t dirtylimit_vcpu_active_ns(CPUState *cpu, int64_t now_ns)
{
    return now_ns - qatomic_read(&cpu->parked_ns) -
           (int64_t)qatomic_read(&cpu->doorbell_sleep_ns);
}

/* Set up the controller for a new quota or policy.  State lock held. */
static void dirtylimit_vcpu_ctl_setup_locked(DirtyLimitVcpu *v,
                                             DirtyLimitPolicyKind policy,
                                             int64_t now_ns,
                                             DirtyLimitCount count)
{
    const DirtyLimitPolicyOps *ctl = dirtylimit_policy_ops(policy);

    ctl->setup(&v->c, v->quota_mbps, kvm_state->dirty_ring_entries, now_ns,
               count, v->ctl == ctl);
    v->ctl = ctl;
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
static DirtyLimitCount dirtylimit_vcpu_count(CPUState *cpu,
                                             DirtyLimitPolicyKind policy)
{
    DirtyLimitCount count = { 0, 0 };

    if (policy == DIRTYLIMIT_DUTY_CYCLE && cpu->dirty_window) {
        DirtyNewPages new;

        /* Carried first, as dirty_window_carried() asks. */
        count.carried = dirty_window_carried(cpu->dirty_window);
        count.pages = dirty_window_total(cpu->dirty_window);
        new = memory_dirty_vcpu_new_pages(cpu);
        count.carried += new.carried;
        count.pages += new.pages;
        return count;
    }
    count.pages = qatomic_load_acquire(&cpu->dirty_pages) +
                  memory_dirty_vcpu_pending(cpu);
    return count;
}

static DirtyLimitDecision dirtylimit_vcpu_step(CPUState *cpu)
{
    DirtyLimitVcpu *v = &dl.vcpu[cpu_index(cpu)];
    DirtyLimitDecision d = { 0, 0 };
    DirtyLimitPolicyKind policy = dirtylimit_get_policy();
    DirtyLimitCount count;
    int64_t now_ns, active_ns;

    count = dirtylimit_vcpu_count(cpu, policy);
    now_ns = clock_ns();
    active_ns = dirtylimit_vcpu_active_ns(cpu, now_ns);

    qemu_mutex_lock(&dl.lock);
    if (v->quota_mbps) {
        if (!v->ctl || v->seen_generation != v->generation) {
            dirtylimit_vcpu_ctl_setup_locked(v, policy, now_ns, count);
        }
        if (v->ctl->kind != policy) {
            /* The policy is changing: step again soon, once it has. */
            d.run_ns = DIRTYLIMIT_RUN_MIN_NS;
        } else {
            d = v->ctl->step(&v->c, cpu_index(cpu), now_ns, count,
                             active_ns);
        }
    }
    qemu_mutex_unlock(&dl.lock);
    return d;
}

static void dirtylimit_vcpu_slept(CPUState *cpu, int64_t slept_ns)
{
    DirtyLimitVcpu *v = &dl.vcpu[cpu_index(cpu)];

    qemu_mutex_lock(&dl.lock);
    if (v->ctl) {
        v->ctl->slept(&v->c, slept_ns);
    }
    qemu_mutex_unlock(&dl.lock);
}

static void dirtylimit_vcpu_run(CPUState *cpu)
{
    DirtyLimitVcpu *v = &dl.vcpu[cpu_index(cpu)];
    int64_t active_ns = dirtylimit_vcpu_active_ns(cpu, clock_ns());

    qemu_mutex_lock(&dl.lock);
    if (v->ctl && v->ctl->run) {
        v->ctl->run(&v->c, active_ns);
    }
    qemu_mutex_unlock(&dl.lock);
}

static const VcpuThrottleOps dirtylimit_throttle_ops = {
    .step = dirtylimit_vcpu_step,
    .slept = dirtylimit_vcpu_slept,
    .run = dirtylimit_vcpu_run,
};

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
        v->ctl = NULL;
    }
    qemu_mutex_unlock(&dl.lock);
    dl.limited_vcpus += (quota_mbps != 0) - was_limited;
    if (quota_mbps) {
        trace_dirtylimit_set(i, quota_mbps);
        vcpu_throttle_enable(&dirtylimit_throttle_ops, i, true);
    } else if (was_limited) {
        trace_dirtylimit_cancel(i);
        vcpu_throttle_enable(&dirtylimit_throttle_ops, i, false);
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
    qatomic_set(&dl.policy, policy);
    trace_dirtylimit_policy(dirtylimit_policy_ops(policy)->name);
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
    return qatomic_read(&dl.policy);
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
    int64_t now_ns = clock_ns();

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
    info->policy = v->ctl ? v->ctl->kind : dirtylimit_get_policy();
    if (v->ctl) {
        report = v->ctl->report(&v->c);
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
    qatomic_store_release(&dl.migration_active, active);
}

void dirtylimit_cleanup(void)
{
    if (dl.tracking) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_LIMIT);
    }
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        /* The vCPU threads have ended: nobody steps the controllers. */
        memset(&dl.vcpu[i], 0, sizeof(dl.vcpu[i]));
        vcpu_throttle_enable(&dirtylimit_throttle_ops, i, false);
    }
    dl.limited_vcpus = 0;
    dl.tracking = false;
    qatomic_store_release(&dl.migration_active, false);
}

/* ---- QMP ---- */

static bool dirtylimit_check_migration(const char *what, Error **errp)
{
    if (qatomic_load_acquire(&dl.migration_active)) {
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
        info->policy = dirtylimit_policy_ops(vi.policy)->qapi;
        *tail = g_new0(DirtyLimitInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    return head;
}

void qmp_x_set_dirty_limit_policy(DirtyLimitPolicy policy, Error **errp)
{
    dirtylimit_set_policy(dirtylimit_policy_ops_qapi(policy)->kind);
}
