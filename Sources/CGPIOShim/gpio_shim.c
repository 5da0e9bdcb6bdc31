// PackGuard's libgpiod shim: one API (gpio_shim.h), two implementations chosen at compile time
// from the installed <gpiod.h>:
//
//   libgpiod v1 (1.5/1.6.x, e.g. Debian 12 / Raspberry Pi OS bookworm: 1.6.3)
//   libgpiod v2 (2.1+, e.g. Raspberry Pi OS trixie)
//
// Detection: the v1 header defines the macros GPIOD_LINE_BULK_MAX_LINES and GPIOD_BIT(); the v2
// headers (checked: 2.1, 2.2.4, 2.3) define no macro at all except their include guard
// __LIBGPIOD_GPIOD_H__ (which v1 shares). So: v1 macros present -> v1; guard present without
// them -> v2; otherwise #error.
//
// Error convention (see the header): NULL / -1 with errno from the call that failed. errno is
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
#include <sys/epoll.h>
#elif defined(__LIBGPIOD_GPIOD_H__)
#define PG_LIBGPIOD_V2 1
#else
#error "gpio_shim.c: unrecognised <gpiod.h>: expected libgpiod v1 (1.5+, defines GPIOD_LINE_BULK_MAX_LINES) or libgpiod v2 (2.1+)"
#endif

// Lines per request: the kernel limit of one uAPI v2 request (GPIO_V2_LINES_MAX); the same limit
// is applied to v1 so both behave alike.
#define PG_MAX_LINES 64u

// ------------------------------------------------------------------------------------------------
// Shared helpers

static void pg_copy_name(char dst[PG_NAME_MAX], const char *src) {
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strnlen(src, PG_NAME_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

// chip/lines non-NULL, 1 <= count <= PG_MAX_LINES.
static int pg_check_request_args(const pg_chip *chip, const void *lines, size_t count) {
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
static int pg_check_unique(const unsigned int *offsets, size_t count) {
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

static int pg_check_bias(pg_bias bias) {
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
static int pg_check_values(const int *values, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (values[i] != 0 && values[i] != 1) {
            errno = EINVAL;
            return -1;
        }
    }
    return 0;
}

static int pg_set_nonblock(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    if (flags & O_NONBLOCK)
        return 0;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static char pg_description[96];
static pthread_once_t pg_description_once = PTHREAD_ONCE_INIT;

#if defined(PG_LIBGPIOD_V1)
// =================================================================================================
// libgpiod v1
//
// In v1 the struct gpiod_line objects (which hold the request state and fds) belong to the
// struct gpiod_chip, and gpiod_chip_close() releases and frees them. So a pg_chip is reference
// counted: one reference for the caller's handle and one per live request. The gpiod_chip is
// closed when the last of them goes, so a request stays valid after pg_chip_close(), as in v2.
//
// A v1 bulk request applies one set of flags to all its lines, and v1 edge events are per-line
// requests anyway, so every line is requested individually. Consequence: in v1,
// pg_request_set_values() sets the lines one after the other (not atomically), and a failure
// part-way leaves the earlier lines already set.

static void pg_build_description(void) {
    const char *v = gpiod_version_string();
    snprintf(pg_description, sizeof(pg_description), "libgpiod v1 %s", v ? v : "?");
}

struct pg_chip {
    struct gpiod_chip *chip;
    unsigned int refs; // atomic
};

struct pg_request {
    pg_chip *owner;                          // holds one reference
    size_t count;
    size_t held;                             // lines[0..held) are requested
    bool events;
    int epfd;                                // epoll over the per-line event fds; -1 for outputs
    unsigned int offsets[PG_MAX_LINES];
    struct gpiod_line *lines[PG_MAX_LINES];  // owned by owner->chip
};

static void pg_chip_unref(pg_chip *chip) {
    if (__atomic_sub_fetch(&chip->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        gpiod_chip_close(chip->chip);
        free(chip);
    }
}

pg_chip *pg_chip_open(const char *path) {
    if (path == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pg_chip *chip = calloc(1, sizeof(*chip));
    if (chip == NULL)
        return NULL;
    chip->chip = gpiod_chip_open(path);
    if (chip->chip == NULL) {
        int saved = errno;
        free(chip);
        errno = saved;
        return NULL;
    }
    chip->refs = 1;
    return chip;
}

void pg_chip_close(pg_chip *chip) {
    if (chip != NULL)
        pg_chip_unref(chip);
}

const char *pg_chip_name(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return gpiod_chip_name(chip->chip);
}

const char *pg_chip_label(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return gpiod_chip_label(chip->chip);
}

unsigned int pg_chip_num_lines(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return 0;
    }
    return gpiod_chip_num_lines(chip->chip);
}

int pg_chip_line_info(pg_chip *chip, unsigned int offset, pg_line_info *out) {
    if (chip == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    // gpiod_chip_get_line() re-reads the line info from the kernel (gpiod_line_update) every call.
    struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offset);
    if (line == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    out->offset = offset;
    pg_copy_name(out->name, gpiod_line_name(line));          // NULL when unnamed
    pg_copy_name(out->consumer, gpiod_line_consumer(line));  // NULL when no consumer
    out->used = gpiod_line_is_used(line);
    out->is_output = gpiod_line_direction(line) == GPIOD_LINE_DIRECTION_OUTPUT;
    out->active_low = gpiod_line_active_state(line) == GPIOD_LINE_ACTIVE_STATE_LOW;
    return 0;
}

int pg_chip_find_line(pg_chip *chip, const char *name) {
    if (chip == NULL || name == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (name[0] == '\0') { // no line is named ""
        errno = ENOENT;
        return -1;
    }
    // Exact strcmp over all lines; NULL with errno ENOENT when absent.
    struct gpiod_line *line = gpiod_chip_find_line(chip->chip, name);
    if (line == NULL)
        return -1;
    unsigned int offset = gpiod_line_offset(line);
    if (offset > INT_MAX) {
        errno = ERANGE;
        return -1;
    }
    return (int)offset;
}

static pg_request *pg_v1_request_new(pg_chip *chip, size_t count, bool events) {
    pg_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->epfd = -1;
    req->count = count;
    req->events = events;
    if (events) {
        req->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (req->epfd < 0) {
            int saved = errno;
            free(req);
            errno = saved;
            return NULL;
        }
    }
    __atomic_add_fetch(&chip->refs, 1, __ATOMIC_ACQ_REL);
    req->owner = chip;
    return req;
}

// Frees everything; preserves errno.
static void pg_v1_request_destroy(pg_request *req) {
    int saved = errno;
    for (size_t i = 0; i < req->held; i++)
        gpiod_line_release(req->lines[i]);
    if (req->epfd >= 0)
        close(req->epfd);
    pg_chip_unref(req->owner);
    free(req);
    errno = saved;
}

// Looks up every line first, so that an invalid offset fails before any line is requested.
static int pg_v1_get_lines(pg_request *req) {
    for (size_t i = 0; i < req->count; i++) {
        req->lines[i] = gpiod_chip_get_line(req->owner->chip, req->offsets[i]);
        if (req->lines[i] == NULL)
            return -1;
    }
    return 0;
}

static int pg_v1_bias_flags(pg_bias bias) {
    switch (bias) {
    case PG_BIAS_AS_IS:
        return 0;
    case PG_BIAS_DISABLED:
        return GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    case PG_BIAS_PULL_UP:
        return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    case PG_BIAS_PULL_DOWN:
        return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    }
    return 0; // unreachable: validated by pg_check_bias
}

pg_request *pg_request_inputs(pg_chip *chip, const char *consumer,
                              const pg_input_line *lines, size_t count) {
    if (pg_check_request_args(chip, lines, count) < 0)
        return NULL;
    unsigned int offsets[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++) {
        if (pg_check_bias(lines[i].bias) < 0)
            return NULL;
        offsets[i] = lines[i].offset;
    }
    if (pg_check_unique(offsets, count) < 0)
        return NULL;

    pg_request *req = pg_v1_request_new(chip, count, true);
    if (req == NULL)
        return NULL;
    memcpy(req->offsets, offsets, count * sizeof(offsets[0]));
    if (pg_v1_get_lines(req) < 0)
        goto fail;

    for (size_t i = 0; i < count; i++) {
        struct gpiod_line_request_config config = {
            .consumer = consumer,
            .request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES,
            .flags = pg_v1_bias_flags(lines[i].bias) |
                     (lines[i].active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0),
        };
        if (gpiod_line_request(req->lines[i], &config, 0) < 0)
            goto fail;
        req->held = i + 1;

        int fd = gpiod_line_event_get_fd(req->lines[i]);
        if (fd < 0)
            goto fail;
        // Belt and braces: reads can never block, even if poll and read ever disagreed.
        if (pg_set_nonblock(fd) < 0)
            goto fail;
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(req->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            goto fail;
    }
    return req;

fail:
    pg_v1_request_destroy(req); // preserves errno
    return NULL;
}

pg_request *pg_request_outputs(pg_chip *chip, const char *consumer,
                               const pg_output_line *lines, size_t count) {
    if (pg_check_request_args(chip, lines, count) < 0)
        return NULL;
    unsigned int offsets[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++) {
        if (lines[i].initial_value != 0 && lines[i].initial_value != 1) {
            errno = EINVAL;
            return NULL;
        }
        offsets[i] = lines[i].offset;
    }
    if (pg_check_unique(offsets, count) < 0)
        return NULL;

    pg_request *req = pg_v1_request_new(chip, count, false);
    if (req == NULL)
        return NULL;
    memcpy(req->offsets, offsets, count * sizeof(offsets[0]));
    if (pg_v1_get_lines(req) < 0)
        goto fail;

    for (size_t i = 0; i < count; i++) {
        struct gpiod_line_request_config config = {
            .consumer = consumer,
            .request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
            .flags = lines[i].active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0,
        };
        // The initial (logical) value goes into the GPIO_GET_LINEHANDLE_IOCTL request itself.
        if (gpiod_line_request(req->lines[i], &config, lines[i].initial_value) < 0)
            goto fail;
        req->held = i + 1;
    }
    return req;

fail:
    pg_v1_request_destroy(req); // preserves errno
    return NULL;
}

void pg_request_release(pg_request *req) {
    if (req != NULL)
        pg_v1_request_destroy(req);
}

int pg_request_get_values(pg_request *req, int *values, size_t count) {
    if (req == NULL || values == NULL || count != req->count) {
        errno = EINVAL;
        return -1;
    }
    int tmp[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++) {
        int v = gpiod_line_get_value(req->lines[i]); // logical (kernel applies active-low)
        if (v < 0)
            return -1;
        tmp[i] = v ? 1 : 0;
    }
    memcpy(values, tmp, count * sizeof(tmp[0]));
    return 0;
}

int pg_request_set_values(pg_request *req, const int *values, size_t count) {
    if (req == NULL || values == NULL || count != req->count || req->events) {
        errno = EINVAL;
        return -1;
    }
    if (pg_check_values(values, count) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (gpiod_line_set_value(req->lines[i], values[i]) < 0)
            return -1;
    }
    return 0;
}

int pg_request_event_fd(pg_request *req) {
    if (req == NULL || !req->events) {
        errno = EINVAL;
        return -1;
    }
    return req->epfd;
}

static int pg_v1_read_one(pg_request *req, size_t i, pg_edge_event *out) {
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(req->lines[i], &ev) < 0)
        return -1;
    if (ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE) {
        out->edge = PG_EDGE_RISING;
    } else if (ev.event_type == GPIOD_LINE_EVENT_FALLING_EDGE) {
        out->edge = PG_EDGE_FALLING;
    } else {
        errno = EPROTO;
        return -1;
    }
    out->offset = req->offsets[i];
    out->timestamp_ns = (uint64_t)ev.ts.tv_sec * 1000000000u + (uint64_t)ev.ts.tv_nsec;
    return 0;
}

int pg_request_read_events(pg_request *req, pg_edge_event *events, size_t max) {
    if (req == NULL || !req->events || (events == NULL && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (max == 0)
        return 0;
    if (max > INT_MAX)
        max = INT_MAX;

    struct epoll_event ready[PG_MAX_LINES];
    int nready = epoll_wait(req->epfd, ready, (int)req->count, 0); // never blocks
    if (nready < 0)
        return errno == EINTR ? 0 : -1;

    // Round-robin, one event per ready line per round, so one busy line cannot starve the others.
    bool active[PG_MAX_LINES];
    for (int k = 0; k < nready; k++)
        active[k] = ready[k].data.u32 < req->count;
    size_t got = 0;
    bool progress = true;
    while (got < max && progress) {
        progress = false;
        for (int k = 0; k < nready && got < max; k++) {
            if (!active[k])
                continue;
            if (pg_v1_read_one(req, ready[k].data.u32, &events[got]) < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) { // this line is drained
                    active[k] = false;
                    continue;
                }
                // Events already read are consumed: return them; the error (e.g. ENODEV after
                // the chip went away) persists and is reported by the next call.
                if (got > 0)
                    goto done;
                return -1;
            }
            got++;
            progress = true;
        }
    }
done:
    // Order the batch by timestamp (stable: each line's own events stay in kernel order).
    for (size_t i = 1; i < got; i++) {
        pg_edge_event e = events[i];
        size_t j = i;
        while (j > 0 && events[j - 1].timestamp_ns > e.timestamp_ns) {
            events[j] = events[j - 1];
            j--;
        }
        events[j] = e;
    }
    return (int)got;
}

#elif defined(PG_LIBGPIOD_V2)
// =================================================================================================
// libgpiod v2
//
// A gpiod_line_request is independent of the gpiod_chip it came from (its own fd), so closing a
// chip does not affect its requests. Settings, line and request configs are only needed while
// building the request: gpiod_line_config_add_line_settings() stores a COPY of the settings, and
// gpiod_chip_request_lines() copies what it needs, so all three are freed right after.
//
// Values are read/written with the *_subset calls and the offsets array in OUR request order, so
// values[i] always belongs to the i-th requested line whatever order libgpiod keeps internally
// (2.1-2.3 keep insertion order, which is the same, but we do not depend on it).

static void pg_build_description(void) {
    // gpiod_api_version(): package version in 2.1/2.2, C API version from 2.3 on.
    const char *v = gpiod_api_version();
    snprintf(pg_description, sizeof(pg_description), "libgpiod v2 %s", v ? v : "?");
}

struct pg_chip {
    struct gpiod_chip *chip;
    struct gpiod_chip_info *info; // kept so name/label stay valid until close
};

struct pg_request {
    struct gpiod_line_request *request;
    struct gpiod_edge_event_buffer *buffer; // inputs only
    size_t buffer_capacity;
    size_t count;
    bool events;
    unsigned int offsets[PG_MAX_LINES];
};

pg_chip *pg_chip_open(const char *path) {
    if (path == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pg_chip *chip = calloc(1, sizeof(*chip));
    if (chip == NULL)
        return NULL;
    chip->chip = gpiod_chip_open(path);
    if (chip->chip == NULL)
        goto fail;
    chip->info = gpiod_chip_get_info(chip->chip);
    if (chip->info == NULL)
        goto fail;
    return chip;

fail:;
    int saved = errno;
    if (chip->chip != NULL)
        gpiod_chip_close(chip->chip);
    free(chip);
    errno = saved;
    return NULL;
}

void pg_chip_close(pg_chip *chip) {
    if (chip == NULL)
        return;
    int saved = errno;
    gpiod_chip_info_free(chip->info);
    gpiod_chip_close(chip->chip);
    free(chip);
    errno = saved;
}

const char *pg_chip_name(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return gpiod_chip_info_get_name(chip->info);
}

const char *pg_chip_label(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return gpiod_chip_info_get_label(chip->info);
}

unsigned int pg_chip_num_lines(pg_chip *chip) {
    if (chip == NULL) {
        errno = EINVAL;
        return 0;
    }
    size_t n = gpiod_chip_info_get_num_lines(chip->info);
    return n > UINT_MAX ? UINT_MAX : (unsigned int)n;
}

int pg_chip_line_info(pg_chip *chip, unsigned int offset, pg_line_info *out) {
    if (chip == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct gpiod_line_info *info = gpiod_chip_get_line_info(chip->chip, offset);
    if (info == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    out->offset = offset;
    pg_copy_name(out->name, gpiod_line_info_get_name(info));          // NULL when unnamed
    pg_copy_name(out->consumer, gpiod_line_info_get_consumer(info));  // NULL when not set
    out->used = gpiod_line_info_is_used(info);
    out->is_output = gpiod_line_info_get_direction(info) == GPIOD_LINE_DIRECTION_OUTPUT;
    out->active_low = gpiod_line_info_is_active_low(info);
    gpiod_line_info_free(info);
    return 0;
}

int pg_chip_find_line(pg_chip *chip, const char *name) {
    if (chip == NULL || name == NULL) {
        errno = EINVAL;
        return -1;
    }
    // gpiod_chip_get_line_offset_from_name() strcmp()s against every line's name, and an unnamed
    // line has the name "", so "" would match the first unnamed line: reject it here.
    if (name[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    return gpiod_chip_get_line_offset_from_name(chip->chip, name); // -1/ENOENT when absent
}

// Frees everything; preserves errno. Also used on partially built requests.
static void pg_v2_request_destroy(pg_request *req) {
    if (req == NULL)
        return;
    int saved = errno;
    if (req->request != NULL)
        gpiod_line_request_release(req->request);
    gpiod_edge_event_buffer_free(req->buffer); // NULL-safe
    free(req);
    errno = saved;
}

// Requests the lines described by line_config (still owned by the caller).
static pg_request *pg_v2_request(pg_chip *chip, const char *consumer,
                                 struct gpiod_line_config *line_config,
                                 const unsigned int *offsets, size_t count, bool events) {
    struct gpiod_request_config *req_config = NULL;
    pg_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->count = count;
    req->events = events;
    memcpy(req->offsets, offsets, count * sizeof(offsets[0]));

    if (events) {
        // Same size as the kernel's default FIFO for this request (16 per line, max 1024).
        req->buffer_capacity = 16 * count;
        req->buffer = gpiod_edge_event_buffer_new(req->buffer_capacity);
        if (req->buffer == NULL)
            goto fail;
        req->buffer_capacity = gpiod_edge_event_buffer_get_capacity(req->buffer);
    }

    req_config = gpiod_request_config_new();
    if (req_config == NULL)
        goto fail;
    if (consumer != NULL)
        gpiod_request_config_set_consumer(req_config, consumer); // copied (truncated to 31)

    req->request = gpiod_chip_request_lines(chip->chip, req_config, line_config);
    if (req->request == NULL)
        goto fail;
    if (gpiod_line_request_get_num_requested_lines(req->request) != count) {
        errno = EIO;
        goto fail;
    }
    if (events) {
        // wait_edge_events(0) is checked before every read; O_NONBLOCK additionally guarantees
        // that read() can never block.
        if (pg_set_nonblock(gpiod_line_request_get_fd(req->request)) < 0)
            goto fail;
    }
    gpiod_request_config_free(req_config);
    return req;

fail:;
    int saved = errno;
    gpiod_request_config_free(req_config); // NULL-safe
    pg_v2_request_destroy(req);
    errno = saved;
    return NULL;
}

static enum gpiod_line_bias pg_v2_bias(pg_bias bias) {
    switch (bias) {
    case PG_BIAS_AS_IS:
        return GPIOD_LINE_BIAS_AS_IS;
    case PG_BIAS_DISABLED:
        return GPIOD_LINE_BIAS_DISABLED;
    case PG_BIAS_PULL_UP:
        return GPIOD_LINE_BIAS_PULL_UP;
    case PG_BIAS_PULL_DOWN:
        return GPIOD_LINE_BIAS_PULL_DOWN;
    }
    return GPIOD_LINE_BIAS_AS_IS; // unreachable: validated by pg_check_bias
}

pg_request *pg_request_inputs(pg_chip *chip, const char *consumer,
                              const pg_input_line *lines, size_t count) {
    if (pg_check_request_args(chip, lines, count) < 0)
        return NULL;
    unsigned int offsets[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++) {
        if (pg_check_bias(lines[i].bias) < 0)
            return NULL;
        offsets[i] = lines[i].offset;
    }
    if (pg_check_unique(offsets, count) < 0)
        return NULL;

    pg_request *req = NULL;
    struct gpiod_line_config *line_config = NULL;
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (settings == NULL)
        goto out;
    line_config = gpiod_line_config_new();
    if (line_config == NULL)
        goto out;
    for (size_t i = 0; i < count; i++) {
        gpiod_line_settings_reset(settings);
        if (gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) < 0 ||
            gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH) < 0 ||
            gpiod_line_settings_set_bias(settings, pg_v2_bias(lines[i].bias)) < 0 ||
            gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC) < 0)
            goto out;
        gpiod_line_settings_set_active_low(settings, lines[i].active_low);
        if (gpiod_line_config_add_line_settings(line_config, &offsets[i], 1, settings) < 0)
            goto out;
    }
    req = pg_v2_request(chip, consumer, line_config, offsets, count, true);

out:;
    int saved = errno;
    gpiod_line_config_free(line_config);  // NULL-safe
    gpiod_line_settings_free(settings);   // NULL-safe
    errno = saved;
    return req;
}

pg_request *pg_request_outputs(pg_chip *chip, const char *consumer,
                               const pg_output_line *lines, size_t count) {
    if (pg_check_request_args(chip, lines, count) < 0)
        return NULL;
    unsigned int offsets[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++) {
        if (lines[i].initial_value != 0 && lines[i].initial_value != 1) {
            errno = EINVAL;
            return NULL;
        }
        offsets[i] = lines[i].offset;
    }
    if (pg_check_unique(offsets, count) < 0)
        return NULL;

    pg_request *req = NULL;
    struct gpiod_line_config *line_config = NULL;
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (settings == NULL)
        goto out;
    line_config = gpiod_line_config_new();
    if (line_config == NULL)
        goto out;
    for (size_t i = 0; i < count; i++) {
        gpiod_line_settings_reset(settings);
        // The per-line output value ends up in the GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES attribute
        // of the same GPIO_V2_GET_LINE_IOCTL that requests the line.
        enum gpiod_line_value initial = lines[i].initial_value ? GPIOD_LINE_VALUE_ACTIVE
                                                               : GPIOD_LINE_VALUE_INACTIVE;
        if (gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
            gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_NONE) < 0 ||
            gpiod_line_settings_set_output_value(settings, initial) < 0)
            goto out;
        gpiod_line_settings_set_active_low(settings, lines[i].active_low);
        if (gpiod_line_config_add_line_settings(line_config, &offsets[i], 1, settings) < 0)
            goto out;
    }
    req = pg_v2_request(chip, consumer, line_config, offsets, count, false);

out:;
    int saved = errno;
    gpiod_line_config_free(line_config);  // NULL-safe
    gpiod_line_settings_free(settings);   // NULL-safe
    errno = saved;
    return req;
}

void pg_request_release(pg_request *req) {
    pg_v2_request_destroy(req); // NULL-safe
}

int pg_request_get_values(pg_request *req, int *values, size_t count) {
    if (req == NULL || values == NULL || count != req->count) {
        errno = EINVAL;
        return -1;
    }
    enum gpiod_line_value tmp[PG_MAX_LINES];
    int ret = gpiod_line_request_get_values_subset(req->request, count, req->offsets, tmp);
    if (ret != 0) {
        if (ret > 0)
            errno = EBADE; // as libgpiod >= 2.2 reports an impossible positive ioctl result
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (tmp[i] != GPIOD_LINE_VALUE_ACTIVE && tmp[i] != GPIOD_LINE_VALUE_INACTIVE) {
            errno = EIO;
            return -1;
        }
    }
    for (size_t i = 0; i < count; i++)
        values[i] = tmp[i] == GPIOD_LINE_VALUE_ACTIVE ? 1 : 0;
    return 0;
}

int pg_request_set_values(pg_request *req, const int *values, size_t count) {
    if (req == NULL || values == NULL || count != req->count || req->events) {
        errno = EINVAL;
        return -1;
    }
    if (pg_check_values(values, count) < 0)
        return -1;
    enum gpiod_line_value tmp[PG_MAX_LINES];
    for (size_t i = 0; i < count; i++)
        tmp[i] = values[i] ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
    // One GPIO_V2_LINE_SET_VALUES_IOCTL: all lines of the request are set together.
    int ret = gpiod_line_request_set_values_subset(req->request, count, req->offsets, tmp);
    if (ret != 0) {
        if (ret > 0)
            errno = EBADE; // libgpiod 2.1 returns the raw ioctl() result here
        return -1;
    }
    return 0;
}

int pg_request_event_fd(pg_request *req) {
    if (req == NULL || !req->events) {
        errno = EINVAL;
        return -1;
    }
    return gpiod_line_request_get_fd(req->request);
}

int pg_request_read_events(pg_request *req, pg_edge_event *events, size_t max) {
    if (req == NULL || !req->events || (events == NULL && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (max == 0) // (libgpiod < 2.3 would issue a zero-length read)
        return 0;
    if (max > req->buffer_capacity)
        max = req->buffer_capacity;

    int pending = gpiod_line_request_wait_edge_events(req->request, 0); // 0 ns: never blocks
    if (pending < 0)
        return errno == EINTR ? 0 : -1;
    if (pending == 0)
        return 0;
    int n = gpiod_line_request_read_edge_events(req->request, req->buffer, max);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(req->buffer,
                                                                        (unsigned long)i);
        if (ev == NULL)
            return -1;
        switch (gpiod_edge_event_get_event_type(ev)) {
        case GPIOD_EDGE_EVENT_RISING_EDGE:
            events[i].edge = PG_EDGE_RISING;
            break;
        case GPIOD_EDGE_EVENT_FALLING_EDGE:
            events[i].edge = PG_EDGE_FALLING;
            break;
        default:
            errno = EPROTO;
            return -1;
        }
        events[i].offset = gpiod_edge_event_get_line_offset(ev);
        events[i].timestamp_ns = gpiod_edge_event_get_timestamp_ns(ev);
    }
    return n;
}

#endif

const char *pg_backend_description(void) {
    pthread_once(&pg_description_once, pg_build_description);
    return pg_description;
}
