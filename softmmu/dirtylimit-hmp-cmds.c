/*
 * HMP commands of the dirty limit: parse the words, call the qmp_
 * function, print QEMU's lines.  They live next to the policy, not in
 * it, so softmmu/dirtylimit.c does not depend on the monitor.
 */
#include "qemu/osdep.h"

#include "qapi/qapi-commands.h"
#include "sysemu/sysemu-hmp.h"
#include "sysemu/dirtylimit.h"

/* set_vcpu_dirty_limit dirty_rate [cpu_index] */
void hmp_set_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    int64_t rate_mbps, cpu = -1;
    Error *err = NULL;

    if (!hmp_check_args(mon, argc, argv, 1, 2)) {
        return;
    }
    if (hmp_parse_int(argv[1], "dirty_rate", 0, INT64_MAX, &rate_mbps,
                      &err) &&
        (argc < 3 ||
         hmp_parse_int(argv[2], "cpu_index", 0, INT32_MAX, &cpu, &err))) {
        qmp_set_vcpu_dirty_limit(cpu >= 0, cpu, rate_mbps, &err);
    }
    hmp_handle_error(mon, err);
}

/* cancel_vcpu_dirty_limit [cpu_index] */
void hmp_cancel_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    int64_t cpu = -1;
    Error *err = NULL;

    if (!hmp_check_args(mon, argc, argv, 0, 1)) {
        return;
    }
    if (argc < 2 ||
        hmp_parse_int(argv[1], "cpu_index", 0, INT32_MAX, &cpu, &err)) {
        qmp_cancel_vcpu_dirty_limit(cpu >= 0, cpu, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_info_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    g_autoptr(DirtyLimitInfoList) list = NULL;

    if (!dirtylimit_in_service()) {
        monitor_printf(mon, "Dirty page limit not enabled!\n");
        return;
    }
    list = qmp_query_vcpu_dirty_limit(NULL);
    for (DirtyLimitInfoList *l = list; l; l = l->next) {
        monitor_printf(mon, "vcpu[%" PRId64 "], limit rate %" PRIu64
                       " (MB/s), current rate %" PRIu64 " (MB/s)\n",
                       l->value->cpu_index, l->value->limit_rate,
                       l->value->current_rate);
    }
}

/* x_dirty_limit_policy duty-cycle|ring-full */
void hmp_x_dirty_limit_policy(Monitor *mon, int argc, char **argv)
{
    int policy;

    if (!hmp_check_args(mon, argc, argv, 1, 1)) {
        return;
    }
    policy = DirtyLimitPolicy_parse(argv[1]);
    if (policy < 0) {
        monitor_printf(mon, "Error: policy '%s' is not duty-cycle or "
                       "ring-full\n", argv[1]);
        return;
    }
    qmp_x_set_dirty_limit_policy(policy, NULL);
}
