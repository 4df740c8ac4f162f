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

/*
 * One HMP connection's input (hmp-conn.c): lines in, output and prompts
 * out through @send; @resume: read again after a waiting command.
 */
typedef void HmpSendFunc(void *opaque, const char *text);

typedef struct HmpConn {
    GString *line;              /* the line so far */
    GString *unread;            /* input after a waiting command */
    guint wait_id;              /* a command is still running */
    bool too_long;              /* the current line is dropped */
    bool stopped;               /* the connection is closing */
    bool strip_cr;              /* CRLF input (sockets; default) */
    const char *too_long_reply; /* before the prompt, for a long line */
    HmpSendFunc *send;
    void (*resume)(void *opaque);
    void *opaque;
} HmpConn;

/* Set up @h and send the banner and first prompt. */
void hmp_conn_init(HmpConn *h, HmpSendFunc *send, void (*resume)(void *),
                   void *opaque);
void hmp_conn_feed(HmpConn *h, const char *data, size_t len);
/* A command is running: read no more input until @resume. */
static inline bool hmp_conn_busy(const HmpConn *h)
{
    return h->wait_id != 0;
}
void hmp_conn_destroy(HmpConn *h);

/* Close the descriptors nobody took (monitor-fds.c). */
void monitor_fds_cleanup(void);

/* -monitor stdio (hmp.c). */
bool monitor_hmp_stdio_init(Error **errp);
void monitor_hmp_stdio_cleanup(void);

#endif /* MONITOR_MONITOR_INTERNAL_H */
