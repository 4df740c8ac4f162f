/*
 * The live view (monitor/live-view.c): once a second, one line per vCPU
 * on stdout with the dirty rate restraint measured, the guest's own
 * rates, the quota and the share of time asleep, plus a migration line.
 *
 * On a terminal it is drawn in a few lines reserved at the bottom of the
 * screen (a scrolling region above them keeps HMP on stdio usable); on
 * anything else it prints plain lines, and only when asked to.
 */
#ifndef MONITOR_LIVE_VIEW_H
#define MONITOR_LIVE_VIEW_H

typedef enum LiveViewMode {
    LIVE_VIEW_AUTO,     /* on when stdout is a terminal (the default) */
    LIVE_VIEW_ON,
    LIVE_VIEW_OFF,
} LiveViewMode;

/* -x-live on|off|auto: "on", "off", "auto" -> mode; false otherwise. */
bool live_view_parse_mode(const char *str, LiveViewMode *mode);
/* After the machine and the monitors are up; main thread. */
bool live_view_init(LiveViewMode mode, Error **errp);
bool live_view_set_enabled(bool on, Error **errp);
bool live_view_enabled(void);
/* Restores the terminal; safe when never started. */
void live_view_cleanup(void);

/* HMP: x_live on|off */
typedef struct Monitor Monitor;
void hmp_x_live(Monitor *mon, int argc, char **argv);

#endif /* MONITOR_LIVE_VIEW_H */
