/*
 * Table-driven GTest registration.  A test program lists its cases as
 * data, { path under the program's prefix, function }, and main() is one
 * call:
 *
 *     static const TestCase cases[] = {
 *         { "the-table-has-a-bound", test_the_table_has_a_bound },
 *         { NULL, NULL },
 *     };
 *     ...
 *     return test_run_cases(&argc, &argv, "/mmio/", cases);
 *
 * The full path of a case is the prefix followed by its path, so the paths
 * (what `-p` selects) are the ones the program always had.
 */
#ifndef TESTS_TEST_CASES_H
#define TESTS_TEST_CASES_H

#include <glib.h>

typedef struct TestCase {
    const char *path;           /* NULL ends the table */
    GTestFunc fn;
} TestCase;

/* Register @cases under @prefix (after g_test_init()); no run. */
static inline void test_add_cases(const char *prefix, const TestCase *cases)
{
    for (; cases->path; cases++) {
        g_autofree char *path = g_strconcat(prefix, cases->path, NULL);

        g_test_add_func(path, cases->fn);
    }
}

/* g_test_init(), every case of @cases under @prefix, g_test_run(). */
static inline int test_run_cases(int *argc, char ***argv, const char *prefix,
                                 const TestCase *cases)
{
    g_test_init(argc, argv, NULL);
    test_add_cases(prefix, cases);
    return g_test_run();
}

#endif /* TESTS_TEST_CASES_H */
