/*
 * The machine: what guest RAM holds (page tables, the guest program, the
 * control blocks) and how workload memory is sliced between the vCPUs.
 * The start-up (softmmu/vl-machine.c) owns the RAM and the vCPUs and hands
 * the machine its RAM; machine_load() lays it out and machine_unload()
 * forgets it.
 */
#include "qemu/osdep.h"

#include "hw/doorbell.h"
#include "hw/elf-loader.h"
#include "hw/guest-image.h"
#include "hw/machine.h"
#include "hw/pagetable.h"
#include "sysemu/kvm.h"

/* Workload slices are 2 MiB aligned so they match the guest's leaves. */
#define MACHINE_SLICE_ALIGN (2 * MiB)

typedef struct MachineState {
    int cpu_count;
    uint64_t slice_bytes;
    uint64_t entry_rip;
    uint8_t *ram;           /* handed down by the start-up */
    uint64_t ram_bytes;
    bool doorbell_ready;
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

uint64_t machine_entry_rip(void)
{
    return machine.entry_rip;
}

void *machine_ram_ptr(uint64_t gpa, uint64_t len)
{
    if (!machine.ram || gpa > machine.ram_bytes ||
        len > machine.ram_bytes - gpa) {
        return NULL;
    }
    return machine.ram + gpa;
}

struct rs_ctl *machine_ctl(int cpu_index)
{
    return machine_ram_ptr(rs_ctl_gpa(cpu_index), RS_CTL_SIZE);
}

bool machine_configure(const VLOptions *opts, Error **errp)
{
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
    return true;
}

static bool machine_load_program(const VLOptions *opts, Error **errp)
{
    if (opts->kernel_path) {
        return elf_load_file(opts->kernel_path, machine.ram,
                             machine.ram_bytes, RS_IMAGE_BASE, RS_IMAGE_END,
                             &machine.entry_rip, errp);
    }
    return elf_load(restraint_guest_elf, restraint_guest_elf_size,
                    machine.ram, machine.ram_bytes, RS_IMAGE_BASE,
                    RS_IMAGE_END, &machine.entry_rip, errp);
}

bool machine_load(const VLOptions *opts, uint8_t *ram, uint64_t ram_bytes,
                  Error **errp)
{
    PageTableInfo pt_info;

    machine.ram = ram;
    machine.ram_bytes = ram_bytes;
    if (!pagetable_build(ram, ram_bytes, &pt_info, errp) ||
        !machine_load_program(opts, errp)) {
        goto fail;
    }
    if (!doorbell_init(machine_ctl, errp)) {
        goto fail;
    }
    machine.doorbell_ready = true;
    return true;

fail:
    machine_unload();
    return false;
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
    ctl->ram_size = machine.ram_bytes;
    ctl->kind = RS_WL_IDLE;
    ctl->region_gpa = machine_slice_base(cpu_index);
    ctl->region_size = machine.slice_bytes;
}

bool machine_start_ctls(const VLOptions *opts, Error **errp)
{
    uint64_t tsc_khz = kvm_tsc_khz();

    if (!tsc_khz) {
        error_setg(errp, "kvm: cannot read the TSC frequency "
                   "(KVM_GET_TSC_KHZ)");
        return false;
    }
    for (int i = 0; i < opts->smp_cpus; i++) {
        machine_init_ctl(i, tsc_khz);
        if (opts->workload_given[i] &&
            !workload_set(i, &opts->workloads[i], errp)) {
            error_prepend(errp, "-workload cpu=%d: ", i);
            return false;
        }
    }
    return true;
}

void machine_unload(void)
{
    if (machine.doorbell_ready) {
        doorbell_cleanup();
        machine.doorbell_ready = false;
    }
    machine.ram = NULL;
    machine.ram_bytes = 0;
}
