/*
 * vCPU threads and what other subsystems may ask of them.
 */
#ifndef SYSEMU_CPUS_H
#define SYSEMU_CPUS_H

#include <stdint.h>
#include <sys/types.h>

typedef struct CPUState CPUState;

int cpus_count(void);
CPUState *cpus_get(int cpu_index);       /* NULL when out of range */
int cpu_index(const CPUState *cpu);
pid_t cpu_thread_id(const CPUState *cpu); /* the CPU n/KVM thread's TID */

/*
 * Make the vCPU leave KVM_RUN (or an interruptible sleep) soon.  Any
 * thread.  Never lost: the vCPU re-checks its requests before re-entering.
 */
void cpu_kick(CPUState *cpu);
/*
 * Make a vCPU waiting in cpu_wait_event() look at its condition again,
 * without a kick (it stays in its wait unless the condition now holds).
 * Call it after publishing what the condition reads.
 */
void cpu_wake(CPUState *cpu);

/*
 * Sleep on the vCPU thread for at most @sleep_ns, returning early when
 * the vCPU is kicked for a pause or shutdown.  Returns the ns slept.
 * Called only on the vCPU's own thread, with no lock held.
 */
int64_t cpu_sleep_ns(CPUState *cpu, int64_t sleep_ns);

/*
 * Pause all vCPUs: when this returns, none is inside KVM_RUN.  VM lock,
 * which is dropped while waiting.  Only vm_stop() and vm_start()
 * (softmmu/runstate.c) pause and resume: they serialise the transitions.
 */
void pause_all_vcpus(void);
void resume_all_vcpus(void);
bool all_vcpus_paused(void);

#endif /* SYSEMU_CPUS_H */
