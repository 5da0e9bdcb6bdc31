// PackGuard's libgpiod shim, libgpiod v2 half (2.1+: Raspberry Pi OS trixie ships 2.2.x; CI builds
// 2.3 with rig/build-libgpiod2.sh). Compiles to nothing unless the installed <gpiod.h> is v2
// (gpio_shim_common.h); gpio_shim_v1.c is the other half, behind the same gpio_shim.h.
//
// A gpiod_line_request is independent of the gpiod_chip it came from (its own fd), so closing a
// chip does not affect its requests. Settings, line and request configs are only needed while
// building the request: gpiod_line_config_add_line_settings() stores a COPY of the settings, and
// gpiod_chip_request_lines() copies what it needs, so all three are freed right after.
//
// Values are read/written with the *_subset calls and the offsets array in OUR request order, so
// values[i] always belongs to the i-th requested line whatever order libgpiod keeps internally
// (2.1-2.3 keep insertion order, which is the same, but we do not depend on it).
//
// What differs from v1, and how this file makes it behave the same (rig/guest-gpio-versions.sh pins
// each on gpio-sim, for both builds):
//   * Requests: one kernel request (one fd) for all lines, each with its own settings; events of
//     every line arrive in kernel order on that fd. v1 needs a request per line and an epoll fd.
//   * Writes: one GPIO_V2_LINE_SET_VALUES_IOCTL sets every line of the request, or fails before
//     setting any: then every line is reported failed with that errno (line_errors). v1 sets line
//     by line, attempts every line, and reports only the lines that failed.
//   * Event FIFO overflow: the kernel keeps 16 events per line of the request and drops the OLDEST
//     (so the newest edge survives); v1 drops the NEW ones. The controller handles both alike: it
//     steps once per event read, then reads the levels, which are the truth either way.
//   * Line info bias: no bias flag reads as GPIOD_LINE_BIAS_UNKNOWN here, GPIOD_LINE_BIAS_AS_IS in
//     v1: both become PG_BIAS_AS_IS.
//   * Event clock: requested explicitly as CLOCK_MONOTONIC (the v2 default, but a kernel or library
//     default is not a promise); v1 uses CLOCK_MONOTONIC on Linux >= 5.7.
//   * Description: gpiod_api_version(), which since 2.3 is the C API version rather than the package
//     version; v1 gives gpiod_version_string().
//   * Chip gone (gpio-sim live 0, unbind, unplug): every value read and write fails ENODEV, and the
//     request fd reports POLLHUP | POLLERR (but nothing wakes a poll already sleeping on it) and its
//     read fails ENODEV. v1's epoll fd never reports it; gpio_shim_v1.c polls its line fds instead.
//   Found the same in both (pinned too): six back-to-back pulses on gpio-sim gave 12 alternating
//   events in time order (real hardware may merge edges or repeat a type, see gpio_shim_common.h);
//   timestamps are CLOCK_MONOTONIC; a line held by another process fails EBUSY and line info names
//   the holder; initial output values and active-low are applied inside the request.

#include "gpio_shim_common.h"

#if defined(PG_LIBGPIOD_V2)

static char pg_description[96];
static pthread_once_t pg_description_once = PTHREAD_ONCE_INIT;

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
    switch (gpiod_line_info_get_bias(info)) {
    case GPIOD_LINE_BIAS_DISABLED:
        out->bias = PG_BIAS_DISABLED;
        break;
    case GPIOD_LINE_BIAS_PULL_UP:
        out->bias = PG_BIAS_PULL_UP;
        break;
    case GPIOD_LINE_BIAS_PULL_DOWN:
        out->bias = PG_BIAS_PULL_DOWN;
        break;
    default: // GPIOD_LINE_BIAS_UNKNOWN: the kernel reports no bias flag (v1 calls that AS_IS)
        out->bias = PG_BIAS_AS_IS;
        break;
    }
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
        // O_NONBLOCK: a read of an idle request fails EAGAIN at once, so pg_request_read_events()
        // reads without asking poll(2) first (one system call per wake, not two).
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

int pg_request_set_values(pg_request *req, const int *values, size_t count, int *line_errors) {
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
    pg_clear_line_errors(line_errors, count);
    int ret = gpiod_line_request_set_values_subset(req->request, count, req->offsets, tmp);
    if (ret != 0) {
        if (ret > 0)
            errno = EBADE; // libgpiod 2.1 returns the raw ioctl() result here
        // The ioctl fails before any line is set (the kernel validates, then sets the whole
        // request): every line of the request failed, with the same errno.
        int code = errno != 0 ? errno : EIO;
        if (line_errors != NULL)
            for (size_t i = 0; i < count; i++)
                line_errors[i] = code;
        errno = code;
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

    // One read(2) takes every pending event (up to `max`); an idle request fails EAGAIN (the fd
    // is O_NONBLOCK), a vanished chip ENODEV.
    int n = gpiod_line_request_read_edge_events(req->request, req->buffer, max);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
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

const char *pg_backend_description(void) {
    pthread_once(&pg_description_once, pg_build_description);
    return pg_description;
}

#endif
