/*
 * What the option parsers share: the keys each option group takes (which
 * query-command-line-options reports), keyval parsing against them, and
 * the rules for a RAM size (-m and -object memory-backend-ram).  The other
 * vl-options files call down to this one; it calls none of them.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "sysemu/vl-options.h"

static const char *const machine_keys[] = {
    "type", "accel", "usb", "dump-guest-core", "memory-backend", NULL
};
static const char *const smp_keys[] = {
    "cpus", "sockets", "dies", "cores", "threads", "maxcpus", NULL
};
static const char *const name_keys[] = { "guest", "debug-threads", NULL };
static const char *const chardev_keys[] = {
    "backend", "id", "fd", "path", "server", "wait", NULL
};
static const char *const mon_keys[] = { "chardev", "mode", "id", NULL };
static const char *const memory_keys[] = { "size", NULL };
static const char *const accel_keys[] = {
    "accel", "dirty-ring-size", "x-manual-protect", "x-reaper-period-ms",
    NULL
};
static const char *const workload_keys[] = {
    "cpu", "kind", "size", "offset", "rate", "pattern", "trace", "process",
    "speed", "loop", NULL
};

const VLOptionParams vl_option_params[] = {
    { "machine", machine_keys },
    { "smp-opts", smp_keys },
    { "name", name_keys },
    { "chardev", chardev_keys },
    { "mon", mon_keys },
    { "memory", memory_keys },
    { "accel", accel_keys },
    { "workload", workload_keys },
    { NULL, NULL },
};

static const char *const *vl_keys(const char *group)
{
    for (const VLOptionParams *p = vl_option_params; p->group; p++) {
        if (!strcmp(p->group, group)) {
            return p->keys;
        }
    }
    g_assert_not_reached();
}

GHashTable *vl_keyval(const char *arg, const char *implied_key,
                      const char *group, const char *option, Error **errp)
{
    GHashTable *kv = keyval_parse(arg, implied_key, option, errp);

    if (kv && !keyval_check_keys(kv, vl_keys(group), option, errp)) {
        g_hash_table_unref(kv);
        return NULL;
    }
    return kv;
}

bool vl_check_ram_size(const char *option, uint64_t bytes, Error **errp)
{
    if (bytes < VL_MIN_RAM_BYTES || bytes > VL_MAX_RAM_BYTES) {
        error_setg(errp, "%s: guest RAM must be between %" PRIu64 " MiB "
                   "and %" PRIu64 " GiB", option, VL_MIN_RAM_BYTES / MiB,
                   VL_MAX_RAM_BYTES / GiB);
        return false;
    }
    if (!QEMU_IS_ALIGNED(bytes, 2 * MiB)) {
        error_setg(errp, "%s: guest RAM must be a multiple of 2 MiB", option);
        return false;
    }
    return true;
}
