/*
 * CPUState: one virtual CPU, its KVM handles and its thread; and what
 * hw/core/cpu.c does with the object alone: the list of vCPUs, the
 * interruptible sleeps of a vCPU's own thread and its halt request.
 * Those need nothing above the hw layer, so the doorbell, the workload
 * control and accel/kvm call them by name.  The threads, kicks, pauses
 * and the run loop are softmmu/cpus.c's (sysemu/cpus.h).
 *
 * Fields marked (atomic) are read and written with __atomic builtins from
 * several threads; fields marked (VM lock) change only under vm_lock().
 */
#ifndef HW_CORE_CPU_H
#define HW_CORE_CPU_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/kvm.h>

#include "qemu/thread.h"

typedef struct CPUState CPUState;

/* Why a vCPU stopped executing guest code for good. */
typedef enum CPUHaltReason {
    CPU_HALT_NONE = 0,
    CPU_HALT_GUEST_CRASH,     /* triple fault or panic doorbell */
    CPU_HALT_INTERNAL_ERROR,  /* KVM could not run it */
} CPUHaltReason;

struct CPUState {
    int cpu_index;
    pthread_t thread;
    pid_t thread_id;            /* (atomic) set by the thread itself */
    bool thread_started;

    int kvm_fd;
    struct kvm_run *kvm_run;
    size_t kvm_run_size;

    /* Requests; see softmmu/cpus.c for the protocol. */
    int exit_request;           /* (atomic) leave KVM_RUN and look */
    bool stop;                  /* (VM lock) pause requested */
    bool stopped;               /* (VM lock) parked, outside KVM_RUN */
    bool quit;                  /* (VM lock) the thread must end */
    CPUHaltReason halted;       /* (VM lock) never runs again */
    /* (own thread) set by cpu_request_halt(), acted on by the run loop */
    CPUHaltReason halt_request;
    char *halt_why;

    /* Interruptible sleeps (doorbell, throttle). */
    QemuMutex sleep_lock;
    QemuCond sleep_cond;

    /* Dirty ring (accel/kvm/dirty-ring.c); NULL in bitmap mode. */
    struct kvm_dirty_gfn *dirty_gfns;
    uint32_t dirty_ring_entries;
    uint32_t dirty_ring_fetch;  /* (slots lock) next entry to look at */
    uint64_t dirty_pages;       /* (atomic) monotonic, harvested entries */
    /*
     * The pages harvested from this vCPU's ring, each counted once per
     * 1-s window (qemu/dirty-window.h): what the dirty limiter holds.
     * Written under the slots lock, read lock-free; NULL without a ring.
     */
    struct DirtyWindow *dirty_window;
    /* (atomic) monotonic: every entry harvested from this vCPU's ring,
     * repeats of one page and bad entries too (dirty_pages skips them) */
    uint64_t dirty_ring_harvested;
    uint64_t dirty_ring_full_count;  /* (atomic) ring-full exits */
    uint32_t dirty_ring_empty_full_exits;  /* in a row, own thread */
    uint64_t dirty_ring_harvested_at_full; /* own thread */

    /* Entry state, from the machine. */
    uint64_t entry_rip;
    uint64_t entry_rsp;
    uint64_t entry_rdi;

    /* Statistics (atomic). */
    uint64_t exit_count;
    uint64_t mmio_exit_count;
    uint64_t kick_count;
    uint64_t kick_ack_count;    /* KVM_RUN returned EINTR for a kick */
    int64_t kick_ack_ns;        /* CLOCK_MONOTONIC of the last one */
    uint64_t doorbell_sleep_ns;
    /*
     * Time spent inside the KVM_RUN ioctl, monotonic: what cpu-throttle
     * charges as run time.  Parked (paused) and doorbell sleeps are not in
     * it.  Written by the vCPU's own thread around each KVM_RUN.
     */
    int64_t guest_run_ns;
    /* Time parked while paused (cpu_wait_runnable()); own thread. */
    int64_t parked_ns;
};

/*
 * The vCPU list (hw/core/cpu.c).  softmmu/cpus.c creates it before the
 * threads and frees it after joining them; cpus_count() and cpus_get()
 * (sysemu/cpus.h) read it.
 */
CPUState *cpu_list_create(int n);
void cpu_list_free(void);

int cpus_count(void);
CPUState *cpus_get(int cpu_index);       /* NULL when out of range */
int cpu_index(const CPUState *cpu);
pid_t cpu_thread_id(const CPUState *cpu); /* the CPU n/KVM thread's TID */

/* A pause or shutdown has been asked for: sleeps end early. */
bool cpu_stop_pending(CPUState *cpu);
/* The vCPU has halted for good (crash, KVM error). */
bool cpu_halt_pending(CPUState *cpu);

/*
 * Block @cpu's own thread (outside KVM_RUN, no lock held but the vCPU's
 * sleep lock) until @done(@opaque) is true, a kick arrives or a pause or
 * quit is asked for.  @done runs under the sleep lock, and whoever makes
 * it true calls cpu_wake() after publishing, so no wakeup is lost between
 * the check and the sleep.  Returns the nanoseconds waited.
 */
int64_t cpu_wait_event(CPUState *cpu, bool (*done)(void *opaque),
                       void *opaque);
/*
 * Make a vCPU waiting in cpu_wait_event() look at its condition again,
 * without a kick (it stays in its wait unless the condition now holds).
 * Call it after publishing what the condition reads.
 */
void cpu_wake(CPUState *cpu);
/*
 * Sleep on the vCPU thread for at most @sleep_ns, returning early when
 * the vCPU is kicked for a pause or shutdown.  Returns the ns slept.
 * Called only on the vCPU's own thread, with no lock held.
 */
int64_t cpu_sleep_ns(CPUState *cpu, int64_t sleep_ns);

/*
 * On @cpu's own thread, from an exit handler (accel/kvm, a device): the
 * vCPU can never run again.  The handler returns; the run loop
 * (softmmu/cpus.c) then halts the vCPU and tells whoever registered for
 * halts (the run state).  The first request wins.
 */
void cpu_request_halt(CPUState *cpu, CPUHaltReason reason, const char *why);

#endif /* HW_CORE_CPU_H */
