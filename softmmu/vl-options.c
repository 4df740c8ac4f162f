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
    g_free(opts->memory_backend_id);
    g_free(opts->uuid);
    g_free(opts->pidfile);
    if (opts->objects) {
        g_ptr_array_unref(opts->objects);
    }
    if (opts->chardevs) {
        g_ptr_array_unref(opts->chardevs);
    }
    if (opts->mons) {
        g_ptr_array_unref(opts->mons);
    }
    g_free(opts);
}

static bool parse_ram(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "size", "memory", "-m", errp);
    const char *size;
    uint64_t bytes;

    if (!kv) {
        return false;
    }
    size = g_hash_table_lookup(kv, "size");
    if (!size || !qemu_strtosz(size, MiB, &bytes)) {
        error_setg(errp, "-m %s: not a size (examples: 512, 512M, 4G)", arg);
        return false;
    }
    if (!vl_check_ram_size("-m", bytes, errp)) {
        error_prepend(errp, "%s: ", arg);
        return false;
    }
    opts->ram_bytes = bytes;
    opts->ram_given = true;
    return true;
}

static bool parse_accel(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "accel", "accel", "-accel",
                                         errp);
    const char *accel, *ring, *v;
    uint64_t entries = 0, period_ms;

    if (!kv) {
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

static bool parse_incoming(VLOptions *opts, const char *arg, Error **errp)
{
    if (strcmp(arg, "defer") && !g_str_has_prefix(arg, "tcp:") &&
        !g_str_has_prefix(arg, "unix:") && !g_str_has_prefix(arg, "exec:") &&
        !g_str_has_prefix(arg, "fd:")) {
        error_setg(errp, "-incoming %s: expected tcp:HOST:PORT, unix:PATH, "
                   "exec:COMMAND, fd:N or defer", arg);
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
    for (guint i = 0; opts->daemonize && i < opts->monitor_specs->len; i++) {
        if (!strcmp(g_ptr_array_index(opts->monitor_specs, i), "stdio")) {
            error_setg(errp, "-daemonize sends stdio to /dev/null: give "
                       "-monitor a socket, not stdio");
            return false;
        }
    }
    if (opts->daemonize && opts->live_view == LIVE_VIEW_ON) {
        error_setg(errp, "-daemonize sends stdout to /dev/null: -x-live on "
                   "would show nothing");
        return false;
    }
    if (opts->daemonize) {
        /* stdout is a terminal only until the daemon is ready. */
        opts->live_view = LIVE_VIEW_OFF;
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

static bool parse_kernel(VLOptions *opts, const char *arg, Error **errp)
{
    g_free(opts->kernel_path);
    opts->kernel_path = g_strdup(arg);
    return true;
}

static bool parse_qmp(VLOptions *opts, const char *arg, Error **errp)
{
    g_ptr_array_add(opts->qmp_specs, g_strdup(arg));
    return true;
}

static bool parse_monitor(VLOptions *opts, const char *arg, Error **errp)
{
    g_ptr_array_add(opts->monitor_specs, g_strdup(arg));
    return true;
}

static bool parse_trace(VLOptions *opts, const char *arg, Error **errp)
{
    if (!strcmp(arg, "help")) {
        opts->trace_help = true;
    } else {
        g_ptr_array_add(opts->trace_patterns, g_strdup(arg));
    }
    return true;
}

static bool parse_live(VLOptions *opts, const char *arg, Error **errp)
{
    if (!live_view_parse_mode(arg, &opts->live_view)) {
        error_setg(errp, "-x-live %s: must be on, off or auto", arg);
        return false;
    }
    return true;
}

static bool parse_metrics(VLOptions *opts, const char *arg, Error **errp)
{
    if (!g_str_has_prefix(arg, "tcp:")) {
        error_setg(errp, "-metrics %s: expected tcp:HOST:PORT "
                   "(e.g. tcp:127.0.0.1:9100)", arg);
        return false;
    }
    g_free(opts->metrics_spec);
    opts->metrics_spec = g_strdup(arg);
    return true;
}

static bool parse_trace_file(VLOptions *opts, const char *arg, Error **errp)
{
    g_free(opts->trace_file);
    opts->trace_file = g_strdup(arg);
    return true;
}

static bool parse_pidfile(VLOptions *opts, const char *arg, Error **errp)
{
    g_free(opts->pidfile);
    opts->pidfile = g_strdup(arg);
    return true;
}

static bool parse_display(VLOptions *opts, const char *arg, Error **errp)
{
    if (strcmp(arg, "none")) {
        error_setg(errp, "-display %s: restraint has no display: only "
                   "'none'", arg);
        return false;
    }
    return true;
}

/* Flags: no argument. */
static bool parse_help(VLOptions *opts, const char *arg, Error **errp)
{
    opts->help = true;
    return true;
}

static bool parse_version(VLOptions *opts, const char *arg, Error **errp)
{
    opts->version = true;
    return true;
}

static bool parse_paused(VLOptions *opts, const char *arg, Error **errp)
{
    opts->start_paused = true;
    return true;
}

static bool parse_mem_prealloc(VLOptions *opts, const char *arg,
                               Error **errp)
{
    opts->mem_prealloc = true;
    return true;
}

static bool parse_daemonize(VLOptions *opts, const char *arg, Error **errp)
{
    opts->daemonize = true;
    return true;
}

/*
 * Options libvirt (and QEMU users) pass that change nothing here:
 * restraint reads no config files, creates no default devices, has no
 * display, audio, ACPI, RTC choice or boot order, does not reboot, and
 * locks no memory.  -no-shutdown is accepted although restraint exits
 * on shutdown as QEMU does without it.  -sandbox is accepted, not
 * applied: restraint installs no seccomp filter.
 */
static bool parse_ignored(VLOptions *opts, const char *arg, Error **errp)
{
    return true;
}

typedef struct VLOptionDef {
    const char *name;
    bool takes_arg;
    bool (*parse)(VLOptions *opts, const char *arg, Error **errp);
} VLOptionDef;

static const VLOptionDef vl_option_defs[] = {
    { "-h", false, parse_help },
    { "-help", false, parse_help },
    { "-version", false, parse_version },
    { "-S", false, parse_paused },
    { "-daemonize", false, parse_daemonize },
    { "-m", true, parse_ram },
    { "-mem-prealloc", false, parse_mem_prealloc },
    { "-smp", true, vl_parse_smp },
    { "-machine", true, vl_parse_machine },
    { "-M", true, vl_parse_machine },
    { "-accel", true, parse_accel },
    { "-object", true, vl_parse_object },
    { "-kernel", true, parse_kernel },
    { "-workload", true, vl_parse_workload },
    { "-name", true, vl_parse_name },
    { "-uuid", true, vl_parse_uuid },
    { "-qmp", true, parse_qmp },
    { "-monitor", true, parse_monitor },
    { "-chardev", true, vl_parse_chardev },
    { "-mon", true, vl_parse_mon },
    { "-pidfile", true, parse_pidfile },
    { "-incoming", true, parse_incoming },
    { "-trace", true, parse_trace },
    { "-D", true, parse_trace_file },
    { "-x-live", true, parse_live },
    { "-metrics", true, parse_metrics },
    { "-display", true, parse_display },
    /* Accepted and ignored: see parse_ignored(). */
    { "-no-user-config", false, parse_ignored },
    { "-nodefaults", false, parse_ignored },
    { "-nographic", false, parse_ignored },
    { "-no-acpi", false, parse_ignored },
    { "-no-reboot", false, parse_ignored },
    { "-no-shutdown", false, parse_ignored },
    { "-overcommit", true, parse_ignored },
    { "-rtc", true, parse_ignored },
    { "-boot", true, parse_ignored },
    { "-audiodev", true, parse_ignored },
    { "-msg", true, parse_ignored },
    { "-sandbox", true, parse_ignored },
    { NULL, false, NULL },
};

static const VLOptionDef *vl_find_option(const char *name)
{
    for (const VLOptionDef *def = vl_option_defs; def->name; def++) {
        if (!strcmp(def->name, name)) {
            return def;
        }
    }
    return NULL;
}

bool vl_parse_args(VLOptions *opts, int argc, char **argv, Error **errp)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const VLOptionDef *def;
        const char *arg = NULL;

        /* QEMU accepts --opt for -opt. */
        if (opt[0] == '-' && opt[1] == '-') {
            opt++;
        }
        if (opt[0] != '-') {
            error_setg(errp, "'%s': not an option (see -help)", opt);
            return false;
        }
        def = vl_find_option(opt);
        if (!def) {
            error_setg(errp, "%s: unknown option (see -help)", opt);
            return false;
        }
        if (def->takes_arg) {
            if (i + 1 >= argc) {
                error_setg(errp, "%s: requires an argument", opt);
                return false;
            }
            arg = argv[++i];
        }
        if (!def->parse(opts, arg, errp)) {
            return false;
        }
    }
    return check_consistency(opts, errp) && vl_check_machine(opts, errp);
}
