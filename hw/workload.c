/*
 * Workloads of the built-in guest: written into the control blocks under
 * the ABI's sequence count, ground truth read back without exits.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "hw/machine.h"
#include "hw/replay.h"
#include "hw/workload.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "trace.h"

static const char *const workload_kind_names[RS_WL__MAX] = {
    [RS_WL_IDLE] = "idle",
    [RS_WL_WRITE] = "write",
    [RS_WL_READ] = "read",
    [RS_WL_MIXED] = "mixed",
    [RS_WL_STAMP] = "stamp",
    [RS_WL_REPLAY] = "replay",
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

bool workload_replay_speed(double speed, uint32_t *speed_milli,
                           Error **errp)
{
    double milli = speed * RS_REPLAY_SPEED_ONE;

    /* Written so that NaN fails too. */
    if (!(milli >= RS_REPLAY_MIN_SPEED_MILLI &&
          milli <= RS_REPLAY_MAX_SPEED_MILLI)) {
        error_setg(errp, "workload: speed %g is out of range [0.001, 1000]",
                   speed);
        return false;
    }
    *speed_milli = (uint32_t)(milli + 0.5);
    return true;
}

/*
 * Where vCPU @cpu_index's region lies: @cfg's offset, or by default its
 * slice's base, moved down just enough for a larger region to end inside
 * RAM.  Any range of RAM above the system area is allowed; regions of
 * several vCPUs may overlap (docs/guest-abi.md says what such a page
 * counts for).
 */
static bool workload_region(int cpu_index, const WorkloadConfig *cfg,
                            uint64_t ram_bytes, uint64_t *gpa,
                            uint64_t *size_bytes, Error **errp)
{
    uint64_t work_bytes = ram_bytes - RS_WORK_BASE;
    uint64_t size = cfg->size_bytes;
    uint64_t base = cfg->has_offset ? cfg->offset_bytes
                                    : machine_slice_base(cpu_index);

    if (cfg->has_offset &&
        (base < RS_WORK_BASE || base >= ram_bytes ||
         !QEMU_IS_ALIGNED(base, RS_PAGE_SIZE))) {
        error_setg(errp, "workload: offset 0x%" PRIx64 " must be a multiple "
                   "of 4 KiB from 0x%" PRIx64 " (above the system area) to "
                   "below 0x%" PRIx64 " (the end of RAM)", base,
                   RS_WORK_BASE, ram_bytes);
        return false;
    }
    if (size == 0) {
        size = MIN(machine_slice_bytes(), ram_bytes - base);
    }
    if (size == 0 || !QEMU_IS_ALIGNED(size, RS_PAGE_SIZE) ||
        size > work_bytes) {
        error_setg(errp, "workload: size %" PRIu64 " must be a multiple of "
                   "4 KiB from 4 KiB to %" PRIu64 " MiB (guest RAM above the "
                   "16 MiB system area)", size, work_bytes / MiB);
        return false;
    }
    if (size > ram_bytes - base) {
        if (cfg->has_offset) {
            error_setg(errp, "workload: offset 0x%" PRIx64 " + size %" PRIu64
                       " ends past the end of RAM (0x%" PRIx64 ")", base,
                       size, ram_bytes);
            return false;
        }
        base = ram_bytes - size;
    }
    *gpa = base;
    *size_bytes = size;
    return true;
}

bool workload_set(int cpu_index, const WorkloadConfig *cfg, Error **errp)
{
    struct rs_ctl *ctl;
    uint64_t gpa, size;
    uint64_t gen;
    uint32_t speed_milli = cfg->replay_speed_milli ? cfg->replay_speed_milli
                                                   : RS_REPLAY_SPEED_ONE;
    ReplayPlan plan = { 0 };

    if (cpu_index < 0 || cpu_index >= cpus_count()) {
        error_setg(errp, "workload: cpu %d does not exist (0 to %d)",
                   cpu_index, cpus_count() - 1);
        return false;
    }
    if (cfg->kind >= RS_WL__MAX || cfg->pattern >= RS_PAT__MAX) {
        error_setg(errp, "workload: bad kind or pattern");
        return false;
    }
    ctl = machine_ctl(cpu_index);
    if (!workload_region(cpu_index, cfg, ctl->ram_size, &gpa, &size, errp)) {
        return false;
    }
    if (cfg->rate_mbps > (1ULL << 40)) {
        error_setg(errp, "workload: rate %" PRIu64 " MB/s is out of range",
                   cfg->rate_mbps);
        return false;
    }
    if (cfg->kind == RS_WL_REPLAY) {
        if (!cfg->trace_path) {
            error_setg(errp, "workload: kind replay needs trace=FILE");
            return false;
        }
        if (speed_milli < RS_REPLAY_MIN_SPEED_MILLI ||
            speed_milli > RS_REPLAY_MAX_SPEED_MILLI) {
            error_setg(errp, "workload: speed must be from 0.001 to 1000");
            return false;
        }
        /* Everything is checked before the guest sees any change. */
        if (!replay_plan(cfg->trace_path, cfg->replay_pid, gpa, size, &plan,
                         errp)) {
            return false;
        }
    }
    /*
     * Sequence count: odd while the fields change (guest-abi.h).  The
     * exchange's acquire keeps the field stores below after it (the
     * job of a release fence, which ThreadSanitizer does not model).
     */
    gen = ctl->generation;
    qatomic_xchg_acq_rel(&ctl->generation, gen | 1);
    ctl->kind = cfg->kind;
    ctl->pattern = cfg->pattern;
    if (cfg->kind == RS_WL_REPLAY) {
        /* The guest rereads the schedule when it adopts this generation. */
        ctl->replay_gpa = plan.schedule_gpa;
        ctl->replay_speed_milli = speed_milli;
        ctl->replay_flags = cfg->replay_loop ? RS_REPLAY_F_LOOP : 0;
        replay_info_set(cpu_index, cfg->trace_path, &plan, speed_milli,
                        cfg->replay_loop);
        replay_lay_out(&plan);
    } else {
        replay_info_clear(cpu_index);
    }
    ctl->region_gpa = gpa;
    ctl->region_size = size;
    ctl->rate_bytes_per_s = cfg->rate_mbps * MiB;
    ctl->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)cpu_index;
    qatomic_store_release(&ctl->generation, (gen | 1) + 1);
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
    out->host_ns = clock_ns();
    out->generation = qatomic_load_acquire(&ctl->generation);
    out->kind = ctl->kind;
    out->pattern = ctl->pattern;
    out->region_gpa = ctl->region_gpa;
    out->region_size = ctl->region_size;
    out->rate_mbps = ctl->rate_bytes_per_s / MiB;
    out->seen_generation = qatomic_load_acquire(&ctl->seen_generation);
    out->iterations = qatomic_read(&ctl->iterations);
    out->pages_written = qatomic_read(&ctl->pages_written);
    out->bytes_read = qatomic_read(&ctl->bytes_read);
    out->sweeps = qatomic_read(&ctl->sweeps);
    out->guest_tsc = qatomic_read(&ctl->last_tsc);
    out->workload_status = qatomic_read(&ctl->workload_status);
    out->visits = qatomic_read(&ctl->visits);
    out->replay_intervals = qatomic_read(&ctl->replay_intervals);
    out->replay_loops = qatomic_read(&ctl->replay_loops);
    out->replay_interval_pages = qatomic_read(&ctl->replay_interval_pages);
    out->replay_lag_us = qatomic_read(&ctl->replay_lag_us);
    out->exits = qatomic_read(&cpus_get(cpu_index)->exit_count);
    return true;
}
