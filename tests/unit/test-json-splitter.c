/*
 * The QMP stream splitter: values in pieces, several per read, strings
 * with brackets and escapes, and every limit followed by a value that
 * still gets through.
 */
#include "qemu/osdep.h"

#include "monitor/json-splitter.h"

#define TEST_MAX_BYTES 256
#define TEST_MAX_DEPTH 16

typedef struct Collected {
    GPtrArray *items;           /* "ok:TEXT" or "err:MESSAGE" */
} Collected;

static void collect(void *opaque, const char *text, size_t len, Error *err)
{
    Collected *c = opaque;

    if (err) {
        g_ptr_array_add(c->items, g_strdup_printf("err:%s",
                                                  error_get_pretty(err)));
        error_free(err);
    } else {
        g_assert_cmpuint(strlen(text), ==, len);
        g_ptr_array_add(c->items, g_strdup_printf("ok:%s", text));
    }
}

typedef struct Fixture {
    JsonSplitter js;
    Collected c;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->c.items = g_ptr_array_new_with_free_func(g_free);
    json_splitter_init(&f->js, TEST_MAX_BYTES, TEST_MAX_DEPTH, collect,
                       &f->c);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    json_splitter_destroy(&f->js);
    g_ptr_array_unref(f->c.items);
}

static void feed(Fixture *f, const char *s)
{
    json_splitter_feed(&f->js, s, strlen(s));
}

static const char *item(Fixture *f, guint i)
{
    g_assert_cmpuint(i, <, f->c.items->len);
    return g_ptr_array_index(f->c.items, i);
}

static void assert_error_containing(Fixture *f, guint i, const char *what)
{
    g_assert_true(g_str_has_prefix(item(f, i), "err:"));
    g_assert_nonnull(strstr(item(f, i), what));
}

static void test_one_value_in_pieces(Fixture *f, gconstpointer data)
{
    const char *msg = "{\"execute\": \"query-status\", \"id\": [1, {}]}";

    for (const char *p = msg; *p; p++) {
        json_splitter_feed(&f->js, p, 1);
        g_assert_cmpuint(f->c.items->len, ==, p[1] ? 0 : 1);
    }
    g_assert_cmpstr(item(f, 0) + 3, ==, msg);
}

static void test_several_values_in_one_read(Fixture *f, gconstpointer data)
{
    feed(f, "{\"a\":1}{\"b\":2}\r\n [3]\n\"s\" 42 true\n");
    g_assert_cmpuint(f->c.items->len, ==, 6);
    g_assert_cmpstr(item(f, 0), ==, "ok:{\"a\":1}");
    g_assert_cmpstr(item(f, 1), ==, "ok:{\"b\":2}");
    g_assert_cmpstr(item(f, 2), ==, "ok:[3]");
    g_assert_cmpstr(item(f, 3), ==, "ok:\"s\"");
    g_assert_cmpstr(item(f, 4), ==, "ok:42");
    g_assert_cmpstr(item(f, 5), ==, "ok:true");
}

static void test_strings_hide_brackets_and_escapes(Fixture *f,
                                                   gconstpointer data)
{
    const char *msg = "{\"a\": \"}{][\\\"\\\\\", 'b': '}\\'{'}";

    feed(f, msg);
    g_assert_cmpuint(f->c.items->len, ==, 1);
    g_assert_cmpstr(item(f, 0) + 3, ==, msg);
}

static void test_unfinished_value_waits(Fixture *f, gconstpointer data)
{
    feed(f, "{\"execute\": \"stop\"");
    g_assert_cmpuint(f->c.items->len, ==, 0);
    feed(f, "}");
    g_assert_cmpstr(item(f, 0), ==, "ok:{\"execute\": \"stop\"}");
}

static void test_too_deep_then_recovers(Fixture *f, gconstpointer data)
{
    enum { LEVELS = 100000 };
    g_autofree char *deep = g_malloc(2 * LEVELS + 1);

    memset(deep, '[', LEVELS);
    memset(deep + LEVELS, ']', LEVELS);
    deep[2 * LEVELS] = '\0';
    feed(f, deep);
    feed(f, "{\"ok\": 1}");
    g_assert_cmpuint(f->c.items->len, ==, 2);
    assert_error_containing(f, 0, "nesting deeper than 16 levels");
    g_assert_cmpstr(item(f, 1), ==, "ok:{\"ok\": 1}");
}

static void test_too_big_then_recovers(Fixture *f, gconstpointer data)
{
    g_autoptr(GString) big = g_string_new("{\"a\": \"");

    for (int i = 0; i < 10 * TEST_MAX_BYTES; i++) {
        g_string_append_c(big, i % 2 ? '}' : '{');  /* inside a string */
    }
    g_string_append(big, "\", \"b\": [1, 2]}");
    feed(f, big->str);
    feed(f, "{\"ok\": 1}");
    g_assert_cmpuint(f->c.items->len, ==, 2);
    assert_error_containing(f, 0, "exceeds the limit of 256 bytes");
    g_assert_cmpstr(item(f, 1), ==, "ok:{\"ok\": 1}");
}

static void test_integers_beyond_64_bits(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *literal;
        bool fits;
    } cases[] = {
        { "9223372036854775807", true },
        { "-9223372036854775808", true },
        { "9223372036854775808", false },
        { "-9223372036854775809", false },
        { "18446744073709551616", false },
        { "123456789012345678901234567890123456789012345678901234", false },
        { "1.5e300", true },    /* not an integer: json-glib's business */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *msg = g_strdup_printf("{\"n\": [%s]}",
                                               cases[i].literal);

        g_ptr_array_set_size(f->c.items, 0);
        feed(f, msg);
        g_assert_cmpuint(f->c.items->len, ==, 1);
        if (cases[i].fits) {
            g_assert_cmpstr(item(f, 0) + 3, ==, msg);
        } else {
            assert_error_containing(f, 0, "is beyond 64 bits");
        }
    }
}

static void test_invalid_utf8_and_nul(Fixture *f, gconstpointer data)
{
    static const char bad_utf8[] = "{\"a\": \"\xc3\x28\"}";
    static const char nul[] = "{\"a\": \"x\0y\"}";

    feed(f, bad_utf8);
    json_splitter_feed(&f->js, nul, sizeof(nul) - 1);
    feed(f, "{\"ok\": \"\xc3\xa9\"}");
    g_assert_cmpuint(f->c.items->len, ==, 3);
    assert_error_containing(f, 0, "invalid UTF-8");
    assert_error_containing(f, 1, "invalid UTF-8");
    g_assert_cmpstr(item(f, 2), ==, "ok:{\"ok\": \"\xc3\xa9\"}");
}

static void test_garbage_byte_resets(Fixture *f, gconstpointer data)
{
    feed(f, "{\"execute\": \"sto");
    feed(f, "\"\xff\xff\xff");
    feed(f, "{\"ok\": 1}");
    g_assert_cmpuint(f->c.items->len, ==, 2);
    assert_error_containing(f, 0, "invalid byte 0xff");
    g_assert_cmpstr(item(f, 1), ==, "ok:{\"ok\": 1}");
}

static void test_unbalanced_close(Fixture *f, gconstpointer data)
{
    feed(f, "}{\"ok\": 1}");
    g_assert_cmpuint(f->c.items->len, ==, 2);
    assert_error_containing(f, 0, "unbalanced '}'");
    g_assert_cmpstr(item(f, 1), ==, "ok:{\"ok\": 1}");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) \
    g_test_add("/json-splitter/" path, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("one-value-in-pieces", test_one_value_in_pieces);
    ADD("several-values-in-one-read", test_several_values_in_one_read);
    ADD("strings-hide-brackets-and-escapes",
        test_strings_hide_brackets_and_escapes);
    ADD("unfinished-value-waits", test_unfinished_value_waits);
    ADD("too-deep-then-recovers", test_too_deep_then_recovers);
    ADD("too-big-then-recovers", test_too_big_then_recovers);
    ADD("integers-beyond-64-bits", test_integers_beyond_64_bits);
    ADD("invalid-utf8-and-nul", test_invalid_utf8_and_nul);
    ADD("garbage-byte-resets", test_garbage_byte_resets);
    ADD("unbalanced-close", test_unbalanced_close);
    return g_test_run();
}
