/*
 * Convergence policies: none, auto-converge and dirty-limit (QEMU's
 * rules), and restraint's adaptive per-vCPU quotas.  Pure decisions
 * first, then the wrapper that applies them (VM lock held).
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "migration/convergence.h"
#include "qemu/page-rate.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/kvm.h"
#include "trace.h"

/* QEMU's trigger fires on the second period in a row above threshold. */
#define CONVERGENCE_TRIGGER_PERIODS 2
/* Bytes a page costs on the wire: its tag word and its contents. */
#define CONVERGENCE_PAGE_WIRE_BYTES (RS_PAGE_SIZE + 8)
/* The smallest quota the dirty limiter takes, MB/s. */
#define CONVERGENCE_MIN_QUOTA_MBPS 1
/* A pass that leaves more than 3/4 of itself dirty is not converging. */
#define ADAPTIVE_SHRINK_NUM 3
#define ADAPTIVE_SHRINK_DEN 4
/* How often the dirty-rate calculator measures for adaptive, ms: quotas
 * follow a change of writer within a fifth of a second. */
#define ADAPTIVE_PERIOD_MS 200

/* ---- pure cores ------------------------------------------------------ */

bool convergence_trigger(unsigned int *high_count,
                         const ConvergenceSync *sync,
                         unsigned int threshold_pct)
{
    uint64_t threshold_bytes = sync->transferred_bytes * threshold_pct / 100;

    if (sync->dirty_bytes <= threshold_bytes) {
        /* QEMU keeps the count across a quiet period; so do we. */
        return false;
    }
    if (++*high_count >= CONVERGENCE_TRIGGER_PERIODS) {
        *high_count = 0;
        return true;
    }
    return false;
}

unsigned int convergence_auto_next_pct(unsigned int now_pct,
                                       const ConvergenceParams *p,
                                       const ConvergenceSync *sync)
{
    uint64_t threshold_bytes = sync->transferred_bytes *
                               p->trigger_threshold_pct / 100;
    unsigned int inc_pct = p->throttle_increment_pct;

    if (now_pct == 0) {
        return MIN(p->throttle_initial_pct, p->max_throttle_pct);
    }
    if (p->throttle_tailslow && sync->dirty_bytes) {
        /*
         * The guest runs (100 - now) % of the time; running
         * threshold/dirty of that would dirty just the threshold.
         */
        double run_now_pct = 100 - now_pct;
        double run_ideal_pct = run_now_pct * ((double)threshold_bytes /
                                              (double)sync->dirty_bytes);
        double needed_pct = run_now_pct - run_ideal_pct;

        if (needed_pct < inc_pct) {
            inc_pct = needed_pct < 1 ? 1 : (unsigned int)needed_pct;
        }
    }
    return MIN(now_pct + inc_pct, p->max_throttle_pct);
}

uint64_t convergence_adaptive_budget_mbps(uint64_t bandwidth_bytes_per_s,
                                          unsigned int share_div)
{
    /* Dirty bytes the stream can carry per second, then our share. */
    uint64_t dirty_bytes_per_s = bandwidth_bytes_per_s / share_div /
                                 CONVERGENCE_PAGE_WIRE_BYTES * RS_PAGE_SIZE;

    return MAX(dirty_bytes_per_s / MiB, CONVERGENCE_MIN_QUOTA_MBPS);
}

unsigned int convergence_adaptive_next_share(unsigned int share_div,
                                             uint64_t sent_pages,
                                             uint64_t dirty_pages)
{
    if (sent_pages &&
        dirty_pages * ADAPTIVE_SHRINK_DEN > sent_pages * ADAPTIVE_SHRINK_NUM &&
        share_div < ADAPTIVE_MAX_SHARE_DIV) {
        return share_div * 2;
    }
    return share_div;
}

void convergence_adaptive_quotas(const AdaptiveInput *in,
                                 uint64_t *quota_mbps)
{
    int n = in->cpus;
    g_autofree uint64_t *demand = g_new(uint64_t, n);
    g_autofree bool *done = g_new0(bool, n);
    uint64_t budget = in->budget_mbps, total = 0;
    int left = n;

    for (int i = 0; i < n; i++) {
        bool held = in->prev_quota_mbps[i] &&
                    in->rate_mbps[i] * 2 >= in->prev_quota_mbps[i];

        /* A held vCPU writing near its quota would write more if let. */
        demand[i] = held ? UINT64_MAX : in->rate_mbps[i];
        total = demand[i] == UINT64_MAX || total + demand[i] < total ?
                UINT64_MAX : total + demand[i];
        quota_mbps[i] = 0;
    }
    if (total <= budget) {
        return;     /* everyone fits: hold nobody */
    }
    /* Max-min fair share: satisfy the smallest demands first. */
    while (left > 0) {
        int smallest = -1;
        uint64_t share = budget / left;

        for (int i = 0; i < n; i++) {
            if (!done[i] && (smallest < 0 || demand[i] < demand[smallest])) {
                smallest = i;
            }
        }
        if (demand[smallest] > share) {
            /* Everyone left wants more than the share: hold them all. */
            for (int i = 0; i < n; i++) {
                if (!done[i]) {
                    quota_mbps[i] = MAX(share, CONVERGENCE_MIN_QUOTA_MBPS);
                }
            }
            return;
        }
        budget -= demand[smallest];
        done[smallest] = true;
        left--;
    }
}

/* ---- the wrapper ----------------------------------------------------- */

static const char *const convergence_policy_names[] = {
    [CONVERGENCE_NONE] = "none",
    [CONVERGENCE_AUTO] = "auto-converge",
    [CONVERGENCE_DIRTY_LIMIT] = "dirty-limit",
    [CONVERGENCE_ADAPTIVE] = "adaptive",
};

bool convergence_start(ConvergenceState *cs, ConvergencePolicy policy,
                       const ConvergenceParams *params, Error **errp)
{
    memset(cs, 0, sizeof(*cs));
    cs->policy = policy;
    cs->params = *params;
    cs->cpus = cpus_count();
    cs->share_div = ADAPTIVE_INITIAL_SHARE_DIV;
    cs->quota_mbps = g_new0(uint64_t, cs->cpus);
    if (policy == CONVERGENCE_DIRTY_LIMIT || policy == CONVERGENCE_ADAPTIVE) {
        if (!dirtyrate_stat_start(errp)) {
            g_free(cs->quota_mbps);
            cs->quota_mbps = NULL;
            return false;
        }
        cs->stat_started = true;
        /* User limits are refused while migration owns the limiter. */
        dirtylimit_set_migration_active(true);
        cs->saved_period_ms = dirtyrate_stat_period_ms();
        dirtyrate_stat_set_period_ms(policy == CONVERGENCE_ADAPTIVE ?
                                     ADAPTIVE_PERIOD_MS :
                                     params->dirty_limit_period_ms);
    }
    cs->started = true;
    trace_migration_convergence_start(convergence_policy_names[policy]);
    return true;
}

static void convergence_dirty_limit_guest(ConvergenceState *cs)
{
    Error *err = NULL;

    if (cs->dirty_limit_on &&
        cs->dirty_limit_mbps == cs->params.vcpu_dirty_limit_mbps) {
        return;
    }
    if (!dirtylimit_set_vcpu(-1, cs->params.vcpu_dirty_limit_mbps, &err)) {
        warn_report("migration: dirty-limit: %s", error_get_pretty(err));
        error_free(err);
        return;
    }
    cs->dirty_limit_on = true;
    cs->dirty_limit_mbps = cs->params.vcpu_dirty_limit_mbps;
    trace_migration_dirty_limit_guest(cs->dirty_limit_mbps);
}

void convergence_on_sync(ConvergenceState *cs, const ConvergenceSync *sync)
{
    if (!cs->started) {
        return;
    }
    switch (cs->policy) {
    case CONVERGENCE_AUTO:
        if (convergence_trigger(&cs->high_count, sync,
                                cs->params.trigger_threshold_pct)) {
            cs->throttle_pct = convergence_auto_next_pct(cs->throttle_pct,
                                                         &cs->params, sync);
            cpu_throttle_set(cs->throttle_pct);
            trace_migration_throttle_pct(cs->throttle_pct);
        }
        break;
    case CONVERGENCE_DIRTY_LIMIT:
        if (convergence_trigger(&cs->high_count, sync,
                                cs->params.trigger_threshold_pct)) {
            convergence_dirty_limit_guest(cs);
        }
        break;
    default:
        break;
    }
}

void convergence_on_pass(ConvergenceState *cs, uint64_t sent_pages,
                         uint64_t dirty_pages)
{
    unsigned int before = cs->share_div;

    if (!cs->started || cs->policy != CONVERGENCE_ADAPTIVE) {
        return;
    }
    /* Only judge passes during which the quotas were in force. */
    for (int i = 0; i < cs->cpus; i++) {
        if (cs->quota_mbps[i]) {
            cs->share_div = convergence_adaptive_next_share(cs->share_div,
                                                            sent_pages,
                                                            dirty_pages);
            break;
        }
    }
    if (cs->share_div != before) {
        trace_migration_adaptive_share(cs->share_div, sent_pages,
                                       dirty_pages);
    }
}

void convergence_tick(ConvergenceState *cs, uint64_t bandwidth_bytes_per_s)
{
    g_autofree uint64_t *rate_mbps = NULL;
    g_autofree uint64_t *quota_mbps = NULL;
    AdaptiveInput in;

    if (!cs->started || cs->policy != CONVERGENCE_ADAPTIVE ||
        !bandwidth_bytes_per_s) {
        return;
    }
    rate_mbps = g_new0(uint64_t, cs->cpus);
    quota_mbps = g_new0(uint64_t, cs->cpus);
    for (int i = 0; i < cs->cpus; i++) {
        VcpuDirtyStat st;

        if (!dirtyrate_stat_get(i, &st)) {
            return;     /* no measurement yet */
        }
        rate_mbps[i] = st.rate_pages_per_s / PAGES_PER_MB;
    }
    in = (AdaptiveInput) {
        .budget_mbps = convergence_adaptive_budget_mbps(bandwidth_bytes_per_s,
                                                        cs->share_div),
        .cpus = cs->cpus, .rate_mbps = rate_mbps,
        .prev_quota_mbps = cs->quota_mbps,
    };
    convergence_adaptive_quotas(&in, quota_mbps);
    for (int i = 0; i < cs->cpus; i++) {
        Error *err = NULL;

        if (quota_mbps[i] == cs->quota_mbps[i]) {
            continue;
        }
        trace_migration_adaptive_quota(i, rate_mbps[i], quota_mbps[i],
                                       in.budget_mbps);
        if (quota_mbps[i] == 0) {
            dirtylimit_cancel_vcpu(i);
        } else if (!dirtylimit_set_vcpu(i, quota_mbps[i], &err)) {
            warn_report("migration: adaptive quota for cpu %d: %s", i,
                        error_get_pretty(err));
            error_free(err);
            continue;
        }
        cs->quota_mbps[i] = quota_mbps[i];
    }
}

void convergence_stop(ConvergenceState *cs)
{
    if (!cs->started) {
        return;
    }
    if (cs->throttle_pct) {
        cpu_throttle_stop();
        cs->throttle_pct = 0;
    }
    if (cs->dirty_limit_on) {
        dirtylimit_cancel_vcpu(-1);
        cs->dirty_limit_on = false;
    }
    for (int i = 0; i < cs->cpus; i++) {
        if (cs->quota_mbps[i]) {
            dirtylimit_cancel_vcpu(i);
            cs->quota_mbps[i] = 0;
        }
    }
    if (cs->stat_started) {
        dirtylimit_set_migration_active(false);
        dirtyrate_stat_set_period_ms(cs->saved_period_ms);
        dirtyrate_stat_stop();
        cs->stat_started = false;
    }
    g_free(cs->quota_mbps);
    cs->quota_mbps = NULL;
    cs->started = false;
    trace_migration_convergence_stop(convergence_policy_names[cs->policy]);
}

unsigned int convergence_throttle_pct(const ConvergenceState *cs)
{
    return cs->throttle_pct;
}

uint64_t convergence_ring_full_time_us(const ConvergenceState *cs)
{
    uint64_t max_rate = 0;
    uint32_t entries = kvm_state ? kvm_state->dirty_ring_entries : 0;

    if (!cs->started || !entries || !dirtyrate_stat_running()) {
        return 0;
    }
    for (int i = 0; i < cs->cpus; i++) {
        VcpuDirtyStat st;

        if (dirtyrate_stat_get(i, &st)) {
            max_rate = MAX(max_rate, st.rate_pages_per_s);
        }
    }
    return max_rate ? (uint64_t)entries * 1000000 / max_rate : 0;
}

uint64_t convergence_throttle_time_us(const ConvergenceState *cs)
{
    double sleep_share = 0;
    int limited = 0;

    if (!cs->started) {
        return 0;
    }
    for (int i = 0; i < cs->cpus; i++) {
        DirtyLimitVcpuInfo info;

        if (dirtylimit_vcpu_info(i, &info)) {
            sleep_share += info.sleep_share;
            limited++;
        }
    }
    return limited ? (uint64_t)(sleep_share / limited *
                                dirtyrate_stat_period_ms() * 1000) : 0;
}
