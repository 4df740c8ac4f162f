/*
 * vCPU state in the migration stream: encode, decode and check, and the
 * thin wrappers that save and load every vCPU through accel/kvm; the
 * run state record's values.
 */
#include "qemu/osdep.h"

#include <endian.h>

#include "hw/guest-abi.h"
#include "migration/vmstate.h"
#include "sysemu/cpus.h"
#include "sysemu/physmem.h"
#include "trace.h"

/* A stream carries any vCPU count the guest ABI allows, no more. */
_Static_assert(MIG_MAX_CPUS == RS_MAX_CPUS,
               "the stream's vCPU limit is the guest ABI's");

/* Control bits the guest ABI's 64-bit CPL3 state needs (kvm-platform.md). */
#define VMSTATE_CR0_PE      (1ull << 0)
#define VMSTATE_CR0_PG      (1ull << 31)
#define VMSTATE_CR4_PAE     (1ull << 5)
#define VMSTATE_EFER_LME    (1ull << 8)
#define VMSTATE_EFER_LMA    (1ull << 10)
/* The guest runs in the lower half of the address space (guest ABI). */
#define VMSTATE_USER_VA_END (1ull << 47)
#define VMSTATE_CPL_USER    3

_Static_assert(VMSTATE_CPU_BYTES % 8 == 0,
               "vCPU state records must be a multiple of 8 bytes");

void vmstate_cpu_encode(const KVMCPUState *s, uint8_t *out)
{
    uint32_t head[2] = { htole32(VMSTATE_CPU_VERSION), 0 };
    uint64_t tsc = htole64(s->tsc);
    size_t off = 0;

    memcpy(out + off, head, sizeof(head));
    off += sizeof(head);
    memcpy(out + off, &s->regs, sizeof(s->regs));
    off += sizeof(s->regs);
    memcpy(out + off, &s->sregs, sizeof(s->sregs));
    off += sizeof(s->sregs);
    memcpy(out + off, &s->fpu, sizeof(s->fpu));
    off += sizeof(s->fpu);
    memcpy(out + off, &tsc, sizeof(tsc));
}

static bool vmstate_cpu_check(const KVMCPUState *s, uint64_t ram_bytes,
                              Error **errp)
{
    const struct kvm_sregs *sr = &s->sregs;

    if ((sr->cr0 & (VMSTATE_CR0_PE | VMSTATE_CR0_PG)) !=
        (VMSTATE_CR0_PE | VMSTATE_CR0_PG) || !(sr->cr4 & VMSTATE_CR4_PAE) ||
        (sr->efer & (VMSTATE_EFER_LME | VMSTATE_EFER_LMA)) !=
        (VMSTATE_EFER_LME | VMSTATE_EFER_LMA)) {
        error_setg(errp, "vCPU state is not in 64-bit paged mode (cr0 "
                   "0x%llx cr4 0x%llx efer 0x%llx)", sr->cr0, sr->cr4,
                   sr->efer);
        return false;
    }
    if (!sr->cs.l || sr->cs.dpl != VMSTATE_CPL_USER ||
        sr->ss.dpl != VMSTATE_CPL_USER) {
        error_setg(errp, "vCPU state is not 64-bit user mode (cs.l %u "
                   "cs.dpl %u ss.dpl %u)", sr->cs.l, sr->cs.dpl,
                   sr->ss.dpl);
        return false;
    }
    if ((sr->cr3 & ~(RS_PAGE_SIZE - 1)) >= ram_bytes) {
        error_setg(errp, "vCPU page table root 0x%llx is outside guest RAM",
                   sr->cr3);
        return false;
    }
    if (s->regs.rip >= VMSTATE_USER_VA_END) {
        error_setg(errp, "vCPU instruction pointer 0x%llx is outside the "
                   "guest's half of the address space", s->regs.rip);
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(sr->interrupt_bitmap); i++) {
        if (sr->interrupt_bitmap[i]) {
            error_setg(errp, "vCPU state has a pending interrupt; restraint "
                       "guests have no interrupt controller");
            return false;
        }
    }
    return true;
}

bool vmstate_cpu_decode(const uint8_t *in, size_t len, uint64_t ram_bytes,
                        KVMCPUState *out, Error **errp)
{
    uint32_t head[2];
    uint64_t tsc;
    size_t off = 0;

    if (len != VMSTATE_CPU_BYTES) {
        error_setg(errp, "vCPU state of %zu bytes, expected %zu", len,
                   (size_t)VMSTATE_CPU_BYTES);
        return false;
    }
    memcpy(head, in, sizeof(head));
    if (le32toh(head[0]) != VMSTATE_CPU_VERSION || head[1] != 0) {
        error_setg(errp, "vCPU state version %" PRIu32 " (reserved 0x%" PRIx32
                   "), expected version %u", le32toh(head[0]),
                   le32toh(head[1]), VMSTATE_CPU_VERSION);
        return false;
    }
    off += sizeof(head);
    memset(out, 0, sizeof(*out));
    memcpy(&out->regs, in + off, sizeof(out->regs));
    off += sizeof(out->regs);
    memcpy(&out->sregs, in + off, sizeof(out->sregs));
    off += sizeof(out->sregs);
    memcpy(&out->fpu, in + off, sizeof(out->fpu));
    off += sizeof(out->fpu);
    memcpy(&tsc, in + off, sizeof(tsc));
    out->tsc = le64toh(tsc);
    return vmstate_cpu_check(out, ram_bytes, errp);
}

bool vmstate_save_cpus(uint8_t *out, Error **errp)
{
    for (int i = 0; i < cpus_count(); i++) {
        KVMCPUState s;

        if (!kvm_cpu_state_save(cpus_get(i), &s, errp)) {
            return false;
        }
        vmstate_cpu_encode(&s, out + (size_t)i * VMSTATE_CPU_BYTES);
    }
    return true;
}

bool vmstate_load_cpus(const uint8_t *in, Error **errp)
{
    int n = cpus_count();
    g_autofree KVMCPUState *states = g_new0(KVMCPUState, n);

    /* Check all before loading any: a bad record changes nothing. */
    for (int i = 0; i < n; i++) {
        if (!vmstate_cpu_decode(in + (size_t)i * VMSTATE_CPU_BYTES,
                                VMSTATE_CPU_BYTES, ram_size(), &states[i],
                                errp)) {
            error_prepend(errp, "cpu %d: ", i);
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!kvm_cpu_state_load(cpus_get(i), &states[i], errp)) {
            return false;
        }
        trace_migration_vmstate_load_cpu(i, states[i].regs.rip);
    }
    return true;
}

MigRunState vmstate_run_state_encode(RunState state)
{
    switch (state) {
    case RUN_STATE_RUNNING:
        return MIG_RUN_RUNNING;
    case RUN_STATE_GUEST_PANICKED:
        return MIG_RUN_GUEST_PANICKED;
    case RUN_STATE_INTERNAL_ERROR:
        return MIG_RUN_INTERNAL_ERROR;
    default:
        /* Stopped by a user, never started, or migrated once before. */
        return MIG_RUN_PAUSED;
    }
}

RunState vmstate_run_state_decode(MigRunState state)
{
    switch (state) {
    case MIG_RUN_RUNNING:
        return RUN_STATE_RUNNING;
    case MIG_RUN_GUEST_PANICKED:
        return RUN_STATE_GUEST_PANICKED;
    case MIG_RUN_INTERNAL_ERROR:
        return RUN_STATE_INTERNAL_ERROR;
    case MIG_RUN_PAUSED:
        break;
    }
    /* mig_stream_load() refused every other value. */
    assert(state == MIG_RUN_PAUSED);
    return RUN_STATE_PAUSED;
}
