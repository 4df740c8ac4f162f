/*
 * What the monitor's files share and nobody else needs.
 */
#ifndef MONITOR_MONITOR_INTERNAL_H
#define MONITOR_MONITOR_INTERNAL_H

#include "monitor/hmp.h"
#include "monitor/monitor.h"

/* HMP output: whoever runs a command line sends or returns it. */
struct Monitor {
    GString *out;
    HMPWaitFunc *wait;          /* set by hmp_wait_until(), or NULL */
};

/* How often a waiting HMP command is asked whether it has ended. */
#define HMP_WAIT_POLL_MS 100

/*
 * After a line left @mon->wait set: poll it (HMP_WAIT_POLL_MS), then
 * hand @done what it printed.  Returns the timer's source id.
 */
guint hmp_wait_start(HMPWaitFunc *fn, void (*done)(void *opaque,
                                                   GString *out),
                     void *opaque);

/* The HMP command tables (hmp-commands.c), each ending with a NULL name. */
extern const HMPCommand hmp_commands[];
extern const HMPCommand hmp_info_commands[];

/* A longer HMP input line is refused: no command needs one. */
#define HMP_MAX_LINE_BYTES 4096

#define HMP_PROMPT "(restraint) "
#define HMP_BANNER "restraint " RESTRAINT_VERSION \
    " monitor - type 'help' for more information\n"

/* Close the descriptors nobody took (monitor-fds.c). */
void monitor_fds_cleanup(void);

/* -monitor stdio (hmp.c). */
bool monitor_hmp_stdio_init(Error **errp);
void monitor_hmp_stdio_cleanup(void);

#endif /* MONITOR_MONITOR_INTERNAL_H */
