/*
 * reflex: the floor any GPIO controller can reach. It requests one input line (both edges,
 * active-low, pull-up: like PackGuard's Discharge Enable) and one output line (active-high,
 * initially off: like its discharge relay), then on every edge event sets the output to the
 * input's logical value. No policy, no qualification, no logging: event -> set value.
 *
 * The real-kernel rig runs it side by side with `packguard run` and times both with latency.c
 * (Benchmarks/reflex/measure-in-guest.sh).
 *
 *   reflex INPUT_LINE OUTPUT_LINE        e.g. reflex GPIO27 GPIO20   (lines by name, any chip)
 *
 * Prints "reflex: ready" once both lines are requested and the output follows the input; runs
 * until SIGTERM/SIGINT, then releases both lines. Builds against libgpiod v1 (1.5+, Debian 12)
 * or v2 (2.1+): see the Makefile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <gpiod.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "reflex: %s: %s\n", what, strerror(errno));
    exit(1);
}

#if defined(GPIOD_LINE_BULK_MAX_LINES) && defined(GPIOD_BIT) /* libgpiod v1 */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reflex INPUT_LINE OUTPUT_LINE\n");
        return 2;
    }
    struct gpiod_line *in = gpiod_line_find(argv[1]);
    if (!in) die(argv[1]);
    struct gpiod_line *out = gpiod_line_find(argv[2]);
    if (!out) die(argv[2]);
    /* Output first, at its off level (as PackGuard does), then the input. */
    if (gpiod_line_request_output(out, "reflex", 0) < 0) die("request output");
    if (gpiod_line_request_both_edges_events_flags(
            in, "reflex", GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW | GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP) < 0)
        die("request input");

    struct sigaction action = {0};
    action.sa_handler = on_signal; /* no SA_RESTART: the wait returns EINTR */
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    int value = gpiod_line_get_value(in);
    if (value < 0 || gpiod_line_set_value(out, value) < 0) die("initial value");
    printf("reflex: ready (libgpiod %s)\n", gpiod_version_string());
    fflush(stdout);

    struct gpiod_line_event events[16];
    while (!stop) {
        int ready = gpiod_line_event_wait(in, NULL);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("wait for events");
        }
        if (gpiod_line_event_read_multiple(in, events, 16) < 0) die("read events");
        /* The level now, not the last edge's direction: a burst of edges ends at the level. */
        value = gpiod_line_get_value(in);
        if (value < 0 || gpiod_line_set_value(out, value) < 0) die("follow");
    }
    gpiod_line_release(in);
    gpiod_line_release(out);
    return 0;
}

#else /* libgpiod v2 (2.1+) */

/* Finds a line by name on any /dev/gpiochip*, returning the open chip and its offset. */
static struct gpiod_chip *find_line(const char *name, unsigned int *offset) {
    glob_t chips;
    if (glob("/dev/gpiochip*", 0, NULL, &chips) != 0) {
        errno = ENOENT;
        return NULL;
    }
    for (size_t i = 0; i < chips.gl_pathc; i++) {
        struct gpiod_chip *chip = gpiod_chip_open(chips.gl_pathv[i]);
        if (!chip) continue;
        int found = gpiod_chip_get_line_offset_from_name(chip, name);
        if (found >= 0) {
            *offset = (unsigned int)found;
            globfree(&chips);
            return chip;
        }
        gpiod_chip_close(chip);
    }
    globfree(&chips);
    errno = ENOENT;
    return NULL;
}

static struct gpiod_line_request *request(struct gpiod_chip *chip, unsigned int offset, int input) {
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    struct gpiod_line_config *config = gpiod_line_config_new();
    struct gpiod_request_config *request_config = gpiod_request_config_new();
    if (!settings || !config || !request_config) die("allocate");
    if (input) {
        gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT);
        gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH);
        gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_UP);
        gpiod_line_settings_set_active_low(settings, true);
    } else {
        gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT);
        gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE);
    }
    if (gpiod_line_config_add_line_settings(config, &offset, 1, settings) < 0) die("line config");
    gpiod_request_config_set_consumer(request_config, "reflex");
    struct gpiod_line_request *result = gpiod_chip_request_lines(chip, request_config, config);
    gpiod_request_config_free(request_config);
    gpiod_line_config_free(config);
    gpiod_line_settings_free(settings);
    return result;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reflex INPUT_LINE OUTPUT_LINE\n");
        return 2;
    }
    unsigned int in_offset, out_offset;
    struct gpiod_chip *in_chip = find_line(argv[1], &in_offset);
    if (!in_chip) die(argv[1]);
    struct gpiod_chip *out_chip = find_line(argv[2], &out_offset);
    if (!out_chip) die(argv[2]);
    struct gpiod_line_request *out = request(out_chip, out_offset, 0);
    if (!out) die("request output");
    struct gpiod_line_request *in = request(in_chip, in_offset, 1);
    if (!in) die("request input");

    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    struct gpiod_edge_event_buffer *buffer = gpiod_edge_event_buffer_new(16);
    if (!buffer) die("event buffer");
    enum gpiod_line_value value = gpiod_line_request_get_value(in, in_offset);
    if (value == GPIOD_LINE_VALUE_ERROR || gpiod_line_request_set_value(out, out_offset, value) < 0)
        die("initial value");
    printf("reflex: ready (libgpiod %s)\n", gpiod_api_version());
    fflush(stdout);

    while (!stop) {
        int ready = gpiod_line_request_wait_edge_events(in, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("wait for events");
        }
        if (gpiod_line_request_read_edge_events(in, buffer, 16) < 0) die("read events");
        value = gpiod_line_request_get_value(in, in_offset);
        if (value == GPIOD_LINE_VALUE_ERROR || gpiod_line_request_set_value(out, out_offset, value) < 0)
            die("follow");
    }
    gpiod_edge_event_buffer_free(buffer);
    gpiod_line_request_release(in);
    gpiod_line_request_release(out);
    gpiod_chip_close(in_chip);
    gpiod_chip_close(out_chip);
    return 0;
}

#endif
