/*
 * QMP events: monitor_qapi_event_emit() may run on any thread.  Each
 * event becomes a line at once (its timestamp taken then) and waits in
 * a queue for the main thread, which hands the lines in order to the
 * server's sink (every negotiated QMP client).
 */
#include "qemu/osdep.h"

#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "trace.h"

typedef struct QmpEvents {
    QemuMutex lock;
    GQueue lines;               /* of char *, each a whole line */
    bool scheduled;             /* an idle source will drain */
    bool closed;                /* after qmp_events_close(): drop */
    void (*sink)(const char *line);     /* main thread */
} QmpEvents;

static QmpEvents qmp_events;

void qmp_events_set_sink(void (*sink)(const char *line))
{
    qmp_events.sink = sink;
}

static void qmp_events_drain(void)
{
    GQueue lines = G_QUEUE_INIT;
    char *line;

    qemu_mutex_lock(&qmp_events.lock);
    lines = qmp_events.lines;
    g_queue_init(&qmp_events.lines);
    qemu_mutex_unlock(&qmp_events.lock);

    while ((line = g_queue_pop_head(&lines))) {
        if (qmp_events.sink) {
            qmp_events.sink(line);
        }
        g_free(line);
    }
}

static gboolean qmp_events_cb(gpointer opaque)
{
    qemu_mutex_lock(&qmp_events.lock);
    qmp_events.scheduled = false;
    qemu_mutex_unlock(&qmp_events.lock);
    qmp_events_drain();
    return G_SOURCE_REMOVE;
}

static char *qmp_event_line(const char *event_name, JsonObject *data)
{
    gint64 now_us = g_get_real_time();
    JsonObject *msg = json_object_new();
    JsonObject *timestamp = json_object_new();
    char *line;

    json_object_set_string_member(msg, "event", event_name);
    if (data) {
        json_object_set_object_member(msg, "data", data);
    }
    json_object_set_int_member(timestamp, "seconds", now_us / G_USEC_PER_SEC);
    json_object_set_int_member(timestamp, "microseconds",
                               now_us % G_USEC_PER_SEC);
    json_object_set_object_member(msg, "timestamp", timestamp);
    line = qmp_to_line(msg);
    json_object_unref(msg);
    return line;
}

void monitor_qapi_event_emit(const char *event_name, JsonObject *data)
{
    char *line = qmp_event_line(event_name, data);
    bool owner = g_main_context_is_owner(g_main_context_default());
    bool schedule = false;

    trace_qmp_event(event_name);
    qemu_mutex_lock(&qmp_events.lock);
    if (qmp_events.closed) {
        g_free(line);
    } else {
        g_queue_push_tail(&qmp_events.lines, line);
        /* The main thread drains at once below: nothing to schedule. */
        schedule = !owner && !qmp_events.scheduled;
        qmp_events.scheduled |= schedule;
    }
    qemu_mutex_unlock(&qmp_events.lock);

    if (owner) {
        qmp_events_drain();     /* in order with the replies */
    } else if (schedule) {
        GSource *source = g_idle_source_new();

        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_callback(source, qmp_events_cb, NULL, NULL);
        g_source_attach(source, NULL);
        g_source_unref(source);
    }
}

void qmp_events_close(void)
{
    qemu_mutex_lock(&qmp_events.lock);
    qmp_events.scheduled = true;    /* no more idle sources */
    qemu_mutex_unlock(&qmp_events.lock);
    qmp_events_drain();
    qemu_mutex_lock(&qmp_events.lock);
    qmp_events.closed = true;
    qemu_mutex_unlock(&qmp_events.lock);
}
