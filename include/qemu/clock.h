/*
 * The one monotonic clock every measurement, deadline and timer reads.
 *
 * It is CLOCK_MONOTONIC unless a test injects its own source with
 * clock_set_source(), so a unit test of a controller or a calculator can
 * drive time by hand.  GLib's g_get_monotonic_time() is the same clock in
 * microseconds, so deadlines handed to qemu_cond_timedwait() and GLib's
 * main loop agree with clock_us().
 */
#ifndef QEMU_CLOCK_H
#define QEMU_CLOCK_H

#include <stdint.h>

typedef int64_t (*ClockSource)(void *opaque);

/* Monotonic time in nanoseconds, microseconds, milliseconds. */
int64_t clock_ns(void);
int64_t clock_us(void);
int64_t clock_ms(void);

/* Replace the source (NULL: back to CLOCK_MONOTONIC).  For tests. */
void clock_set_source(ClockSource source, void *opaque);

#endif /* QEMU_CLOCK_H */
