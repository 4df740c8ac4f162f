/*
 * libdirty-trace-preload.so: loaded with LD_PRELOAD by
 * dirty-trace-record into every process of the traced program.  It
 * registers the process's private writable mappings for asynchronous
 * userfaultfd write-protect and, every interval, a helper thread collects
 * the pages written (PAGEMAP_SCAN re-protects them in the same call) and
 * appends them to the process's spool file (raw.h).  After fork the child
 * starts over with its own userfaultfd, spool and helper thread.
 *
 * Without $DIRTY_TRACE_DIR the library does nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* RTLD_NEXT, pthread_setname_np */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "preload.h"

#define DT_PAGE_BYTES           4096u
#define DT_DEFAULT_INTERVAL_MS  50
/* The helper thread's stack, guard page below it. */
#define DT_STACK_BYTES          (1024u * 1024)

static DtState *dt_state;

/* Asked by a traced program (found with dlsym): end the interval now. */
void dirty_trace_flush(void) __attribute__((visibility("default")));

static void dt_write_header(DtState *s, DtRawOrigin origin, int status,
                            const char *message)
{
    DtRawHeader h = {
        .version = DT_RAW_VERSION, .page_bytes = DT_PAGE_BYTES,
        .pid = getpid(), .ppid = getppid(), .start_ns = s->interval_start_ns,
        .origin = origin, .status = status,
    };

    memcpy(h.magic, DT_RAW_MAGIC, sizeof(h.magic));
    snprintf(h.message, sizeof(h.message), "%s", message);
    if (write(s->out_fd, &h, sizeof(h)) != (ssize_t)sizeof(h)) {
        close(s->out_fd);
        s->out_fd = -1;
    }
}

static bool dt_open_spool(DtState *s, const char *dir)
{
    snprintf(s->out_path, sizeof(s->out_path), "%s/%d-%llu" DT_RAW_SUFFIX,
             dir, (int)getpid(), (unsigned long long)s->interval_start_ns);
    s->out_fd = open(s->out_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
                     O_CLOEXEC, 0600);
    if (s->out_fd < 0) {
        fprintf(stderr, "dirty-trace: pid %d: cannot create %s: %s\n",
                (int)getpid(), s->out_path, strerror(errno));
        return false;
    }
    dt_note_spool(s);
    return true;
}

static void *dt_thread_fn(void *opaque)
{
    DtState *s = opaque;
    uint64_t next_ns = dt_now_ns() + s->interval_ns;

    pthread_mutex_lock(&s->wake_lock);
    while (!s->stop) {
        struct timespec ts = { next_ns / 1000000000ull,
                               next_ns % 1000000000ull };
        uint64_t now_ns;

        if (pthread_cond_timedwait(&s->wake_cond, &s->wake_lock, &ts) !=
            ETIMEDOUT || s->stop) {
            continue;           /* woken: stop, or spurious */
        }
        pthread_mutex_unlock(&s->wake_lock);
        pthread_mutex_lock(&s->lock);
        dt_tick_locked(s, true, true, 0);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_lock(&s->wake_lock);
        next_ns += s->interval_ns;
        now_ns = dt_now_ns();
        if (next_ns < now_ns) {
            next_ns = now_ns + s->interval_ns;  /* fell behind: no burst */
        }
    }
    pthread_mutex_unlock(&s->wake_lock);
    return NULL;
}

/* The wake-up primitives, fresh (at start, and in a fork child). */
static void dt_wake_init(DtState *s)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&s->wake_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
    s->stop = false;
}

/*
 * Start tracking this process: a fresh userfaultfd, spool and helper
 * thread.  After exec the pages already written count for the first
 * interval (sweep); after fork the inherited pages were the parent's.
 */
static void dt_start(DtState *s, const char *dir, DtRawOrigin origin)
{
    const char *what = "";
    sigset_t all, old_mask;
    pthread_attr_t attr;
    int ret;

    s->interval_start_ns = dt_now_ns();
    s->pid = getpid();
    s->warned_huge = false;
    s->seq = 0;
    s->rec.range_count = 0;
    if (!dt_open_spool(s, dir)) {
        return;
    }
    ret = uffd_wp_open(&s->wp, &what);
    if (ret < 0) {
        char message[DT_RAW_MESSAGE_BYTES];

        snprintf(message, sizeof(message), "%s: %s", what, strerror(-ret));
        fprintf(stderr, "dirty-trace: pid %d: cannot track writes: %s\n",
                (int)getpid(), message);
        dt_write_header(s, origin, ret, message);
        return;
    }
    dt_write_header(s, origin, 0, "");
    dt_tick_locked(s, origin == DT_RAW_ORIGIN_EXEC, false, 0);
    dt_wake_init(s);
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, s->stack, s->stack_bytes);
    /* The helper takes no signal: they are the program's, for its own
     * threads (one may sigwait() for them). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    s->thread_running = pthread_create(&s->thread, &attr, dt_thread_fn,
                                       s) == 0;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    pthread_attr_destroy(&attr);
    if (s->thread_running) {
        pthread_setname_np(s->thread, "dirty-trace");
    }
}

static void dt_atfork_prepare(void)
{
    pthread_mutex_lock(&dt_state->lock);
}

static void dt_atfork_parent(void)
{
    pthread_mutex_unlock(&dt_state->lock);
}

static void dt_atfork_child(void)
{
    DtState *s = dt_state;
    const char *dir = getenv(DT_ENV_DIR);

    /* The helper thread did not survive fork; the fds are the parent's. */
    pthread_mutex_init(&s->lock, NULL);
    uffd_wp_close(&s->wp);
    if (s->out_fd >= 0) {
        close(s->out_fd);
        s->out_fd = -1;
    }
    s->thread_running = false;
    if (dir) {
        dt_start(s, dir, DT_RAW_ORIGIN_FORK);
    }
}

void dirty_trace_flush(void)
{
    DtState *s = dt_state;

    if (!s || s->wp.uffd < 0) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    dt_tick_locked(s, true, true, 0);
    pthread_mutex_unlock(&s->lock);
}

/*
 * exec replaces the address space: end the interval first, or the pages
 * written since the last tick are lost.  glibc's exec functions call
 * each other internally, so each public one is wrapped.
 */
static void dt_before_exec(void)
{
    DtState *s = dt_state;

    /* A vfork child shares its parent's memory: the parent's to track. */
    if (s && s->wp.uffd >= 0 && getpid() == s->pid) {
        pthread_mutex_lock(&s->lock);
        dt_tick_locked(s, true, true, 0);
        pthread_mutex_unlock(&s->lock);
    }
}

typedef int DtExecFn(const char *file, char *const argv[],
                     char *const envp[]);
typedef int DtExecNoEnvFn(const char *file, char *const argv[]);

#define DT_WRAP_EXEC(name)                                              \
    int name(const char *file, char *const argv[], char *const envp[])  \
        __attribute__((visibility("default")));                         \
    int name(const char *file, char *const argv[], char *const envp[])  \
    {                                                                   \
        DtExecFn *next = (DtExecFn *)dlsym(RTLD_NEXT, #name);           \
                                                                        \
        dt_before_exec();                                               \
        return next ? next(file, argv, envp) : (errno = ENOSYS, -1);    \
    }
#define DT_WRAP_EXEC_NO_ENV(name)                                       \
    int name(const char *file, char *const argv[])                      \
        __attribute__((visibility("default")));                         \
    int name(const char *file, char *const argv[])                      \
    {                                                                   \
        DtExecNoEnvFn *next = (DtExecNoEnvFn *)dlsym(RTLD_NEXT, #name); \
                                                                        \
        dt_before_exec();                                               \
        return next ? next(file, argv) : (errno = ENOSYS, -1);          \
    }

DT_WRAP_EXEC(execve)
DT_WRAP_EXEC(execvpe)
DT_WRAP_EXEC_NO_ENV(execv)
DT_WRAP_EXEC_NO_ENV(execvp)

static void *dt_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

__attribute__((constructor))
static void dt_init(void)
{
    const char *dir = getenv(DT_ENV_DIR);
    const char *interval = getenv(DT_ENV_INTERVAL_MS);
    long interval_ms = interval ? strtol(interval, NULL, 10) : 0;
    size_t state_bytes = (sizeof(DtState) + DT_PAGE_BYTES - 1) &
                         ~(size_t)(DT_PAGE_BYTES - 1);
    DtState *s;
    char *stack;

    if (!dir || !*dir) {
        return;
    }
    s = dt_map(state_bytes);
    stack = dt_map(DT_STACK_BYTES + DT_PAGE_BYTES);
    if (!s || !stack) {
        fprintf(stderr, "dirty-trace: pid %d: out of memory\n", (int)getpid());
        return;
    }
    mprotect(stack, DT_PAGE_BYTES, PROT_NONE);
    pthread_mutex_init(&s->lock, NULL);
    s->wp.uffd = s->wp.pagemap_fd = s->out_fd = -1;
    s->interval_ns = (interval_ms > 0 ? interval_ms : DT_DEFAULT_INTERVAL_MS) *
                     1000000ull;
    s->stack = stack + DT_PAGE_BYTES;
    s->stack_bytes = DT_STACK_BYTES;
    s->own[0] = (DtOwnRegion) { (uintptr_t)s, (uintptr_t)s + state_bytes };
    s->own[1] = (DtOwnRegion) { (uintptr_t)stack + DT_PAGE_BYTES,
                                (uintptr_t)stack + DT_PAGE_BYTES +
                                DT_STACK_BYTES };
    if (s->own[0].start > s->own[1].start) {
        DtOwnRegion t = s->own[0];      /* keep them in address order */

        s->own[0] = s->own[1];
        s->own[1] = t;
    }
    /* Record at 4 KiB granularity: no transparent huge pages. */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    dt_state = s;
    pthread_atfork(dt_atfork_prepare, dt_atfork_parent, dt_atfork_child);
    dt_start(s, dir, DT_RAW_ORIGIN_EXEC);
}

__attribute__((destructor))
static void dt_fini(void)
{
    DtState *s = dt_state;

    if (!s || s->wp.uffd < 0) {
        return;
    }
    if (s->thread_running) {
        pthread_mutex_lock(&s->wake_lock);
        s->stop = true;
        pthread_cond_signal(&s->wake_cond);
        pthread_mutex_unlock(&s->wake_lock);
        pthread_join(s->thread, NULL);
        s->thread_running = false;
    }
    pthread_mutex_lock(&s->lock);
    dt_tick_locked(s, false, true, DT_RAW_FINAL);
    if (s->out_fd >= 0) {
        close(s->out_fd);
        s->out_fd = -1;
    }
    uffd_wp_close(&s->wp);
    pthread_mutex_unlock(&s->lock);
}
