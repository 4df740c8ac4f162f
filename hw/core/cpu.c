/*
 * The vCPU object: the list of vCPUs, their indexes, the interruptible
 * sleeps of a vCPU's own thread and its halt request.
 *
 * Nothing here knows threads, kicks or the run state: softmmu/cpus.c
 * owns those and calls down into this file; the doorbell, the workload
 * control and accel/kvm call it too, from the same layer.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"

typedef struct CPUList {
    CPUState *cpus;
    int n;
} CPUList;

static CPUList cpu_list;

CPUState *cpu_list_create(int n)
{
    assert(!cpu_list.cpus && n > 0);
    cpu_list.cpus = g_new0(CPUState, n);
    cpu_list.n = n;
    for (int i = 0; i < n; i++) {
        CPUState *cpu = &cpu_list.cpus[i];

        cpu->cpu_index = i;
        cpu->kvm_fd = -1;
        qemu_mutex_init(&cpu->sleep_lock);
        qemu_cond_init(&cpu->sleep_cond);
    }
    return cpu_list.cpus;
}

void cpu_list_free(void)
{
    for (int i = 0; i < cpu_list.n; i++) {
        CPUState *cpu = &cpu_list.cpus[i];

        qemu_mutex_clear(&cpu->sleep_lock);
        qemu_cond_clear(&cpu->sleep_cond);
        g_free(cpu->halt_why);
    }
    g_free(cpu_list.cpus);
    cpu_list.cpus = NULL;
    cpu_list.n = 0;
}

int cpus_count(void)
{
    return cpu_list.n;
}

CPUState *cpus_get(int index)
{
    if (index < 0 || index >= cpu_list.n) {
        return NULL;
    }
    return &cpu_list.cpus[index];
}

int cpu_index(const CPUState *cpu)
{
    return cpu->cpu_index;
}

pid_t cpu_thread_id(const CPUState *cpu)
{
    return qatomic_load_acquire(&cpu->thread_id);
}

bool cpu_stop_pending(CPUState *cpu)
{
    return qatomic_load_acquire(&cpu->stop) ||
           qatomic_load_acquire(&cpu->quit);
}

bool cpu_halt_pending(CPUState *cpu)
{
    return qatomic_load_acquire(&cpu->halted) != CPU_HALT_NONE;
}

void cpu_wake(CPUState *cpu)
{
    /* Under the lock: a waiter is either before its check (and sees what
     * the caller published) or inside the wait (and gets the broadcast). */
    qemu_mutex_lock(&cpu->sleep_lock);
    qemu_cond_broadcast(&cpu->sleep_cond);
    qemu_mutex_unlock(&cpu->sleep_lock);
}

/*
 * Real sleeps of a real thread: their deadlines are on GLib's clock, the
 * one qemu_cond_wait_until() waits on, even when a test has injected
 * another source into qemu/clock.h.
 */
int64_t cpu_sleep_ns(CPUState *cpu, int64_t sleep_ns)
{
    int64_t start_us = clock_us();
    int64_t deadline_us = start_us + sleep_ns / 1000;

    if (sleep_ns <= 0) {
        return 0;
    }
    qemu_mutex_lock(&cpu->sleep_lock);
    while (!cpu_stop_pending(cpu) && clock_us() < deadline_us) {
        qemu_cond_wait_until(&cpu->sleep_cond, &cpu->sleep_lock, deadline_us);
    }
    qemu_mutex_unlock(&cpu->sleep_lock);
    return (clock_us() - start_us) * 1000;
}

int64_t cpu_wait_event(CPUState *cpu, bool (*done)(void *opaque),
                       void *opaque)
{
    int64_t start_us = clock_us();

    qemu_mutex_lock(&cpu->sleep_lock);
    while (!done(opaque) && !cpu_stop_pending(cpu) &&
           !qatomic_read_seq(&cpu->exit_request)) {
        qemu_cond_wait(&cpu->sleep_cond, &cpu->sleep_lock);
    }
    qemu_mutex_unlock(&cpu->sleep_lock);
    return (clock_us() - start_us) * 1000;
}

void cpu_request_halt(CPUState *cpu, CPUHaltReason reason, const char *why)
{
    assert(reason != CPU_HALT_NONE);
    if (cpu->halt_request != CPU_HALT_NONE) {
        return;
    }
    cpu->halt_request = reason;
    cpu->halt_why = g_strdup(why);
}
