/*
 * The monitors: QMP servers and HMP, all on the main thread's
 * GMainContext (g_main_context_default()).
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <json-glib/json-glib.h>

/*
 * -qmp unix:PATH,server=on,wait=off | tcp:HOST:PORT,server=on,wait=off
 * Listens at once; clients are accepted by the main loop.
 */
bool monitor_init_qmp(const char *spec, Error **errp);
/* -monitor stdio | unix:PATH,server=on,wait=off */
bool monitor_init_hmp(const char *spec, Error **errp);
/*
 * -chardev socket,id=@id with -mon chardev=@id: a QMP (@qmp) or HMP
 * server on UNIX socket @path, or, when @path is NULL, on the listening
 * socket @fd its parent (libvirt) created and left open for us.  Clients
 * may come and go: the listener accepts the next one.
 */
bool monitor_init_chardev(const char *id, const char *path, int fd,
                          bool qmp, Error **errp);

/*
 * Descriptors passed with QMP's getfd (monitor-fds.c): take the one
 * named @name out of the table; the caller owns it.  -1 and an error
 * when there is none.  Any thread.
 */
int monitor_fd_take(const char *name, Error **errp);
/*
 * The descriptor the client of the running QMP request passed with it
 * (SCM_RIGHTS), now the caller's; -1 if none.  Main thread, in a QMP
 * handler.
 */
int monitor_take_received_fd(void);

/* Close every listener and client, unlink UNIX sockets we created. */
void monitor_cleanup(void);

/*
 * Broadcast an event to every QMP client past capability negotiation.
 * Takes ownership of @data (may be NULL).  Safe from any thread: the
 * timestamp is taken here, the send happens on the main thread.
 */
void monitor_qapi_event_emit(const char *event_name, JsonObject *data);

#endif /* MONITOR_MONITOR_H */
