/*
 * The KVM accelerator: the only code that calls KVM ioctls lives in
 * accel/kvm/.  Functions return bool and take Error **errp last.
 */
#ifndef SYSEMU_KVM_H
#define SYSEMU_KVM_H

#include <stdint.h>
#include "hw/core/cpu.h"
#include "sysemu/accel-ops.h"
#include "sysemu/dirty-source.h"

/* KVM's documented floor for a dirty ring, as QEMU enforces: entries. */
#define KVM_DIRTY_RING_MIN_ENTRIES 1024

typedef struct KVMOptions {
    uint32_t dirty_ring_entries;    /* 0: dirty bitmap */
    bool manual_protect;            /* bitmap: use CLEAR_DIRTY_LOG if offered */
    uint32_t reaper_period_ms;
} KVMOptions;

/* Memslots restraint registers (RAM_SLOT_SYSTEM, RAM_SLOT_WORK). */
#define KVM_NR_MEMSLOTS 2

/* A memslot as last registered; (atomic) fields, read by harvests. */
typedef struct KVMMemslot {
    uint64_t first_page;        /* GPA / 4 KiB */
    uint64_t pages;
    bool log_dirty;
} KVMMemslot;

typedef struct KVMState {
    int fd;                     /* /dev/kvm */
    int vmfd;
    int vcpu_mmap_size;
    int max_vcpus;
    uint32_t dirty_ring_entries;    /* 0: dirty bitmap */
    uint32_t dirty_ring_max_bytes;  /* kernel maximum, 0 = no ring */
    bool dirty_ring_acq_rel;
    bool manual_dirty_log_protect;
    bool dirty_log_initially_set;
    uint32_t reaper_period_ms;
    struct kvm_cpuid2 *cpuid;
    KVMMemslot memslots[KVM_NR_MEMSLOTS];
} KVMState;

extern KVMState *kvm_state;

/*
 * Open /dev/kvm, check the API version and every capability restraint
 * needs, create the VM, enable the dirty ring or manual protection.
 */
bool kvm_init(const KVMOptions *opts, Error **errp);
void kvm_cleanup(void);
int kvm_max_vcpus(void);
/* kvm_init() succeeded and kvm_cleanup() has not run. */
bool kvm_enabled(void);

/* Register guest RAM [gpa, gpa + size) at @hva as memslot @slot. */
bool kvm_set_user_memory(uint32_t slot, uint64_t gpa, uint64_t size,
                         void *hva, bool log_dirty, Error **errp);

/*
 * The dirty source this VM was created with: the dirty ring or the dirty
 * bitmap (include/sysemu/dirty-source.h); NULL without KVM.
 */
const DirtySourceOps *kvm_dirty_source(void);

/*
 * The vCPU loop's view of KVM (softmmu/cpus.c, sysemu/accel-ops.h):
 * init_vcpu creates the KVM vCPU, maps kvm_run, sets CPUID and the entry
 * state; run_once is one KVM_RUN and its exit handler.
 */
extern const AccelOps kvm_accel_ops;
/* The host TSC rate as KVM sees it, kHz. */
uint64_t kvm_tsc_khz(void);
const char *kvm_exit_reason_name(uint32_t exit_reason);

#endif /* SYSEMU_KVM_H */
