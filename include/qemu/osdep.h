/*
 * The first include of every restraint .c file (not the guest's).
 */
#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "qapi/error.h"
#include "qemu/thread.h"

#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

#define NANOSECONDS_PER_SECOND 1000000000LL
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

#endif /* QEMU_OSDEP_H */
