/*
 * Descriptors a QMP client hands over, QEMU's getfd/closefd: the client
 * sends the descriptor with SCM_RIGHTS on the monitor socket together
 * with {"execute": "getfd", "arguments": {"fdname": NAME}}, then refers
 * to it by name, as libvirt does with "migrate" {"uri": "fd:NAME"}.
 *
 * One table for the process (QEMU keeps one per monitor; restraint's
 * clients share the VM, and libvirt uses a single monitor).  getfd and
 * closefd run on the main thread; the migration thread takes its
 * descriptor when it connects: the table has its own lock.
 */
#include "qemu/osdep.h"

#include "monitor/monitor.h"
#include "qapi/qapi-commands.h"
#include "trace.h"

/* Names are QEMU's fdname: letters, digits, '-', '_', '.'; no leading
 * digit, so "fd:3" keeps meaning descriptor 3 elsewhere. */
#define MONITOR_FD_NAME_MAX 64

typedef struct MonitorFds {
    GMutex lock;
    GHashTable *by_name;        /* name -> GINT_TO_POINTER(fd + 1) */
} MonitorFds;

static MonitorFds monitor_fds;

static bool monitor_fd_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (!len || len > MONITOR_FD_NAME_MAX || g_ascii_isdigit(name[0])) {
        return false;
    }
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789-_.") == len;
}

static void monitor_fd_close_value(gpointer value)
{
    close(GPOINTER_TO_INT(value) - 1);
}

void qmp_getfd(const char *fdname, Error **errp)
{
    int fd;

    if (!monitor_fd_name_ok(fdname)) {
        error_setg(errp, "fdname '%s': use 1 to %d letters, digits, '-', "
                   "'_' or '.', not starting with a digit", fdname,
                   MONITOR_FD_NAME_MAX);
        return;
    }
    fd = monitor_take_received_fd();
    if (fd < 0) {
        error_setg(errp, "no file descriptor supplied via SCM_RIGHTS");
        return;
    }
    trace_monitor_fd_add(fdname, fd);
    g_mutex_lock(&monitor_fds.lock);
    if (!monitor_fds.by_name) {
        monitor_fds.by_name = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free,
                                                    monitor_fd_close_value);
    }
    /* A name given again replaces (and closes) the old descriptor. */
    g_hash_table_insert(monitor_fds.by_name, g_strdup(fdname),
                        GINT_TO_POINTER(fd + 1));
    g_mutex_unlock(&monitor_fds.lock);
}

/* Take @name out of the table: its descriptor, or -1. */
static int monitor_fd_steal(const char *name)
{
    gpointer key, value;
    int fd = -1;

    g_mutex_lock(&monitor_fds.lock);
    if (monitor_fds.by_name &&
        g_hash_table_steal_extended(monitor_fds.by_name, name, &key,
                                    &value)) {
        g_free(key);
        fd = GPOINTER_TO_INT(value) - 1;
    }
    g_mutex_unlock(&monitor_fds.lock);
    return fd;
}

void qmp_closefd(const char *fdname, Error **errp)
{
    int fd = monitor_fd_steal(fdname);

    if (fd < 0) {
        error_setg(errp, "file descriptor named '%s' not found", fdname);
        return;
    }
    trace_monitor_fd_close(fdname, fd);
    close(fd);
}

int monitor_fd_take(const char *name, Error **errp)
{
    int fd = monitor_fd_steal(name);

    if (fd < 0) {
        error_setg(errp, "file descriptor named '%s' not found: pass it "
                   "with getfd first", name);
        return -1;
    }
    trace_monitor_fd_take(name, fd);
    return fd;
}

void monitor_fds_cleanup(void)
{
    g_mutex_lock(&monitor_fds.lock);
    g_clear_pointer(&monitor_fds.by_name, g_hash_table_unref);
    g_mutex_unlock(&monitor_fds.lock);
}
