// Private to CGPIOShim: which libgpiod the build sees, and the helpers both implementations share.
// gpio_shim_v1.c and gpio_shim_v2.c both include this; each compiles to nothing unless the
// installed <gpiod.h> is its version, so SwiftPM's normal build (which compiles every .c file of
// the target) links exactly one implementation: v1 against Debian 12's libgpiod-dev (1.6.3), v2
// against trixie's (2.2.x) or the prefix rig/build-libgpiod2.sh makes (2.3).
//
// Detection: the v1 header defines the macros GPIOD_LINE_BULK_MAX_LINES and GPIOD_BIT(); the v2
// headers (checked: 2.1, 2.2.4, 2.3) define no macro at all except their include guard
// __LIBGPIOD_GPIOD_H__ (which v1 shares). So: v1 macros present -> v1; guard present without
// them -> v2; otherwise #error.
//
// Error convention (see gpio_shim.h): NULL / -1 with errno from the call that failed. errno is
// saved before any cleanup that might clobber it and restored afterwards.
//
// Edge semantics, checked against the kernel (drivers/gpio/gpiolib-cdev.c) and both libraries:
//   * Both uAPIs compute the type of a BOTH-edge event from gpiod_get_value_cansleep(), i.e. the
//     LOGICAL level (active-low applied) read in the threaded IRQ handler: level 1 -> RISING,
//     level 0 -> FALLING (uAPI v2: edge_irq_thread(); uAPI v1: lineevent_irq_thread()).
//     libgpiod v1 maps GPIOEVENT_EVENT_RISING_EDGE -> GPIOD_LINE_EVENT_RISING_EDGE and v2 maps
//     GPIO_V2_LINE_EVENT_RISING_EDGE -> GPIOD_EDGE_EVENT_RISING_EDGE without any inversion, so
//     RISING always means "logical inactive -> active" here, for both versions, active-low or not.
//   * Because the level is sampled in the IRQ thread (after the edge), a very short pulse can be
//     reported as two events of the same type, and types are not guaranteed to alternate. Callers
//     should treat an event as "this line changed; its logical level shortly after was X".
//   * Timestamps are the kernel's CLOCK_MONOTONIC ns (ktime_get_ns) taken in the hard IRQ handler
//     (uAPI v2 by default; uAPI v1 since Linux 5.7 - older kernels used CLOCK_REALTIME for v1).
//   * Kernel FIFOs: v1 holds 16 events per line and drops NEW events when full; v2 holds
//     16 * num_lines per request and drops the OLDEST when full.
//
// Output initial values: both uAPIs set the active-low flag on the descriptor first and then call
// gpiod_direction_output(desc, value) with the LOGICAL value, inside the request ioctl itself, so
// an output is never driven to anything but its requested initial value.
#ifndef PACKGUARD_GPIO_SHIM_COMMON_H
#define PACKGUARD_GPIO_SHIM_COMMON_H

// strnlen, epoll and the Linux errno values must be visible even under a strict -std=c11.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "gpio_shim.h"

#include <gpiod.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(GPIOD_LINE_BULK_MAX_LINES) && defined(GPIOD_BIT)
#define PG_LIBGPIOD_V1 1
#elif defined(__LIBGPIOD_GPIOD_H__)
#define PG_LIBGPIOD_V2 1
#else
#error "CGPIOShim: unrecognised <gpiod.h>: expected libgpiod v1 (1.5+, defines GPIOD_LINE_BULK_MAX_LINES) or libgpiod v2 (2.1+)"
#endif

// Lines per request: the kernel limit of one uAPI v2 request (GPIO_V2_LINES_MAX); the same limit
// is applied to v1 so both behave alike.
#define PG_MAX_LINES 64u

// ------------------------------------------------------------------------------------------------
// Shared helpers

static inline void pg_copy_name(char dst[PG_NAME_MAX], const char *src) {
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strnlen(src, PG_NAME_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

// chip/lines non-NULL, 1 <= count <= PG_MAX_LINES.
static inline int pg_check_request_args(const pg_chip *chip, const void *lines, size_t count) {
    if (chip == NULL || lines == NULL || count == 0) {
        errno = EINVAL;
        return -1;
    }
    if (count > PG_MAX_LINES) {
        errno = E2BIG;
        return -1;
    }
    return 0;
}

// A line may appear only once in a request (libgpiod v2 would silently merge duplicates).
static inline int pg_check_unique(const unsigned int *offsets, size_t count) {
    for (size_t i = 0; i < count; i++) {
        for (size_t j = i + 1; j < count; j++) {
            if (offsets[i] == offsets[j]) {
                errno = EINVAL;
                return -1;
            }
        }
    }
    return 0;
}

static inline int pg_check_bias(pg_bias bias) {
    switch (bias) {
    case PG_BIAS_AS_IS:
    case PG_BIAS_DISABLED:
    case PG_BIAS_PULL_UP:
    case PG_BIAS_PULL_DOWN:
        return 0;
    }
    errno = EINVAL;
    return -1;
}

// Logical values must be exactly 0 or 1: anything else is a caller bug, never coerced.
static inline int pg_check_values(const int *values, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (values[i] != 0 && values[i] != 1) {
            errno = EINVAL;
            return -1;
        }
    }
    return 0;
}

static inline int pg_set_nonblock(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    if (flags & O_NONBLOCK)
        return 0;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Both implementations report failed writes per line: 0 for a line that was set, else its errno.
static inline void pg_clear_line_errors(int *line_errors, size_t count) {
    if (line_errors != NULL)
        memset(line_errors, 0, count * sizeof(line_errors[0]));
}

#endif
