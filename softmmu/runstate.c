/*
 * Run state, the main loop, and the requests that change them: stop,
 * cont, shutdown, guest crash.  Requests from other threads are carried
 * out on the main thread under the VM lock.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>

#include "qapi/qapi-events.h"
#include "sysemu/cpus.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

static RunState current_run_state = RUN_STATE_PRELAUNCH;
static GMainLoop *main_loop;
static int shutdown_requested;         /* (atomic) */
static ShutdownCause shutdown_cause;   /* main thread */

RunState runstate_get(void)
{
    return current_run_state;
}

bool runstate_is_running(void)
{
    return current_run_state == RUN_STATE_RUNNING;
}

void runstate_set(RunState state)
{
    trace_runstate_set(RunState_str(current_run_state), RunState_str(state));
    current_run_state = state;
}

static bool runstate_needs_reset(void)
{
    return current_run_state == RUN_STATE_GUEST_PANICKED ||
           current_run_state == RUN_STATE_INTERNAL_ERROR ||
           current_run_state == RUN_STATE_SHUTDOWN;
}

void vm_stop(RunState state)
{
    assert(vm_lock_held());
    trace_vm_stop(RunState_str(state));
    if (runstate_is_running()) {
        pause_all_vcpus();
        runstate_set(state);
        qapi_event_send_stop();
    } else {
        pause_all_vcpus();
        runstate_set(state);
    }
}

void vm_shutdown(void)
{
    assert(vm_lock_held());
    trace_vm_stop(RunState_str(RUN_STATE_SHUTDOWN));
    pause_all_vcpus();
    runstate_set(RUN_STATE_SHUTDOWN);
}

bool vm_start(Error **errp)
{
    assert(vm_lock_held());
    if (runstate_is_running()) {
        return true;
    }
    if (runstate_needs_reset()) {
        error_setg(errp, "the guest cannot be resumed from state '%s': "
                   "restart restraint", RunState_str(current_run_state));
        return false;
    }
    if (current_run_state == RUN_STATE_INMIGRATE) {
        error_setg(errp, "guest is waiting for an incoming migration");
        return false;
    }
    if (current_run_state == RUN_STATE_FINISH_MIGRATE) {
        error_setg(errp, "a migration is switching over: wait for it to end "
                   "or cancel it");
        return false;
    }
    trace_vm_start();
    runstate_set(RUN_STATE_RUNNING);
    resume_all_vcpus();
    qapi_event_send_resume();
    return true;
}

/*
 * On the main loop, after the request's own reply: QEMU sends quit's
 * reply first, then SHUTDOWN, and no STOP (see vm_shutdown()).
 */
static gboolean shutdown_cb(gpointer opaque)
{
    qapi_event_send_shutdown(shutdown_cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
                             shutdown_cause);
    if (main_loop) {
        g_main_loop_quit(main_loop);
    }
    return G_SOURCE_REMOVE;
}

void qemu_system_shutdown_request(ShutdownCause cause)
{
    if (__atomic_exchange_n(&shutdown_requested, 1, __ATOMIC_SEQ_CST)) {
        return; /* the first cause wins */
    }
    trace_shutdown_request(ShutdownCause_str(cause));
    shutdown_cause = cause;
    g_idle_add(shutdown_cb, NULL);
}

bool qemu_system_shutdown_requested(void)
{
    return __atomic_load_n(&shutdown_requested, __ATOMIC_SEQ_CST);
}

typedef struct HaltRequest {
    int cpu_index;
    bool crash;
    char *why;
} HaltRequest;

static gboolean halt_request_cb(gpointer opaque)
{
    HaltRequest *req = opaque;

    vm_lock();
    if (req->crash) {
        error_report("guest crashed on cpu %d: %s", req->cpu_index,
                     req->why);
        qapi_event_send_guest_panicked(GUEST_PANIC_ACTION_PAUSE);
        vm_stop(RUN_STATE_GUEST_PANICKED);
    } else {
        error_report("cpu %d stopped: %s", req->cpu_index, req->why);
        vm_stop(RUN_STATE_INTERNAL_ERROR);
    }
    vm_unlock();
    g_free(req->why);
    g_free(req);
    return G_SOURCE_REMOVE;
}

static void halt_request(int cpu_index, bool crash, const char *why)
{
    HaltRequest *req = g_new0(HaltRequest, 1);

    req->cpu_index = cpu_index;
    req->crash = crash;
    req->why = g_strdup(why);
    g_idle_add(halt_request_cb, req);
}

void qemu_system_guest_panicked(int cpu_index, const char *why)
{
    halt_request(cpu_index, true, why);
}

void qemu_system_internal_error(int cpu_index, const char *why)
{
    halt_request(cpu_index, false, why);
}

static gboolean signal_cb(gpointer opaque)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

void main_loop_init(void)
{
    main_loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, signal_cb, NULL);
    g_unix_signal_add(SIGTERM, signal_cb, NULL);
    g_unix_signal_add(SIGHUP, signal_cb, NULL);
}

ShutdownCause main_loop_run(void)
{
    if (!qemu_system_shutdown_requested()) {
        g_main_loop_run(main_loop);
    }
    /* Let queued events and replies reach their clients. */
    for (int i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++) {
    }
    return shutdown_cause;
}

void main_loop_cleanup(void)
{
    if (main_loop) {
        g_main_loop_unref(main_loop);
        main_loop = NULL;
    }
}
