/*
 * String helpers for option parsing.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"

bool qemu_strtou64(const char *str, uint64_t *value)
{
    char *end;
    guint64 v;

    if (!str || !g_ascii_isdigit(str[0])) {
        return false;
    }
    errno = 0;
    v = g_ascii_strtoull(str, &end, 10);
    if (errno || *end) {
        return false;
    }
    *value = v;
    return true;
}

bool qemu_strtosz(const char *str, uint64_t default_unit, uint64_t *bytes)
{
    char *end;
    guint64 v;
    uint64_t unit = default_unit;

    if (!str || !g_ascii_isdigit(str[0])) {
        return false;
    }
    errno = 0;
    v = g_ascii_strtoull(str, &end, 10);
    if (errno) {
        return false;
    }
    if (*end) {
        switch (g_ascii_toupper(*end)) {
        case 'B':
            unit = 1;
            break;
        case 'K':
            unit = 1ULL << 10;
            break;
        case 'M':
            unit = 1ULL << 20;
            break;
        case 'G':
            unit = 1ULL << 30;
            break;
        case 'T':
            unit = 1ULL << 40;
            break;
        default:
            return false;
        }
        end++;
        /* Accept "KiB"/"MB" style spellings too, as in "1GiB". */
        if (*end == 'i' || *end == 'I') {
            end++;
        }
        if ((*end == 'B' || *end == 'b') && unit != 1) {
            end++;
        }
        if (*end) {
            return false;
        }
    }
    if (v > UINT64_MAX / unit) {
        return false;
    }
    *bytes = v * unit;
    return true;
}

GHashTable *keyval_parse(const char *str, const char *implied_key,
                         const char *option, Error **errp)
{
    GHashTable *kv = g_hash_table_new_full(g_str_hash, g_str_equal,
                                           g_free, g_free);
    g_auto(GStrv) items = g_strsplit(str, ",", -1);

    for (int i = 0; items[i]; i++) {
        char *eq = strchr(items[i], '=');
        char *key, *value;

        if (!eq) {
            if (i == 0 && implied_key && items[i][0]) {
                key = g_strdup(implied_key);
                value = g_strdup(items[i]);
            } else {
                error_setg(errp, "%s: '%s' is not of the form key=value",
                           option, items[i]);
                goto fail;
            }
        } else {
            key = g_strndup(items[i], eq - items[i]);
            value = g_strdup(eq + 1);
        }
        if (!key[0]) {
            error_setg(errp, "%s: empty key in '%s'", option, str);
            g_free(key);
            g_free(value);
            goto fail;
        }
        if (g_hash_table_contains(kv, key)) {
            error_setg(errp, "%s: '%s' given twice", option, key);
            g_free(key);
            g_free(value);
            goto fail;
        }
        g_hash_table_insert(kv, key, value);
    }
    return kv;

fail:
    g_hash_table_unref(kv);
    return NULL;
}

bool keyval_check_keys(GHashTable *kv, const char *const *allowed,
                       const char *option, Error **errp)
{
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, kv);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        bool ok = false;

        for (int i = 0; allowed[i]; i++) {
            if (!strcmp(allowed[i], key)) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            g_autofree char *list = g_strjoinv(", ", (char **)allowed);

            error_setg(errp, "%s: unknown parameter '%s' (allowed: %s)",
                       option, (const char *)key, list);
            return false;
        }
    }
    return true;
}
