/*
 * Migration transports: URIs, connect, listen and accept.  The blocking
 * reads and writes on the connection are in channel-io.c.
 */
#include "qemu/osdep.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <sys/stat.h>

#include "migration/channel.h"
#include "monitor/monitor.h"
#include "qemu/clock.h"
#include "qemu/cutils.h"
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
    if (g_str_has_prefix(uri, "unix:")) {
        const char *path = uri + strlen("unix:");

        if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)
                                              ->sun_path)) {
            error_setg(errp, "migration URI '%s': the UNIX socket path must "
                       "be 1 to %zu characters", uri,
                       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return false;
        }
        out->kind = MIGRATION_URI_UNIX;
        out->path = g_strdup(path);
        return true;
    }
    if (g_str_has_prefix(uri, "tcp:")) {
        const char *hostport = uri + strlen("tcp:");
        const char *colon;
        char *end;
        long port;

        if (hostport[0] == '[') {
            const char *close = strchr(hostport, ']');

            if (!close || close[1] != ':') {
                error_setg(errp, "migration URI '%s': expected "
                           "tcp:[IPV6]:PORT", uri);
                return false;
            }
            out->host = g_strndup(hostport + 1, close - hostport - 1);
            colon = close + 1;
        } else {
            colon = strrchr(hostport, ':');
            if (!colon) {
                error_setg(errp, "migration URI '%s': expected tcp:HOST:PORT",
                           uri);
                return false;
            }
            out->host = g_strndup(hostport, colon - hostport);
        }
        port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 1 || port > 65535) {
            error_setg(errp, "migration URI '%s': the port must be 1 to "
                       "65535", uri);
            migration_uri_clear(out);
            return false;
        }
        out->kind = MIGRATION_URI_TCP;
        out->port = g_strdup(colon + 1);
        return true;
    }
    error_setg(errp, "migration URI '%s' is not supported: use "
               "tcp:HOST:PORT, unix:PATH, fd:NAME or exec:COMMAND", uri);
    return false;
}

static bool channel_unix_addr(const MigrationUri *uri,
                              struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    g_strlcpy(sun->sun_path, uri->path, sizeof(sun->sun_path));
    return true;
}

/*
 * Finish a non-blocking connect, polling @cancelled.  A signal that
 * interrupts poll() only means "look again"; *errp is set exactly once,
 * on each way out that returns false.
 */
static bool channel_connect_wait(int fd, const int *cancelled, Error **errp)
{
    int64_t deadline_ms = clock_ms() + CHANNEL_CONNECT_TIMEOUT_MS;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof(err);
        int n;

        if (cancelled && __atomic_load_n(cancelled, __ATOMIC_RELAXED)) {
            error_setg(errp, "connect cancelled");
            return false;
        }
        if (clock_ms() >= deadline_ms) {
            error_setg(errp, "connect timed out after %d s",
                       CHANNEL_CONNECT_TIMEOUT_MS / 1000);
            return false;
        }
        n = poll(&pfd, 1, MIGRATION_CHANNEL_POLL_MS);
        if (n < 0 && errno != EINTR) {
            error_setg_errno(errp, errno, "poll");
            return false;
        }
        if (n > 0) {
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
                err = errno;
            }
            if (err) {
                error_setg_errno(errp, err, "connect");
                return false;
            }
            return true;
        }
    }
}

static int channel_connect_addr(const struct sockaddr *sa, socklen_t salen,
                                const int *cancelled, Error **errp)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);

    if (fd < 0) {
        error_setg_errno(errp, errno, "socket");
        return -1;
    }
    if (connect(fd, sa, salen) < 0) {
        /* Interrupted, a non-blocking connect goes on in the background. */
        bool pending = errno == EINPROGRESS || errno == EINTR;

        if (!pending) {
            error_setg_errno(errp, errno, "connect");
        }
        if (!pending || !channel_connect_wait(fd, cancelled, errp)) {
            close(fd);
            return -1;
        }
    }
    /* The migration threads do blocking I/O. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* getaddrinfo() for a tcp: URI; the caller frees *res. */
static bool channel_resolve(const MigrationUri *uri,
                            const struct addrinfo *hints,
                            struct addrinfo **res, Error **errp)
{
    int ret = getaddrinfo(uri->host[0] ? uri->host : NULL, uri->port, hints,
                          res);

    if (ret) {
        error_setg(errp, "cannot resolve '%s': %s", uri->host,
                   gai_strerror(ret));
        return false;
    }
    return true;
}

int migration_channel_connect(const MigrationUri *uri, const int *cancelled,
                              Error **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res, *ai;
    struct sockaddr_un sun;
    Error *err = NULL;
    int fd = -1;

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
    if (uri->kind == MIGRATION_URI_UNIX) {
        channel_unix_addr(uri, &sun);
        fd = channel_connect_addr((struct sockaddr *)&sun, sizeof(sun),
                                  cancelled, errp);
        if (fd < 0) {
            error_prepend(errp, "cannot connect to unix:%s: ", uri->path);
        }
        return fd;
    }
    if (!channel_resolve(uri, &hints, &res, errp)) {
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        error_free(err);
        err = NULL;
        fd = channel_connect_addr(ai->ai_addr, ai->ai_addrlen, cancelled,
                                  &err);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_propagate(errp, err);
        error_prepend(errp, "cannot connect to tcp:%s:%s: ", uri->host,
                      uri->port);
        return -1;
    }
    error_free(err);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    return fd;
}

int migration_channel_listen(const MigrationUri *uri, Error **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *res, *ai;
    struct sockaddr_un sun;
    int fd = -1, saved_errno = 0;

    if (uri->kind == MIGRATION_URI_FD) {
        bool is_socket;

        fd = migration_channel_take_fd(uri, &is_socket, errp);
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
    if (uri->kind == MIGRATION_URI_UNIX) {
        channel_unix_addr(uri, &sun);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
            listen(fd, CHANNEL_LISTEN_BACKLOG) < 0) {
            error_setg_errno(errp, errno, "cannot listen on unix:%s",
                             uri->path);
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        return fd;
    }
    if (!channel_resolve(uri, &hints, &res, errp)) {
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            listen(fd, CHANNEL_LISTEN_BACKLOG) < 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "cannot listen on tcp:%s:%s",
                         uri->host, uri->port);
    }
    return fd;
}

int migration_channel_accept(int listen_fd, Error **errp)
{
    int fd;

    do {
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        error_setg_errno(errp, errno, "accept");
    }
    return fd;
}
