/*
 * main(): the command line, initialisation in order, the main loop,
 * teardown in reverse.
 */
#include "qemu/osdep.h"

#include <signal.h>

#include "hw/machine.h"
#include "migration/dirtyrate.h"
#include "migration/misc.h"
#include "monitor/live-view.h"
#include "monitor/metrics.h"
#include "monitor/monitor.h"
#include "monitor/qmp-probe.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/daemonize.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/vcpu-throttle.h"
#include "sysemu/vl-connect.h"
#include "sysemu/vl-machine.h"
#include "sysemu/vl-options.h"
#include "sysemu/vm-lock.h"
#include "trace/control.h"

static bool vl_init_trace(const VLOptions *opts, Error **errp)
{
    if (opts->trace_file && !trace_set_output(opts->trace_file, errp)) {
        return false;
    }
    for (guint i = 0; i < opts->trace_patterns->len; i++) {
        const char *pattern = g_ptr_array_index(opts->trace_patterns, i);

        if (!trace_enable_pattern(pattern)) {
            warn_report("-trace %s: no trace event matches", pattern);
        }
    }
    return true;
}

/* -mon chardev=ID: a monitor on the -chardev's socket. */
static bool vl_init_mons(const VLOptions *opts, Error **errp)
{
    for (guint i = 0; opts->mons && i < opts->mons->len; i++) {
        const VLMonitor *mon = g_ptr_array_index(opts->mons, i);
        const VLChardev *chr = vl_find_chardev(opts, mon->chardev_id);

        if (!monitor_init_chardev(chr->id, chr->path, chr->fd, mon->control,
                                  errp)) {
            return false;
        }
    }
    return true;
}

static bool vl_init_monitors(const VLOptions *opts, Error **errp)
{
    if (!vl_init_mons(opts, errp)) {
        return false;
    }
    for (guint i = 0; i < opts->qmp_specs->len; i++) {
        if (!monitor_init_qmp(g_ptr_array_index(opts->qmp_specs, i), errp)) {
            return false;
        }
    }
    for (guint i = 0; i < opts->monitor_specs->len; i++) {
        if (!monitor_init_hmp(g_ptr_array_index(opts->monitor_specs, i),
                              errp)) {
            return false;
        }
    }
    return true;
}

/*
 * -machine none (libvirt's capability probe) needs no KVM to answer
 * queries: like QEMU with accel=kvm:tcg, it runs without, and query-kvm
 * says so.  A real machine cannot.
 */
static bool vl_init_kvm(const VLOptions *opts, Error **errp)
{
    Error *err = NULL;

    if (kvm_init(&opts->accel, &err)) {
        return true;
    }
    if (!opts->machine_none) {
        error_propagate(errp, err);
        return false;
    }
    error_free(err);
    return true;
}

static bool vl_start(const VLOptions *opts, Error **errp)
{
    bool ok = true;

    vm_lock();
    if (opts->incoming) {
        runstate_set(RUN_STATE_INMIGRATE);
    } else if (!opts->start_paused) {
        ok = vm_start(errp);
    }
    vm_unlock();
    return ok;
}

int main(int argc, char **argv)
{
    g_autoptr(VLOptions) opts = vl_options_new();
    Error *err = NULL;
    int status = EXIT_FAILURE;

    /* A monitor peer that goes away must not kill the VM. */
    signal(SIGPIPE, SIG_IGN);

    if (!vl_parse_args(opts, argc, argv, &err)) {
        error_report_err(err);
        return EXIT_FAILURE;
    }
    if (opts->help) {
        fputs(vl_usage(), stdout);
        return EXIT_SUCCESS;
    }
    if (opts->trace_help) {
        trace_list_events(stdout);
        return EXIT_SUCCESS;
    }
    if (opts->version) {
        printf("restraint version %s (QMP-compatible with QEMU 8.2)\n",
               RESTRAINT_VERSION);
        return EXIT_SUCCESS;
    }

    /* Before any thread starts: only the daemon comes back. */
    if (opts->daemonize && !vl_daemonize_start(&err)) {
        goto out;
    }
    qmp_probe_set_uuid(opts->uuid);

    /* Initialisation, in order; each step is undone below in reverse. */
    if (!vl_load_secrets(opts, &err) ||
        (opts->pidfile && !vl_pidfile_write(opts->pidfile, &err)) ||
        !vl_init_trace(opts, &err)) {
        goto out;
    }
    main_loop_init();
    vl_connect();
    if (!vl_init_kvm(opts, &err)) {
        goto out_loop;
    }
    if (!opts->machine_none && !machine_init(opts, &err)) {
        goto out_kvm;
    }
    /* Before the monitors print: the view claims its screen lines. */
    if (!live_view_init(opts->live_view, &err)) {
        goto out_monitors;
    }
    if (!vl_init_monitors(opts, &err)) {
        goto out_monitors;
    }
    if (!vl_start(opts, &err)) {
        goto out_monitors;
    }
    if (opts->incoming &&
        !migration_incoming_init(opts->incoming, !opts->start_paused, &err)) {
        goto out_monitors;
    }
    if (opts->metrics_spec && !metrics_init(opts->metrics_spec, &err)) {
        goto out_monitors;
    }

    /* Listening, pidfile written: whoever waits for the daemon may go. */
    vl_daemonize_ready();

    main_loop_run();
    status = EXIT_SUCCESS;

    vm_lock();
    vm_shutdown();
    vm_unlock();
out_monitors:
    /* The views give the terminal back and stop their sampling. */
    live_view_cleanup();
    metrics_cleanup();
    /* Migration threads use the vCPUs and RAM and emit events: first. */
    migration_shutdown();
    monitor_cleanup();
    /* Threads that read the vCPUs and RAM end before those go. */
    dirtyrate_cleanup();
    dirtyrate_stat_cleanup();
    memory_cleanup();
    machine_cleanup();
    /* The throttles forget their vCPUs, then the actuator its timers. */
    cpu_throttle_cleanup();
    dirtylimit_cleanup();
    vcpu_throttle_cleanup();
out_kvm:
    kvm_cleanup();
out_loop:
    main_loop_cleanup();
out:
    if (err) {
        error_report_err(err);
    }
    trace_cleanup();
    qmp_probe_set_uuid(NULL);
    vl_pidfile_remove();
    return status;
}
