/* Compiler helpers shared by every library, and the ban on unbounded string functions. */
#ifndef DWAAR_BASE_COMPILER_H
#define DWAAR_BASE_COMPILER_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DW_LIKELY(x)    __builtin_expect(!!(x), 1)
#define DW_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define DW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DW_UNUSED       __attribute__((unused))

/* Fatal in debug and sanitizer builds, compiled out in release builds. */
#ifdef DW_DEBUG_CHECKS
#define DW_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (DW_UNLIKELY(cond)) {                                                                   \
            fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#else
#define DW_BUG_ON(cond) ((void)0)
#endif

/* These cannot be used safely on untrusted lengths; use dw_buf_* or snprintf. */
#pragma GCC poison strcpy strcat sprintf gets

#endif
