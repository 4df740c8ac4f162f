/*
 * The one monotonic clock (include/qemu/clock.h).
 */
#include <time.h>

#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "qemu/osdep.h"

static ClockSource clock_source;
static void *clock_opaque;

static int64_t clock_host_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

int64_t clock_ns(void)
{
    ClockSource source = qatomic_load_acquire(&clock_source);

    return source ? source(clock_opaque) : clock_host_ns();
}

int64_t clock_us(void)
{
    return clock_ns() / 1000;
}

int64_t clock_ms(void)
{
    return clock_ns() / 1000000;
}

void clock_set_source(ClockSource source, void *opaque)
{
    clock_opaque = opaque;
    qatomic_store_release(&clock_source, source);
}
