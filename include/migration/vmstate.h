/*
 * vCPU and machine state in the migration stream (migration/vmstate.c).
 *
 * One MIG_REC_CPU record per vCPU carries VMSTATE_CPU_BYTES: a version
 * word, then KVM's x86-64 register structures as the kernel lays them
 * out (little-endian), then the TSC.  The machine's own state (page
 * tables, control blocks, the guest program) lives in the system area
 * of guest RAM and travels with it.  Decoding checks every field the
 * guest ABI fixes before anything reaches KVM.  One MIG_REC_RUN_STATE
 * record says what the destination becomes: running, paused or the
 * guest's fault.
 */
#ifndef MIGRATION_VMSTATE_H
#define MIGRATION_VMSTATE_H

#include "migration/stream.h"
#include "qapi/qapi-types.h"
#include "sysemu/kvm-cpu-state.h"

#define VMSTATE_CPU_VERSION 1u
/* version + reserved, regs, sregs, fpu, tsc; a multiple of 8. */
#define VMSTATE_CPU_BYTES (8 + sizeof(struct kvm_regs) + \
                           sizeof(struct kvm_sregs) + \
                           sizeof(struct kvm_fpu) + 8)

void vmstate_cpu_encode(const KVMCPUState *s, uint8_t *out);
/* Pure: checks @in against the guest ABI and a RAM of @ram_bytes. */
bool vmstate_cpu_decode(const uint8_t *in, size_t len, uint64_t ram_bytes,
                        KVMCPUState *out, Error **errp);

/* Save every vCPU's state (VM stopped) into @out, VMSTATE_CPU_BYTES each. */
bool vmstate_save_cpus(uint8_t *out, Error **errp);
/* Decode and check every vCPU's state, then load them all (VM stopped). */
bool vmstate_load_cpus(const uint8_t *in, Error **errp);

/*
 * The run state record: the source's state before the switchover (see
 * runstate_before_migration()) on the wire, and back.  A guest that was
 * merely stopped (paused, prelaunch, postmigrate) travels as paused.
 */
MigRunState vmstate_run_state_encode(RunState state);
RunState vmstate_run_state_decode(MigRunState state);

#endif /* MIGRATION_VMSTATE_H */
