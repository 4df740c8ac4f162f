/*
 * Trace events: -trace PATTERN enables events by name (glob), -D FILE
 * sends them to a file instead of stderr.  Each directory declares its
 * events in a trace-events file; scripts/tracetool.py generates the code.
 */
#ifndef TRACE_CONTROL_H
#define TRACE_CONTROL_H

#include <stdbool.h>

typedef struct TraceEvent {
    const char *name;
    int enabled;                /* (atomic) */
} TraceEvent;

/* NULL-terminated, generated. */
extern TraceEvent *const trace_events_all[];

void trace_event_emit(TraceEvent *ev, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Enable (or with a leading '-', disable) the events matching @pattern. */
int trace_enable_pattern(const char *pattern);
/* Where events go; NULL = stderr. */
bool trace_set_output(const char *path, Error **errp);
void trace_cleanup(void);
/* -trace help: every event's name, one a line. */
void trace_list_events(FILE *out);

#endif /* TRACE_CONTROL_H */
