/*
 * vCPU threads and their one loop: creation, pause and resume, kicks,
 * halts, and the VM lock.
 *
 * The loop (cpu_exec_loop) is the same for every accelerator: wait until
 * runnable -> before-run hooks -> AccelOps.run_once -> act on the result.
 * What it calls up to (the throttle's hook, the run state's halt
 * notifier) and down to (the accelerator's ops) was handed to it at
 * start-up (softmmu/vl-connect.c), so this file names neither.
 *
 * Pause protocol: the pauser holds the VM lock, sets cpu->stop, kicks the
 * vCPU and waits on pause_cond until cpu->stopped.  The vCPU sees its
 * exit_request in cpu_wait_runnable(), takes the VM lock, marks itself
 * stopped and waits on resume_cond.  A kick sets exit_request, then has
 * the accelerator arm its early exit (KVM: kvm_run->immediate_exit), then
 * sends SIG_IPI; the accelerator disarms it before run_once() returns a
 * kick, and the vCPU reads exit_request only after that, so whichever
 * order the two threads run in, the next run returns at once or the
 * request is seen: no kick is lost.
 */
#include "qemu/osdep.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "hw/core/cpu.h"
#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/cpus.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

typedef struct CPUsState {
    CPUState *cpus;
    int n;
    int accel_ready;            /* vCPUs [0, accel_ready) in the accel */
    QemuCond pause_cond;
    QemuCond resume_cond;
    /* Handed over at start-up, before any vCPU thread exists. */
    const AccelOps *accel;
    CPUBeforeRunHook *before_run[CPUS_MAX_BEFORE_RUN_HOOKS];
    int before_run_n;
    CPUHaltNotifier *halt_notifier;
} CPUsState;

static QemuMutex vm_mutex;
static __thread bool vm_mutex_owned;
static CPUsState cs;

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

/* ---- the start-up's wiring ---- */

void cpus_set_accel_ops(const AccelOps *ops)
{
    assert(!cs.cpus);
    cs.accel = ops;
}

void cpus_add_before_run_hook(CPUBeforeRunHook *fn)
{
    assert(!cs.cpus);
    for (int i = 0; i < cs.before_run_n; i++) {
        if (cs.before_run[i] == fn) {
            return;
        }
    }
    assert(cs.before_run_n < CPUS_MAX_BEFORE_RUN_HOOKS);
    cs.before_run[cs.before_run_n++] = fn;
}

void cpus_set_halt_notifier(CPUHaltNotifier *fn)
{
    assert(!cs.cpus);
    cs.halt_notifier = fn;
}

/* ---- kicks, parking and halts ---- */

void cpu_kick(CPUState *cpu)
{
    trace_cpu_kick(cpu->cpu_index);
    qatomic_fetch_add_relaxed(&cpu->kick_count, 1);
    qatomic_set_seq(&cpu->exit_request, 1);
    if (cs.accel) {
        cs.accel->kick(cpu);
    }
    cpu_wake(cpu);
    if (cpu->thread_started) {
        pthread_kill(cpu->thread, SIG_IPI);
    }
}

/* run_once() returned for a kick, the accelerator's early exit disarmed. */
static void cpu_kick_acknowledge(CPUState *cpu)
{
    sigset_t set;
    siginfo_t info;
    struct timespec zero = { 0, 0 };

    qatomic_set(&cpu->kick_ack_ns, clock_ns());
    qatomic_fetch_add_release(&cpu->kick_ack_count, 1);
    sigemptyset(&set);
    sigaddset(&set, SIG_IPI);
    while (sigtimedwait(&set, &info, &zero) > 0) {
        /* drain: one pending signal at most, but be sure */
    }
}

/*
 * Before each run: parks the thread while the vCPU is paused or halted,
 * returns false when the thread must end.
 */
static bool cpu_wait_runnable(CPUState *cpu)
{
    bool quit;

    if (!qatomic_xchg(&cpu->exit_request, 0) && !cpu_halt_pending(cpu)) {
        return true;
    }
    vm_lock();
    while (!cpu->quit && (cpu->stop || cpu->halted != CPU_HALT_NONE)) {
        int64_t parked_ns = clock_ns();

        if (!cpu->stopped) {
            cpu->stopped = true;
            qemu_cond_broadcast(&cs.pause_cond);
        }
        vm_cond_wait(&cs.resume_cond);
        /* Not run time, for the throttles. */
        qatomic_fetch_add_relaxed(&cpu->parked_ns, clock_ns() - parked_ns);
    }
    cpu->stopped = false;
    quit = cpu->quit;
    vm_unlock();
    return !quit;
}

void cpu_halt(CPUState *cpu, CPUHaltReason reason, const char *why)
{
    vm_lock();
    qatomic_store_release(&cpu->halted, reason);
    vm_unlock();
    if (cs.halt_notifier) {
        cs.halt_notifier(cpu->cpu_index, reason, why);
    } else {
        error_report("cpu %d stopped: %s", cpu->cpu_index, why);
    }
}

/* What an exit handler asked for with cpu_request_halt(). */
static void cpu_halt_as_requested(CPUState *cpu)
{
    if (cpu->halt_request == CPU_HALT_NONE) {
        cpu_halt(cpu, CPU_HALT_INTERNAL_ERROR, "the accelerator gave up");
        return;
    }
    cpu_halt(cpu, cpu->halt_request, cpu->halt_why);
}

/* ---- the loop ---- */

static void cpu_exec_loop(CPUState *cpu)
{
    while (cpu_wait_runnable(cpu)) {
        for (int i = 0; i < cs.before_run_n; i++) {
            cs.before_run[i](cpu);      /* e.g. a throttled vCPU sleeps */
        }
        switch (cs.accel->run_once(cpu)) {
        case ACCEL_RUN_EXITED:
            break;
        case ACCEL_RUN_KICKED:
            cpu_kick_acknowledge(cpu);
            break;
        case ACCEL_RUN_HALTED:
            cpu_halt_as_requested(cpu);   /* cpu_wait_runnable() parks us */
            break;
        }
    }
}

/* ---- pause and resume (VM lock) ---- */

bool all_vcpus_paused(void)
{
    assert(vm_lock_held());
    for (int i = 0; i < cs.n; i++) {
        if (!cs.cpus[i].stopped) {
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
    for (int i = 0; i < cs.n; i++) {
        qatomic_store_release(&cs.cpus[i].stop, true);
        cpu_kick(&cs.cpus[i]);
    }
    while (!all_vcpus_paused()) {
        vm_cond_wait(&cs.pause_cond);
    }
}

void resume_all_vcpus(void)
{
    assert(vm_lock_held());
    for (int i = 0; i < cs.n; i++) {
        qatomic_store_release(&cs.cpus[i].stop, false);
    }
    qemu_cond_broadcast(&cs.resume_cond);
}

/* ---- threads ---- */

static void sig_ipi_handler(int sig)
{
    /* Never runs in a vCPU thread (SIG_IPI is blocked there outside
     * the accelerator's run); only here so that a stray SIG_IPI cannot
     * kill us. */
}

static void *cpu_thread_fn(void *opaque)
{
    CPUState *cpu = opaque;
    char name[16];
    sigset_t blocked, in_run;

    snprintf(name, sizeof(name), "CPU %d/KVM", cpu->cpu_index);
    pthread_setname_np(pthread_self(), name);
    qatomic_store_release(&cpu->thread_id, (pid_t)syscall(SYS_gettid));

    /* SIG_IPI stays blocked in this thread, except while guest code runs. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIG_IPI);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &in_run);
    sigdelset(&in_run, SIG_IPI);
    if (!cs.accel->init_vcpu_thread(cpu, &in_run)) {
        cpu_halt_as_requested(cpu);
    }
    cpu_exec_loop(cpu);
    return NULL;
}

bool cpus_init(int n, uint64_t entry_rip, Error **errp)
{
    struct sigaction sa = { .sa_handler = sig_ipi_handler };
    sigset_t blocked;

    assert(cs.accel);   /* cpus_set_accel_ops() at start-up */
    sigaction(SIG_IPI, &sa, NULL);
    /* Block SIG_IPI in the main thread too: threads inherit the mask. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIG_IPI);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);

    cs.cpus = cpu_list_create(n);
    cs.n = n;
    cs.accel_ready = 0;
    for (int i = 0; i < n; i++) {
        CPUState *cpu = &cs.cpus[i];

        cpu->stop = true;   /* parked until vm_start() */
        cpu->exit_request = 1;
        cpu->entry_rip = entry_rip;
        cpu->entry_rsp = rs_stack_top(i);
        cpu->entry_rdi = rs_ctl_gpa(i);
    }
    for (int i = 0; i < n; i++) {
        if (!cs.accel->init_vcpu(&cs.cpus[i], errp)) {
            cpus_cleanup();
            return false;
        }
        cs.accel_ready = i + 1;
    }
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&cs.cpus[i].thread, NULL, cpu_thread_fn,
                                 &cs.cpus[i]);
        if (err) {
            error_setg_errno(errp, err, "cannot create the thread of cpu %d",
                             i);
            cpus_cleanup();
            return false;
        }
        cs.cpus[i].thread_started = true;
    }
    /* Wait until every thread has parked: "paused" means not running. */
    vm_lock();
    while (!all_vcpus_paused()) {
        vm_cond_wait(&cs.pause_cond);
    }
    vm_unlock();
    return true;
}

void cpus_cleanup(void)
{
    if (!cs.cpus) {
        return;
    }
    vm_lock();
    for (int i = 0; i < cs.n; i++) {
        qatomic_store_release(&cs.cpus[i].quit, true);
        cpu_kick(&cs.cpus[i]);
    }
    qemu_cond_broadcast(&cs.resume_cond);
    /* Drop the VM lock before joining: the threads take it to leave. */
    vm_unlock();
    for (int i = 0; i < cs.n; i++) {
        if (cs.cpus[i].thread_started) {
            pthread_join(cs.cpus[i].thread, NULL);
            cs.cpus[i].thread_started = false;
        }
    }
    for (int i = 0; i < cs.accel_ready; i++) {
        cs.accel->destroy_vcpu(&cs.cpus[i]);
    }
    cpu_list_free();
    cs.cpus = NULL;
    cs.n = 0;
    cs.accel_ready = 0;
}
