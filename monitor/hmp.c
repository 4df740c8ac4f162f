/*
 * HMP: command lines to handlers, helpers for handlers, -monitor stdio.
 * HMP over a UNIX socket shares the QMP server's clients (qmp.c).
 */
#include "qemu/osdep.h"

#include <glib-unix.h>

#include "monitor/monitor-internal.h"
#include "sysemu/vm-lock.h"
#include "trace.h"


void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(mon->out, '\r');
        }
        g_string_append_c(mon->out, *p);
    }
}

bool hmp_handle_error(Monitor *mon, Error *err)
{
    if (!err) {
        return false;
    }
    monitor_printf(mon, "Error: %s\n", error_get_pretty(err));
    error_free(err);
    return true;
}

bool hmp_check_args(Monitor *mon, int argc, char **argv, int min_args,
                    int max_args)
{
    int given = argc - 1;

    if (given < min_args) {
        monitor_printf(mon, "%s: missing argument; try 'help %s'\n",
                       argv[0], argv[0]);
        return false;
    }
    if (given > max_args) {
        monitor_printf(mon, "%s: too many arguments; try 'help %s'\n",
                       argv[0], argv[0]);
        return false;
    }
    return true;
}

bool hmp_parse_int(const char *str, const char *what, int64_t min,
                   int64_t max, int64_t *out, Error **errp)
{
    gint64 value;
    g_autoptr(GError) gerr = NULL;

    if (!g_ascii_string_to_signed(str, 10, min, max, &value, &gerr)) {
        error_setg(errp, "%s '%s' is not an integer in [%" PRId64 ", %"
                   PRId64 "]", what, str, min, max);
        return false;
    }
    *out = value;
    return true;
}

bool hmp_parse_size(const char *str, uint64_t *bytes, Error **errp)
{
    static const struct {
        char suffix;
        unsigned shift;
    } units[] = {
        { 'b', 0 }, { 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 },
    };
    guint64 value;
    char *end;
    unsigned shift = 0;

    errno = 0;
    value = g_ascii_strtoull(str, &end, 10);
    if (end == str || errno || str[0] == '-') {
        goto bad;
    }
    if (*end) {
        bool found = false;

        for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
            if (g_ascii_tolower(*end) == units[i].suffix) {
                shift = units[i].shift;
                found = true;
            }
        }
        if (!found || end[1] != '\0') {
            goto bad;
        }
    }
    if (shift && value > (UINT64_MAX >> shift)) {
        goto bad;
    }
    *bytes = value << shift;
    return true;

bad:
    error_setg(errp, "invalid size '%s': a number of bytes, optionally "
               "with a suffix k, M, G or T (powers of 1024)", str);
    return false;
}

static const HMPCommand *hmp_find(const HMPCommand *table, const char *name)
{
    for (const HMPCommand *cmd = table; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }
    return NULL;
}

void hmp_handle_line(Monitor *mon, const char *line)
{
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) gerr = NULL;
    const HMPCommand *cmd;
    int argc;

    if (strspn(line, " \t\r\n") == strlen(line)) {
        return;                 /* an empty line does nothing */
    }
    if (!g_shell_parse_argv(line, &argc, &argv, &gerr)) {
        monitor_printf(mon, "cannot parse '%s': %s\n", line, gerr->message);
        return;
    }
    cmd = hmp_find(hmp_commands, argv[0]);
    if (!cmd) {
        monitor_printf(mon, "unknown command: '%s'\n", argv[0]);
        return;
    }
    trace_hmp_command(argv[0]);
    cmd->fn(mon, argc, argv);
}

void hmp_wait_until(Monitor *mon, HMPWaitFunc *fn)
{
    mon->wait = fn;
}

typedef struct HMPWait {
    HMPWaitFunc *fn;
    void (*done)(void *opaque, GString *out);
    void *opaque;
} HMPWait;

static gboolean hmp_wait_poll(gpointer opaque)
{
    HMPWait *w = opaque;
    Monitor mon = { .out = g_string_new(NULL) };
    bool ended;

    vm_lock();
    ended = w->fn(&mon);
    vm_unlock();
    if (ended) {
        w->done(w->opaque, mon.out);
    }
    g_string_free(mon.out, TRUE);
    return ended ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

guint hmp_wait_start(HMPWaitFunc *fn, void (*done)(void *opaque,
                                                   GString *out),
                     void *opaque)
{
    HMPWait *w = g_new0(HMPWait, 1);

    w->fn = fn;
    w->done = done;
    w->opaque = opaque;
    return g_timeout_add_full(G_PRIORITY_DEFAULT, HMP_WAIT_POLL_MS,
                              hmp_wait_poll, w, g_free);
}
