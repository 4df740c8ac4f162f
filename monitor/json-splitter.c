/*
 * Split a byte stream into top-level JSON values; see json-splitter.h.
 */
#include "qemu/osdep.h"

#include "monitor/json-splitter.h"

/* How much of an offending integer literal an error message quotes. */
#define JSON_SPLITTER_QUOTE_CHARS 40

static bool json_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Bytes JSON never allows outside a string. */
static bool json_is_forbidden(unsigned char c)
{
    return (c < 0x20 && !json_is_space(c)) || c >= 0x7f;
}

/* Bytes of bare tokens: numbers, true, false, null. */
static bool json_is_token(unsigned char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '+' || c == '.';
}

static void json_splitter_error(JsonSplitter *js, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void json_splitter_error(JsonSplitter *js, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    Error *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(&err, "JSON parse error: %s", msg);
    js->emit(js->opaque, NULL, 0, err);
}

void json_splitter_init(JsonSplitter *js, size_t max_bytes,
                        unsigned max_depth, JsonSplitterEmit *emit,
                        void *opaque)
{
    memset(js, 0, sizeof(*js));
    js->max_bytes = max_bytes;
    js->max_depth = max_depth;
    js->emit = emit;
    js->opaque = opaque;
    js->buf = g_string_sized_new(256);
}

void json_splitter_reset(JsonSplitter *js)
{
    js->state = JSON_SPLIT_IDLE;
    g_string_truncate(js->buf, 0);
    js->depth = 0;
    js->skipping = false;
    js->in_token = false;
}

void json_splitter_destroy(JsonSplitter *js)
{
    if (js->buf) {
        g_string_free(js->buf, TRUE);
        js->buf = NULL;
    }
}

/* From here on, drop the value's bytes and only follow its structure. */
static void json_splitter_skip(JsonSplitter *js)
{
    js->skipping = true;
    js->in_token = false;
    g_string_truncate(js->buf, 0);
}

static void json_splitter_append(JsonSplitter *js, char c)
{
    if (js->skipping) {
        return;
    }
    if (js->buf->len >= js->max_bytes) {
        json_splitter_error(js, "message exceeds the limit of %zu bytes; "
                            "skipped to its end", js->max_bytes);
        json_splitter_skip(js);
        return;
    }
    g_string_append_c(js->buf, c);
}

/* A bare token ended: refuse integers that do not fit in 64 bits. */
static void json_splitter_end_token(JsonSplitter *js)
{
    const char *token, *digits;
    gint64 value;
    char *end;

    if (!js->in_token) {
        return;
    }
    js->in_token = false;
    if (js->skipping) {
        return;
    }
    token = js->buf->str + js->token_start;
    digits = token[0] == '-' ? token + 1 : token;
    if (!g_ascii_isdigit(digits[0]) || strspn(digits, "0123456789") !=
        strlen(digits)) {
        return;                 /* not an integer literal */
    }
    errno = 0;
    value = g_ascii_strtoll(token, &end, 10);
    (void)value;
    if (errno == ERANGE) {
        json_splitter_error(js, "integer %.*s%s is beyond 64 bits "
                            "(the range is [-2^63, 2^63-1])",
                            JSON_SPLITTER_QUOTE_CHARS, token,
                            strlen(token) > JSON_SPLITTER_QUOTE_CHARS ?
                            "..." : "");
        json_splitter_skip(js);
    }
}

/* A top-level value is complete: hand it over, then start afresh. */
static void json_splitter_finish(JsonSplitter *js)
{
    if (!js->skipping) {
        if (!g_utf8_validate(js->buf->str, js->buf->len, NULL)) {
            json_splitter_error(js, "invalid UTF-8 or a NUL byte in the "
                                "input");
        } else {
            js->emit(js->opaque, js->buf->str, js->buf->len, NULL);
        }
    }
    json_splitter_reset(js);
}

/* A byte no JSON value contains outside a string: drop what we have. */
static void json_splitter_garbage(JsonSplitter *js, unsigned char c)
{
    bool had_value = js->state != JSON_SPLIT_IDLE;

    json_splitter_reset(js);
    if (had_value || !js->reported_garbage) {
        if (c == '}' || c == ']') {
            json_splitter_error(js, "unbalanced '%c'", c);
        } else {
            json_splitter_error(js, "invalid byte 0x%02x outside a string; "
                                "input discarded", c);
        }
    }
    js->reported_garbage = true;
}

static void json_splitter_start(JsonSplitter *js, unsigned char c)
{
    js->reported_garbage = false;
    js->depth = 0;
    if (c == '{' || c == '[') {
        js->state = JSON_SPLIT_CONTAINER;
        js->depth = 1;
    } else if (c == '"' || c == '\'') {
        js->state = JSON_SPLIT_STRING;
        js->quote = c;
    } else {
        js->state = JSON_SPLIT_BARE;
        js->in_token = true;
        js->token_start = 0;
    }
    json_splitter_append(js, c);
}

static void json_splitter_container(JsonSplitter *js, unsigned char c)
{
    if (json_is_token(c)) {
        if (!js->in_token && !js->skipping) {
            js->in_token = true;
            js->token_start = js->buf->len;
        }
        json_splitter_append(js, c);
        return;
    }
    json_splitter_end_token(js);
    if (c == '{' || c == '[') {
        js->depth++;
        if (js->depth > js->max_depth && !js->skipping) {
            json_splitter_error(js, "nesting deeper than %u levels; "
                                "skipped to the end of the message",
                                js->max_depth);
            json_splitter_skip(js);
        }
    } else if (c == '"' || c == '\'') {
        js->state = JSON_SPLIT_STRING;
        js->quote = c;
    }
    json_splitter_append(js, c);
    if (c == '}' || c == ']') {
        js->depth--;
        if (js->depth == 0) {
            json_splitter_finish(js);
        }
    }
}

void json_splitter_feed(JsonSplitter *js, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = data[i];

        switch (js->state) {
        case JSON_SPLIT_IDLE:
            if (json_is_forbidden(c) || c == '}' || c == ']') {
                json_splitter_garbage(js, c);
            } else if (!json_is_space(c)) {
                json_splitter_start(js, c);
            }
            break;
        case JSON_SPLIT_BARE:
            if (json_is_space(c) || json_is_forbidden(c) ||
                strchr("{}[],:\"'", c)) {
                json_splitter_end_token(js);
                json_splitter_finish(js);
                continue;       /* @c starts what comes next */
            }
            json_splitter_append(js, c);
            break;
        case JSON_SPLIT_CONTAINER:
            if (json_is_forbidden(c)) {
                json_splitter_garbage(js, c);
            } else {
                json_splitter_container(js, c);
            }
            break;
        case JSON_SPLIT_STRING:
            json_splitter_append(js, c);
            if (c == '\\') {
                js->state = JSON_SPLIT_STRING_ESCAPE;
            } else if (c == js->quote) {
                js->state = JSON_SPLIT_CONTAINER;
                if (js->depth == 0) {
                    json_splitter_finish(js);
                }
            }
            break;
        case JSON_SPLIT_STRING_ESCAPE:
            json_splitter_append(js, c);
            js->state = JSON_SPLIT_STRING;
            break;
        }
        i++;
    }
}
