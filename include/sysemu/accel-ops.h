/*
 * What an accelerator does for the vCPU loop of softmmu/cpus.c (QEMU's
 * AccelOpsClass).  accel/kvm fills one table (kvm_accel_ops); the start-up
 * hands it to cpus_set_accel_ops() (softmmu/vl-connect.c), so the loop
 * calls the accelerator only through it and the accelerator never calls
 * the loop.  Types only: no layer below softmmu names a function here.
 */
#ifndef SYSEMU_ACCEL_OPS_H
#define SYSEMU_ACCEL_OPS_H

#include <signal.h>

#include "hw/core/cpu.h"

/* What one run_once() did, for the loop to act on. */
typedef enum AccelRunResult {
    ACCEL_RUN_EXITED,   /* the guest exited and the exit was handled */
    ACCEL_RUN_KICKED,   /* a kick interrupted the run: acknowledge it */
    ACCEL_RUN_HALTED,   /* the vCPU can never run again: see halt_request */
} AccelRunResult;

typedef struct AccelOps {
    /* Create the vCPU in the accelerator; main thread, before its thread. */
    bool (*init_vcpu)(CPUState *cpu, Error **errp);
    /*
     * On the vCPU's new thread, before the loop: @run_mask is the signal
     * mask to use while guest code runs (the kick signal unblocked).
     * False after cpu_request_halt(): the vCPU never runs.
     */
    bool (*init_vcpu_thread)(CPUState *cpu, const sigset_t *run_mask);
    /*
     * Run guest code once and handle the exit, on the vCPU's thread with
     * no lock held.  A handler that cannot go on calls cpu_request_halt()
     * and run_once() returns ACCEL_RUN_HALTED.
     */
    AccelRunResult (*run_once)(CPUState *cpu);
    /* Any thread, after exit_request was set: make run_once() return soon. */
    void (*kick)(CPUState *cpu);
    /* Undo init_vcpu(); main thread, after the vCPU's thread ended. */
    void (*destroy_vcpu)(CPUState *cpu);
} AccelOps;

#endif /* SYSEMU_ACCEL_OPS_H */
