/*
 * -workload: what each vCPU of the built-in guest runs from the start,
 * including a recorded trace to replay.  Pure parsing into VLOptions.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "sysemu/vl-options.h"

/* -workload ...,kind=replay,trace=FILE[,process=PID][,speed=X][,loop=on] */
static bool parse_workload_replay(GHashTable *kv, const char *arg,
                                  WorkloadConfig *cfg, Error **errp)
{
    const char *trace = g_hash_table_lookup(kv, "trace");
    const char *v;
    uint64_t pid;
    char *end;
    double speed;

    if (cfg->kind != RS_WL_REPLAY) {
        if (trace || g_hash_table_lookup(kv, "process") ||
            g_hash_table_lookup(kv, "speed") ||
            g_hash_table_lookup(kv, "loop")) {
            error_setg(errp, "-workload %s: trace, process, speed and loop "
                       "are for kind=replay only", arg);
            return false;
        }
        return true;
    }
    if (!trace) {
        error_setg(errp, "-workload %s: kind=replay needs trace=FILE", arg);
        return false;
    }
    /* Kept for the life of the process: the file is loaded at startup. */
    cfg->trace_path = g_intern_string(trace);
    v = g_hash_table_lookup(kv, "process");
    if (v) {
        if (!qemu_strtou64(v, &pid) || pid > INT32_MAX) {
            error_setg(errp, "-workload %s: process must be a recorded pid "
                       "(dirty-trace-info --processes lists them)", arg);
            return false;
        }
        cfg->replay_pid = pid;
    }
    v = g_hash_table_lookup(kv, "speed");
    if (v) {
        speed = g_ascii_strtod(v, &end);
        if (end == v || *end) {
            error_setg(errp, "-workload %s: speed must be a number from "
                       "0.001 to 1000 (1 = as recorded)", arg);
            return false;
        }
        if (!workload_replay_speed(speed, &cfg->replay_speed_milli, errp)) {
            error_prepend(errp, "-workload %s: ", arg);
            return false;
        }
    }
    v = g_hash_table_lookup(kv, "loop");
    if (v && strcmp(v, "on") && strcmp(v, "off")) {
        error_setg(errp, "-workload %s: loop must be on or off", arg);
        return false;
    }
    cfg->replay_loop = v && !strcmp(v, "on");
    return true;
}

bool vl_parse_workload(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, NULL, "workload", "-workload",
                                         errp);
    const char *v;
    uint64_t cpu, n;
    WorkloadConfig cfg = { .kind = RS_WL_IDLE, .pattern = RS_PAT_SEQ,
                           .replay_pid = -1 };

    if (!kv) {
        return false;
    }
    v = g_hash_table_lookup(kv, "cpu");
    if (!v || !qemu_strtou64(v, &cpu) || cpu >= RS_MAX_CPUS) {
        error_setg(errp, "-workload %s: cpu=I is required, I from 0 to %d",
                   arg, RS_MAX_CPUS - 1);
        return false;
    }
    v = g_hash_table_lookup(kv, "kind");
    if (!v || !workload_kind_parse(v, &cfg.kind)) {
        error_setg(errp, "-workload %s: kind must be idle, write, read, "
                   "mixed, stamp or replay", arg);
        return false;
    }
    v = g_hash_table_lookup(kv, "pattern");
    if (v && !workload_pattern_parse(v, &cfg.pattern)) {
        error_setg(errp, "-workload %s: pattern must be seq or random", arg);
        return false;
    }
    v = g_hash_table_lookup(kv, "size");
    if (v) {
        if (!qemu_strtosz(v, 1, &n) || n == 0 ||
            !QEMU_IS_ALIGNED(n, RS_PAGE_SIZE)) {
            error_setg(errp, "-workload %s: size must be a non-zero multiple "
                       "of 4 KiB (e.g. 256M)", arg);
            return false;
        }
        cfg.size_bytes = n;
    }
    v = g_hash_table_lookup(kv, "offset");
    if (v) {
        /* The range against RAM is checked once RAM exists. */
        if (!qemu_strtosz(v, 1, &n) || !QEMU_IS_ALIGNED(n, RS_PAGE_SIZE)) {
            error_setg(errp, "-workload %s: offset must be a guest-physical "
                       "address, a multiple of 4 KiB (e.g. 512M)", arg);
            return false;
        }
        cfg.has_offset = true;
        cfg.offset_bytes = n;
    }
    v = g_hash_table_lookup(kv, "rate");
    if (v) {
        /* MB/s -> bytes/s must not overflow: cap at 2^40 MB/s. */
        if (!qemu_strtou64(v, &n) || n > (1ULL << 40)) {
            error_setg(errp, "-workload %s: rate must be an integer MB/s "
                       "(0 = full speed)", arg);
            return false;
        }
        cfg.rate_mbps = n;
    }
    if (!parse_workload_replay(kv, arg, &cfg, errp)) {
        return false;
    }
    if (opts->workload_given[cpu]) {
        error_setg(errp, "-workload %s: cpu %" PRIu64 " already has a "
                   "workload", arg, cpu);
        return false;
    }
    opts->workload_given[cpu] = true;
    opts->workloads[cpu] = cfg;
    return true;
}
