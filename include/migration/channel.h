/*
 * Migration transports: tcp:HOST:PORT, unix:PATH, fd:NAME and
 * exec:COMMAND, and the listening socket the destination's main loop
 * accepts on (migration/channel.c, channel-exec.c); blocking byte I/O
 * for the migration threads (migration/channel-io.c).
 */
#ifndef MIGRATION_CHANNEL_H
#define MIGRATION_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum MigrationUriKind {
    MIGRATION_URI_TCP,
    MIGRATION_URI_UNIX,
    MIGRATION_URI_FD,           /* getfd's or inherited; incoming: no socket */
    MIGRATION_URI_EXEC,         /* a shell command: the stream's file */
} MigrationUriKind;

typedef struct MigrationUri {
    MigrationUriKind kind;
    char *host;                 /* tcp: may be "" (any address to listen) */
    char *port;                 /* tcp */
    char *path;                 /* unix; fd: the getfd name; exec: command */
} MigrationUri;

/*
 * Pure: "tcp:HOST:PORT" ("tcp:[v6]:PORT"), "unix:PATH", "fd:NAME",
 * "exec:COMMAND".
 */
bool migration_uri_parse(const char *uri, MigrationUri *out, Error **errp);
void migration_uri_clear(MigrationUri *uri);

/*
 * Connect; polls @cancelled (may be NULL) every few ms so a cancel ends
 * a connect that hangs.  Returns the fd, or -1 with @errp set.
 */
int migration_channel_connect(const MigrationUri *uri, const int *cancelled,
                              Error **errp);
/* Bind and listen (a UNIX path must not exist yet).  fd or -1. */
int migration_channel_listen(const MigrationUri *uri, Error **errp);
int migration_channel_accept(int listen_fd, Error **errp);

/*
 * exec: (channel-exec.c).  Connect: a socket whose stream goes to the
 * command's stdin.  Listen: a socket on which the stream read from the
 * command's stdout arrives as one connection.  A relay thread stands in
 * for the return path the command lacks.
 */
int migration_exec_connect(const char *command, Error **errp);
int migration_exec_listen(const char *command, Error **errp);
/* The same for an fd: that is a pipe or a file; takes @fd. */
int migration_fd_relay_connect(const char *name, int fd, Error **errp);
int migration_fd_relay_listen(const char *name, int fd, Error **errp);

/* ---- channel-io.c: blocking I/O on a connection ---------------------- */

/* How often a blocking wait looks at its cancel flag, ms. */
#define MIGRATION_CHANNEL_POLL_MS 20

/* All of @buf, or false ("connection lost: ..."). Never raises SIGPIPE. */
bool migration_channel_write_all(int fd, const void *buf, size_t len,
                                 Error **errp);
/* Exactly @len bytes; a short read is "the stream ended early". */
bool migration_channel_read_all(int fd, void *buf, size_t len, Error **errp);

/*
 * Reads through a buffer: a stream of 8-byte records (a zero page each)
 * costs one recv() per buffer, not per record.  It never reads past what
 * the peer has sent, so a reply the peer sends only after our answer is
 * still read from the fd directly.
 */
#define MIGRATION_CHANNEL_READ_BUF_BYTES (64 * 1024)
typedef struct MigrationBufferedReader {
    int fd;
    size_t head;                /* next byte to hand out */
    size_t tail;                /* end of the bytes received */
    uint8_t buf[MIGRATION_CHANNEL_READ_BUF_BYTES];
} MigrationBufferedReader;

void migration_buffered_reader_init(MigrationBufferedReader *r, int fd);
/* Exactly @len bytes, as migration_channel_read_all(). */
bool migration_buffered_reader_read(MigrationBufferedReader *r, void *buf,
                                    size_t len, Error **errp);
/*
 * Wait up to @timeout_ms for @fd to be readable, polling @cancelled.
 * Returns 1 readable, 0 timed out or cancelled, -1 error.
 */
int migration_channel_wait_readable(int fd, int64_t timeout_ms,
                                    const int *cancelled);
/*
 * Exactly @len bytes, all within @timeout_ms, polling @cancelled: for a
 * peer that may stay silent.  False with "timed out", "cancelled",
 * "connection lost" or "the stream ended early" in @errp.
 */
bool migration_channel_read_within(int fd, void *buf, size_t len,
                                   int64_t timeout_ms, const int *cancelled,
                                   Error **errp);
/* A MigReadFn over migration_channel_read_within(). */
typedef struct MigrationChannelReader {
    int fd;
    int64_t timeout_ms;         /* for each read */
    const int *cancelled;       /* may be NULL */
} MigrationChannelReader;
bool migration_channel_reader_read(void *opaque, void *buf, size_t len,
                                   Error **errp);
/* Up to @len bytes already received, left unread; -1 (errno EAGAIN)
 * when there are none, 0 when the peer closed. */
ssize_t migration_channel_peek(int fd, void *buf, size_t len);
/*
 * Stop sending, then read and discard until the peer closes, at most
 * @timeout_ms: what we sent last is read by the peer before our close
 * could reset the connection.
 */
void migration_channel_drain(int fd, int64_t timeout_ms,
                             const int *cancelled);

#endif /* MIGRATION_CHANNEL_H */
