/*
 * auto-converge's all-vCPU percentage throttle (softmmu/cpu-throttle.c):
 * every vCPU sleeps @percentage % of the time it would run, through the
 * vCPU throttle actuator (softmmu/vcpu-throttle.c).  VM lock held by
 * callers.
 */
#ifndef SYSEMU_CPU_THROTTLE_H
#define SYSEMU_CPU_THROTTLE_H

#include <stdbool.h>

/* Every vCPU sleeps @percentage % of the time (clamped to 1..99). */
void cpu_throttle_set(int percentage);
void cpu_throttle_stop(void);
bool cpu_throttle_active(void);
int cpu_throttle_get_percentage(void);

/* Teardown, after the vCPU threads have ended: stop, forget every vCPU. */
void cpu_throttle_cleanup(void);

#endif /* SYSEMU_CPU_THROTTLE_H */
