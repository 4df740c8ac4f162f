/*
 * The dirty-limit policies (softmmu/dirtylimit-policy.c): one table per
 * policy saying how it drives its pure controller
 * (include/sysemu/dirtylimit-controller.h) on a limited vCPU.
 * softmmu/dirtylimit.c keeps each vCPU's controller state and calls
 * through the table that state was set up with, under its state lock,
 * on the vCPU's own thread (query-vcpu-dirty-limit reads the report from
 * the main thread).
 */
#ifndef SYSEMU_DIRTYLIMIT_POLICY_H
#define SYSEMU_DIRTYLIMIT_POLICY_H

#include "qapi/qapi-types.h"
#include "sysemu/dirtylimit-controller.h"
#include "sysemu/dirtylimit.h"

/* A vCPU's controller: whichever its policy uses. */
typedef union DirtyLimitVcpuCtl {
    DirtyLimitCtl duty;
    DirtyLimitRingFullCtl ringfull;
} DirtyLimitVcpuCtl;

typedef struct DirtyLimitPolicyOps {
    DirtyLimitPolicyKind kind;
    const char *name;               /* as x-set-dirty-limit-policy says */
    DirtyLimitPolicy qapi;
    /*
     * Start @c for a new quota (MB/s); @again: @c ran this policy on
     * this vCPU until now (the quota changed, or the policy was set
     * again).  @ring_entries: the vCPU's dirty ring.  @count: what the
     * policy counts (the duty cycle: distinct pages per window and the
     * carried ones; ring-full: ring entries in @count.pages).
     */
    void (*setup)(DirtyLimitVcpuCtl *c, uint64_t quota_mbps,
                  uint32_t ring_entries, int64_t now_ns,
                  DirtyLimitCount count, bool again);
    /* The controller's step: see dirtylimit-controller.h. */
    DirtyLimitDecision (*step)(DirtyLimitVcpuCtl *c, int cpu_index,
                               int64_t now_ns, DirtyLimitCount count,
                               int64_t active_ns);
    void (*slept)(DirtyLimitVcpuCtl *c, int64_t slept_ns);
    /* The vCPU enters a slice.  NULL: the policy does not care. */
    void (*run)(DirtyLimitVcpuCtl *c, int64_t active_ns);
    /* What query-vcpu-dirty-limit shows. */
    DirtyLimitReport (*report)(const DirtyLimitVcpuCtl *c);
} DirtyLimitPolicyOps;

const DirtyLimitPolicyOps *dirtylimit_policy_ops(DirtyLimitPolicyKind kind);
/* The table for a policy as QMP names it. */
const DirtyLimitPolicyOps *dirtylimit_policy_ops_qapi(DirtyLimitPolicy p);

#endif /* SYSEMU_DIRTYLIMIT_POLICY_H */
