/*
 * QMP requests to replies, independent of sockets and of the VM: parse
 * one message, check its shape, find the command, let the generated
 * marshaller check the arguments and call the handler, build the reply.
 * The caller holds whatever lock its commands need (qmp.c: the VM lock).
 */
#ifndef MONITOR_QMP_DISPATCH_H
#define MONITOR_QMP_DISPATCH_H

#include <json-glib/json-glib.h>

#include "qapi/qapi-visit-core.h"

typedef struct QmpSession {
    const QmpCommand *commands;  /* a generated table, NULL-terminated */
    bool negotiated;             /* qmp_capabilities succeeded */
} QmpSession;

/* Parse @text (one JSON value) and run it; returns the reply object. */
JsonObject *qmp_dispatch_text(QmpSession *session, const char *text,
                              size_t len);
/* Run one parsed request; returns the reply object. */
JsonObject *qmp_dispatch(QmpSession *session, JsonNode *request);

/* {"error": {"class": ..., "desc": ...}, "id": @id}; takes @err. */
JsonObject *qmp_error_response(Error *err, JsonNode *id);
/* One line of QMP output: compact JSON and "\r\n". */
char *qmp_to_line(JsonObject *msg);

const QmpCommand *qmp_find_command(const QmpCommand *commands,
                                   const char *name);

#endif /* MONITOR_QMP_DISPATCH_H */
