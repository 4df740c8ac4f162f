/*
 * -daemonize and -pidfile.
 *
 *   invoking process --fork--> session leader --fork--> daemon
 *        | waits on the pipe       | exits 0 at once       | initialises
 *        | byte 0: exit 0          |                       | listens, pidfile
 *        | EOF:    exit 1   <------------------------------+ ready: byte 0
 *
 * The daemon keeps the caller's stderr until it is ready, so an error
 * before that reaches whoever started restraint (libvirt shows it).
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sysemu/daemonize.h"

/* Sent by the daemon when it is ready; anything else is a failure. */
#define DAEMONIZE_READY_BYTE 0

typedef struct DaemonState {
    int ready_fd;               /* the daemon's end of the pipe, or -1 */
    int pidfile_fd;             /* open and locked, or -1 */
    char *pidfile_path;
    dev_t pidfile_dev;
    ino_t pidfile_ino;
} DaemonState;

static DaemonState daemon_state = { .ready_fd = -1, .pidfile_fd = -1 };

/* The invoking process: wait for the daemon's word, then exit. */
static void G_GNUC_NORETURN vl_daemonize_wait(int read_fd, pid_t leader)
{
    uint8_t byte;
    ssize_t n;

    /* The session leader exits at once: reap it. */
    while (waitpid(leader, NULL, 0) < 0 && errno == EINTR) {
    }
    do {
        n = read(read_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    _exit(n == 1 && byte == DAEMONIZE_READY_BYTE ? EXIT_SUCCESS :
          EXIT_FAILURE);
}

bool vl_daemonize_start(Error **errp)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "-daemonize: cannot create a pipe");
        return false;
    }
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "-daemonize: cannot fork");
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid > 0) {
        close(fds[1]);
        vl_daemonize_wait(fds[0], pid);
    }
    close(fds[0]);
    /* A new session, then a child of it that can never get a terminal. */
    if (setsid() < 0) {
        _exit(EXIT_FAILURE);
    }
    pid = fork();
    if (pid < 0) {
        _exit(EXIT_FAILURE);
    }
    if (pid > 0) {
        _exit(EXIT_SUCCESS);
    }
    daemon_state.ready_fd = fds[1];
    return true;
}

void vl_daemonize_ready(void)
{
    uint8_t byte = DAEMONIZE_READY_BYTE;
    int null_fd;

    if (daemon_state.ready_fd < 0) {
        return;
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
    if (chdir("/") < 0) {
        /* Stay where we are: nothing depends on it. */
    }
    while (write(daemon_state.ready_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    close(daemon_state.ready_fd);
    daemon_state.ready_fd = -1;
}

bool vl_pidfile_write(const char *path, Error **errp)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    struct stat st;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, errno, "-pidfile %s: cannot open", path);
        return false;
    }
    if (lockf(fd, F_TLOCK, 0) < 0) {
        error_setg(errp, "-pidfile %s: locked by another running process",
                   path);
        close(fd);
        return false;
    }
    if (ftruncate(fd, 0) < 0 ||
        write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "-pidfile %s: cannot write", path);
        close(fd);
        return false;
    }
    daemon_state.pidfile_fd = fd;
    daemon_state.pidfile_path = g_strdup(path);
    daemon_state.pidfile_dev = st.st_dev;
    daemon_state.pidfile_ino = st.st_ino;
    return true;
}

void vl_pidfile_remove(void)
{
    struct stat st;

    if (daemon_state.pidfile_fd < 0) {
        return;
    }
    /* Ours, not a file someone put in its place since. */
    if (stat(daemon_state.pidfile_path, &st) == 0 &&
        st.st_dev == daemon_state.pidfile_dev &&
        st.st_ino == daemon_state.pidfile_ino) {
        unlink(daemon_state.pidfile_path);
    }
    close(daemon_state.pidfile_fd);
    daemon_state.pidfile_fd = -1;
    g_clear_pointer(&daemon_state.pidfile_path, g_free);
}
