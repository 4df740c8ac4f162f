/*
 * A vCPU's architectural state as KVM holds it, for migration
 * (accel/kvm/kvm-state.c: the only code that calls KVM_GET/SET_REGS,
 * SREGS, FPU and MSRS for that).  The vCPU must be paused.
 */
#ifndef SYSEMU_KVM_CPU_STATE_H
#define SYSEMU_KVM_CPU_STATE_H

#include <linux/kvm.h>

#include "hw/core/cpu.h"

typedef struct KVMCPUState {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    uint64_t tsc;               /* IA32_TSC, guest cycles */
} KVMCPUState;

/* Read @cpu's state; it must be outside KVM_RUN (paused). */
bool kvm_cpu_state_save(CPUState *cpu, KVMCPUState *out, Error **errp);
/* Write @cpu's state; it must be outside KVM_RUN (paused). */
bool kvm_cpu_state_load(CPUState *cpu, const KVMCPUState *in, Error **errp);

#endif /* SYSEMU_KVM_CPU_STATE_H */
