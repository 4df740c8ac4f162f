/*
 * HMP, the human monitor: text commands, each a thin wrapper over a
 * qmp_ function.  A subsystem adds an HMP command by writing its
 * handler and adding one line to the table in monitor/hmp-commands.c.
 *
 * Handlers run on the main thread with the VM lock held, print with
 * monitor_printf() ("\n" becomes "\r\n" as in QEMU), report errors with
 * hmp_handle_error(), and never exit the process.
 */
#ifndef MONITOR_HMP_H
#define MONITOR_HMP_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "qapi/error.h"

typedef struct Monitor Monitor;

/*
 * @argv[0] is the command's name ("stop", or "status" for "info
 * status"), followed by its words; quotes group words as in a shell.
 */
typedef void HMPCommandFunc(Monitor *mon, int argc, char **argv);

typedef struct HMPCommand {
    const char *name;
    const char *params;         /* "CPU KIND [size=SIZE]", "" for none */
    const char *help;           /* one line */
    HMPCommandFunc *fn;
} HMPCommand;

void monitor_printf(Monitor *mon, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* If @err is set: print "Error: MESSAGE", free it, return true. */
bool hmp_handle_error(Monitor *mon, Error *err);

/* Check the number of words after the command name. */
bool hmp_check_args(Monitor *mon, int argc, char **argv, int min_args,
                    int max_args);

/* "4096", "64k", "64M", "1G", "1T" (powers of 1024) -> bytes. */
bool hmp_parse_size(const char *str, uint64_t *bytes, Error **errp);
/* A decimal integer in [min, max]; @what names it in errors. */
bool hmp_parse_int(const char *str, const char *what, int64_t min,
                   int64_t max, int64_t *out, Error **errp);

/*
 * A command that ends later (HMP migrate without -d): called every
 * HMP_WAIT_POLL_MS on the main thread with the VM lock held until it
 * returns true, having printed its last words.  The monitor reads no
 * further input meanwhile, as QEMU suspends its monitor.
 */
typedef bool HMPWaitFunc(Monitor *mon);
void hmp_wait_until(Monitor *mon, HMPWaitFunc *fn);

/* Run one command line (the VM lock is held). */
void hmp_handle_line(Monitor *mon, const char *line);

/* The core commands (monitor/hmp-commands.c). */
void hmp_help(Monitor *mon, int argc, char **argv);
void hmp_info(Monitor *mon, int argc, char **argv);
void hmp_stop(Monitor *mon, int argc, char **argv);
void hmp_cont(Monitor *mon, int argc, char **argv);
void hmp_quit(Monitor *mon, int argc, char **argv);
void hmp_workload(Monitor *mon, int argc, char **argv);
void hmp_info_status(Monitor *mon, int argc, char **argv);
void hmp_info_version(Monitor *mon, int argc, char **argv);
void hmp_info_cpus(Monitor *mon, int argc, char **argv);
void hmp_info_workload(Monitor *mon, int argc, char **argv);

/*
 * Migration's commands (migration/migration-hmp-cmds.c), each a thin
 * wrapper over its qmp_ function.  One header declares every command the
 * table in monitor/hmp-commands.c lists from the monitor's own layer.
 */
void hmp_migrate(Monitor *mon, int argc, char **argv);
void hmp_migrate_cancel(Monitor *mon, int argc, char **argv);
void hmp_migrate_incoming(Monitor *mon, int argc, char **argv);
void hmp_migrate_continue(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv);
void hmp_info_migrate(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv);

#endif /* MONITOR_HMP_H */
