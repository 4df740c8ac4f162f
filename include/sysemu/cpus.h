/*
 * vCPU threads and what other subsystems may ask of them
 * (softmmu/cpus.c).  The vCPU list, indexes, sleeps and wakes are the
 * object's own, in hw/core/cpu.h (hw/core/cpu.c), included here.
 */
#ifndef SYSEMU_CPUS_H
#define SYSEMU_CPUS_H

#include <stdint.h>
#include <sys/types.h>

#include "hw/core/cpu.h"

/*
 * Make the vCPU leave KVM_RUN (or an interruptible sleep) soon.  Any
 * thread.  Never lost: the vCPU re-checks its requests before re-entering.
 */
void cpu_kick(CPUState *cpu);

/*
 * Pause all vCPUs: when this returns, none is inside KVM_RUN.  VM lock,
 * which is dropped while waiting.  Only vm_stop() and vm_start()
 * (softmmu/runstate.c) pause and resume: they serialise the transitions.
 */
void pause_all_vcpus(void);
void resume_all_vcpus(void);
bool all_vcpus_paused(void);

#endif /* SYSEMU_CPUS_H */
