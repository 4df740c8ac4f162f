/*
 * Run state of the VM and the requests that change it.
 *
 * RunState is the QAPI enum of qapi/run-state.json (RUN_STATE_RUNNING ...).
 * All functions here are called with the VM lock held unless they say
 * otherwise.
 */
#ifndef SYSEMU_RUNSTATE_H
#define SYSEMU_RUNSTATE_H

#include "qapi/qapi-types.h"

RunState runstate_get(void);
bool runstate_is_running(void);
/* Set the state; emits nothing. */
void runstate_set(RunState state);

/*
 * Pause every vCPU (none is inside KVM_RUN when this returns), set
 * @state, emit STOP if the VM was running.
 */
void vm_stop(RunState state);
/* At exit: pause every vCPU, state shutdown, no STOP (QEMU's way). */
void vm_shutdown(void);
/* Resume every vCPU, set RUN_STATE_RUNNING, emit RESUME. */
bool vm_start(Error **errp);

/*
 * Ask the main loop to shut down (QMP quit, SIGINT, SIGTERM): the main
 * loop emits SHUTDOWN (after the reply to the request that asked) and
 * main_loop_run() returns.  Safe from any thread.  QMP's quit
 * passes SHUTDOWN_CAUSE_HOST_QMP_QUIT.
 */
void qemu_system_shutdown_request(ShutdownCause cause);
bool qemu_system_shutdown_requested(void);

/* A vCPU crashed the guest (triple fault, panic doorbell).  Any thread. */
void qemu_system_guest_panicked(int cpu_index, const char *why);
/* KVM could not run a vCPU.  Any thread. */
void qemu_system_internal_error(int cpu_index, const char *why);

/* The main loop (softmmu/runstate.c), run by main() in softmmu/vl.c. */
void main_loop_init(void);
/* Runs until a shutdown request; returns the cause. */
ShutdownCause main_loop_run(void);
void main_loop_cleanup(void);

#endif /* SYSEMU_RUNSTATE_H */
