/*
 * The doorbell MMIO device: sleep, event, panic.
 */
#include "qemu/osdep.h"

#include "hw/doorbell.h"
#include "hw/guest-abi.h"
#include "hw/machine.h"
#include "sysemu/cpus-internal.h"
#include "trace.h"

typedef struct DoorbellWait {
    const struct rs_ctl *ctl;
    uint64_t generation;     /* what the guest runs */
} DoorbellWait;

static bool doorbell_generation_moved(void *opaque)
{
    const DoorbellWait *wait = opaque;

    return __atomic_load_n(&wait->ctl->generation, __ATOMIC_ACQUIRE) !=
           wait->generation;
}

bool doorbell_mmio(CPUState *cpu, uint64_t gpa, uint8_t *data, uint32_t len,
                   bool is_write)
{
    uint64_t offset, value = 0;

    if (gpa < RS_DOORBELL_GPA || gpa - RS_DOORBELL_GPA >= RS_PAGE_SIZE) {
        return false;
    }
    offset = gpa - RS_DOORBELL_GPA;
    if (!is_write) {
        memset(data, 0, len);   /* the registers are write-only */
        return true;
    }
    memcpy(&value, data, MIN(len, sizeof(value)));
    trace_doorbell_write(cpu->cpu_index, offset, value);
    switch (offset) {
    case RS_DB_SLEEP_US: {
        int64_t sleep_us = MIN(value, DOORBELL_MAX_SLEEP_US);
        int64_t slept_ns = cpu_sleep_ns(cpu, sleep_us * 1000);

        __atomic_fetch_add(&cpu->doorbell_sleep_ns, slept_ns,
                           __ATOMIC_RELAXED);
        break;
    }
    case RS_DB_WAIT_GEN: {
        /* hw/workload.c calls cpu_wake() after each new generation. */
        DoorbellWait wait = {
            .ctl = machine_ctl(cpu->cpu_index),
            .generation = value,
        };
        int64_t waited_ns = cpu_wait_event(cpu, doorbell_generation_moved,
                                           &wait);

        trace_doorbell_wait_done(cpu->cpu_index, value, waited_ns);
        __atomic_fetch_add(&cpu->doorbell_sleep_ns, waited_ns,
                           __ATOMIC_RELAXED);
        break;
    }
    case RS_DB_EVENT:
        trace_doorbell_event(cpu->cpu_index, value);
        break;
    case RS_DB_PANIC: {
        char *why = g_strdup_printf("guest panic, code %" PRIu64, value);

        cpu_halt(cpu, CPU_HALT_GUEST_CRASH, why);
        g_free(why);
        break;
    }
    default:
        trace_doorbell_unknown(cpu->cpu_index, offset, value);
        break;
    }
    return true;
}
