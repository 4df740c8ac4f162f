/*
 * Migration transports: URIs, connect, listen and accept.  The blocking
 * reads and writes on the connection are in channel-io.c.
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "migration/channel.h"
#include "monitor/monitor.h"
#include "qemu/cutils.h"
#include "qemu/sockets.h"
#include "trace.h"

/* Give up on a connect that neither succeeds nor fails, ms. */
#define CHANNEL_CONNECT_TIMEOUT_MS 30000
/*
 * Pending connections a destination queues.  It judges one at a time and
 * closes the listener once a migration began (so only one ever does);
 * a few places let a real source wait behind stray connections, and a
 * UNIX connect to a full queue fails at once (EAGAIN).
 */
#define CHANNEL_LISTEN_BACKLOG 4

void migration_uri_clear(MigrationUri *uri)
{
    g_free(uri->host);
    g_free(uri->port);
    g_free(uri->path);
    memset(uri, 0, sizeof(*uri));
}

/*
 * "fd:NAME": a descriptor a QMP client passed with getfd; "fd:N": one
 * this process inherited (QEMU's two meanings).
 */
static bool migration_uri_parse_fd(const char *uri, MigrationUri *out,
                                   Error **errp)
{
    const char *name = uri + strlen("fd:");

    if (!*name) {
        error_setg(errp, "migration URI '%s': expected fd:NAME (given to "
                   "getfd) or fd:N (inherited)", uri);
        return false;
    }
    out->kind = MIGRATION_URI_FD;
    out->path = g_strdup(name);
    return true;
}

/*
 * Take the fd: descriptor, set up for the blocking I/O of the migration
 * threads.  *@is_socket: whether it can carry the return path.
 */
static int migration_channel_take_fd(const MigrationUri *uri,
                                     bool *is_socket, Error **errp)
{
    uint64_t number;
    struct stat st;
    int fd;

    if (qemu_strtou64(uri->path, &number) && number <= INT_MAX) {
        fd = (int)number;
    } else {
        fd = monitor_fd_take(uri->path, errp);
    }
    if (fd < 0) {
        error_prepend(errp, "migration URI 'fd:%s': ", uri->path);
        return -1;
    }
    if (fstat(fd, &st) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "migration URI 'fd:%s'", uri->path);
        close(fd);
        return -1;
    }
    *is_socket = S_ISSOCK(st.st_mode);
    return fd;
}

/* tcp:HOST:PORT (port 1 to 65535) or unix:PATH, as util/sockets.c parses. */
static bool migration_uri_parse_socket(const char *uri, MigrationUri *out,
                                       Error **errp)
{
    SocketAddr addr;

    if (!socket_addr_parse(uri, &addr, errp)) {
        error_prepend(errp, "migration URI '%s': ", uri);
        return false;
    }
    if (addr.kind == SOCKET_ADDR_TCP && socket_addr_port(&addr) == 0) {
        error_setg(errp, "migration URI '%s': the port must be 1 to 65535",
                   uri);
        socket_addr_clear(&addr);
        return false;
    }
    out->kind = addr.kind == SOCKET_ADDR_TCP ? MIGRATION_URI_TCP :
                MIGRATION_URI_UNIX;
    out->host = addr.host;
    out->port = addr.port;
    out->path = addr.path;
    return true;
}

/* The socket address a tcp: or unix: URI names (borrowed strings). */
static SocketAddr migration_uri_socket(const MigrationUri *uri)
{
    return (SocketAddr) {
        .kind = uri->kind == MIGRATION_URI_TCP ? SOCKET_ADDR_TCP :
                SOCKET_ADDR_UNIX,
        .host = uri->host,
        .port = uri->port,
        .path = uri->path,
    };
}

bool migration_uri_parse(const char *uri, MigrationUri *out, Error **errp)
{
    memset(out, 0, sizeof(*out));
    if (g_str_has_prefix(uri, "fd:")) {
        return migration_uri_parse_fd(uri, out, errp);
    }
    if (g_str_has_prefix(uri, "exec:") && uri[strlen("exec:")]) {
        out->kind = MIGRATION_URI_EXEC;
        out->path = g_strdup(uri + strlen("exec:"));
        return true;
    }
    if (g_str_has_prefix(uri, "unix:") || g_str_has_prefix(uri, "tcp:")) {
        return migration_uri_parse_socket(uri, out, errp);
    }
    error_setg(errp, "migration URI '%s' is not supported: use "
               "tcp:HOST:PORT, unix:PATH, fd:NAME or exec:COMMAND", uri);
    return false;
}

int migration_channel_connect(const MigrationUri *uri, const int *cancelled,
                              Error **errp)
{
    SocketAddr addr;
    int fd;

    if (uri->kind == MIGRATION_URI_FD) {
        bool is_socket;

        fd = migration_channel_take_fd(uri, &is_socket, errp);
        /* A pipe or a file (virsh save) goes through a relay. */
        return fd < 0 || is_socket ? fd :
               migration_fd_relay_connect(uri->path, fd, errp);
    }
    if (uri->kind == MIGRATION_URI_EXEC) {
        return migration_exec_connect(uri->path, errp);
    }
    /* The migration threads do blocking I/O: the fd is blocking. */
    addr = migration_uri_socket(uri);
    return socket_connect(&addr, CHANNEL_CONNECT_TIMEOUT_MS, cancelled, errp);
}

int migration_channel_listen(const MigrationUri *uri, Error **errp)
{
    /* The accepted connection is read by blocking threads. */
    SocketListenOpts opts = { .backlog = CHANNEL_LISTEN_BACKLOG };
    SocketListener l;
    SocketAddr addr;

    if (uri->kind == MIGRATION_URI_FD) {
        bool is_socket;
        int fd = migration_channel_take_fd(uri, &is_socket, errp);

        if (fd >= 0 && is_socket) {
            error_setg(errp, "fd:%s: a socket: receive live migrations on "
                       "tcp:HOST:PORT or unix:PATH; fd: is for a pipe or "
                       "a file (virsh restore)", uri->path);
            close(fd);
            return -1;
        }
        return fd < 0 ? -1 : migration_fd_relay_listen(uri->path, fd, errp);
    }
    if (uri->kind == MIGRATION_URI_EXEC) {
        return migration_exec_listen(uri->path, errp);
    }
    addr = migration_uri_socket(uri);
    if (!socket_listen(&addr, &opts, &l, errp)) {
        return -1;
    }
    /* incoming.c unlinks the path when it stops listening. */
    g_free(l.unix_path);
    return l.fd;
}

int migration_channel_accept(int listen_fd, Error **errp)
{
    int fd;

    fd = socket_accept(listen_fd, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "accept");
    }
    return fd;
}
