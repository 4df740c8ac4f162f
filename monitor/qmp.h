/*
 * One QMP connection's protocol (qmp.c), apart from its socket: bytes
 * in, whole JSON messages out of the splitter, the greeting, capability
 * negotiation and the dispatch of each message under the VM lock, reply
 * lines handed to the connection's send function.  The descriptor a
 * client passed (SCM_RIGHTS) waits here for getfd.
 */
#ifndef MONITOR_QMP_H
#define MONITOR_QMP_H

#include "monitor/json-splitter.h"
#include "monitor/qmp-dispatch.h"

/* Send one whole line (a reply, the greeting) to the client. */
typedef void QmpSendFunc(void *opaque, const char *line);

typedef struct QmpConn {
    JsonSplitter splitter;
    QmpSession session;
    int id;                     /* for traces: the client's fd */
    int received_fd;            /* the last SCM_RIGHTS fd, or -1 */
    bool stopped;               /* the client is closing: dispatch no more */
    QmpSendFunc *send;
    void *opaque;
} QmpConn;

/* Set up @q and send the greeting. */
void qmp_conn_init(QmpConn *q, int id, QmpSendFunc *send, void *opaque);
/* Bytes from the client: each whole message is run and answered. */
void qmp_conn_feed(QmpConn *q, const char *data, size_t len);
/* The client passed @fd; it replaces (and closes) one getfd did not take. */
void qmp_conn_give_fd(QmpConn *q, int fd);
void qmp_conn_destroy(QmpConn *q);

/*
 * Events (qmp-events.c): monitor_qapi_event_emit() queues each as a
 * line; the main thread hands them, in order, to @sink, which sends
 * them to every negotiated client.
 */
void qmp_events_set_sink(void (*sink)(const char *line));
/* Deliver what is queued, then drop what comes later (at exit). */
void qmp_events_close(void);

#endif /* MONITOR_QMP_H */
