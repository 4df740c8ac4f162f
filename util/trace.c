/*
 * Trace event control and output.
 */
#include "qemu/osdep.h"

#include <sys/syscall.h>
#include <time.h>

#include "qemu/atomic.h"
#include "trace/control.h"

static FILE *trace_file;
static QemuMutex trace_lock;

void trace_event_emit(TraceEvent *ev, const char *fmt, ...)
{
    struct timespec ts;
    va_list ap;
    FILE *out;

    if (!fmt) {
        return;     /* never: generated calls pass a literal */
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    qemu_mutex_lock(&trace_lock);
    out = trace_file ? trace_file : stderr;
    fprintf(out, "%d@%lld.%06ld:%s ", (int)syscall(SYS_gettid),
            (long long)ts.tv_sec, ts.tv_nsec / 1000, ev->name);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    qemu_mutex_unlock(&trace_lock);
}

int trace_enable_pattern(const char *pattern)
{
    bool enable = true;
    int matched = 0;

    if (pattern[0] == '-') {
        enable = false;
        pattern++;
    }
    for (TraceEvent *const *ev = trace_events_all; *ev; ev++) {
        if (g_pattern_match_simple(pattern, (*ev)->name)) {
            qatomic_set(&(*ev)->enabled, enable);
            matched++;
        }
    }
    return matched;
}

bool trace_set_output(const char *path, Error **errp)
{
    FILE *f = fopen(path, "a");

    if (!f) {
        error_setg_errno(errp, errno, "-D %s", path);
        return false;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    qemu_mutex_lock(&trace_lock);
    if (trace_file) {
        fclose(trace_file);
    }
    trace_file = f;
    qemu_mutex_unlock(&trace_lock);
    return true;
}

void trace_cleanup(void)
{
    qemu_mutex_lock(&trace_lock);
    if (trace_file) {
        fclose(trace_file);
        trace_file = NULL;
    }
    qemu_mutex_unlock(&trace_lock);
}

void trace_list_events(FILE *out)
{
    for (TraceEvent *const *ev = trace_events_all; *ev; ev++) {
        fprintf(out, "%s\n", (*ev)->name);
    }
}
