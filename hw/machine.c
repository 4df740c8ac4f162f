/*
 * The machine: RAM, page tables, the guest program, control blocks and
 * vCPUs.  machine_init() does each step in order and undoes what it did
 * when a later step fails; machine_cleanup() undoes all in reverse.
 */
#include "qemu/osdep.h"

#include "hw/doorbell.h"
#include "hw/elf-loader.h"
#include "hw/guest-image.h"
#include "hw/machine.h"
#include "hw/pagetable.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/kvm.h"
#include "sysemu/physmem.h"

/* Workload slices are 2 MiB aligned so they match the guest's leaves. */
#define MACHINE_SLICE_ALIGN (2 * MiB)

typedef struct MachineState {
    int cpu_count;
    uint64_t slice_bytes;
    uint64_t entry_rip;
    bool ram_ready;
    bool doorbell_ready;
    bool cpus_ready;
} MachineState;

static MachineState machine;

uint64_t machine_slice_bytes(void)
{
    return machine.slice_bytes;
}

uint64_t machine_slice_base(int cpu_index)
{
    return RS_WORK_BASE + (uint64_t)cpu_index * machine.slice_bytes;
}

struct rs_ctl *machine_ctl(int cpu_index)
{
    return ram_host_ptr(rs_ctl_gpa(cpu_index), RS_CTL_SIZE);
}

static bool machine_load_program(const VLOptions *opts, Error **errp)
{
    if (opts->kernel_path) {
        return elf_load_file(opts->kernel_path, ram_host_base(), ram_size(),
                             RS_IMAGE_BASE, RS_IMAGE_END,
                             &machine.entry_rip, errp);
    }
    return elf_load(restraint_guest_elf, restraint_guest_elf_size,
                    ram_host_base(), ram_size(), RS_IMAGE_BASE, RS_IMAGE_END,
                    &machine.entry_rip, errp);
}

static void machine_init_ctl(int cpu_index, uint64_t tsc_khz)
{
    struct rs_ctl *ctl = machine_ctl(cpu_index);

    memset(ctl, 0, sizeof(*ctl));
    ctl->magic = RS_ABI_MAGIC;
    ctl->abi_version = RS_ABI_VERSION;
    ctl->cpu_index = cpu_index;
    ctl->cpu_count = machine.cpu_count;
    ctl->tsc_khz = tsc_khz;
    ctl->doorbell_gpa = RS_DOORBELL_GPA;
    ctl->ram_size = ram_size();
    ctl->kind = RS_WL_IDLE;
    ctl->region_gpa = machine_slice_base(cpu_index);
    ctl->region_size = machine.slice_bytes;
}

bool machine_init(const VLOptions *opts, Error **errp)
{
    uint64_t tsc_khz;
    PageTableInfo pt_info;

    machine.cpu_count = opts->smp_cpus;
    machine.slice_bytes = QEMU_ALIGN_DOWN((opts->ram_bytes - RS_WORK_BASE) /
                                          opts->smp_cpus,
                                          MACHINE_SLICE_ALIGN);
    if (machine.slice_bytes == 0) {
        error_setg(errp, "-m %" PRIu64 "M is too small for %d vCPUs: each "
                   "needs at least 2 MiB above the 16 MiB system area",
                   opts->ram_bytes / MiB, opts->smp_cpus);
        return false;
    }
    if (opts->smp_cpus > kvm_max_vcpus()) {
        error_setg(errp, "-smp %d: this host's KVM allows at most %d vCPUs "
                   "(KVM_CAP_MAX_VCPUS)", opts->smp_cpus, kvm_max_vcpus());
        return false;
    }
    if (!ram_init(opts->ram_bytes, errp)) {
        return false;
    }
    machine.ram_ready = true;
    if (opts->mem_prealloc && !ram_prealloc(errp)) {
        goto fail;
    }
    if (!pagetable_build(ram_host_base(), ram_size(), &pt_info, errp) ||
        !machine_load_program(opts, errp)) {
        goto fail;
    }
    if (!doorbell_init(machine_ctl, errp)) {
        goto fail;
    }
    machine.doorbell_ready = true;
    if (!cpus_init(opts->smp_cpus, machine.entry_rip, errp)) {
        goto fail;
    }
    machine.cpus_ready = true;
    tsc_khz = kvm_tsc_khz();
    if (!tsc_khz) {
        error_setg(errp, "kvm: cannot read the TSC frequency "
                   "(KVM_GET_TSC_KHZ)");
        goto fail;
    }
    for (int i = 0; i < opts->smp_cpus; i++) {
        machine_init_ctl(i, tsc_khz);
        if (opts->workload_given[i] &&
            !workload_set(i, &opts->workloads[i], errp)) {
            error_prepend(errp, "-workload cpu=%d: ", i);
            goto fail;
        }
    }
    return true;

fail:
    machine_cleanup();
    return false;
}

void machine_cleanup(void)
{
    if (machine.cpus_ready) {
        cpus_cleanup();
        machine.cpus_ready = false;
    }
    if (machine.doorbell_ready) {
        doorbell_cleanup();
        machine.doorbell_ready = false;
    }
    if (machine.ram_ready) {
        ram_cleanup();
        machine.ram_ready = false;
    }
}
