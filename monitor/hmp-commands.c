/*
 * The HMP command tables and the core commands.  Each handler parses
 * its words, calls the qmp_ function and prints the result.
 *
 * To add a command: write its handler (declared in monitor/hmp.h or the
 * subsystem's header) and add one line to a table below.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "migration/dirtyrate.h"
#include "monitor/live-view.h"
#include "monitor/monitor-internal.h"
#include "qapi/qapi-commands.h"
#include "sysemu/sysemu-hmp.h"
#include "sysemu/vm-lock.h"

const HMPCommand hmp_commands[] = {
    { "help", "[command]", "list the commands, or describe one", hmp_help },
    { "info", "subcommand", "show information; 'info' lists what",
      hmp_info },
    { "stop", "", "pause every vCPU", hmp_stop },
    { "cont", "", "resume every vCPU", hmp_cont },
    { "quit", "", "end restraint", hmp_quit },
    { "workload", "CPU KIND [size=SIZE] [offset=GPA] [rate=MBPS] "
      "[pattern=seq|random] [trace=FILE] [process=PID] [speed=X] "
      "[loop=on|off]",
      "change a vCPU's workload (KIND: idle|write|read|mixed|stamp|replay)",
      hmp_workload },
    { "calc_dirty_rate", "[-r] [-b] seconds [sample_pages_per_GB]",
      "start measuring the dirty page rate (-r: dirty ring, -b: dirty bitmap)",
      hmp_calc_dirty_rate },
    { "set_vcpu_dirty_limit", "dirty_rate [cpu_index]",
      "limit a vCPU's (default: every vCPU's) dirty page rate, MB/s",
      hmp_set_vcpu_dirty_limit },
    { "cancel_vcpu_dirty_limit", "[cpu_index]",
      "cancel a vCPU's (default: every vCPU's) dirty page rate limit",
      hmp_cancel_vcpu_dirty_limit },
    { "x_dirty_limit_policy", "duty-cycle|ring-full",
      "how dirty page rate limits are enforced", hmp_x_dirty_limit_policy },
    { "x_live", "[on|off]",
      "show or hide the live view on stdout (no argument: its state)",
      hmp_x_live },
    { "migrate", "[-d] uri", "migrate to uri (tcp:HOST:PORT, unix:PATH)",
      hmp_migrate },
    { "migrate_cancel", "", "cancel the current migration",
      hmp_migrate_cancel },
    { "migrate_incoming", "uri",
      "listen for an incoming migration (-incoming defer)",
      hmp_migrate_incoming },
    { "migrate_continue", "state", "continue a migration paused in state",
      hmp_migrate_continue },
    { "migrate_set_capability", "capability on|off",
      "turn a migration capability on or off", hmp_migrate_set_capability },
    { "migrate_set_parameter", "parameter value",
      "set a migration parameter", hmp_migrate_set_parameter },
    { NULL, NULL, NULL, NULL },
};

const HMPCommand hmp_info_commands[] = {
    { "status", "", "the VM's run state", hmp_info_status },
    { "version", "", "restraint's version", hmp_info_version },
    { "cpus", "", "the vCPUs and their host threads", hmp_info_cpus },
    { "workload", "", "each vCPU's workload, counters and rates",
      hmp_info_workload },
    { "dirty_tracking", "", "dirty ring/bitmap state and harvest counters",
      hmp_info_dirty_tracking },
    { "dirty_rate", "", "the last dirty page rate measurement",
      hmp_info_dirty_rate },
    { "vcpu_dirty_limit", "", "the vCPUs' dirty page rate limits",
      hmp_info_vcpu_dirty_limit },
    { "migrate", "", "migration status and statistics",
      hmp_info_migrate },
    { "migrate_capabilities", "", "migration capabilities",
      hmp_info_migrate_capabilities },
    { "migrate_parameters", "", "migration parameters",
      hmp_info_migrate_parameters },
    { NULL, NULL, NULL, NULL },
};

static void hmp_print_table(Monitor *mon, const char *prefix,
                            const HMPCommand *table, const char *only)
{
    bool found = false;

    for (const HMPCommand *cmd = table; cmd->name; cmd++) {
        if (only && strcmp(only, cmd->name) != 0) {
            continue;
        }
        found = true;
        monitor_printf(mon, "%s%s%s%s -- %s\n", prefix, cmd->name,
                       cmd->params[0] ? " " : "", cmd->params, cmd->help);
    }
    if (only && !found) {
        monitor_printf(mon, "unknown command: '%s'\n", only);
    }
}

void hmp_help(Monitor *mon, int argc, char **argv)
{
    if (!hmp_check_args(mon, argc, argv, 0, 1)) {
        return;
    }
    if (argc == 2 && strcmp(argv[1], "info") == 0) {
        hmp_print_table(mon, "info ", hmp_info_commands, NULL);
        return;
    }
    hmp_print_table(mon, "", hmp_commands, argc == 2 ? argv[1] : NULL);
}

void hmp_info(Monitor *mon, int argc, char **argv)
{
    for (const HMPCommand *cmd = hmp_info_commands; argc > 1 && cmd->name;
         cmd++) {
        if (strcmp(cmd->name, argv[1]) == 0) {
            cmd->fn(mon, argc - 1, argv + 1);
            return;
        }
    }
    if (argc > 1) {
        monitor_printf(mon, "unknown info subcommand: '%s'\n", argv[1]);
    }
    hmp_print_table(mon, "info ", hmp_info_commands, NULL);
}

void hmp_stop(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (hmp_check_args(mon, argc, argv, 0, 0)) {
        qmp_stop(&err);
        hmp_handle_error(mon, err);
    }
}

void hmp_cont(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (hmp_check_args(mon, argc, argv, 0, 0)) {
        qmp_cont(&err);
        hmp_handle_error(mon, err);
    }
}

void hmp_quit(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (hmp_check_args(mon, argc, argv, 0, 0)) {
        qmp_quit(&err);
        hmp_handle_error(mon, err);
    }
}

/* Replay options of the workload command: trace, process, speed, loop. */
typedef struct HMPReplayArgs {
    const char *trace;
    bool has_process, has_speed, has_loop, loop;
    int64_t process;
    double speed;
} HMPReplayArgs;

/* Parse @arg if it is a replay option; false if it is not one. */
static bool hmp_workload_replay_arg(const char *arg, HMPReplayArgs *r,
                                    Error **errp)
{
    const char *value = strchr(arg, '=') + 1;
    char *end;

    if (g_str_has_prefix(arg, "trace=")) {
        r->trace = value;
    } else if (g_str_has_prefix(arg, "process=")) {
        r->has_process = hmp_parse_int(value, "process", 0, INT32_MAX,
                                       &r->process, errp);
    } else if (g_str_has_prefix(arg, "speed=")) {
        r->speed = g_ascii_strtod(value, &end);
        r->has_speed = end != value && *end == '\0';
        if (!r->has_speed) {
            error_setg(errp, "speed '%s' is not a number", value);
        }
    } else if (g_str_has_prefix(arg, "loop=")) {
        r->has_loop = true;
        r->loop = !strcmp(value, "on");
        if (!r->loop && strcmp(value, "off")) {
            error_setg(errp, "loop '%s' is not on or off", value);
        }
    } else {
        return false;
    }
    return true;
}

/* workload CPU KIND [NAME=VALUE]...: see hmp_commands[] */
void hmp_workload(Monitor *mon, int argc, char **argv)
{
    int64_t cpu, kind, pattern = WORKLOAD_PATTERN_SEQ;
    uint64_t size_bytes = 0, offset_bytes = 0, rate_mbps = 0;
    bool has_size = false, has_offset = false, has_rate = false;
    bool has_pattern = false;
    HMPReplayArgs replay = { 0 };
    Error *err = NULL;

    if (!hmp_check_args(mon, argc, argv, 2, 10) ||
        !hmp_parse_int(argv[1], "CPU", 0, INT32_MAX, &cpu, &err)) {
        hmp_handle_error(mon, err);
        return;
    }
    kind = WorkloadKind_parse(argv[2]);
    if (kind < 0) {
        monitor_printf(mon, "Error: KIND '%s' is not one of idle, write, "
                       "read, mixed, stamp, replay\n", argv[2]);
        return;
    }
    for (int i = 3; i < argc && !err; i++) {
        const char *value = strchr(argv[i], '=');

        if (!value) {
            error_setg(&err, "'%s' is not NAME=VALUE", argv[i]);
        } else if (g_str_has_prefix(argv[i], "size=")) {
            has_size = hmp_parse_size(value + 1, &size_bytes, &err);
        } else if (g_str_has_prefix(argv[i], "offset=")) {
            has_offset = hmp_parse_size(value + 1, &offset_bytes, &err);
        } else if (g_str_has_prefix(argv[i], "rate=")) {
            int64_t mbps;

            has_rate = hmp_parse_int(value + 1, "rate", 0, INT64_MAX, &mbps,
                                     &err);
            rate_mbps = mbps;
        } else if (g_str_has_prefix(argv[i], "pattern=")) {
            pattern = WorkloadPattern_parse(value + 1);
            has_pattern = true;
            if (pattern < 0) {
                error_setg(&err, "pattern '%s' is not seq or random",
                           value + 1);
            }
        } else if (!hmp_workload_replay_arg(argv[i], &replay, &err)) {
            error_setg(&err, "unknown option '%s': size, offset, rate, "
                       "pattern, trace, process, speed or loop",
                       argv[i]);
        }
    }
    if (!err) {
        qmp_x_set_workload(cpu, kind, has_size, size_bytes, has_rate,
                           rate_mbps, has_pattern, pattern, has_offset,
                           offset_bytes, replay.trace, replay.has_process,
                           replay.process, replay.has_speed, replay.speed,
                           replay.has_loop, replay.loop, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_info_status(Monitor *mon, int argc, char **argv)
{
    g_autoptr(StatusInfo) info = qmp_query_status(NULL);

    monitor_printf(mon, "VM status: %s", info->running ? "running" :
                   "paused");
    if (!info->running && info->status != RUN_STATE_PAUSED) {
        monitor_printf(mon, " (%s)", RunState_str(info->status));
    }
    monitor_printf(mon, "\n");
}

void hmp_info_version(Monitor *mon, int argc, char **argv)
{
    g_autoptr(VersionInfo) info = qmp_query_version(NULL);

    monitor_printf(mon, "%" PRId64 ".%" PRId64 ".%" PRId64 " (%s)\n",
                   info->qemu->major, info->qemu->minor, info->qemu->micro,
                   info->package);
}

void hmp_info_cpus(Monitor *mon, int argc, char **argv)
{
    g_autoptr(CpuInfoFastList) cpus = qmp_query_cpus_fast(NULL);

    /* vCPU 0 is HMP's current CPU, marked '*' as QEMU does. */
    for (CpuInfoFastList *c = cpus; c; c = c->next) {
        monitor_printf(mon, "%c CPU #%" PRId64 ": thread_id=%" PRId64 "\n",
                       c->value->cpu_index == 0 ? '*' : ' ',
                       c->value->cpu_index, c->value->thread_id);
    }
}

/*
 * info workload: counters from x-query-workload, rates from two samples.
 * A sample from a previous 'info workload' serves as the first one when
 * it is recent enough; otherwise two are taken a short interval apart.
 */
#define HMP_WORKLOAD_MIN_INTERVAL_US (200 * 1000)   /* enough pages to count */
#define HMP_WORKLOAD_MAX_INTERVAL_US (60 * G_USEC_PER_SEC) /* still relevant */

typedef struct HMPWorkloadSample {
    int64_t time_us;            /* monotonic */
    WorkloadInfoList *list;
} HMPWorkloadSample;

static HMPWorkloadSample hmp_workload_last;

static bool hmp_workload_sample(HMPWorkloadSample *s, Error **errp)
{
    s->list = qmp_x_query_workload(errp);
    s->time_us = g_get_monotonic_time();
    return s->list != NULL;
}

static const WorkloadInfo *hmp_workload_find(const WorkloadInfoList *list,
                                             int64_t cpu_index)
{
    for (; list; list = list->next) {
        if (list->value->cpu_index == cpu_index) {
            return list->value;
        }
    }
    return NULL;
}

/* MB/s (MB = 2^20 bytes) from two byte counts; -1 when they went back. */
static double hmp_rate_mbps(uint64_t old_bytes, uint64_t new_bytes,
                            double seconds)
{
    if (new_bytes < old_bytes) {
        return -1;
    }
    return (double)(new_bytes - old_bytes) / MiB / seconds;
}

static void hmp_print_rate(Monitor *mon, int width, double mbps)
{
    if (mbps < 0) {
        monitor_printf(mon, "  %*s", width, "-");
    } else {
        monitor_printf(mon, "  %*.1f", width, mbps);
    }
}

void hmp_info_workload(Monitor *mon, int argc, char **argv)
{
    HMPWorkloadSample old = hmp_workload_last, now = { 0 };
    int64_t age_us = g_get_monotonic_time() - old.time_us;
    Error *err = NULL;
    double seconds;

    if (!old.list || age_us < HMP_WORKLOAD_MIN_INTERVAL_US ||
        age_us > HMP_WORKLOAD_MAX_INTERVAL_US) {
        qapi_free_WorkloadInfoList(old.list);
        old.list = NULL;
        if (!hmp_workload_sample(&old, &err)) {
            hmp_workload_last.list = NULL;
            hmp_handle_error(mon, err);
            return;
        }
        /* Only the main loop waits; the counters are read without exits. */
        vm_unlock();
        g_usleep(HMP_WORKLOAD_MIN_INTERVAL_US);
        vm_lock();
    }
    hmp_workload_last.list = NULL;
    if (!hmp_workload_sample(&now, &err)) {
        qapi_free_WorkloadInfoList(old.list);
        hmp_handle_error(mon, err);
        return;
    }
    seconds = (double)(now.time_us - old.time_us) / G_USEC_PER_SEC;

    monitor_printf(mon, "vCPU  kind    pattern  region MiB  target MB/s"
                   "  pages written  written MB/s  read MB/s      sweeps\n");
    for (WorkloadInfoList *l = now.list; l; l = l->next) {
        const WorkloadInfo *w = l->value;
        const WorkloadInfo *o = hmp_workload_find(old.list, w->cpu_index);

        monitor_printf(mon, "%4" PRId64 "  %-6s  %-7s  %10" PRIu64 "  ",
                       w->cpu_index, WorkloadKind_str(w->kind),
                       WorkloadPattern_str(w->pattern),
                       w->region_size / MiB);
        if (w->target_rate) {
            monitor_printf(mon, "%11" PRIu64, w->target_rate);
        } else {
            monitor_printf(mon, "%11s", "full");
        }
        monitor_printf(mon, "  %13" PRIu64, w->pages_written);
        hmp_print_rate(mon, 12,
                       o ? hmp_rate_mbps(o->pages_written * RS_PAGE_SIZE,
                                         w->pages_written * RS_PAGE_SIZE,
                                         seconds) : -1);
        hmp_print_rate(mon, 9, o ? hmp_rate_mbps(o->bytes_read,
                                                 w->bytes_read, seconds) : -1);
        monitor_printf(mon, "  %10" PRIu64 "\n", w->sweeps);
        if (w->replay) {
            const WorkloadReplayInfo *r = w->replay;

            monitor_printf(mon, "      replay %s pid %" PRId64 " at %gx%s: "
                           "interval %" PRIu64 " of %" PRIu64 " per pass, "
                           "%" PRIu64 " passes done, lag %" PRIu64 " ms\n",
                           r->trace, r->process, r->speed,
                           r->loop ? " (loop)" : "",
                           r->intervals_completed % r->intervals,
                           r->intervals, r->loops_completed,
                           r->lag_us / 1000);
        }
    }
    monitor_printf(mon, "rates over the last %.2f s\n", seconds);
    qapi_free_WorkloadInfoList(old.list);
    hmp_workload_last = now;
}
