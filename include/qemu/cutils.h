/*
 * String helpers for option parsing.
 */
#ifndef QEMU_CUTILS_H
#define QEMU_CUTILS_H

#include <stdint.h>

/*
 * Parse a size: digits with an optional suffix B, K, M, G, T (powers of
 * 1024).  Without a suffix the number is in @default_unit bytes.  Fails on
 * junk, overflow and negative numbers.
 */
bool qemu_strtosz(const char *str, uint64_t default_unit, uint64_t *bytes);
/* Parse a whole unsigned decimal number (no sign, no junk, no overflow). */
bool qemu_strtou64(const char *str, uint64_t *value);

/*
 * Split "a=1,b=2" (or "value,b=2" when @implied_key is given, the first
 * item without '=' taking that key) into a table of key -> value.  Fails
 * on an empty key, a repeated key or an item without '='.
 */
GHashTable *keyval_parse(const char *str, const char *implied_key,
                         const char *option, Error **errp);
/* Fail naming the first key of @kv not in the NULL-terminated @allowed. */
bool keyval_check_keys(GHashTable *kv, const char *const *allowed,
                       const char *option, Error **errp);

#endif /* QEMU_CUTILS_H */
