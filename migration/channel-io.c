/*
 * Blocking byte I/O on a migration connection, for the migration and
 * migration-incoming threads: whole writes and reads, a buffered reader,
 * reads with a deadline and a cancel flag, peek and drain.
 */
#include "qemu/osdep.h"

#include <poll.h>
#include <sys/socket.h>

#include "migration/channel.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"

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

void migration_buffered_reader_init(MigrationBufferedReader *r, int fd)
{
    r->fd = fd;
    r->head = 0;
    r->tail = 0;
}

bool migration_buffered_reader_read(MigrationBufferedReader *r, void *buf,
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
    int64_t deadline_ms = clock_ms() + timeout_ms;

    while (clock_ms() < deadline_ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n;

        if (cancelled && qatomic_read(cancelled)) {
            return 0;
        }
        n = poll(&pfd, 1, MIN(MIGRATION_CHANNEL_POLL_MS,
                              MAX(deadline_ms - clock_ms(), 0)));
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        if (n > 0) {
            return 1;
        }
    }
    return 0;
}

bool migration_channel_read_within(int fd, void *buf, size_t len,
                                   int64_t timeout_ms, const int *cancelled,
                                   Error **errp)
{
    int64_t deadline_ms = clock_ms() + timeout_ms;
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len) {
        int ready = migration_channel_wait_readable(
            fd, deadline_ms - clock_ms(), cancelled);
        ssize_t n;

        if (ready < 0) {
            error_setg_errno(errp, errno, "connection lost");
            return false;
        }
        if (ready == 0) {
            if (cancelled && qatomic_read(cancelled)) {
                error_setg(errp, "cancelled");
            } else {
                error_setg(errp, "timed out after %" PRId64 " ms (%zu of "
                           "%zu bytes)", timeout_ms, done, len);
            }
            return false;
        }
        n = recv(fd, p + done, len - done, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            error_setg_errno(errp, errno, "connection lost");
            return false;
        }
        if (n == 0) {
            error_setg(errp, "the stream ended early (short read: %zu of %zu "
                       "bytes)", done, len);
            return false;
        }
        done += n;
    }
    return true;
}

bool migration_channel_reader_read(void *opaque, void *buf, size_t len,
                                   Error **errp)
{
    MigrationChannelReader *r = opaque;

    return migration_channel_read_within(r->fd, buf, len, r->timeout_ms,
                                         r->cancelled, errp);
}

ssize_t migration_channel_peek(int fd, void *buf, size_t len)
{
    ssize_t n;

    do {
        n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
}

void migration_channel_drain(int fd, int64_t timeout_ms,
                             const int *cancelled)
{
    int64_t deadline_ms = clock_ms() + timeout_ms;
    uint8_t scratch[4096];

    shutdown(fd, SHUT_WR);
    while (migration_channel_wait_readable(fd, deadline_ms - clock_ms(),
                                           cancelled) > 0) {
        ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);

        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN &&
                       errno != EWOULDBLOCK)) {
            return;
        }
    }
}
