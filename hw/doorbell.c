/*
 * The doorbell MMIO device: sleep, event, panic.  A window in the MMIO
 * dispatch table (hw/core/mmio.c); a panic asks the vCPU to halt and the
 * run loop does the rest.
 */
#include "qemu/osdep.h"

#include "hw/doorbell.h"
#include "hw/guest-abi.h"
#include "hw/core/cpu.h"
#include "hw/core/mmio.h"
#include "qemu/atomic.h"
#include "trace.h"

typedef struct Doorbell {
    DoorbellCtlFn *ctl_of;
} Doorbell;

static Doorbell doorbell;

typedef struct DoorbellWait {
    const struct rs_ctl *ctl;
    uint64_t generation;     /* what the guest runs */
} DoorbellWait;

static bool doorbell_generation_moved(void *opaque)
{
    const DoorbellWait *wait = opaque;

    return qatomic_load_acquire(&wait->ctl->generation) !=
           wait->generation;
}

static void doorbell_mmio(void *opaque, CPUState *cpu, uint64_t offset,
                          uint8_t *data, uint32_t len, bool is_write)
{
    Doorbell *db = opaque;
    uint64_t value = 0;

    if (!is_write) {
        memset(data, 0, len);   /* the registers are write-only */
        return;
    }
    memcpy(&value, data, MIN(len, sizeof(value)));
    trace_doorbell_write(cpu->cpu_index, offset, value);
    switch (offset) {
    case RS_DB_SLEEP_US: {
        int64_t sleep_us = MIN(value, DOORBELL_MAX_SLEEP_US);
        int64_t slept_ns = cpu_sleep_ns(cpu, sleep_us * 1000);

        qatomic_fetch_add_relaxed(&cpu->doorbell_sleep_ns, slept_ns);
        break;
    }
    case RS_DB_WAIT_GEN: {
        /* hw/workload.c calls cpu_wake() after each new generation. */
        DoorbellWait wait = {
            .ctl = db->ctl_of(cpu->cpu_index),
            .generation = value,
        };
        int64_t waited_ns = cpu_wait_event(cpu, doorbell_generation_moved,
                                           &wait);

        trace_doorbell_wait_done(cpu->cpu_index, value, waited_ns);
        qatomic_fetch_add_relaxed(&cpu->doorbell_sleep_ns, waited_ns);
        break;
    }
    case RS_DB_EVENT:
        trace_doorbell_event(cpu->cpu_index, value);
        break;
    case RS_DB_PANIC: {
        char *why = g_strdup_printf("guest panic, code %" PRIu64, value);

        cpu_request_halt(cpu, CPU_HALT_GUEST_CRASH, why);
        g_free(why);
        break;
    }
    default:
        trace_doorbell_unknown(cpu->cpu_index, offset, value);
        break;
    }
}

bool doorbell_init(DoorbellCtlFn *ctl_of, Error **errp)
{
    doorbell.ctl_of = ctl_of;
    return mmio_region_add(RS_DOORBELL_GPA, RS_PAGE_SIZE, doorbell_mmio,
                           &doorbell, errp);
}

void doorbell_cleanup(void)
{
    mmio_region_del(RS_DOORBELL_GPA);
}
