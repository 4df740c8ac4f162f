/*
 * Workloads of the built-in guest: written into the control blocks under
 * the ABI's sequence count, ground truth read back without exits.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "hw/machine.h"
#include "hw/workload.h"
#include "sysemu/cpus.h"
#include "trace.h"

static const char *const workload_kind_names[RS_WL__MAX] = {
    [RS_WL_IDLE] = "idle",
    [RS_WL_WRITE] = "write",
    [RS_WL_READ] = "read",
    [RS_WL_MIXED] = "mixed",
    [RS_WL_STAMP] = "stamp",
};

static const char *const workload_pattern_names[RS_PAT__MAX] = {
    [RS_PAT_SEQ] = "seq",
    [RS_PAT_RANDOM] = "random",
};

const char *workload_kind_name(enum rs_workload_kind kind)
{
    return kind < RS_WL__MAX ? workload_kind_names[kind] : "unknown";
}

bool workload_kind_parse(const char *name, enum rs_workload_kind *kind)
{
    for (int i = 0; i < RS_WL__MAX; i++) {
        if (!strcmp(name, workload_kind_names[i])) {
            *kind = i;
            return true;
        }
    }
    return false;
}

const char *workload_pattern_name(enum rs_workload_pattern pattern)
{
    return pattern < RS_PAT__MAX ? workload_pattern_names[pattern]
                                 : "unknown";
}

bool workload_pattern_parse(const char *name,
                            enum rs_workload_pattern *pattern)
{
    for (int i = 0; i < RS_PAT__MAX; i++) {
        if (!strcmp(name, workload_pattern_names[i])) {
            *pattern = i;
            return true;
        }
    }
    return false;
}

bool workload_set(int cpu_index, const WorkloadConfig *cfg, Error **errp)
{
    struct rs_ctl *ctl;
    uint64_t slice = machine_slice_bytes();
    uint64_t size = cfg->size_bytes ? cfg->size_bytes : slice;
    uint64_t gen;

    if (cpu_index < 0 || cpu_index >= cpus_count()) {
        error_setg(errp, "workload: cpu %d does not exist (0 to %d)",
                   cpu_index, cpus_count() - 1);
        return false;
    }
    if (cfg->kind >= RS_WL__MAX || cfg->pattern >= RS_PAT__MAX) {
        error_setg(errp, "workload: bad kind or pattern");
        return false;
    }
    if (size == 0 || !QEMU_IS_ALIGNED(size, RS_PAGE_SIZE) || size > slice) {
        error_setg(errp, "workload: size %" PRIu64 " must be a multiple of "
                   "4 KiB from 4 KiB to %" PRIu64 " MiB (cpu %d's share of "
                   "RAM)", size, slice / MiB, cpu_index);
        return false;
    }
    if (cfg->rate_mbps > (1ULL << 40)) {
        error_setg(errp, "workload: rate %" PRIu64 " MB/s is out of range",
                   cfg->rate_mbps);
        return false;
    }
    ctl = machine_ctl(cpu_index);
    /* Sequence count: odd while the fields change (guest-abi.h). */
    gen = ctl->generation;
    __atomic_store_n(&ctl->generation, gen | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ctl->kind = cfg->kind;
    ctl->pattern = cfg->pattern;
    ctl->region_gpa = machine_slice_base(cpu_index);
    ctl->region_size = size;
    ctl->rate_bytes_per_s = cfg->rate_mbps * MiB;
    ctl->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)cpu_index;
    __atomic_store_n(&ctl->generation, (gen | 1) + 1, __ATOMIC_RELEASE);
    /* An idle guest sleeps in RS_DB_WAIT_GEN until this. */
    cpu_wake(cpus_get(cpu_index));
    trace_workload_set(cpu_index, workload_kind_name(cfg->kind),
                       workload_pattern_name(cfg->pattern), ctl->region_gpa,
                       size, cfg->rate_mbps);
    return true;
}

bool workload_sample(int cpu_index, WorkloadSample *out, Error **errp)
{
    struct rs_ctl *ctl;

    if (cpu_index < 0 || cpu_index >= cpus_count()) {
        error_setg(errp, "workload: cpu %d does not exist (0 to %d)",
                   cpu_index, cpus_count() - 1);
        return false;
    }
    ctl = machine_ctl(cpu_index);
    memset(out, 0, sizeof(*out));
    out->cpu_index = cpu_index;
    out->host_ns = g_get_monotonic_time() * 1000;
    out->generation = __atomic_load_n(&ctl->generation, __ATOMIC_ACQUIRE);
    out->kind = ctl->kind;
    out->pattern = ctl->pattern;
    out->region_gpa = ctl->region_gpa;
    out->region_size = ctl->region_size;
    out->rate_mbps = ctl->rate_bytes_per_s / MiB;
    out->seen_generation = __atomic_load_n(&ctl->seen_generation,
                                           __ATOMIC_ACQUIRE);
    out->iterations = __atomic_load_n(&ctl->iterations, __ATOMIC_RELAXED);
    out->pages_written = __atomic_load_n(&ctl->pages_written,
                                         __ATOMIC_RELAXED);
    out->bytes_read = __atomic_load_n(&ctl->bytes_read, __ATOMIC_RELAXED);
    out->sweeps = __atomic_load_n(&ctl->sweeps, __ATOMIC_RELAXED);
    out->guest_tsc = __atomic_load_n(&ctl->last_tsc, __ATOMIC_RELAXED);
    out->exits = __atomic_load_n(&cpus_get(cpu_index)->exit_count,
                                 __ATOMIC_RELAXED);
    return true;
}
