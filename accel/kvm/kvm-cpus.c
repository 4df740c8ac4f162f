/*
 * KVM vCPUs: creation, entry state, and one KVM_RUN with one handler per
 * exit reason.  kvm_accel_ops hands these to the vCPU loop of
 * softmmu/cpus.c; MMIO exits go to whichever device the machine put in
 * the dispatch table (hw/core/mmio.c).  Nothing here names a device, a
 * policy or the run state: a handler that cannot go on asks for a halt
 * (cpu_request_halt()) and the loop does the rest.
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include "hw/core/cpu.h"
#include "hw/core/mmio.h"
#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/accel-ops.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/kvm.h"
#include "trace.h"

/* CR0.PE|MP|ET|NE|WP|AM|PG: protected mode with paging, as 64-bit needs. */
#define GUEST_CR0 0x80050033ull
/* CR4.PAE|OSFXSR|OSXMMEXCPT|FSGSBASE: 4-level paging, no LA57. */
#define GUEST_CR4 0x10620ull
/* EFER.SCE|LME|LMA|NXE: long mode active. */
#define GUEST_EFER 0xd01ull
/* RFLAGS: reserved bit 1 and IF. */
#define GUEST_RFLAGS 0x202ull
/* Selectors of the 64-bit CPL3 code and data segments (GDT index 6/5). */
#define GUEST_CS_SELECTOR 0x33
#define GUEST_DS_SELECTOR 0x2b

static const char *const kvm_exit_names[] = {
    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
    [KVM_EXIT_IO] = "IO",
    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
    [KVM_EXIT_DEBUG] = "DEBUG",
    [KVM_EXIT_HLT] = "HLT",
    [KVM_EXIT_MMIO] = "MMIO",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
    [KVM_EXIT_INTR] = "INTR",
    [KVM_EXIT_SET_TPR] = "SET_TPR",
    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
    [KVM_EXIT_NMI] = "NMI",
    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [KVM_EXIT_OSI] = "OSI",
    [KVM_EXIT_WATCHDOG] = "WATCHDOG",
    [KVM_EXIT_EPR] = "EPR",
    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
    [KVM_EXIT_HYPERV] = "HYPERV",
    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
    [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
    [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
};

const char *kvm_exit_reason_name(uint32_t exit_reason)
{
    if (exit_reason < G_N_ELEMENTS(kvm_exit_names) &&
        kvm_exit_names[exit_reason]) {
        return kvm_exit_names[exit_reason];
    }
    return "(unnamed)";
}

uint64_t kvm_tsc_khz(void)
{
    CPUState *cpu = cpus_get(0);
    int khz;

    if (!cpu || cpu->kvm_fd < 0) {
        return 0;
    }
    khz = ioctl(cpu->kvm_fd, KVM_GET_TSC_KHZ, 0);
    return khz > 0 ? (uint64_t)khz : 0;
}

static void kvm_destroy_vcpu(CPUState *cpu);

static bool kvm_vcpu_set_entry_state(CPUState *cpu, Error **errp)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs = { 0 };
    struct kvm_segment code = {
        .base = 0, .limit = 0xfffff, .selector = GUEST_CS_SELECTOR,
        .type = 0xb /* execute/read, accessed */, .present = 1, .dpl = 3,
        .s = 1, .l = 1, .g = 1,
    };
    struct kvm_segment data = {
        .base = 0, .limit = 0xfffff, .selector = GUEST_DS_SELECTOR,
        .type = 0x3 /* read/write, accessed */, .present = 1, .dpl = 3,
        .s = 1, .db = 1, .g = 1,
    };

    if (ioctl(cpu->kvm_fd, KVM_GET_SREGS, &sregs) < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_GET_SREGS on cpu %d",
                         cpu->cpu_index);
        return false;
    }
    sregs.cr0 = GUEST_CR0;
    sregs.cr3 = RS_PML4_GPA;
    sregs.cr4 = GUEST_CR4;
    sregs.efer = GUEST_EFER;
    sregs.cs = code;
    sregs.ss = sregs.ds = sregs.es = sregs.fs = sregs.gs = data;
    memset(&sregs.ldt, 0, sizeof(sregs.ldt));
    if (ioctl(cpu->kvm_fd, KVM_SET_SREGS, &sregs) < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_SET_SREGS on cpu %d",
                         cpu->cpu_index);
        return false;
    }
    regs.rip = cpu->entry_rip;
    regs.rsp = cpu->entry_rsp;
    regs.rdi = cpu->entry_rdi;
    regs.rflags = GUEST_RFLAGS;
    if (ioctl(cpu->kvm_fd, KVM_SET_REGS, &regs) < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_SET_REGS on cpu %d",
                         cpu->cpu_index);
        return false;
    }
    trace_kvm_vcpu_init(cpu->cpu_index, regs.rip, regs.rsp, regs.rdi);
    return true;
}

static bool kvm_init_vcpu(CPUState *cpu, Error **errp)
{
    KVMState *s = kvm_state;
    void *run;

    cpu->kvm_fd = ioctl(s->vmfd, KVM_CREATE_VCPU, cpu->cpu_index);
    if (cpu->kvm_fd < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_CREATE_VCPU %d",
                         cpu->cpu_index);
        return false;
    }
    run = mmap(NULL, s->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
               cpu->kvm_fd, 0);
    if (run == MAP_FAILED) {
        error_setg_errno(errp, errno, "kvm: mapping kvm_run of cpu %d",
                         cpu->cpu_index);
        goto fail;
    }
    cpu->kvm_run = run;
    cpu->kvm_run_size = s->vcpu_mmap_size;
    if (ioctl(cpu->kvm_fd, KVM_SET_CPUID2, s->cpuid) < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_SET_CPUID2 on cpu %d",
                         cpu->cpu_index);
        goto fail;
    }
    if (!kvm_vcpu_set_entry_state(cpu, errp) ||
        !kvm_dirty_ring_init_vcpu(cpu, errp)) {
        goto fail;
    }
    return true;

fail:
    kvm_destroy_vcpu(cpu);
    return false;
}

static void kvm_destroy_vcpu(CPUState *cpu)
{
    kvm_dirty_ring_cleanup_vcpu(cpu);
    if (cpu->kvm_run) {
        munmap(cpu->kvm_run, cpu->kvm_run_size);
        cpu->kvm_run = NULL;
    }
    if (cpu->kvm_fd >= 0) {
        close(cpu->kvm_fd);
        cpu->kvm_fd = -1;
    }
}

static void kvm_report_registers(CPUState *cpu, const char *what)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;

    if (ioctl(cpu->kvm_fd, KVM_GET_REGS, &regs) < 0 ||
        ioctl(cpu->kvm_fd, KVM_GET_SREGS, &sregs) < 0) {
        error_report("cpu %d: %s (registers unavailable)", cpu->cpu_index,
                     what);
        return;
    }
    error_report("cpu %d: %s: rip=0x%llx rsp=0x%llx rflags=0x%llx "
                 "rax=0x%llx rdi=0x%llx cr0=0x%llx cr3=0x%llx cr4=0x%llx "
                 "efer=0x%llx cs=0x%x", cpu->cpu_index, what,
                 regs.rip, regs.rsp, regs.rflags, regs.rax, regs.rdi,
                 sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer,
                 sregs.cs.selector);
}

/* Each handler returns true to keep running, false to halt the vCPU. */
static bool kvm_handle_mmio(CPUState *cpu)
{
    struct kvm_run *run = cpu->kvm_run;

    qatomic_fetch_add_relaxed(&cpu->mmio_exit_count, 1);
    if (!mmio_dispatch(cpu, run->mmio.phys_addr, run->mmio.data,
                       run->mmio.len, run->mmio.is_write)) {
        /* Unassigned memory: writes are dropped, reads return zeros. */
        if (!run->mmio.is_write) {
            memset(run->mmio.data, 0, sizeof(run->mmio.data));
        }
    }
    return cpu->halt_request == CPU_HALT_NONE;
}

static bool kvm_handle_shutdown(CPUState *cpu)
{
    /* A triple fault: the guest crashed, the VMM carries on. */
    kvm_report_registers(cpu, "guest crashed (triple fault)");
    cpu_request_halt(cpu, CPU_HALT_GUEST_CRASH, "triple fault");
    return false;
}

static bool kvm_handle_internal_error(CPUState *cpu)
{
    struct kvm_run *run = cpu->kvm_run;
    char *what = g_strdup_printf("KVM internal error, suberror %u",
                                 run->internal.suberror);

    kvm_report_registers(cpu, what);
    g_free(what);
    cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR, "KVM internal error");
    return false;
}

static bool kvm_handle_fail_entry(CPUState *cpu)
{
    struct kvm_run *run = cpu->kvm_run;
    char *what = g_strdup_printf("KVM entry failed, hardware reason 0x%llx",
                                 run->fail_entry.hardware_entry_failure_reason);

    kvm_report_registers(cpu, what);
    g_free(what);
    cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR, "KVM entry failed");
    return false;
}

static bool kvm_handle_unexpected(CPUState *cpu)
{
    uint32_t reason = cpu->kvm_run->exit_reason;
    char *what = g_strdup_printf("unexpected KVM exit %u (%s)", reason,
                                 kvm_exit_reason_name(reason));

    kvm_report_registers(cpu, what);
    g_free(what);
    cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR, "unexpected KVM exit");
    return false;
}

static bool kvm_handle_exit(CPUState *cpu)
{
    uint32_t reason = cpu->kvm_run->exit_reason;

    qatomic_fetch_add_relaxed(&cpu->exit_count, 1);
    switch (reason) {
    case KVM_EXIT_MMIO:
        return kvm_handle_mmio(cpu);
    case KVM_EXIT_DIRTY_RING_FULL:
        return kvm_handle_dirty_ring_full(cpu);
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        return kvm_handle_shutdown(cpu);
    case KVM_EXIT_INTERNAL_ERROR:
        return kvm_handle_internal_error(cpu);
    case KVM_EXIT_FAIL_ENTRY:
        return kvm_handle_fail_entry(cpu);
    default:
        return kvm_handle_unexpected(cpu);
    }
}

static AccelRunResult kvm_vcpu_run_once(CPUState *cpu)
{
    int64_t entered_ns = clock_ns();
    int ret = ioctl(cpu->kvm_fd, KVM_RUN, 0);

    /* Time inside KVM_RUN only: not parked, not asleep in a handler. */
    qatomic_fetch_add_relaxed(&cpu->guest_run_ns, clock_ns() - entered_ns);
    if (ret < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            /* A kick: disarm it before the loop reads exit_request. */
            qatomic_set_seq(&cpu->kvm_run->immediate_exit, 0);
            return ACCEL_RUN_KICKED;
        }
        error_report("cpu %d: KVM_RUN failed: %s", cpu->cpu_index,
                     g_strerror(errno));
        cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR, "KVM_RUN failed");
        return ACCEL_RUN_HALTED;
    }
    return kvm_handle_exit(cpu) ? ACCEL_RUN_EXITED : ACCEL_RUN_HALTED;
}

static bool kvm_init_vcpu_thread(CPUState *cpu, const sigset_t *run_mask)
{
    struct {
        struct kvm_signal_mask mask;
        uint8_t bits[8];    /* the kernel's sigset is 64 bits on x86-64 */
    } kvm_mask = { .mask.len = 8 };

    memcpy(kvm_mask.bits, run_mask, sizeof(kvm_mask.bits));
    if (ioctl(cpu->kvm_fd, KVM_SET_SIGNAL_MASK, &kvm_mask) < 0) {
        error_report("cpu %d: KVM_SET_SIGNAL_MASK: %s", cpu->cpu_index,
                     g_strerror(errno));
        cpu_request_halt(cpu, CPU_HALT_INTERNAL_ERROR,
                         "KVM_SET_SIGNAL_MASK failed");
        return false;
    }
    return true;
}

/* Any thread: the next KVM_RUN returns at once (the kick protocol). */
static void kvm_kick_vcpu(CPUState *cpu)
{
    if (cpu->kvm_run) {
        qatomic_set_seq(&cpu->kvm_run->immediate_exit, 1);
    }
}

const AccelOps kvm_accel_ops = {
    .init_vcpu = kvm_init_vcpu,
    .init_vcpu_thread = kvm_init_vcpu_thread,
    .run_once = kvm_vcpu_run_once,
    .kick = kvm_kick_vcpu,
    .destroy_vcpu = kvm_destroy_vcpu,
};
