/*
 * The dirty-limit policies: one DirtyLimitPolicyOps table per policy,
 * each a thin layer over its pure controller in
 * softmmu/dirtylimit-controller.c.  No locks (the caller holds the
 * dirtylimit state lock), no KVM, no clock.
 * See include/sysemu/dirtylimit-policy.h and docs/devel/dirty-limit.md.
 */
#include "qemu/osdep.h"

#include "sysemu/dirtylimit-controller.h"
#include "sysemu/dirtylimit-policy.h"
#include "trace.h"

/* ---- the duty cycle (ours) ---- */

static void dirtylimit_duty_setup(DirtyLimitVcpuCtl *c, uint64_t quota_mbps,
                                  uint32_t ring_entries, int64_t now_ns,
                                  DirtyLimitCount count, bool again)
{
    uint64_t quota_pages_per_s = quota_mbps * DIRTYLIMIT_PAGES_PER_MB;

    if (again) {
        /* Same vCPU, same workload: keep what it learnt of its rate. */
        dirtylimit_ctl_set_quota(&c->duty, quota_pages_per_s);
    } else {
        dirtylimit_ctl_init(&c->duty, quota_pages_per_s, now_ns, count);
    }
}

static DirtyLimitDecision dirtylimit_duty_step(DirtyLimitVcpuCtl *c,
                                               int cpu_index,
                                               int64_t now_ns,
                                               DirtyLimitCount count,
                                               int64_t active_ns)
{
    DirtyLimitDecision d = dirtylimit_ctl_step(&c->duty, now_ns, count,
                                               active_ns);

    trace_dirtylimit_step(cpu_index, count.pages, count.carried,
                          (int64_t)c->duty.debt_pages, d.sleep_ns, d.run_ns);
    return d;
}

static void dirtylimit_duty_slept(DirtyLimitVcpuCtl *c, int64_t slept_ns)
{
    dirtylimit_ctl_slept(&c->duty, slept_ns);
}

static void dirtylimit_duty_run(DirtyLimitVcpuCtl *c, int64_t active_ns)
{
    dirtylimit_ctl_run(&c->duty, active_ns);
}

static DirtyLimitReport dirtylimit_duty_report(const DirtyLimitVcpuCtl *c)
{
    return c->duty.window.last;
}

/* ---- ring-full (QEMU 7.1's algorithm, the baseline) ---- */

static void dirtylimit_ringfull_setup(DirtyLimitVcpuCtl *c,
                                      uint64_t quota_mbps,
                                      uint32_t ring_entries, int64_t now_ns,
                                      DirtyLimitCount count, bool again)
{
    /* Its once-a-second adjustment starts from no sleep every time. */
    dirtylimit_ringfull_init(&c->ringfull, quota_mbps, ring_entries, now_ns,
                             count.pages);
}

static DirtyLimitDecision dirtylimit_ringfull_vcpu_step(DirtyLimitVcpuCtl *c,
                                                        int cpu_index,
                                                        int64_t now_ns,
                                                        DirtyLimitCount count,
                                                        int64_t active_ns)
{
    return dirtylimit_ringfull_step(&c->ringfull, now_ns, count.pages);
}

static void dirtylimit_ringfull_vcpu_slept(DirtyLimitVcpuCtl *c,
                                           int64_t slept_ns)
{
    dirtylimit_ringfull_slept(&c->ringfull, slept_ns);
}

static DirtyLimitReport dirtylimit_ringfull_report(const DirtyLimitVcpuCtl *c)
{
    return c->ringfull.window.last;
}

static const DirtyLimitPolicyOps dirtylimit_policies[] = {
    [DIRTYLIMIT_DUTY_CYCLE] = {
        .kind = DIRTYLIMIT_DUTY_CYCLE,
        .name = "duty-cycle",
        .qapi = DIRTY_LIMIT_POLICY_DUTY_CYCLE,
        .setup = dirtylimit_duty_setup,
        .step = dirtylimit_duty_step,
        .slept = dirtylimit_duty_slept,
        .run = dirtylimit_duty_run,
        .report = dirtylimit_duty_report,
    },
    [DIRTYLIMIT_RING_FULL] = {
        .kind = DIRTYLIMIT_RING_FULL,
        .name = "ring-full",
        .qapi = DIRTY_LIMIT_POLICY_RING_FULL,
        .setup = dirtylimit_ringfull_setup,
        .step = dirtylimit_ringfull_vcpu_step,
        .slept = dirtylimit_ringfull_vcpu_slept,
        .report = dirtylimit_ringfull_report,
    },
};

const DirtyLimitPolicyOps *dirtylimit_policy_ops(DirtyLimitPolicyKind kind)
{
    assert(kind < G_N_ELEMENTS(dirtylimit_policies));
    return &dirtylimit_policies[kind];
}

const DirtyLimitPolicyOps *dirtylimit_policy_ops_qapi(DirtyLimitPolicy p)
{
    for (size_t k = 0; k < G_N_ELEMENTS(dirtylimit_policies); k++) {
        if (dirtylimit_policies[k].qapi == p) {
            return &dirtylimit_policies[k];
        }
    }
    g_assert_not_reached();     /* the schema's enum is this table's */
}
