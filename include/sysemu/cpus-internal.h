/*
 * What the start-up hands softmmu/cpus.c, and what only softmmu and the
 * start-up call: the accelerator's ops, the before-run hooks, the halt
 * notifier, creating and ending the vCPUs.  Lower layers (hw, accel)
 * include hw/core/cpu.h and sysemu/accel-ops.h instead.
 */
#ifndef SYSEMU_CPUS_INTERNAL_H
#define SYSEMU_CPUS_INTERNAL_H

#include "hw/core/cpu.h"
#include "sysemu/accel-ops.h"
#include "sysemu/cpus.h"

/* Signal used for kicks: blocked everywhere except inside KVM_RUN. */
#define SIG_IPI SIGUSR1

/* Before-run hooks a process may register (the throttles need one). */
#define CPUS_MAX_BEFORE_RUN_HOOKS 4

/* Called on a vCPU's thread before each run, no lock held. */
typedef void CPUBeforeRunHook(CPUState *cpu);
/* Called on the halted vCPU's thread, no lock held (see cpu_halt()). */
typedef void CPUHaltNotifier(int cpu_index, CPUHaltReason reason,
                             const char *why);

/*
 * The start-up's wiring (softmmu/vl-connect.c), before cpus_init(): no
 * vCPU thread may exist.  Registering a hook twice registers it once.
 */
void cpus_set_accel_ops(const AccelOps *ops);
void cpus_add_before_run_hook(CPUBeforeRunHook *fn);
void cpus_set_halt_notifier(CPUHaltNotifier *fn);

/*
 * The vCPU can never run again (crash, KVM error): mark it halted, then
 * tell the halt notifier.  Its own thread, no lock held.
 */
void cpu_halt(CPUState *cpu, CPUHaltReason reason, const char *why);

/* Create @n vCPUs (parked) and their threads.  VM lock not held. */
bool cpus_init(int n, uint64_t entry_rip, Error **errp);
/* End every vCPU thread and free the vCPUs.  VM lock not held. */
void cpus_cleanup(void);

#endif /* SYSEMU_CPUS_INTERNAL_H */
