/*
 * The return path, destination to source (include/migration/stream.h):
 * LOADED after the end record, or, at any time before it, a refusal
 * with the destination's reason.  The source looks for a refusal after
 * each write (the destination is otherwise silent while the stream
 * flows), reads the reply after END, and after a failed write looks
 * whether the destination said why; the destination sends its refusal
 * and lingers so that its close cannot reset the connection first.
 */
#include "qemu/osdep.h"

#include <endian.h>

#include "migration/channel.h"
#include "migration/migration.h"
#include "trace.h"

/* Once a message's first word came, how long the rest may take, ms. */
#define RP_MESSAGE_TIMEOUT_MS 5000

bool migration_rp_read_reply(int fd, int64_t timeout_ms,
                             const int *cancelled, bool *refused,
                             Error **errp)
{
    MigrationChannelReader rp = {
        .fd = fd, .timeout_ms = timeout_ms, .cancelled = cancelled,
    };
    g_autofree char *reason = NULL;
    uint64_t reply;

    if (refused) {
        *refused = false;
    }
    if (!migration_channel_reader_read(&rp, &reply, sizeof(reply), errp)) {
        error_prepend(errp, "the destination did not confirm the load: ");
        return false;
    }
    reply = le64toh(reply);
    if (reply == MIG_ACK_LOADED) {
        return true;
    }
    if (reply != MIG_ACK_REFUSED) {
        error_setg(errp, "unexpected reply 0x%016" PRIx64 " from the "
                   "destination", reply);
        return false;
    }
    rp.timeout_ms = RP_MESSAGE_TIMEOUT_MS;
    if (!mig_refusal_read(migration_channel_reader_read, &rp, &reason,
                          errp)) {
        error_prepend(errp, "the destination refused the migration; its "
                      "reason did not arrive: ");
        return false;
    }
    if (refused) {
        *refused = true;
    }
    trace_migration_rp_refused(reason);
    error_setg(errp, "the destination refused the migration: %s", reason);
    return false;
}

bool migration_rp_check(int fd, const int *cancelled, Error **errp)
{
    uint64_t word;
    ssize_t n = migration_channel_peek(fd, &word, sizeof(word));

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true;                    /* silent, as it should be */
    }
    if (n < 0) {
        error_setg_errno(errp, errno, "connection lost");
        return false;
    }
    if (n == 0) {
        error_setg(errp, "the destination closed the connection");
        return false;
    }
    if (n < (ssize_t)sizeof(word) || le64toh(word) == MIG_ACK_LOADED) {
        /* The rest is on its way, or LOADED came right after END. */
        return true;
    }
    return migration_rp_read_reply(fd, RP_MESSAGE_TIMEOUT_MS, cancelled,
                                   NULL, errp);
}

void migration_rp_explain(int fd, const int *cancelled, Error **errp)
{
    Error *why = NULL;
    uint64_t word;
    bool refused;

    if (!errp || !*errp ||
        migration_channel_peek(fd, &word, sizeof(word)) <= 0) {
        return;
    }
    migration_rp_read_reply(fd, RP_MESSAGE_TIMEOUT_MS, cancelled, &refused,
                            &why);
    if (!refused) {
        error_free(why);
        return;
    }
    error_free(*errp);
    *errp = NULL;
    error_propagate(errp, why);
}

void migration_rp_refuse(int fd, const char *reason, int64_t linger_ms,
                         const int *cancelled)
{
    uint8_t msg[MIG_REFUSAL_WIRE_MAX_BYTES];
    size_t len = mig_refusal_encode(reason, msg);

    /* Best effort: the peer may be gone, or not a restraint at all. */
    migration_channel_write_all(fd, msg, len, NULL);
    if (linger_ms) {
        migration_channel_drain(fd, linger_ms, cancelled);
    }
}
