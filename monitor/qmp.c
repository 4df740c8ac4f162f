/*
 * The QMP protocol on one connection, whatever carries its bytes:
 *
 *   bytes -> JsonSplitter -> one JSON text -> qmp_dispatch_text()
 *   (VM lock held) -> reply line -> the connection's send function
 *
 * Main thread.  The server (server.c) owns sockets and clients.
 */
#include "qemu/osdep.h"

#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/*
 * The largest QMP message: restraint's biggest request (a migrate URI,
 * a list of capabilities) is well under 1 KiB, so 1 MiB leaves room and
 * bounds what 64 clients can make us hold (64 MiB).
 */
#define QMP_MAX_MESSAGE_BYTES (1 * MiB)
/* QEMU's nesting limit; json-glib recurses once per level. */
#define QMP_MAX_DEPTH 1024

/* The connection whose request runs now (main thread), for getfd. */
static QmpConn *qmp_cur_conn;

static void qmp_conn_send_json(QmpConn *q, JsonObject *msg)
{
    g_autofree char *line = qmp_to_line(msg);

    json_object_unref(msg);
    q->send(q->opaque, line);
}

/* The splitter's callback: one whole QMP message, or why there is none. */
static void qmp_conn_message(void *opaque, const char *text, size_t len,
                             Error *err)
{
    QmpConn *q = opaque;
    JsonObject *reply;

    if (q->stopped) {
        error_free(err);
        return;
    }
    if (err) {
        reply = qmp_error_response(err, NULL);
    } else {
        trace_qmp_request(q->id, len);
        vm_lock();
        qmp_cur_conn = q;
        reply = qmp_dispatch_text(&q->session, text, len);
        qmp_cur_conn = NULL;
        vm_unlock();
    }
    qmp_conn_send_json(q, reply);
}

static JsonObject *qmp_greeting(void)
{
    g_autoptr(VersionInfo) version = qmp_query_version(NULL);
    JsonObject *greeting = json_object_new();
    JsonObject *qmp = json_object_new();

    json_object_set_member(qmp, "version", visit_out_VersionInfo(version));
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    return greeting;
}

void qmp_conn_init(QmpConn *q, int id, QmpSendFunc *send, void *opaque)
{
    memset(q, 0, sizeof(*q));
    q->id = id;
    q->received_fd = -1;
    q->send = send;
    q->opaque = opaque;
    q->session.commands = qapi_commands;
    json_splitter_init(&q->splitter, QMP_MAX_MESSAGE_BYTES, QMP_MAX_DEPTH,
                       qmp_conn_message, q);
    qmp_conn_send_json(q, qmp_greeting());
}

void qmp_conn_feed(QmpConn *q, const char *data, size_t len)
{
    json_splitter_feed(&q->splitter, data, len);
}

void qmp_conn_give_fd(QmpConn *q, int fd)
{
    if (q->received_fd >= 0) {
        close(q->received_fd);
    }
    q->received_fd = fd;
}

void qmp_conn_destroy(QmpConn *q)
{
    if (q->received_fd >= 0) {
        close(q->received_fd);
        q->received_fd = -1;
    }
    json_splitter_destroy(&q->splitter);
}

int monitor_take_received_fd(void)
{
    int fd;

    if (!qmp_cur_conn) {
        return -1;
    }
    fd = qmp_cur_conn->received_fd;
    qmp_cur_conn->received_fd = -1;
    return fd;
}
