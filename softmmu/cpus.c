/*
 * vCPU threads: creation, pause and resume, kicks, interruptible sleeps,
 * and the VM lock.
 *
 * Pause protocol: the pauser holds the VM lock, sets cpu->stop, kicks the
 * vCPU and waits on cpus_pause_cond until cpu->stopped.  The vCPU sees its
 * exit_request in cpu_wait_runnable(), takes the VM lock, marks itself
 * stopped and waits on cpus_resume_cond.  A kick sets exit_request, then
 * kvm_run->immediate_exit, then sends SIG_IPI; the vCPU clears
 * immediate_exit before it reads exit_request, so whichever order the two
 * threads run in, the next KVM_RUN returns at once or the request is seen:
 * no kick is lost.
 */
#include "qemu/osdep.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "hw/core/cpu.h"
#include "hw/guest-abi.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/kvm.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

static QemuMutex vm_mutex;
static __thread bool vm_mutex_owned;
static QemuCond cpus_pause_cond;
static QemuCond cpus_resume_cond;

static CPUState *cpus;
static int cpus_n;

void vm_lock(void)
{
    qemu_mutex_lock(&vm_mutex);
    vm_mutex_owned = true;
}

void vm_unlock(void)
{
    vm_mutex_owned = false;
    qemu_mutex_unlock(&vm_mutex);
}

bool vm_lock_held(void)
{
    return vm_mutex_owned;
}

void vm_cond_wait(QemuCond *cond)
{
    vm_mutex_owned = false;
    qemu_cond_wait(cond, &vm_mutex);
    vm_mutex_owned = true;
}

int cpus_count(void)
{
    return cpus_n;
}

CPUState *cpus_get(int index)
{
    if (index < 0 || index >= cpus_n) {
        return NULL;
    }
    return &cpus[index];
}

int cpu_index(const CPUState *cpu)
{
    return cpu->cpu_index;
}

pid_t cpu_thread_id(const CPUState *cpu)
{
    return __atomic_load_n(&cpu->thread_id, __ATOMIC_ACQUIRE);
}

void cpu_kick(CPUState *cpu)
{
    trace_cpu_kick(cpu->cpu_index);
    __atomic_fetch_add(&cpu->kick_count, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&cpu->exit_request, 1, __ATOMIC_SEQ_CST);
    if (cpu->kvm_run) {
        __atomic_store_n(&cpu->kvm_run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    }
    cpu_wake(cpu);
    if (cpu->thread_started) {
        pthread_kill(cpu->thread, SIG_IPI);
    }
}

void cpu_wake(CPUState *cpu)
{
    /* Under the lock: a waiter is either before its check (and sees what
     * the caller published) or inside the wait (and gets the broadcast). */
    qemu_mutex_lock(&cpu->sleep_lock);
    qemu_cond_broadcast(&cpu->sleep_cond);
    qemu_mutex_unlock(&cpu->sleep_lock);
}

void cpu_kick_acknowledge(CPUState *cpu)
{
    sigset_t set;
    siginfo_t info;
    struct timespec zero = { 0, 0 };

    __atomic_store_n(&cpu->kick_ack_ns, g_get_monotonic_time() * 1000,
                     __ATOMIC_RELAXED);
    __atomic_fetch_add(&cpu->kick_ack_count, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&cpu->kvm_run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    sigemptyset(&set);
    sigaddset(&set, SIG_IPI);
    while (sigtimedwait(&set, &info, &zero) > 0) {
        /* drain: one pending signal at most, but be sure */
    }
}

bool cpu_stop_pending(CPUState *cpu)
{
    return __atomic_load_n(&cpu->stop, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&cpu->quit, __ATOMIC_ACQUIRE);
}

bool cpu_halt_pending(CPUState *cpu)
{
    return __atomic_load_n(&cpu->halted, __ATOMIC_ACQUIRE) != CPU_HALT_NONE;
}

int64_t cpu_sleep_ns(CPUState *cpu, int64_t sleep_ns)
{
    int64_t start_us = g_get_monotonic_time();
    int64_t deadline_us = start_us + sleep_ns / 1000;

    if (sleep_ns <= 0) {
        return 0;
    }
    qemu_mutex_lock(&cpu->sleep_lock);
    while (!cpu_stop_pending(cpu) && g_get_monotonic_time() < deadline_us) {
        qemu_cond_wait_until(&cpu->sleep_cond, &cpu->sleep_lock, deadline_us);
    }
    qemu_mutex_unlock(&cpu->sleep_lock);
    return (g_get_monotonic_time() - start_us) * 1000;
}

int64_t cpu_wait_event(CPUState *cpu, bool (*done)(void *opaque),
                       void *opaque)
{
    int64_t start_us = g_get_monotonic_time();

    qemu_mutex_lock(&cpu->sleep_lock);
    while (!done(opaque) && !cpu_stop_pending(cpu) &&
           !__atomic_load_n(&cpu->exit_request, __ATOMIC_SEQ_CST)) {
        qemu_cond_wait(&cpu->sleep_cond, &cpu->sleep_lock);
    }
    qemu_mutex_unlock(&cpu->sleep_lock);
    return (g_get_monotonic_time() - start_us) * 1000;
}

bool cpu_wait_runnable(CPUState *cpu)
{
    bool quit;

    if (!__atomic_exchange_n(&cpu->exit_request, 0, __ATOMIC_SEQ_CST) &&
        !cpu_halt_pending(cpu)) {
        return true;
    }
    vm_lock();
    while (!cpu->quit && (cpu->stop || cpu->halted != CPU_HALT_NONE)) {
        int64_t parked_ns = clock_monotonic_ns();

        if (!cpu->stopped) {
            cpu->stopped = true;
            qemu_cond_broadcast(&cpus_pause_cond);
        }
        vm_cond_wait(&cpus_resume_cond);
        /* Not run time, for the throttles. */
        __atomic_fetch_add(&cpu->parked_ns, clock_monotonic_ns() - parked_ns,
                           __ATOMIC_RELAXED);
    }
    cpu->stopped = false;
    quit = cpu->quit;
    vm_unlock();
    return !quit;
}

void cpu_halt(CPUState *cpu, CPUHaltReason reason, const char *why)
{
    vm_lock();
    __atomic_store_n(&cpu->halted, reason, __ATOMIC_RELEASE);
    vm_unlock();
    if (reason == CPU_HALT_GUEST_CRASH) {
        qemu_system_guest_panicked(cpu->cpu_index, why);
    } else {
        qemu_system_internal_error(cpu->cpu_index, why);
    }
}

bool all_vcpus_paused(void)
{
    assert(vm_lock_held());
    for (int i = 0; i < cpus_n; i++) {
        if (!cpus[i].stopped) {
            return false;
        }
    }
    return true;
}

/*
 * Drops the VM lock while it waits: only vm_stop() calls this, and it
 * keeps every other run state transition out until the pause is done.
 */
void pause_all_vcpus(void)
{
    assert(vm_lock_held());
    for (int i = 0; i < cpus_n; i++) {
        __atomic_store_n(&cpus[i].stop, true, __ATOMIC_RELEASE);
        cpu_kick(&cpus[i]);
    }
    while (!all_vcpus_paused()) {
        vm_cond_wait(&cpus_pause_cond);
    }
}

void resume_all_vcpus(void)
{
    assert(vm_lock_held());
    for (int i = 0; i < cpus_n; i++) {
        __atomic_store_n(&cpus[i].stop, false, __ATOMIC_RELEASE);
    }
    qemu_cond_broadcast(&cpus_resume_cond);
}

static void sig_ipi_handler(int sig)
{
    /* Never runs in a vCPU thread (SIG_IPI is blocked there outside
     * KVM_RUN); only here so that a stray SIG_IPI cannot kill us. */
}

static void *cpu_thread_fn(void *opaque)
{
    CPUState *cpu = opaque;
    char name[16];
    sigset_t blocked, in_run;
    struct {
        struct kvm_signal_mask mask;
        uint8_t bits[8];    /* the kernel's sigset is 64 bits on x86-64 */
    } kvm_mask = { .mask.len = 8 };

    snprintf(name, sizeof(name), "CPU %d/KVM", cpu->cpu_index);
    pthread_setname_np(pthread_self(), name);
    __atomic_store_n(&cpu->thread_id, (pid_t)syscall(SYS_gettid),
                     __ATOMIC_RELEASE);

    /* SIG_IPI stays blocked in this thread, except inside KVM_RUN. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIG_IPI);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &in_run);
    sigdelset(&in_run, SIG_IPI);
    memcpy(kvm_mask.bits, &in_run, sizeof(kvm_mask.bits));
    if (ioctl(cpu->kvm_fd, KVM_SET_SIGNAL_MASK, &kvm_mask) < 0) {
        error_report("cpu %d: KVM_SET_SIGNAL_MASK: %s", cpu->cpu_index,
                     g_strerror(errno));
        cpu_halt(cpu, CPU_HALT_INTERNAL_ERROR, "KVM_SET_SIGNAL_MASK failed");
    }
    kvm_cpu_exec_loop(cpu);
    return NULL;
}

bool cpus_init(int n, uint64_t entry_rip, Error **errp)
{
    struct sigaction sa = { .sa_handler = sig_ipi_handler };
    sigset_t blocked;

    sigaction(SIG_IPI, &sa, NULL);
    /* Block SIG_IPI in the main thread too: threads inherit the mask. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIG_IPI);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);

    cpus = g_new0(CPUState, n);
    cpus_n = n;
    for (int i = 0; i < n; i++) {
        CPUState *cpu = &cpus[i];

        cpu->cpu_index = i;
        cpu->kvm_fd = -1;
        cpu->stop = true;   /* parked until vm_start() */
        cpu->exit_request = 1;
        qemu_mutex_init(&cpu->sleep_lock);
        qemu_cond_init(&cpu->sleep_cond);
        cpu->entry_rip = entry_rip;
        cpu->entry_rsp = rs_stack_top(i);
        cpu->entry_rdi = rs_ctl_gpa(i);
    }
    for (int i = 0; i < n; i++) {
        if (!kvm_init_vcpu(&cpus[i], errp)) {
            cpus_cleanup();
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&cpus[i].thread, NULL, cpu_thread_fn,
                                 &cpus[i]);
        if (err) {
            error_setg_errno(errp, err, "cannot create the thread of cpu %d",
                             i);
            cpus_cleanup();
            return false;
        }
        cpus[i].thread_started = true;
    }
    /* Wait until every thread has parked: "paused" means outside KVM_RUN. */
    vm_lock();
    while (!all_vcpus_paused()) {
        vm_cond_wait(&cpus_pause_cond);
    }
    vm_unlock();
    return true;
}

void cpus_cleanup(void)
{
    if (!cpus) {
        return;
    }
    vm_lock();
    for (int i = 0; i < cpus_n; i++) {
        __atomic_store_n(&cpus[i].quit, true, __ATOMIC_RELEASE);
        cpu_kick(&cpus[i]);
    }
    qemu_cond_broadcast(&cpus_resume_cond);
    /* Drop the VM lock before joining: the threads take it to leave. */
    vm_unlock();
    for (int i = 0; i < cpus_n; i++) {
        if (cpus[i].thread_started) {
            pthread_join(cpus[i].thread, NULL);
            cpus[i].thread_started = false;
        }
    }
    for (int i = 0; i < cpus_n; i++) {
        kvm_destroy_vcpu(&cpus[i]);
        qemu_mutex_clear(&cpus[i].sleep_lock);
        qemu_cond_clear(&cpus[i].sleep_cond);
    }
    g_free(cpus);
    cpus = NULL;
    cpus_n = 0;
}
