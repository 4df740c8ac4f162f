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
/* Close every listener and client, unlink UNIX sockets we created. */
void monitor_cleanup(void);

/*
 * Broadcast an event to every QMP client past capability negotiation.
 * Takes ownership of @data (may be NULL).  Safe from any thread: the
 * timestamp is taken here, the send happens on the main thread.
 */
void monitor_qapi_event_emit(const char *event_name, JsonObject *data);

#endif /* MONITOR_MONITOR_H */
