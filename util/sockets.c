/*
 * Stream sockets: address parsing, listen, accept and connect for every
 * server and client in restraint (see include/qemu/sockets.h).
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "qemu/sockets.h"

/* How often a connect in progress looks at its cancel flag, ms. */
#define SOCKET_CANCEL_POLL_MS 20

#define SOCKET_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

void socket_addr_clear(SocketAddr *addr)
{
    g_free(addr->host);
    g_free(addr->port);
    g_free(addr->path);
    memset(addr, 0, sizeof(*addr));
}

unsigned int socket_addr_port(const SocketAddr *addr)
{
    return addr->port ? (unsigned int)atoi(addr->port) : 0;
}

static bool socket_port_ok(const char *port)
{
    size_t len = strlen(port);

    /* At most 5 digits, so atoi() cannot overflow. */
    return len && len <= 5 && strspn(port, "0123456789") == len &&
           atoi(port) <= 65535;
}

static bool socket_addr_parse_tcp(const char *hostport, SocketAddr *out,
                                  Error **errp)
{
    const char *colon;

    if (hostport[0] == '[') {
        const char *close_bracket = strchr(hostport, ']');

        if (!close_bracket || close_bracket[1] != ':') {
            error_setg(errp, "expected tcp:[IPV6]:PORT");
            return false;
        }
        out->host = g_strndup(hostport + 1, close_bracket - hostport - 1);
        colon = close_bracket + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon) {
            error_setg(errp, "expected tcp:HOST:PORT");
            return false;
        }
        out->host = g_strndup(hostport, colon - hostport);
    }
    if (!socket_port_ok(colon + 1)) {
        error_setg(errp, "port '%s' is not a number from 0 to 65535",
                   colon + 1);
        socket_addr_clear(out);
        return false;
    }
    out->kind = SOCKET_ADDR_TCP;
    out->port = g_strdup(colon + 1);
    return true;
}

bool socket_addr_parse(const char *str, SocketAddr *out, Error **errp)
{
    memset(out, 0, sizeof(*out));
    if (g_str_has_prefix(str, "unix:")) {
        const char *path = str + strlen("unix:");

        if (!*path || strlen(path) > SOCKET_UNIX_PATH_MAX) {
            error_setg(errp, "the UNIX socket path must be 1 to %zu bytes",
                       SOCKET_UNIX_PATH_MAX);
            return false;
        }
        out->kind = SOCKET_ADDR_UNIX;
        out->path = g_strdup(path);
        return true;
    }
    if (g_str_has_prefix(str, "tcp:")) {
        return socket_addr_parse_tcp(str + strlen("tcp:"), out, errp);
    }
    error_setg(errp, "expected tcp:HOST:PORT or unix:PATH");
    return false;
}

static void socket_unix_sockaddr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    g_strlcpy(sun->sun_path, path, sizeof(sun->sun_path));
}

/* getaddrinfo() for a tcp: address; the caller frees *res. */
static bool socket_resolve(const SocketAddr *addr, int flags,
                           struct addrinfo **res, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = flags | AI_NUMERICSERV,
    };
    int ret = getaddrinfo(addr->host[0] ? addr->host : NULL, addr->port,
                          &hints, res);

    if (ret) {
        error_setg(errp, "cannot resolve '%s': %s", addr->host,
                   gai_strerror(ret));
        return false;
    }
    return true;
}

static int socket_type(const SocketListenOpts *opts)
{
    return SOCK_STREAM | SOCK_CLOEXEC | (opts->nonblock ? SOCK_NONBLOCK : 0);
}

/* A socket file nobody listens on is left over from a dead process. */
static bool socket_unix_is_stale(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool stale;

    if (fd < 0) {
        return false;
    }
    stale = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 &&
            (errno == ECONNREFUSED || errno == ENOENT);
    close(fd);
    return stale;
}

/* unix_private: a file left there must be a dead socket; we replace it. */
static bool socket_unix_take_over(const struct sockaddr_un *sun,
                                  Error **errp)
{
    struct stat st;

    if (lstat(sun->sun_path, &st) < 0) {
        return true;
    }
    if (!S_ISSOCK(st.st_mode)) {
        error_setg(errp, "'%s' exists and is not a socket", sun->sun_path);
        return false;
    }
    if (!socket_unix_is_stale(sun)) {
        error_setg(errp, "'%s' is in use by another process", sun->sun_path);
        return false;
    }
    unlink(sun->sun_path);
    return true;
}

static bool socket_listen_unix(const SocketAddr *addr,
                               const SocketListenOpts *opts,
                               SocketListener *l, Error **errp)
{
    struct sockaddr_un sun;
    struct stat st;
    int backlog = opts->backlog ? opts->backlog : SOMAXCONN;
    int fd;

    socket_unix_sockaddr(addr->path, &sun);
    if (opts->unix_private && !socket_unix_take_over(&sun, errp)) {
        return false;
    }
    fd = socket(AF_UNIX, socket_type(opts), 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a socket");
        return false;
    }
    /* On Linux the socket's mode becomes the file's: no window at 0644. */
    if ((opts->unix_private && fchmod(fd, 0600) < 0) ||
        bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        (opts->unix_private && chmod(addr->path, 0600) < 0) ||
        listen(fd, backlog) < 0 || lstat(addr->path, &st) < 0) {
        error_setg_errno(errp, errno, "cannot listen on unix:%s",
                         addr->path);
        close(fd);
        return false;
    }
    l->fd = fd;
    l->unix_path = g_strdup(addr->path);
    l->unix_dev = st.st_dev;
    l->unix_ino = st.st_ino;
    return true;
}

static bool socket_listen_tcp(const SocketAddr *addr,
                              const SocketListenOpts *opts,
                              SocketListener *l, Error **errp)
{
    struct addrinfo *res = NULL;
    int backlog = opts->backlog ? opts->backlog : SOMAXCONN;
    int fd = -1, saved_errno = 0;

    if (!socket_resolve(addr, AI_PASSIVE, &res, errp)) {
        return false;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, socket_type(opts), ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            listen(fd, backlog) < 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "cannot listen on tcp:%s:%s",
                         addr->host, addr->port);
        return false;
    }
    l->fd = fd;
    return true;
}

bool socket_listen(const SocketAddr *addr, const SocketListenOpts *opts,
                   SocketListener *l, Error **errp)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (addr->kind == SOCKET_ADDR_UNIX) {
        return socket_listen_unix(addr, opts, l, errp);
    }
    return socket_listen_tcp(addr, opts, l, errp);
}

void socket_listener_close(SocketListener *l)
{
    struct stat st;

    if (l->fd >= 0) {
        close(l->fd);
    }
    l->fd = -1;
    if (l->unix_path && lstat(l->unix_path, &st) == 0 &&
        st.st_dev == l->unix_dev && st.st_ino == l->unix_ino) {
        unlink(l->unix_path);
    }
    g_clear_pointer(&l->unix_path, g_free);
}

int socket_accept(int listen_fd, int flags)
{
    int fd;

    do {
        fd = accept4(listen_fd, NULL, NULL, flags | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/*
 * Finish a non-blocking connect, polling @cancelled.  A signal that
 * interrupts poll() only means "look again"; *errp is set exactly once,
 * on each way out that returns false.
 */
static bool socket_connect_wait(int fd, int64_t deadline_ms, int timeout_ms,
                                const int *cancelled, Error **errp)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof(err);
        int n;

        if (cancelled && qatomic_read(cancelled)) {
            error_setg(errp, "connect cancelled");
            return false;
        }
        if (clock_ms() >= deadline_ms) {
            error_setg(errp, "connect timed out after %d s",
                       timeout_ms / 1000);
            return false;
        }
        n = poll(&pfd, 1, SOCKET_CANCEL_POLL_MS);
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

static int socket_connect_addr(const struct sockaddr *sa, socklen_t salen,
                               int timeout_ms, const int *cancelled,
                               Error **errp)
{
    int64_t deadline_ms = clock_ms() + timeout_ms;
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
        if (!pending || !socket_connect_wait(fd, deadline_ms, timeout_ms,
                                             cancelled, errp)) {
            close(fd);
            return -1;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int socket_connect(const SocketAddr *addr, int timeout_ms,
                   const int *cancelled, Error **errp)
{
    struct addrinfo *res, *ai;
    struct sockaddr_un sun;
    Error *err = NULL;
    int fd = -1;

    if (addr->kind == SOCKET_ADDR_UNIX) {
        socket_unix_sockaddr(addr->path, &sun);
        fd = socket_connect_addr((struct sockaddr *)&sun, sizeof(sun),
                                 timeout_ms, cancelled, errp);
        if (fd < 0) {
            error_prepend(errp, "cannot connect to unix:%s: ", addr->path);
        }
        return fd;
    }
    if (!socket_resolve(addr, 0, &res, errp)) {
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        error_free(err);
        err = NULL;
        fd = socket_connect_addr(ai->ai_addr, ai->ai_addrlen, timeout_ms,
                                 cancelled, &err);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_propagate(errp, err);
        error_prepend(errp, "cannot connect to tcp:%s:%s: ", addr->host,
                      addr->port);
        return -1;
    }
    error_free(err);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    return fd;
}
