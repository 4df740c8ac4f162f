/*
 * Command-line parsing, QEMU's spelling.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/vl-options.h"

VLOptions *vl_options_new(void)
{
    VLOptions *opts = g_new0(VLOptions, 1);

    opts->ram_bytes = VL_DEFAULT_RAM_BYTES;
    opts->smp_cpus = 1;
    opts->accel.manual_protect = true;
    opts->accel.reaper_period_ms = KVM_REAPER_DEFAULT_PERIOD_MS;
    opts->qmp_specs = g_ptr_array_new_with_free_func(g_free);
    opts->monitor_specs = g_ptr_array_new_with_free_func(g_free);
    opts->trace_patterns = g_ptr_array_new_with_free_func(g_free);
    return opts;
}

void vl_options_free(VLOptions *opts)
{
    if (!opts) {
        return;
    }
    g_free(opts->kernel_path);
    g_free(opts->name);
    g_free(opts->incoming);
    g_free(opts->trace_file);
    g_free(opts->metrics_spec);
    g_ptr_array_unref(opts->qmp_specs);
    g_ptr_array_unref(opts->monitor_specs);
    g_ptr_array_unref(opts->trace_patterns);
    g_free(opts);
}

const char *vl_usage(void)
{
    return
"usage: restraint [options]\n"
"\n"
"Machine:\n"
"  -m SIZE            guest RAM (default 512M; suffixes K M G T, bare = MiB;\n"
"                     a multiple of 2 MiB, at least 18M, at most 249G;\n"
"                     mapped lazily)\n"
"  -mem-prealloc      fault all guest RAM in at start, with progress\n"
"  -smp N | cpus=N    number of vCPUs (default 1)\n"
"  -accel kvm[,dirty-ring-size=N]\n"
"                     KVM; N dirty-ring entries per vCPU (a power of two,\n"
"                     >= 1024), 0 or absent = dirty bitmap\n"
"  -kernel ELF        run this ELF64 (restraint guest ABI) instead of the\n"
"                     built-in workload guest\n"
"  -workload cpu=I,kind=idle|write|read|mixed|stamp[,size=SIZE][,rate=MBPS]\n"
"            [,pattern=seq|random]\n"
"                     what vCPU I runs (default idle); size of its region\n"
"                     (default: its whole slice of RAM), target MB/s\n"
"                     (MB = 2^20 bytes, 0 = full speed)\n"
"  -S                 do not start the vCPUs (use 'cont')\n"
"  -name NAME | guest=NAME\n"
"\n"
"Monitors:\n"
"  -qmp unix:PATH,server=on,wait=off | tcp:HOST:PORT,server=on,wait=off\n"
"  -monitor stdio | unix:PATH,server=on,wait=off\n"
"\n"
"Migration:\n"
"  -incoming URI | defer   wait for a migration (tcp:HOST:PORT, unix:PATH)\n"
"\n"
"Watching:\n"
"  -x-live on|off|auto\n"
"                     the live view: one line per vCPU each second on\n"
"                     stdout (dirty rate measured, the guest's own rates,\n"
"                     quota, time asleep); auto (default) = on when stdout\n"
"                     is a terminal; HMP 'x_live on|off' toggles it\n"
"  -metrics tcp:HOST:PORT\n"
"                     serve Prometheus metrics at http://HOST:PORT/metrics\n"
"                     (HOST empty = 127.0.0.1)\n"
"\n"
"Debugging:\n"
"  -trace PATTERN     enable trace events matching PATTERN (a glob, e.g.\n"
"                     'dirtylimit_*'; '-PATTERN' disables; may repeat);\n"
"                     -trace help lists the events\n"
"  -D FILE            write trace output to FILE instead of stderr\n"
"  -help, -h          this text\n"
"  -version           the version\n";
}

static bool parse_ram(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    const char *const allowed[] = { "size", NULL };
    const char *size;
    uint64_t bytes;

    kv = keyval_parse(arg, "size", "-m", errp);
    if (!kv || !keyval_check_keys(kv, allowed, "-m", errp)) {
        return false;
    }
    size = g_hash_table_lookup(kv, "size");
    if (!size || !qemu_strtosz(size, MiB, &bytes)) {
        error_setg(errp, "-m %s: not a size (examples: 512, 512M, 4G)", arg);
        return false;
    }
    if (bytes < VL_MIN_RAM_BYTES || bytes > VL_MAX_RAM_BYTES) {
        error_setg(errp, "-m %s: guest RAM must be between %" PRIu64 " MiB "
                   "and %" PRIu64 " GiB", arg, VL_MIN_RAM_BYTES / MiB,
                   VL_MAX_RAM_BYTES / GiB);
        return false;
    }
    if (!QEMU_IS_ALIGNED(bytes, 2 * MiB)) {
        error_setg(errp, "-m %s: guest RAM must be a multiple of 2 MiB", arg);
        return false;
    }
    opts->ram_bytes = bytes;
    return true;
}

static bool parse_smp(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    const char *const allowed[] = { "cpus", NULL };
    const char *cpus;
    uint64_t n;

    kv = keyval_parse(arg, "cpus", "-smp", errp);
    if (!kv || !keyval_check_keys(kv, allowed, "-smp", errp)) {
        return false;
    }
    cpus = g_hash_table_lookup(kv, "cpus");
    if (!cpus || !qemu_strtou64(cpus, &n) || n < 1 || n > RS_MAX_CPUS) {
        error_setg(errp, "-smp %s: the number of vCPUs must be an integer "
                   "from 1 to %d", arg, RS_MAX_CPUS);
        return false;
    }
    opts->smp_cpus = n;
    return true;
}

static bool parse_accel(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    const char *const allowed[] = { "accel", "dirty-ring-size",
                                    "x-manual-protect", "x-reaper-period-ms",
                                    NULL };
    const char *accel, *ring, *v;
    uint64_t entries = 0, period_ms;

    kv = keyval_parse(arg, "accel", "-accel", errp);
    if (!kv || !keyval_check_keys(kv, allowed, "-accel", errp)) {
        return false;
    }
    accel = g_hash_table_lookup(kv, "accel");
    if (!accel || strcmp(accel, "kvm")) {
        error_setg(errp, "-accel %s: restraint supports only 'kvm'",
                   accel ? accel : arg);
        return false;
    }
    ring = g_hash_table_lookup(kv, "dirty-ring-size");
    if (ring) {
        if (!qemu_strtou64(ring, &entries) || entries > UINT32_MAX) {
            error_setg(errp, "-accel kvm,dirty-ring-size=%s: not an "
                       "integer (entries per vCPU)", ring);
            return false;
        }
        if (entries && (entries < KVM_DIRTY_RING_MIN_ENTRIES ||
                        (entries & (entries - 1)))) {
            error_setg(errp, "-accel kvm,dirty-ring-size=%s: must be 0 "
                       "(dirty bitmap) or a power of two >= %d", ring,
                       KVM_DIRTY_RING_MIN_ENTRIES);
            return false;
        }
    }
    opts->accel.dirty_ring_entries = entries;
    v = g_hash_table_lookup(kv, "x-manual-protect");
    if (v) {
        if (strcmp(v, "on") && strcmp(v, "off")) {
            error_setg(errp, "-accel kvm,x-manual-protect=%s: must be on or "
                       "off", v);
            return false;
        }
        opts->accel.manual_protect = !strcmp(v, "on");
    }
    v = g_hash_table_lookup(kv, "x-reaper-period-ms");
    if (v) {
        /* 1 ms .. 1 s: longer would leave rings to fill up on their own. */
        if (!qemu_strtou64(v, &period_ms) || period_ms < 1 ||
            period_ms > 1000) {
            error_setg(errp, "-accel kvm,x-reaper-period-ms=%s: must be an "
                       "integer from 1 to 1000", v);
            return false;
        }
        opts->accel.reaper_period_ms = period_ms;
    }
    return true;
}

static bool parse_workload(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    const char *const allowed[] = { "cpu", "kind", "size", "rate",
                                    "pattern", NULL };
    const char *v;
    uint64_t cpu, n;
    WorkloadConfig cfg = { .kind = RS_WL_IDLE, .pattern = RS_PAT_SEQ };

    kv = keyval_parse(arg, NULL, "-workload", errp);
    if (!kv || !keyval_check_keys(kv, allowed, "-workload", errp)) {
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
                   "mixed or stamp", arg);
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
    if (opts->workload_given[cpu]) {
        error_setg(errp, "-workload %s: cpu %" PRIu64 " already has a "
                   "workload", arg, cpu);
        return false;
    }
    opts->workload_given[cpu] = true;
    opts->workloads[cpu] = cfg;
    return true;
}

static bool parse_name(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = NULL;
    const char *const allowed[] = { "guest", NULL };

    kv = keyval_parse(arg, "guest", "-name", errp);
    if (!kv || !keyval_check_keys(kv, allowed, "-name", errp)) {
        return false;
    }
    g_free(opts->name);
    opts->name = g_strdup(g_hash_table_lookup(kv, "guest"));
    return true;
}

static bool parse_incoming(VLOptions *opts, const char *arg, Error **errp)
{
    if (strcmp(arg, "defer") && !g_str_has_prefix(arg, "tcp:") &&
        !g_str_has_prefix(arg, "unix:")) {
        error_setg(errp, "-incoming %s: expected tcp:HOST:PORT, unix:PATH "
                   "or defer", arg);
        return false;
    }
    g_free(opts->incoming);
    opts->incoming = g_strdup(arg);
    return true;
}

static bool check_consistency(VLOptions *opts, Error **errp)
{
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        if (opts->workload_given[i] && i >= opts->smp_cpus) {
            error_setg(errp, "-workload cpu=%d: there are only %d vCPUs "
                       "(-smp)", i, opts->smp_cpus);
            return false;
        }
    }
    if (opts->kernel_path) {
        for (int i = 0; i < RS_MAX_CPUS; i++) {
            if (opts->workload_given[i]) {
                error_setg(errp, "-workload applies to the built-in guest "
                           "only, not to -kernel %s", opts->kernel_path);
                return false;
            }
        }
    }
    return true;
}

bool vl_parse_args(VLOptions *opts, int argc, char **argv, Error **errp)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *arg = NULL;
        bool ok = true;

        /* QEMU accepts --opt for -opt. */
        if (opt[0] == '-' && opt[1] == '-') {
            opt++;
        }
        if (!strcmp(opt, "-h") || !strcmp(opt, "-help")) {
            opts->help = true;
            continue;
        }
        if (!strcmp(opt, "-version")) {
            opts->version = true;
            continue;
        }
        if (!strcmp(opt, "-S")) {
            opts->start_paused = true;
            continue;
        }
        if (!strcmp(opt, "-mem-prealloc")) {
            opts->mem_prealloc = true;
            continue;
        }
        if (opt[0] != '-') {
            error_setg(errp, "'%s': not an option (see -help)", opt);
            return false;
        }
        if (i + 1 >= argc) {
            error_setg(errp, "%s: requires an argument", opt);
            return false;
        }
        arg = argv[++i];
        if (!strcmp(opt, "-m")) {
            ok = parse_ram(opts, arg, errp);
        } else if (!strcmp(opt, "-smp")) {
            ok = parse_smp(opts, arg, errp);
        } else if (!strcmp(opt, "-accel")) {
            ok = parse_accel(opts, arg, errp);
        } else if (!strcmp(opt, "-kernel")) {
            g_free(opts->kernel_path);
            opts->kernel_path = g_strdup(arg);
        } else if (!strcmp(opt, "-workload")) {
            ok = parse_workload(opts, arg, errp);
        } else if (!strcmp(opt, "-qmp")) {
            g_ptr_array_add(opts->qmp_specs, g_strdup(arg));
        } else if (!strcmp(opt, "-monitor")) {
            g_ptr_array_add(opts->monitor_specs, g_strdup(arg));
        } else if (!strcmp(opt, "-name")) {
            ok = parse_name(opts, arg, errp);
        } else if (!strcmp(opt, "-incoming")) {
            ok = parse_incoming(opts, arg, errp);
        } else if (!strcmp(opt, "-trace")) {
            if (!strcmp(arg, "help")) {
                opts->trace_help = true;
            } else {
                g_ptr_array_add(opts->trace_patterns, g_strdup(arg));
            }
        } else if (!strcmp(opt, "-x-live")) {
            if (!live_view_parse_mode(arg, &opts->live_view)) {
                error_setg(errp, "-x-live %s: must be on, off or auto", arg);
                return false;
            }
        } else if (!strcmp(opt, "-metrics")) {
            if (!g_str_has_prefix(arg, "tcp:")) {
                error_setg(errp, "-metrics %s: expected tcp:HOST:PORT "
                           "(e.g. tcp:127.0.0.1:9100)", arg);
                return false;
            }
            g_free(opts->metrics_spec);
            opts->metrics_spec = g_strdup(arg);
        } else if (!strcmp(opt, "-D")) {
            g_free(opts->trace_file);
            opts->trace_file = g_strdup(arg);
        } else {
            error_setg(errp, "%s: unknown option (see -help)", opt);
            return false;
        }
        if (!ok) {
            return false;
        }
    }
    return check_consistency(opts, errp);
}
