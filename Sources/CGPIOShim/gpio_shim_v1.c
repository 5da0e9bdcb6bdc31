// PackGuard's libgpiod shim, libgpiod v1 half (1.5/1.6.x: Debian 12 and Raspberry Pi OS bookworm
// ship 1.6.3). Compiles to nothing unless the installed <gpiod.h> is v1 (gpio_shim_common.h);
// gpio_shim_v2.c is the other half, behind the same gpio_shim.h.
//
// In v1 the struct gpiod_line objects (which hold the request state and fds) belong to the
// struct gpiod_chip, and gpiod_chip_close() releases and frees them. So a pg_chip is reference
// counted: one reference for the caller's handle and one per live request. The gpiod_chip is
// closed when the last of them goes, so a request stays valid after pg_chip_close(), as in v2.
//
// A v1 bulk request applies one set of flags to all its lines, and v1 edge events are per-line
// requests anyway, so every line is requested individually. Consequence: in v1,
// pg_request_set_values() sets the lines one after the other (not atomically), and a line that
// fails does not stop the lines after it.
//
// What differs from v2, and how this file makes it behave the same (rig/guest-gpio-versions.sh pins
// each on gpio-sim, for both builds):
//   * Requests: one kernel request (and fd) per line, so one epoll fd stands for the request
//     (pg_request_event_fd) and pg_request_read_events() reads the lines round-robin and orders the
//     batch by timestamp; v2 reads one fd holding every line's events in kernel order.
//   * Chip gone (gpio-sim live 0, unbind, unplug): every value read and write fails ENODEV in both.
//     Edge reads: v2's request fd reports POLLHUP | POLLERR and its read fails ENODEV; here the
//     epoll fd never turns readable (no wake-up reaches it), so pg_request_read_events() poll()s
//     the line fds themselves and fails ENODEV too, instead of returning "no events" forever.
//   * Writes: per line, not atomic (see above). A failing line is reported by offset and errno
//     (line_errors) and the other lines are still set; v2 sets a request's lines in one ioctl and
//     fails as a whole. Either way the caller learns every line that was not set.
//   * Event FIFO overflow: the kernel keeps 16 events per line and drops the NEW ones (the newest
//     edge is lost: the last event read can say "active" while the line is long inactive); v2 keeps
//     16 per line of the request and drops the OLDEST. The controller never trusts an event for the
//     current level: every step reads the levels after handling the events, so both end in the truth.
//   * Line info bias: no bias flag reads as GPIOD_LINE_BIAS_AS_IS here, GPIOD_LINE_BIAS_UNKNOWN in v2:
//     both become PG_BIAS_AS_IS.
//   * Timestamps: ts (timespec) here, ns in v2; both CLOCK_MONOTONIC on Linux >= 5.7 (converted to ns).
//   * Description: gpiod_version_string() (the package version) here, gpiod_api_version() in v2.
//   Found the same in both (pinned too): six back-to-back pulses on gpio-sim gave 12 alternating
//   events in time order (real hardware may merge edges or repeat a type, see gpio_shim_common.h);
//   timestamps are CLOCK_MONOTONIC; a line held by another process fails EBUSY and line info names
//   the holder; initial output values and active-low are applied inside the request.

#include "gpio_shim_common.h"

#if defined(PG_LIBGPIOD_V1)

#include <poll.h>
#include <sys/epoll.h>

static char pg_description[96];
static pthread_once_t pg_description_once = PTHREAD_ONCE_INIT;

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
    int fds[PG_MAX_LINES];                   // the per-line event fds (owned by the lines)
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
    switch (gpiod_line_bias(line)) {
    case GPIOD_LINE_BIAS_DISABLE:
        out->bias = PG_BIAS_DISABLED;
        break;
    case GPIOD_LINE_BIAS_PULL_UP:
        out->bias = PG_BIAS_PULL_UP;
        break;
    case GPIOD_LINE_BIAS_PULL_DOWN:
        out->bias = PG_BIAS_PULL_DOWN;
        break;
    default: // GPIOD_LINE_BIAS_AS_IS: the kernel reports no bias flag (v2 calls that UNKNOWN)
        out->bias = PG_BIAS_AS_IS;
        break;
    }
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
        req->fds[i] = fd;
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

int pg_request_set_values(pg_request *req, const int *values, size_t count, int *line_errors) {
    if (req == NULL || values == NULL || count != req->count || req->events) {
        errno = EINVAL;
        return -1;
    }
    if (pg_check_values(values, count) < 0)
        return -1;
    pg_clear_line_errors(line_errors, count);
    // One GPIOHANDLE_SET_LINE_VALUES_IOCTL per line (every line is its own v1 request). A line that
    // fails does not stop the others: when a relay cannot be driven off, every other relay still
    // must be. Each failure is reported (line_errors), errno is the first one's.
    int first_error = 0;
    for (size_t i = 0; i < count; i++) {
        errno = 0;
        if (gpiod_line_set_value(req->lines[i], values[i]) < 0) {
            int code = errno != 0 ? errno : EIO;
            if (line_errors != NULL)
                line_errors[i] = code;
            if (first_error == 0)
                first_error = code;
        }
    }
    if (first_error != 0) {
        errno = first_error;
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

// Converts one kernel event as libgpiod v1 reports it.
static int pg_v1_convert(const struct gpiod_line_event *ev, unsigned int offset, pg_edge_event *out) {
    if (ev->event_type == GPIOD_LINE_EVENT_RISING_EDGE) {
        out->edge = PG_EDGE_RISING;
    } else if (ev->event_type == GPIOD_LINE_EVENT_FALLING_EDGE) {
        out->edge = PG_EDGE_FALLING;
    } else {
        errno = EPROTO;
        return -1;
    }
    out->offset = offset;
    out->timestamp_ns = (uint64_t)ev->ts.tv_sec * 1000000000u + (uint64_t)ev->ts.tv_nsec;
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

    // One non-blocking read(2) per line, of every event it holds (up to its share of `max`): the
    // kernel copies all pending events into one read, so a line that returned fewer than asked is
    // drained, and an idle line costs one read that fails EAGAIN. No poll(2) first: the event fds
    // are O_NONBLOCK, and a read asks the line afresh, like poll. When the chip goes away the
    // kernel fails the read with ENODEV (as with v2) instead of reporting nothing forever, which
    // epoll_wait(req->epfd) would do: the epoll fd only tells the caller when to wake.
    bool active[PG_MAX_LINES];
    size_t remaining = req->count;
    for (size_t i = 0; i < req->count; i++)
        active[i] = true;
    struct gpiod_line_event batch[16];
    size_t got = 0;
    // Rounds, each line getting an equal share of the room left, so one busy line cannot starve the others.
    while (got < max && remaining > 0) {
        size_t share = (max - got) / remaining;
        if (share == 0)
            share = 1;
        if (share > 16)
            share = 16;
        for (size_t i = 0; i < req->count && got < max; i++) {
            if (!active[i])
                continue;
            size_t want = share < max - got ? share : max - got;
            int n = gpiod_line_event_read_fd_multiple(req->fds[i], batch, (unsigned int)want);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) { // this line is drained
                    active[i] = false;
                    remaining--;
                    continue;
                }
                // Events already read are consumed: return them; the error (e.g. ENODEV after
                // the chip went away) persists and is reported by the next call.
                if (got > 0)
                    goto done;
                return -1;
            }
            for (int k = 0; k < n; k++) {
                if (pg_v1_convert(&batch[k], req->offsets[i], &events[got]) < 0)
                    return -1;
                got++;
            }
            if ((size_t)n < want) { // fewer than asked: nothing more is pending on this line
                active[i] = false;
                remaining--;
            }
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

const char *pg_backend_description(void) {
    pthread_once(&pg_description_once, pg_build_description);
    return pg_description;
}

#endif
