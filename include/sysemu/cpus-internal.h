/*
 * The contract between softmmu/cpus.c (threads, run state of each vCPU)
 * and the accelerator's KVM_RUN loop.  Only accel/kvm and softmmu use it.
 */
#ifndef SYSEMU_CPUS_INTERNAL_H
#define SYSEMU_CPUS_INTERNAL_H

#include "hw/core/cpu.h"

/* Signal used for kicks: blocked everywhere except inside KVM_RUN. */
#define SIG_IPI SIGUSR1

/*
 * Called by the vCPU thread before each KVM_RUN: parks the thread while
 * the vCPU is paused or halted, returns false when the thread must end.
 */
bool cpu_wait_runnable(CPUState *cpu);
/* After KVM_RUN returned EINTR: consume the kick. */
void cpu_kick_acknowledge(CPUState *cpu);
/* The vCPU can never run again (crash, KVM error).  Its own thread. */
void cpu_halt(CPUState *cpu, CPUHaltReason reason, const char *why);
bool cpu_halt_pending(CPUState *cpu);
/* A pause or shutdown has been asked for: sleeps end early. */
bool cpu_stop_pending(CPUState *cpu);

/*
 * Block @cpu's own thread (outside KVM_RUN, no lock held but the vCPU's
 * sleep lock) until @done(@opaque) is true, a kick arrives or a pause or
 * quit is asked for.  @done runs under the sleep lock, and whoever makes
 * it true calls cpu_wake() after publishing, so no wakeup is lost between
 * the check and the sleep.  Returns the nanoseconds waited.
 */
int64_t cpu_wait_event(CPUState *cpu, bool (*done)(void *opaque),
                       void *opaque);

/* Create @n vCPUs (parked) and their threads.  VM lock not held. */
bool cpus_init(int n, uint64_t entry_rip, Error **errp);
/* End every vCPU thread and free the vCPUs.  VM lock not held. */
void cpus_cleanup(void);

/* KVM_EXIT_DIRTY_RING_FULL: harvest this vCPU's ring (accel/kvm). */
bool kvm_handle_dirty_ring_full(CPUState *cpu);

#endif /* SYSEMU_CPUS_INTERNAL_H */
