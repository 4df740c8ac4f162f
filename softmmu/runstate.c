/*
 * Run state, the main loop, and the requests that change them: stop,
 * cont, shutdown, guest crash.  Requests from other threads are carried
 * out on the main thread under the VM lock.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>

#include "qapi/qapi-events.h"
#include "qemu/atomic.h"
#include "sysemu/cpus.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

typedef struct RunStateTransition {
    RunState from;
    RunState to;
    unsigned by;
} RunStateTransition;

/*
 * Every legal transition; anything else is refused (QEMU keeps such a
 * table too, runstate_transitions_def).  docs/devel/vcpu-threads.md
 * draws it.  A plain stop acts only on a running VM: paused,
 * finish-migrate and guest-panicked have no stop row to paused.
 */
static const RunStateTransition runstate_transitions[] = {
    /* -S, -incoming */
    { RUN_STATE_PRELAUNCH, RUN_STATE_RUNNING, RS_BY_START },
    { RUN_STATE_PRELAUNCH, RUN_STATE_INMIGRATE, RS_BY_SET },
    { RUN_STATE_PRELAUNCH, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    { RUN_STATE_PRELAUNCH, RUN_STATE_INTERNAL_ERROR, RS_BY_STOP },
    { RUN_STATE_PRELAUNCH, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    { RUN_STATE_RUNNING, RUN_STATE_PAUSED, RS_BY_STOP },
    { RUN_STATE_RUNNING, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    { RUN_STATE_RUNNING, RUN_STATE_GUEST_PANICKED, RS_BY_STOP },
    { RUN_STATE_RUNNING, RUN_STATE_INTERNAL_ERROR, RS_BY_STOP },
    { RUN_STATE_RUNNING, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    { RUN_STATE_PAUSED, RUN_STATE_RUNNING, RS_BY_START },
    { RUN_STATE_PAUSED, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    /* A crash a vCPU reported just before a stop took effect. */
    { RUN_STATE_PAUSED, RUN_STATE_GUEST_PANICKED, RS_BY_STOP },
    { RUN_STATE_PAUSED, RUN_STATE_INTERNAL_ERROR, RS_BY_STOP },
    { RUN_STATE_PAUSED, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    /*
     * The switchover: completed, or back to where the guest was (a
     * running guest goes through paused, then vm_start()).  Nothing
     * else leaves it; a crash meanwhile is recorded, not applied.
     */
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_POSTMIGRATE, RS_BY_SET },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_PAUSED, RS_BY_SET },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_PRELAUNCH, RS_BY_SET },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_GUEST_PANICKED, RS_BY_SET },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_INTERNAL_ERROR, RS_BY_SET },
    { RUN_STATE_FINISH_MIGRATE, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    /* The destination owns the guest; migrating again is allowed. */
    { RUN_STATE_POSTMIGRATE, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    { RUN_STATE_POSTMIGRATE, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    /*
     * Arrived as the source was (migration/incoming.c).  A stop while
     * waiting has no guest to pause: it keeps the arriving one paused.
     */
    { RUN_STATE_INMIGRATE, RUN_STATE_PAUSED,
      RS_BY_SET | RS_BY_STOP_ON_ARRIVAL },
    { RUN_STATE_INMIGRATE, RUN_STATE_GUEST_PANICKED, RS_BY_SET },
    { RUN_STATE_INMIGRATE, RUN_STATE_INTERNAL_ERROR,
      RS_BY_SET | RS_BY_STOP },
    { RUN_STATE_INMIGRATE, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    /* Until the process ends (restraint has no reset). */
    { RUN_STATE_GUEST_PANICKED, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    { RUN_STATE_GUEST_PANICKED, RUN_STATE_SHUTDOWN, RS_BY_STOP },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_FINISH_MIGRATE, RS_BY_STOP },
    { RUN_STATE_INTERNAL_ERROR, RUN_STATE_SHUTDOWN, RS_BY_STOP },

    /* A new machine in the same process (tests that create several). */
    { RUN_STATE_SHUTDOWN, RUN_STATE_PRELAUNCH, RS_BY_SET },
};

/* No fault reported (guest_fault). */
#define RUNSTATE_NO_FAULT RUN_STATE__MAX

typedef struct RunStateMachine {
    RunState current;           /* VM lock */
    /*
     * A vm_stop() or vm_start() is under way (VM lock): it set the new
     * state, then dropped the lock to wait for the vCPUs.  Every other
     * transition waits on @idle until it is done, so transitions happen
     * one at a time and in the order they took the state.
     */
    bool busy;
    QemuCond idle;
    RunState before_migration;  /* VM lock: what finish-migrate stopped */
    bool stop_on_arrival;       /* VM lock: a stop came in inmigrate */
    /*
     * (atomic) The first guest-panicked or internal-error a vCPU
     * reported, from the instant it halted: the stop that follows on
     * the main loop may come late or, during a switchover, not at all.
     */
    int guest_fault;
} RunStateMachine;

static RunStateMachine rsm = {
    .current = RUN_STATE_PRELAUNCH,
    .before_migration = RUN_STATE_PRELAUNCH,
    .guest_fault = RUNSTATE_NO_FAULT,
};
static GMainLoop *main_loop;
static int shutdown_requested;         /* (atomic) */
static ShutdownCause shutdown_cause;   /* main thread */

RunState runstate_get(void)
{
    return rsm.current;
}

bool runstate_is_running(void)
{
    return rsm.current == RUN_STATE_RUNNING;
}

bool runstate_transition_allowed(RunState from, RunState to, unsigned by)
{
    for (size_t i = 0; i < G_N_ELEMENTS(runstate_transitions); i++) {
        const RunStateTransition *t = &runstate_transitions[i];

        if (t->from == from && t->to == to && (t->by & by)) {
            return true;
        }
    }
    return false;
}

/* Wait for the transition under way, then own the state machine. */
static void runstate_begin(void)
{
    assert(vm_lock_held());
    while (rsm.busy) {
        vm_cond_wait(&rsm.idle);
    }
    rsm.busy = true;
}

static void runstate_end(void)
{
    rsm.busy = false;
    qemu_cond_broadcast(&rsm.idle);
}

/* Take the transition to @to if the table lets @by take it. */
static bool runstate_change(RunState to, unsigned by)
{
    RunState from = rsm.current;

    if (!runstate_transition_allowed(from, to, by)) {
        trace_runstate_refused(RunState_str(from), RunState_str(to));
        return false;
    }
    trace_runstate_set(RunState_str(from), RunState_str(to));
    if (to == RUN_STATE_FINISH_MIGRATE) {
        rsm.before_migration = from;
    } else if (to == RUN_STATE_PRELAUNCH) {
        qatomic_set_seq(&rsm.guest_fault, RUNSTATE_NO_FAULT);
        rsm.stop_on_arrival = false;
    }
    rsm.current = to;
    return true;
}

bool runstate_set(RunState state)
{
    bool ok;

    runstate_begin();
    ok = rsm.current == state || runstate_change(state, RS_BY_SET);
    runstate_end();
    return ok;
}

static RunState runstate_fault(void)
{
    return qatomic_read_seq(&rsm.guest_fault);
}

static bool runstate_needs_reset(RunState state)
{
    return state == RUN_STATE_GUEST_PANICKED ||
           state == RUN_STATE_INTERNAL_ERROR ||
           state == RUN_STATE_SHUTDOWN;
}

RunState runstate_before_migration(void)
{
    RunState fault = runstate_fault();

    assert(vm_lock_held());
    if (fault != RUNSTATE_NO_FAULT &&
        !runstate_needs_reset(rsm.before_migration)) {
        return fault;
    }
    return rsm.before_migration;
}

/* vm_stop() and vm_shutdown(): set @state, pause, STOP if @send_stop. */
static bool vm_stop_as(RunState state, bool send_stop)
{
    RunState from;
    bool ok = true;

    runstate_begin();
    from = rsm.current;
    trace_vm_stop(RunState_str(from), RunState_str(state));
    if (from != state &&
        runstate_transition_allowed(from, state, RS_BY_STOP_ON_ARRIVAL)) {
        /* No guest yet, nothing to pause and no STOP: it arrives so. */
        trace_vm_stop_on_arrival(RunState_str(from), RunState_str(state));
        rsm.stop_on_arrival = true;
        runstate_end();
        return true;
    }
    if (from != state) {
        ok = runstate_change(state, RS_BY_STOP);
    }
    if (ok) {
        /* Set before the wait: meanwhile everyone sees the new state. */
        pause_all_vcpus();
        if (send_stop && from == RUN_STATE_RUNNING) {
            qapi_event_send_stop();
        }
    }
    runstate_end();
    return ok;
}

bool runstate_stop_on_arrival(void)
{
    assert(vm_lock_held());
    return rsm.stop_on_arrival;
}

bool vm_stop(RunState state)
{
    return vm_stop_as(state, true);
}

void vm_shutdown(void)
{
    /* Every state may end in shutdown (the table says so); no STOP. */
    bool ok = vm_stop_as(RUN_STATE_SHUTDOWN, false);

    assert(ok);
}

/* Why vm_start() cannot run the guest from @state (QEMU's wording). */
static void vm_start_refused(RunState state, Error **errp)
{
    switch (state) {
    case RUN_STATE_INMIGRATE:
        error_setg(errp, "guest is waiting for an incoming migration");
        break;
    case RUN_STATE_FINISH_MIGRATE:
        error_setg(errp, "migration is not finalized yet: wait for it to "
                   "complete, or cancel it with migrate_cancel");
        break;
    case RUN_STATE_POSTMIGRATE:
        error_setg(errp, "the guest migrated and runs on the destination "
                   "now: migrate it back to run it here");
        break;
    default:
        error_setg(errp, "the guest cannot be resumed from state '%s': "
                   "restart restraint", RunState_str(state));
        break;
    }
}

bool vm_start(Error **errp)
{
    RunState fault = runstate_fault();
    bool ok = true;

    runstate_begin();
    if (rsm.current == RUN_STATE_RUNNING) {
        /* Nothing to do. */
    } else if (fault != RUNSTATE_NO_FAULT) {
        /* Halted vCPUs never run again, whatever the state says yet. */
        vm_start_refused(fault, errp);
        ok = false;
    } else if (!runstate_change(RUN_STATE_RUNNING, RS_BY_START)) {
        vm_start_refused(rsm.current, errp);
        ok = false;
    } else {
        trace_vm_start();
        resume_all_vcpus();
        qapi_event_send_resume();
    }
    runstate_end();
    return ok;
}

bool vm_end_migration(bool completed, Error **errp)
{
    RunState back;
    bool ok;

    runstate_begin();
    if (rsm.current != RUN_STATE_FINISH_MIGRATE) {
        /* Someone else ended it (the process is shutting down). */
        runstate_end();
        return true;
    }
    back = completed ? RUN_STATE_POSTMIGRATE : runstate_before_migration();
    ok = runstate_change(back == RUN_STATE_RUNNING ? RUN_STATE_PAUSED : back,
                         RS_BY_SET);
    runstate_end();
    assert(ok);
    return back != RUN_STATE_RUNNING || vm_start(errp);
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
    if (qatomic_xchg(&shutdown_requested, 1)) {
        return; /* the first cause wins */
    }
    trace_shutdown_request(ShutdownCause_str(cause));
    shutdown_cause = cause;
    g_idle_add(shutdown_cb, NULL);
}

bool qemu_system_shutdown_requested(void)
{
    return qatomic_read_seq(&shutdown_requested);
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
    } else {
        error_report("cpu %d stopped: %s", req->cpu_index, req->why);
    }
    /*
     * The first fault decides.  During a switchover the stop is refused
     * and the migration carries the fault (runstate_before_migration()).
     */
    if (runstate_fault() != RUNSTATE_NO_FAULT) {
        vm_stop(runstate_fault());
    }
    vm_unlock();
    g_free(req->why);
    g_free(req);
    return G_SOURCE_REMOVE;
}

static void halt_request(int cpu_index, bool crash, const char *why)
{
    HaltRequest *req = g_new0(HaltRequest, 1);
    int none = RUNSTATE_NO_FAULT;

    /* Recorded at once: vm_start() refuses from now on. */
    qatomic_cmpxchg(&rsm.guest_fault, &none,
                    crash ? RUN_STATE_GUEST_PANICKED :
                    RUN_STATE_INTERNAL_ERROR);

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

void runstate_vcpu_halted(int cpu_index, CPUHaltReason reason,
                          const char *why)
{
    halt_request(cpu_index, reason == CPU_HALT_GUEST_CRASH, why);
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
