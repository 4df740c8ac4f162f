/*
 * Split a byte stream into top-level JSON values, before any parsing.
 *
 * QMP input arrives in pieces: one message over several reads, several
 * messages in one read.  The splitter tracks strings (with escapes),
 * brackets and bare tokens, and hands each complete top-level value to
 * a callback as text for json-glib to parse.  It also enforces what the
 * parser must never see:
 *
 *  - a value longer than max_bytes: one error, then the rest of that
 *    value is skipped, keeping only its nesting depth;
 *  - nesting deeper than max_depth: one error, same recovery (depth is a
 *    counter, so a million '[' cost nothing and never reach the
 *    recursive parser);
 *  - an integer literal beyond 64 bits (json-glib would wrap it);
 *  - invalid UTF-8 or a NUL byte anywhere in the value;
 *  - a byte that JSON never allows outside a string (control bytes,
 *    non-ASCII, 0xff): an error, and the current value is dropped.  A
 *    client that lost track can send 0xff to start afresh.
 *
 * An unfinished value waits for more input, as in QEMU: the client
 * completes it, closes, or resets with 0xff.
 */
#ifndef MONITOR_JSON_SPLITTER_H
#define MONITOR_JSON_SPLITTER_H

#include <stddef.h>
#include <glib.h>

#include "qapi/error.h"

/*
 * Called once per top-level value: either @text (@len bytes, NUL
 * terminated, valid UTF-8) or @err, which the callee owns.
 */
typedef void JsonSplitterEmit(void *opaque, const char *text, size_t len,
                              Error *err);

typedef enum JsonSplitterState {
    JSON_SPLIT_IDLE,            /* between values */
    JSON_SPLIT_CONTAINER,       /* inside {...} or [...], outside strings */
    JSON_SPLIT_STRING,          /* inside a string; depth says where */
    JSON_SPLIT_STRING_ESCAPE,   /* just after a backslash in a string */
    JSON_SPLIT_BARE,            /* a top-level scalar such as 42 or true */
} JsonSplitterState;

typedef struct JsonSplitter {
    size_t max_bytes;
    unsigned max_depth;
    JsonSplitterEmit *emit;
    void *opaque;

    JsonSplitterState state;
    GString *buf;               /* the value so far (empty when skipping) */
    size_t depth;               /* open brackets */
    char quote;                 /* '"' or '\'' (json-glib accepts both) */
    bool skipping;              /* too big or too deep: drop until the end */
    bool in_token;              /* inside a bare token (number, literal) */
    size_t token_start;         /* its offset in buf */
    bool reported_garbage;      /* one error per run of bad bytes */
} JsonSplitter;

void json_splitter_init(JsonSplitter *js, size_t max_bytes,
                        unsigned max_depth, JsonSplitterEmit *emit,
                        void *opaque);
void json_splitter_feed(JsonSplitter *js, const char *data, size_t len);
/* Drop any partial value and start afresh. */
void json_splitter_reset(JsonSplitter *js);
void json_splitter_destroy(JsonSplitter *js);

#endif /* MONITOR_JSON_SPLITTER_H */
