/*
 * Run state of the VM and the requests that change it.
 *
 * RunState is the QAPI enum of qapi/run-state.json (RUN_STATE_RUNNING ...).
 * All functions here are called with the VM lock held unless they say
 * otherwise.
 */
#ifndef SYSEMU_RUNSTATE_H
#define SYSEMU_RUNSTATE_H

#include "hw/core/cpu.h"
#include "qapi/qapi-types.h"

RunState runstate_get(void);
bool runstate_is_running(void);

/*
 * The run state machine (softmmu/runstate.c).  Transitions happen one at
 * a time: each waits until the one under way (which may have dropped the
 * VM lock to wait for the vCPUs) is done, and sets the new state before
 * it pauses or resumes anything.  A transition the table does not list
 * is refused and changes nothing.
 */

/* Who takes a transition: the rows of the table say which may. */
#define RS_BY_STOP  (1u << 0)   /* vm_stop() */
#define RS_BY_START (1u << 1)   /* vm_start() */
#define RS_BY_SET   (1u << 2)   /* runstate_set() */
/* vm_stop() before there is a guest to pause: it will arrive in @to. */
#define RS_BY_STOP_ON_ARRIVAL (1u << 3)
/* Does the table let @by move the VM from @from to @to? */
bool runstate_transition_allowed(RunState from, RunState to, unsigned by);

/*
 * Set the state without touching the vCPUs (start-up, the end of a
 * migration); false when the table refuses.  Setting the current state
 * is a no-op that succeeds.
 */
bool runstate_set(RunState state);

/*
 * Set @state, then pause every vCPU (none is inside KVM_RUN when this
 * returns) and emit STOP if the VM was running.  A plain stop
 * (RUN_STATE_PAUSED) acts only on a running VM; finish-migrate and the
 * guest's faults are entered from any stopped state the table allows.
 * False, with nothing changed, when the table refuses (the state stays
 * what it was, e.g. finish-migrate during a switchover).  Where the
 * table lets a stop take effect on arrival (RS_BY_STOP_ON_ARRIVAL: a
 * plain stop in inmigrate, QEMU's "autostart = 0"), the state stays, no
 * STOP is sent (nothing ran) and the guest arrives stopped: see
 * runstate_stop_on_arrival().
 */
bool vm_stop(RunState state);
/*
 * A stop came before the guest arrived (vm_stop() in inmigrate): an
 * incoming guest that ran on its source must stay paused here, as with
 * -S.  VM lock held.
 */
bool runstate_stop_on_arrival(void);
/*
 * Set RUN_STATE_RUNNING, resume every vCPU, emit RESUME.  Refused with a
 * message naming why in inmigrate, finish-migrate, postmigrate, after a
 * guest fault (even one the main loop has not applied yet).
 */
bool vm_start(Error **errp);
/* At exit: pause every vCPU, state shutdown, no STOP (QEMU's way). */
void vm_shutdown(void);

/*
 * What vm_stop(RUN_STATE_FINISH_MIGRATE) found, as the migration must
 * hand it on (QEMU's global state): running, paused, prelaunch,
 * postmigrate, or the guest's fault, including one a vCPU reported that
 * the switchover kept from being applied.
 */
RunState runstate_before_migration(void);
/*
 * Leave finish-migrate: postmigrate when @completed, else back to the
 * state before the migration (a running guest runs again).  Nothing
 * when the VM is no longer in finish-migrate (shutting down).
 */
bool vm_end_migration(bool completed, Error **errp);

/*
 * Ask the main loop to shut down (QMP quit, SIGINT, SIGTERM): emits
 * SHUTDOWN (after the reply to the request that asked) and ends
 * main_loop_run().  Safe from any thread.  QMP's quit
 * passes SHUTDOWN_CAUSE_HOST_QMP_QUIT.
 */
void qemu_system_shutdown_request(ShutdownCause cause);
bool qemu_system_shutdown_requested(void);

/* A vCPU crashed the guest (triple fault, panic doorbell).  Any thread. */
void qemu_system_guest_panicked(int cpu_index, const char *why);
/* KVM could not run a vCPU.  Any thread. */
void qemu_system_internal_error(int cpu_index, const char *why);
/*
 * The halt notifier softmmu/cpus.c calls (cpus_set_halt_notifier(), wired
 * by softmmu/vl-connect.c): one of the two above, by @reason.
 */
void runstate_vcpu_halted(int cpu_index, CPUHaltReason reason,
                          const char *why);

/* The main loop (softmmu/runstate.c), run by main() in softmmu/vl.c. */
void main_loop_init(void);
/* Runs until a shutdown request; returns the cause. */
ShutdownCause main_loop_run(void);
void main_loop_cleanup(void);

#endif /* SYSEMU_RUNSTATE_H */
