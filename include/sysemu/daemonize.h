/*
 * -daemonize and -pidfile (softmmu/daemonize.c), QEMU's contract that
 * libvirt's capability probe relies on: the command returns, with exit
 * status 0, only once the daemon's monitors listen and its pidfile holds
 * its PID; a daemon that fails before that makes it return non-zero.
 */
#ifndef SYSEMU_DAEMONIZE_H
#define SYSEMU_DAEMONIZE_H

/*
 * Fork into the background; only the daemon returns.  The caller's
 * process waits for vl_daemonize_ready() (exit 0) or for the daemon's
 * end without it (exit 1).  Call before any thread starts.
 */
bool vl_daemonize_start(Error **errp);
/* Stdio to /dev/null, cwd to /, and tell the waiting process. */
void vl_daemonize_ready(void);

/* Create and lock @path, write our PID; the lock lasts until exit. */
bool vl_pidfile_write(const char *path, Error **errp);
/* Remove the pidfile we wrote, if it is still ours. */
void vl_pidfile_remove(void);

#endif /* SYSEMU_DAEMONIZE_H */
