/*
 * Descriptors a QMP client hands over, QEMU's getfd/closefd: the client
 * sends the descriptor with SCM_RIGHTS on the monitor socket together
 * with {"execute": "getfd", "arguments": {"fdname": NAME}}, then refers
 * to it by name, as libvirt does with "migrate" {"uri": "fd:NAME"}.
 *
 * One table for the process (QEMU keeps one per monitor; restraint's
 * clients share the VM, and libvirt uses a single monitor).  Main
 * thread, VM lock held: every user is a QMP handler.
 */
#include "qemu/osdep.h"

#include "monitor/monitor.h"
#include "qapi/qapi-commands.h"
#include "trace.h"

/* Names are QEMU's fdname: letters, digits, '-', '_', '.'; no leading
 * digit, so "fd:3" keeps meaning descriptor 3 elsewhere. */
#define MONITOR_FD_NAME_MAX 64

static GHashTable *monitor_fds;     /* name -> GINT_TO_POINTER(fd + 1) */

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
    if (!monitor_fds) {
        monitor_fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            monitor_fd_close_value);
    }
    trace_monitor_fd_add(fdname, fd);
    /* A name given again replaces (and closes) the old descriptor. */
    g_hash_table_insert(monitor_fds, g_strdup(fdname),
                        GINT_TO_POINTER(fd + 1));
}

void qmp_closefd(const char *fdname, Error **errp)
{
    gpointer value;

    if (!monitor_fds ||
        !g_hash_table_lookup_extended(monitor_fds, fdname, NULL, &value)) {
        error_setg(errp, "file descriptor named '%s' not found", fdname);
        return;
    }
    trace_monitor_fd_close(fdname, GPOINTER_TO_INT(value) - 1);
    g_hash_table_remove(monitor_fds, fdname);
}

int monitor_fd_take(const char *name, Error **errp)
{
    gpointer key, value;
    int fd;

    if (!monitor_fds ||
        !g_hash_table_steal_extended(monitor_fds, name, &key, &value)) {
        error_setg(errp, "file descriptor named '%s' not found: pass it "
                   "with getfd first", name);
        return -1;
    }
    g_free(key);
    fd = GPOINTER_TO_INT(value) - 1;
    trace_monitor_fd_take(name, fd);
    return fd;
}

void monitor_fds_cleanup(void)
{
    g_clear_pointer(&monitor_fds, g_hash_table_unref);
}
