/*
 * The Prometheus endpoint (monitor/metrics.c): -metrics tcp:HOST:PORT
 * serves GET /metrics in the Prometheus text exposition format (0.0.4)
 * over HTTP/1.0, on the main loop, never blocking it.
 */
#ifndef MONITOR_METRICS_H
#define MONITOR_METRICS_H

#include <glib.h>

/* Scrapers served at once; one more is answered 503 and closed. */
#define METRICS_MAX_CLIENTS 8

/*
 * -metrics tcp:HOST:PORT (HOST an IP address or localhost; empty =
 * 127.0.0.1).  Main thread, after the machine is up.
 */
bool metrics_init(const char *spec, Error **errp);
/* The exposition text as a scrape would get it now (tests, HMP). */
char *metrics_render(void);
/* Close the listener and every client; safe when never started. */
void metrics_cleanup(void);

#endif /* MONITOR_METRICS_H */
