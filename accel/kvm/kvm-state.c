/*
 * vCPU state save and restore for migration: registers, segment and
 * control registers, the x87/SSE state and the TSC.  Called with the
 * vCPU parked outside KVM_RUN (the VM is stopped or never started).
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>

#include "sysemu/kvm-cpu-state.h"
#include "trace.h"

/* The architectural MSR number of the time-stamp counter. */
#define KVM_MSR_IA32_TSC 0x10

typedef struct KVMTscMsr {
    struct kvm_msrs hdr;
    struct kvm_msr_entry entry;
} KVMTscMsr;

static bool kvm_cpu_ioctl(CPUState *cpu, unsigned long req, void *arg,
                          const char *name, Error **errp)
{
    if (ioctl(cpu->kvm_fd, req, arg) < 0) {
        error_setg_errno(errp, errno, "kvm: %s on cpu %d", name,
                         cpu->cpu_index);
        return false;
    }
    return true;
}

bool kvm_cpu_state_save(CPUState *cpu, KVMCPUState *out, Error **errp)
{
    KVMTscMsr msr = { .hdr.nmsrs = 1, .entry.index = KVM_MSR_IA32_TSC };
    int n;

    memset(out, 0, sizeof(*out));
    if (!kvm_cpu_ioctl(cpu, KVM_GET_REGS, &out->regs, "KVM_GET_REGS",
                       errp) ||
        !kvm_cpu_ioctl(cpu, KVM_GET_SREGS, &out->sregs, "KVM_GET_SREGS",
                       errp) ||
        !kvm_cpu_ioctl(cpu, KVM_GET_FPU, &out->fpu, "KVM_GET_FPU", errp)) {
        return false;
    }
    n = ioctl(cpu->kvm_fd, KVM_GET_MSRS, &msr);
    if (n != 1) {
        error_setg_errno(errp, n < 0 ? errno : EINVAL,
                         "kvm: KVM_GET_MSRS(IA32_TSC) on cpu %d",
                         cpu->cpu_index);
        return false;
    }
    out->tsc = msr.entry.data;
    trace_kvm_cpu_state_save(cpu->cpu_index, out->regs.rip, out->tsc);
    return true;
}

bool kvm_cpu_state_load(CPUState *cpu, const KVMCPUState *in, Error **errp)
{
    KVMTscMsr msr = { .hdr.nmsrs = 1, .entry.index = KVM_MSR_IA32_TSC,
                      .entry.data = in->tsc };
    KVMCPUState copy = *in;     /* the ioctls take non-const pointers */
    int n;

    if (!kvm_cpu_ioctl(cpu, KVM_SET_SREGS, &copy.sregs, "KVM_SET_SREGS",
                       errp) ||
        !kvm_cpu_ioctl(cpu, KVM_SET_REGS, &copy.regs, "KVM_SET_REGS",
                       errp) ||
        !kvm_cpu_ioctl(cpu, KVM_SET_FPU, &copy.fpu, "KVM_SET_FPU", errp)) {
        return false;
    }
    n = ioctl(cpu->kvm_fd, KVM_SET_MSRS, &msr);
    if (n != 1) {
        error_setg_errno(errp, n < 0 ? errno : EINVAL,
                         "kvm: KVM_SET_MSRS(IA32_TSC) on cpu %d",
                         cpu->cpu_index);
        return false;
    }
    trace_kvm_cpu_state_load(cpu->cpu_index, in->regs.rip, in->tsc);
    return true;
}
