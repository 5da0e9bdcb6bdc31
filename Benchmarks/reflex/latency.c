/*
 * latency: times a GPIO controller from outside, through gpio-sim's sysfs, as a meter would.
 * For each edge it asserts the input (writes "pull-down" to the input's sim_gpioN/pull: an
 * open-drain BMS output pulled to ground), waits until the output's sim_gpioM/value reads 1
 * (not timed: the controller may qualify first), then releases the input ("pull-up") and
 * times until the output reads 0, on CLOCK_MONOTONIC, polling the value file with pread(2).
 *
 *   latency --pull SIM/sim_gpio27/pull --value SIM/sim_gpio20/value [--count 1000] [--warmup 20]
 *           [--poll-us 0] [--settle-ms 0] [--timeout-ms 5000] [--label NAME] [--samples FILE]
 *
 * --poll-us 0 (the default) re-reads the value file back to back, yielding the CPU between
 * reads (sched_yield) so that the controller still runs on a small machine; N > 0 sleeps N µs.
 * --settle-ms N holds the input asserted N ms after the output read 1, before the release: with 0
 * (the default) the release comes while a controller may still finish the work that closed the
 * output; with N > 0 it comes to a controller at rest (the two show what the work costs).
 * Prints "LABEL n=N p50_us=.. p99_us=.. max_us=.. min_us=.. mean_us=.. read_us=.." where read_us
 * is the cost of one value read (the measurement's resolution). Exit 1 if the output does not
 * follow within --timeout-ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int pull_fd, value_fd;
static long poll_us, settle_ms;

static void set_pull(const char *pull) {
    size_t length = strlen(pull);
    if (pwrite(pull_fd, pull, length, 0) != (ssize_t)length) {
        fprintf(stderr, "latency: write %s: %s\n", pull, strerror(errno));
        exit(1);
    }
}

static int read_value(void) {
    char buffer[4];
    ssize_t n = pread(value_fd, buffer, sizeof buffer, 0);
    if (n < 1) {
        fprintf(stderr, "latency: read value: %s\n", n < 0 ? strerror(errno) : "empty");
        exit(1);
    }
    return buffer[0] == '1';
}

/* Waits until the output reads `wanted`; returns the time of the read that saw it, or -1. */
static long long wait_for(int wanted, long long deadline) {
    for (;;) {
        int value = read_value();
        long long t = now_ns();
        if (value == wanted) return t;
        if (t > deadline) return -1;
        if (poll_us > 0) {
            struct timespec pause = {0, poll_us * 1000};
            nanosleep(&pause, NULL);
        } else {
            sched_yield();
        }
    }
}

static int compare(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static double us(long long ns) { return ns / 1000.0; }

int main(int argc, char **argv) {
    const char *pull_path = NULL, *value_path = NULL, *label = "latency", *samples_path = NULL;
    long count = 1000, warmup = 20, timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next) goto usage;
        if (!strcmp(arg, "--pull")) pull_path = next;
        else if (!strcmp(arg, "--value")) value_path = next;
        else if (!strcmp(arg, "--count")) count = atol(next);
        else if (!strcmp(arg, "--warmup")) warmup = atol(next);
        else if (!strcmp(arg, "--poll-us")) poll_us = atol(next);
        else if (!strcmp(arg, "--settle-ms")) settle_ms = atol(next);
        else if (!strcmp(arg, "--timeout-ms")) timeout_ms = atol(next);
        else if (!strcmp(arg, "--label")) label = next;
        else if (!strcmp(arg, "--samples")) samples_path = next;
        else goto usage;
        i++;
    }
    if (!pull_path || !value_path || count < 1 || warmup < 0) goto usage;
    /* A guest whose kernel fell back to the jiffies clocksource (TSC marked unstable) has a clock
     * in milliseconds: refuse to measure rather than print zeros. */
    struct timespec resolution;
    if (clock_getres(CLOCK_MONOTONIC, &resolution) < 0 || resolution.tv_sec > 0 || resolution.tv_nsec > 1000) {
        fprintf(stderr, "%s: CLOCK_MONOTONIC resolution is %ld ns (see the current_clocksource): no measurement\n",
                label, (long)resolution.tv_sec * 1000000000L + resolution.tv_nsec);
        return 1;
    }
    pull_fd = open(pull_path, O_WRONLY);
    value_fd = open(value_path, O_RDONLY);
    if (pull_fd < 0 || value_fd < 0) {
        fprintf(stderr, "latency: open %s: %s\n", pull_fd < 0 ? pull_path : value_path, strerror(errno));
        return 1;
    }

    /* The measurement's resolution: one read of the value file. */
    long long started = now_ns();
    for (int i = 0; i < 100; i++) read_value();
    long long read_ns = (now_ns() - started) / 100;

    long long *samples = calloc((size_t)count, sizeof *samples);
    if (!samples) return 1;
    long long timeout_ns = timeout_ms * 1000000LL;
    for (long i = 0; i < warmup + count; i++) {
        set_pull("pull-down");
        if (wait_for(1, now_ns() + timeout_ns) < 0) {
            fprintf(stderr, "%s: output did not read 1 within %ld ms of asserting the input (edge %ld)\n",
                    label, timeout_ms, i);
            return 1;
        }
        if (settle_ms > 0) {
            struct timespec settle = {settle_ms / 1000, (settle_ms % 1000) * 1000000L};
            nanosleep(&settle, NULL);
        }
        long long t0 = now_ns();
        set_pull("pull-up");
        long long t1 = wait_for(0, t0 + timeout_ns);
        if (t1 < 0) {
            fprintf(stderr, "%s: output did not read 0 within %ld ms of releasing the input (edge %ld)\n",
                    label, timeout_ms, i);
            return 1;
        }
        if (i >= warmup) samples[i - warmup] = t1 - t0;
    }
    set_pull("pull-down"); /* leave the input asserted, as found after the first cycle */

    if (samples_path) {
        FILE *file = fopen(samples_path, "w");
        if (file) {
            for (long i = 0; i < count; i++) fprintf(file, "%lld\n", samples[i]);
            fclose(file);
        }
    }
    long long sum = 0;
    for (long i = 0; i < count; i++) sum += samples[i];
    qsort(samples, (size_t)count, sizeof *samples, compare);
#define PCT(p) samples[(long)((p) / 100.0 * count + 0.999999) - 1 < 0 ? 0 : (long)((p) / 100.0 * count + 0.999999) - 1]
    printf("%s n=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f min_us=%.1f mean_us=%.1f read_us=%.1f\n", label, count,
           us(PCT(50)), us(PCT(99)), us(samples[count - 1]), us(samples[0]), us(sum / count), us(read_ns));
    return 0;

usage:
    fprintf(stderr, "usage: latency --pull PULL_FILE --value VALUE_FILE [--count N] [--warmup N] [--poll-us N] [--settle-ms N]"
                    " [--timeout-ms MS] [--label NAME] [--samples FILE]\n");
    return 2;
}
