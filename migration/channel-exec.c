/*
 * Streams with no far side: exec: URIs, QEMU's way to save a guest to a
 * command and load it back ("migrate exec:cat > FILE", "-incoming
 * exec:cat FILE"), and fd: URIs whose descriptor is a pipe or a file
 * (libvirt's virsh save and restore).
 *
 *   source: migration thread <-socketpair-> relay ---> CMD's stdin / fd
 *   dest:   CMD's stdout / fd ---> relay <-abstract UNIX socket->
 *           the main loop's accept, then the migration-incoming thread
 *
 * The migration threads talk to a socket as for tcp: and unix:.  The
 * relay thread forwards the stream record by record, so it knows where
 * the stream ends, and then stands in for the return path a command or
 * a file does not have: on the source, a command that took the whole
 * stream and exited 0 (or a descriptor that took all of it) has
 * "loaded" it; on the destination, a stream read whole needs nobody's
 * "go".
 */
#include "qemu/osdep.h"

#include <endian.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "migration/channel.h"
#include "migration/stream.h"
#include "trace.h"

/* The most a relay reads at once: a page or a vCPU's state. */
#define EXEC_RELAY_CHUNK_BYTES MIG_CPU_STATE_MAX_BYTES

typedef struct ExecRelay {
    int stream_fd;              /* the migration side's socket */
    int command_fd;             /* the command's stdin or stdout, or fd: */
    GPid pid;                   /* 0 for fd: */
    bool outgoing;              /* stream_fd -> command, else reverse */
    char *command;              /* for messages: "exec:CMD" or "fd:NAME" */
} ExecRelay;

/* read()/write(): the command side may be a pipe or a file. */
static bool exec_read_all(int fd, uint8_t *buf, size_t len, Error **errp)
{
    while (len) {
        ssize_t n = read(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg(errp, "the stream ended early (%s)",
                       n < 0 ? strerror(errno) : "end of file");
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

static bool exec_write_all(int fd, const uint8_t *buf, size_t len,
                           Error **errp)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "cannot write the stream");
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

static bool exec_copy(ExecRelay *r, void *buf, size_t len, Error **errp)
{
    if (r->outgoing) {
        return migration_channel_read_all(r->stream_fd, buf, len, errp) &&
               exec_write_all(r->command_fd, buf, len, errp);
    }
    return exec_read_all(r->command_fd, buf, len, errp) &&
           migration_channel_write_all(r->stream_fd, buf, len, errp);
}

/*
 * Forward the header and every record up to the end's checksum.  What
 * follows each tag comes from the stream's own record table, so a new
 * record type is forwarded as soon as the stream code knows it.
 */
static bool exec_forward_stream(ExecRelay *r, Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(EXEC_RELAY_CHUNK_BYTES);
    MigStreamHeader h;
    uint64_t tag;

    if (!exec_copy(r, buf, MIG_STREAM_HEADER_BYTES, errp)) {
        return false;
    }
    mig_header_decode(buf, &h);
    if (h.magic != MIG_STREAM_MAGIC ||
        h.cpu_state_bytes > MIG_CPU_STATE_MAX_BYTES) {
        error_setg(errp, "not a restraint migration stream");
        return false;
    }
    for (;;) {
        size_t payload_bytes;

        if (!exec_copy(r, &tag, sizeof(tag), errp)) {
            return false;
        }
        tag = le64toh(tag);
        if (!mig_record_payload_bytes(&h, tag, &payload_bytes, errp)) {
            return false;
        }
        if (payload_bytes && !exec_copy(r, buf, payload_bytes, errp)) {
            return false;
        }
        if ((tag & MIG_TAG_TYPE_MASK) == MIG_REC_END) {
            return true;        /* the checksum came; the loader checks it */
        }
    }
}

/* The command's exit status, as an error if it did not exit 0. */
static bool exec_reap(ExecRelay *r, Error **errp)
{
    int status;

    if (!r->pid) {
        return true;            /* fd: no command */
    }
    while (waitpid(r->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            error_setg_errno(errp, errno, "%s", r->command);
            return false;
        }
    }
    r->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        error_setg(errp, "%s failed (status 0x%x)", r->command, status);
        return false;
    }
    return true;
}

/*
 * The far side of the return path, which the command cannot be
 * (migration/return-path.c): on the source, "loaded" or a refusal that
 * says why; on the destination, "go" once the loader said "loaded".
 */
static bool exec_handshake(ExecRelay *r, bool stream_ok, Error **errp)
{
    uint64_t word;

    if (r->outgoing) {
        /* The command has all of it once it exits 0: "loaded". */
        close(r->command_fd);
        r->command_fd = -1;
        if (!stream_ok || !exec_reap(r, errp)) {
            uint8_t msg[MIG_REFUSAL_WIRE_MAX_BYTES];
            size_t len = mig_refusal_encode(*errp ? error_get_pretty(*errp)
                                                  : r->command, msg);

            /* Best effort: the source may be gone already. */
            migration_channel_write_all(r->stream_fd, msg, len, NULL);
            return false;
        }
        word = htole64(MIG_ACK_LOADED);
        if (!migration_channel_write_all(r->stream_fd, &word, sizeof(word),
                                         errp)) {
            return false;
        }
        /* The source's "go"; nobody else needs it. */
        return migration_channel_read_all(r->stream_fd, &word,
                                          sizeof(word), errp);
    }
    /* The loader says "loaded" (or refuses); the file needs no wait. */
    if (!stream_ok ||
        !migration_channel_read_all(r->stream_fd, &word, sizeof(word),
                                    errp) || word != MIG_ACK_LOADED) {
        return false;
    }
    word = MIG_ACK_GO;
    return migration_channel_write_all(r->stream_fd, &word, sizeof(word),
                                       errp);
}

static void exec_relay_free(ExecRelay *r)
{
    g_free(r->command);
    g_free(r);
}

static gpointer exec_relay_thread(gpointer opaque)
{
    ExecRelay *r = opaque;
    Error *err = NULL;
    bool ok;

    ok = exec_forward_stream(r, &err);
    if (!ok) {
        error_prepend(&err, "%s: ", r->command);
    }
    ok = exec_handshake(r, ok, &err) && ok;
    trace_migration_exec_relay_done(r->command, ok,
                                    err ? error_get_pretty(err) : "");
    error_free(err);
    /* Closing both ends tells whoever still waits. */
    close(r->stream_fd);
    if (r->command_fd >= 0) {
        close(r->command_fd);
    }
    if (r->pid) {
        kill(r->pid, SIGTERM);
        exec_reap(r, NULL);
    }
    exec_relay_free(r);
    return NULL;
}

/*
 * sh -c @command with its stdin (outgoing) or stdout on a socket: its
 * end of the stream, closed, is the command's end of file.
 */
static bool exec_spawn(ExecRelay *r, Error **errp)
{
    char *argv[] = { "/bin/sh", "-c", r->command + strlen("exec:"), NULL };
    g_autoptr(GError) gerr = NULL;
    int fds[2];
    bool ok;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        error_setg_errno(errp, errno, "%s: socketpair", r->command);
        return false;
    }
    ok = g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &r->pid,
                                r->outgoing ? fds[1] : -1,
                                r->outgoing ? -1 : fds[1], -1, &gerr);
    close(fds[1]);
    if (!ok) {
        error_setg(errp, "%s: %s", r->command, gerr->message);
        close(fds[0]);
        return false;
    }
    r->command_fd = fds[0];
    return true;
}

/*
 * Spawn the command (exec:) or take @fd (fd:), then the relay thread.
 * On failure @fd is closed.
 */
static bool exec_start_relay(ExecRelay *r, int fd, Error **errp)
{
    GThread *thread;

    if (fd >= 0) {
        r->command_fd = fd;
    } else if (!exec_spawn(r, errp)) {
        return false;
    }
    trace_migration_exec_start(r->command, r->outgoing, (int)r->pid);
    thread = g_thread_try_new("migration-exec", exec_relay_thread, r, NULL);
    if (!thread) {
        error_setg(errp, "%s: cannot create the relay thread", r->command);
        close(r->command_fd);
        if (r->pid) {
            kill(r->pid, SIGTERM);
            exec_reap(r, NULL);
        }
        return false;
    }
    g_thread_unref(thread);     /* it cleans up after itself */
    return true;
}

static ExecRelay *exec_relay_new(const char *kind, const char *what,
                                 bool outgoing)
{
    ExecRelay *r = g_new0(ExecRelay, 1);

    r->command = g_strconcat(kind, what, NULL);
    r->outgoing = outgoing;
    r->command_fd = -1;
    return r;
}

/* Outgoing: the migration's socket; the relay feeds the command or @fd. */
static int exec_connect(ExecRelay *r, int fd, Error **errp)
{
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        error_setg_errno(errp, errno, "%s: socketpair", r->command);
        if (fd >= 0) {
            close(fd);
        }
        exec_relay_free(r);
        return -1;
    }
    r->stream_fd = fds[1];
    if (!exec_start_relay(r, fd, errp)) {
        close(fds[0]);
        close(fds[1]);
        exec_relay_free(r);
        return -1;
    }
    return fds[0];
}

int migration_exec_connect(const char *command, Error **errp)
{
    return exec_connect(exec_relay_new("exec:", command, true), -1, errp);
}

int migration_fd_relay_connect(const char *name, int fd, Error **errp)
{
    return exec_connect(exec_relay_new("fd:", name, true), fd, errp);
}

/* Incoming: a listening socket whose one connection carries the stream. */
static int exec_listen(ExecRelay *r, int fd, Error **errp)
{
    /* An abstract socket: no file to clean up, nobody else to find it. */
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    socklen_t len;
    int listen_fd, conn_fd;

    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    len = offsetof(struct sockaddr_un, sun_path) + 1 +
          snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
                   "restraint-exec-%d-%08x", (int)getpid(), g_random_int());
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sun, len) < 0 ||
        listen(listen_fd, 1) < 0) {
        error_setg_errno(errp, errno, "%s: cannot listen", r->command);
        goto fail_listen;
    }
    /* Connected before the main loop accepts: the backlog holds it. */
    conn_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn_fd < 0 || connect(conn_fd, (struct sockaddr *)&sun, len) < 0) {
        error_setg_errno(errp, errno, "%s: cannot connect", r->command);
        if (conn_fd >= 0) {
            close(conn_fd);
        }
        goto fail_listen;
    }
    r->stream_fd = conn_fd;
    if (!exec_start_relay(r, fd, errp)) {
        close(conn_fd);
        fd = -1;                /* closed by exec_start_relay() */
        goto fail_listen;
    }
    return listen_fd;

fail_listen:
    if (listen_fd >= 0) {
        close(listen_fd);
    }
    if (fd >= 0) {
        close(fd);
    }
    exec_relay_free(r);
    return -1;
}

int migration_exec_listen(const char *command, Error **errp)
{
    return exec_listen(exec_relay_new("exec:", command, false), -1, errp);
}

int migration_fd_relay_listen(const char *name, int fd, Error **errp)
{
    return exec_listen(exec_relay_new("fd:", name, false), fd, errp);
}
