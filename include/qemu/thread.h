/*
 * Mutexes and condition variables over POSIX threads, with GLib's calling
 * conventions (a zeroed static one is ready to use; deadlines are
 * g_get_monotonic_time() microseconds).  We use these rather than GMutex
 * and GCond because GLib's futex-based ones are invisible to
 * ThreadSanitizer, which then reports every guarded access as a race.
 */
#ifndef QEMU_THREAD_H
#define QEMU_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct QemuMutex {
    pthread_mutex_t lock;
} QemuMutex;

typedef struct QemuCond {
    pthread_cond_t cond;
} QemuCond;

static inline void qemu_mutex_init(QemuMutex *m)
{
    pthread_mutex_init(&m->lock, NULL);
}

static inline void qemu_mutex_clear(QemuMutex *m)
{
    pthread_mutex_destroy(&m->lock);
}

static inline void qemu_mutex_lock(QemuMutex *m)
{
    pthread_mutex_lock(&m->lock);
}

static inline void qemu_mutex_unlock(QemuMutex *m)
{
    pthread_mutex_unlock(&m->lock);
}

static inline void qemu_cond_init(QemuCond *c)
{
    pthread_cond_init(&c->cond, NULL);
}

static inline void qemu_cond_clear(QemuCond *c)
{
    pthread_cond_destroy(&c->cond);
}

static inline void qemu_cond_signal(QemuCond *c)
{
    pthread_cond_signal(&c->cond);
}

static inline void qemu_cond_broadcast(QemuCond *c)
{
    pthread_cond_broadcast(&c->cond);
}

static inline void qemu_cond_wait(QemuCond *c, QemuMutex *m)
{
    pthread_cond_wait(&c->cond, &m->lock);
}

/*
 * Wait until signalled or until @end_time_us (g_get_monotonic_time()
 * clock); false when the deadline passed, like qemu_cond_wait_until().
 */
static inline bool qemu_cond_wait_until(QemuCond *c, QemuMutex *m,
                                        int64_t end_time_us)
{
    struct timespec ts = {
        .tv_sec = end_time_us / 1000000,
        .tv_nsec = (end_time_us % 1000000) * 1000,
    };

    return pthread_cond_clockwait(&c->cond, &m->lock, CLOCK_MONOTONIC,
                                  &ts) == 0;
}

#endif /* QEMU_THREAD_H */
