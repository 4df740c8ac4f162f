/*
 * Stream sockets (util/sockets.c): the one place that parses
 * tcp:HOST:PORT / unix:PATH, listens, accepts and connects.  The QMP and
 * HMP servers, migration and the metrics endpoint all go through here;
 * each keeps only its own policy (which host an empty one means, which
 * ports it takes, blocking or not).
 */
#ifndef QEMU_SOCKETS_H
#define QEMU_SOCKETS_H

#include <sys/types.h>

typedef enum SocketAddrKind {
    SOCKET_ADDR_TCP,
    SOCKET_ADDR_UNIX,
} SocketAddrKind;

typedef struct SocketAddr {
    SocketAddrKind kind;
    char *host;                 /* tcp: as written, may be "" */
    char *port;                 /* tcp: digits, 0 to 65535 */
    char *path;                 /* unix: 1 to 107 bytes */
} SocketAddr;

/*
 * Pure: "tcp:HOST:PORT", "tcp:[IPV6]:PORT" or "unix:PATH".  The error
 * says which form was expected; the caller prepends its option.
 */
bool socket_addr_parse(const char *str, SocketAddr *out, Error **errp);
void socket_addr_clear(SocketAddr *addr);
/* The port as a number (tcp). */
unsigned int socket_addr_port(const SocketAddr *addr);

typedef struct SocketListenOpts {
    int backlog;                /* 0: SOMAXCONN */
    bool nonblock;              /* the listening socket; accept separately */
    /*
     * unix: take over a socket file nobody listens on (left by a dead
     * process) and create ours with mode 0600; refuse a live one.
     * Without it, an existing path is an error (EADDRINUSE).
     */
    bool unix_private;
} SocketListenOpts;

typedef struct SocketListener {
    int fd;
    char *unix_path;            /* unix: ours to unlink, or NULL */
    dev_t unix_dev;
    ino_t unix_ino;
} SocketListener;

/*
 * Bind and listen on @addr; tcp: an empty host is every address.  Fills
 * @l (fd >= 0) or returns false with @errp set ("cannot listen on ...").
 */
bool socket_listen(const SocketAddr *addr, const SocketListenOpts *opts,
                   SocketListener *l, Error **errp);
/*
 * Close the socket and unlink its UNIX path if it is still ours (not
 * one someone put in its place since).  Safe on a zeroed listener.
 */
void socket_listener_close(SocketListener *l);

/* accept4() with @flags (SOCK_NONBLOCK...), close-on-exec, past EINTR. */
int socket_accept(int listen_fd, int flags);

/*
 * Connect to @addr (tcp: an empty host is loopback; tcp sockets get
 * TCP_NODELAY), giving up after @timeout_ms, or as soon as *@cancelled
 * (may be NULL, read every few ms) is set; signals do not interrupt it.
 * Returns a blocking fd, or -1 with @errp set.  Any thread.
 */
int socket_connect(const SocketAddr *addr, int timeout_ms,
                   const int *cancelled, Error **errp);

#endif /* QEMU_SOCKETS_H */
