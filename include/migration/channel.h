/*
 * Migration transports (migration/channel.c): tcp:HOST:PORT and
 * unix:PATH, blocking byte I/O for the migration threads, and the
 * listening socket the destination's main loop accepts on.
 */
#ifndef MIGRATION_CHANNEL_H
#define MIGRATION_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum MigrationUriKind {
    MIGRATION_URI_TCP,
    MIGRATION_URI_UNIX,
} MigrationUriKind;

typedef struct MigrationUri {
    MigrationUriKind kind;
    char *host;                 /* tcp: may be "" (any address to listen) */
    char *port;                 /* tcp */
    char *path;                 /* unix */
} MigrationUri;

/* Pure: "tcp:HOST:PORT" ("tcp:[v6]:PORT"), "unix:PATH". */
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
typedef struct MigrationChannelReader {
    int fd;
    size_t head;                /* next byte to hand out */
    size_t tail;                /* end of the bytes received */
    uint8_t buf[MIGRATION_CHANNEL_READ_BUF_BYTES];
} MigrationChannelReader;

void migration_channel_reader_init(MigrationChannelReader *r, int fd);
/* Exactly @len bytes, as migration_channel_read_all(). */
bool migration_channel_reader_read(MigrationChannelReader *r, void *buf,
                                   size_t len, Error **errp);
/*
 * Wait up to @timeout_ms for @fd to be readable, polling @cancelled.
 * Returns 1 readable, 0 timed out or cancelled, -1 error.
 */
int migration_channel_wait_readable(int fd, int64_t timeout_ms,
                                    const int *cancelled);

#endif /* MIGRATION_CHANNEL_H */
