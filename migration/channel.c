/*
 * Migration transports: URIs, connect, listen and accept, and blocking
 * reads and writes for the migration and migration-incoming threads.
 */
#include "qemu/osdep.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "migration/channel.h"
#include "trace.h"

/* How often a blocking wait looks at its cancel flag, ms. */
#define CHANNEL_CANCEL_POLL_MS 20
/* Give up on a connect that neither succeeds nor fails, ms. */
#define CHANNEL_CONNECT_TIMEOUT_MS 30000
/* Pending connections a destination accepts: one migration at a time. */
#define CHANNEL_LISTEN_BACKLOG 1

void migration_uri_clear(MigrationUri *uri)
{
    g_free(uri->host);
    g_free(uri->port);
    g_free(uri->path);
    memset(uri, 0, sizeof(*uri));
}

bool migration_uri_parse(const char *uri, MigrationUri *out, Error **errp)
{
    memset(out, 0, sizeof(*out));
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
               "tcp:HOST:PORT or unix:PATH", uri);
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

/* Finish a non-blocking connect, polling @cancelled. */
static bool channel_connect_wait(int fd, const int *cancelled, Error **errp)
{
    int64_t waited_ms = 0;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof(err);
        int n;

        if (cancelled && __atomic_load_n(cancelled, __ATOMIC_RELAXED)) {
            error_setg(errp, "connect cancelled");
            return false;
        }
        n = poll(&pfd, 1, CHANNEL_CANCEL_POLL_MS);
        if (n < 0 && errno != EINTR) {
            error_setg_errno(errp, errno, "poll");
            return false;
        }
        if (n > 0) {
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                error_setg_errno(errp, err, "connect");
                return false;
            }
            return true;
        }
        waited_ms += CHANNEL_CANCEL_POLL_MS;
        if (waited_ms >= CHANNEL_CONNECT_TIMEOUT_MS) {
            error_setg(errp, "connect timed out after %d s",
                       CHANNEL_CONNECT_TIMEOUT_MS / 1000);
            return false;
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
    if (connect(fd, sa, salen) < 0 &&
        (errno != EINPROGRESS || !channel_connect_wait(fd, cancelled,
                                                       errp))) {
        if (errno != EINPROGRESS) {
            error_setg_errno(errp, errno, "connect");
        }
        close(fd);
        return -1;
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

bool migration_channel_write_all(int fd, const void *buf, size_t len,
                                 Error **errp)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "connection lost");
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

bool migration_channel_read_all(int fd, void *buf, size_t len, Error **errp)
{
    uint8_t *p = buf;
    size_t want = len;

    while (len) {
        ssize_t n = recv(fd, p, len, 0);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "connection lost");
            return false;
        }
        if (n == 0) {
            error_setg(errp, "the stream ended early (short read: %zu of %zu "
                       "bytes)", want - len, want);
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

void migration_channel_reader_init(MigrationChannelReader *r, int fd)
{
    r->fd = fd;
    r->head = 0;
    r->tail = 0;
}

bool migration_channel_reader_read(MigrationChannelReader *r, void *buf,
                                   size_t len, Error **errp)
{
    uint8_t *p = buf;

    while (len) {
        size_t have = r->tail - r->head;
        ssize_t n;

        if (have) {
            size_t take = MIN(have, len);

            memcpy(p, r->buf + r->head, take);
            r->head += take;
            p += take;
            len -= take;
            continue;
        }
        if (len >= sizeof(r->buf)) {
            /* A big read needs no copy through the buffer. */
            return migration_channel_read_all(r->fd, p, len, errp);
        }
        n = recv(r->fd, r->buf, sizeof(r->buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "connection lost");
            return false;
        }
        if (n == 0) {
            error_setg(errp, "the stream ended early (%zu bytes missing)",
                       len);
            return false;
        }
        r->head = 0;
        r->tail = n;
    }
    return true;
}

int migration_channel_wait_readable(int fd, int64_t timeout_ms,
                                    const int *cancelled)
{
    int64_t waited_ms = 0;

    while (waited_ms < timeout_ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n;

        if (cancelled && __atomic_load_n(cancelled, __ATOMIC_RELAXED)) {
            return 0;
        }
        n = poll(&pfd, 1, CHANNEL_CANCEL_POLL_MS);
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        if (n > 0) {
            return 1;
        }
        waited_ms += CHANNEL_CANCEL_POLL_MS;
    }
    return 0;
}
