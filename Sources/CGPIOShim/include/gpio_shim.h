// PackGuard's one C boundary to libgpiod. The same API is implemented for libgpiod v1 (1.6.x,
// gpio_shim_v1.c) and v2 (2.1+, gpio_shim_v2.c), chosen at compile time from the installed
// <gpiod.h>: the other file compiles to nothing. No libgpiod type crosses
// this header, so Swift never sees which version it runs on.
//
// Conventions: functions returning a pointer return NULL on failure; functions returning int
// return -1 on failure. In both cases errno says why. Values are LOGICAL (active = 1): the
// active-low inversion is done by the kernel as configured at request time.
#ifndef PACKGUARD_GPIO_SHIM_H
#define PACKGUARD_GPIO_SHIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pg_chip pg_chip;
typedef struct pg_request pg_request;

typedef enum {
    PG_BIAS_AS_IS = 0,
    PG_BIAS_DISABLED = 1,
    PG_BIAS_PULL_UP = 2,
    PG_BIAS_PULL_DOWN = 3,
} pg_bias;

typedef enum {
    PG_EDGE_RISING = 1,   // logical inactive -> active
    PG_EDGE_FALLING = 2,  // logical active -> inactive
} pg_edge;

typedef struct {
    unsigned int offset;
    pg_bias bias;
    bool active_low;
} pg_input_line;

typedef struct {
    unsigned int offset;
    bool active_low;
    int initial_value;    // logical, 0 or 1; driven from the very first instant of the request
} pg_output_line;

typedef struct {
    unsigned int offset;
    pg_edge edge;
    uint64_t timestamp_ns; // kernel timestamp (CLOCK_MONOTONIC by default)
} pg_edge_event;

#define PG_NAME_MAX 64

typedef struct {
    unsigned int offset;
    char name[PG_NAME_MAX];      // "" when the line has no name
    char consumer[PG_NAME_MAX];  // "" when unused or the consumer has no name
    bool used;
    bool is_output;
    bool active_low;
    pg_bias bias;                // as the kernel reports it; PG_BIAS_AS_IS when it reports none
} pg_line_info;

// "libgpiod v1 1.6.3" / "libgpiod v2 2.1.3" (API generation and runtime library version).
const char *pg_backend_description(void);

pg_chip *pg_chip_open(const char *path);
void pg_chip_close(pg_chip *chip);
// Kernel name ("gpiochip0") and label ("pinctrl-bcm2711"); valid until the chip is closed.
const char *pg_chip_name(pg_chip *chip);
const char *pg_chip_label(pg_chip *chip);
unsigned int pg_chip_num_lines(pg_chip *chip);
int pg_chip_line_info(pg_chip *chip, unsigned int offset, pg_line_info *out);
// Offset of the line with this exact name on this chip, or -1 with errno ENOENT.
int pg_chip_find_line(pg_chip *chip, const char *name);

// One request holds several lines of one chip. Inputs are requested with both-edge events.
pg_request *pg_request_inputs(pg_chip *chip, const char *consumer,
                              const pg_input_line *lines, size_t count);
// Outputs are requested with their initial values in the same call (never glitch active).
pg_request *pg_request_outputs(pg_chip *chip, const char *consumer,
                               const pg_output_line *lines, size_t count);
void pg_request_release(pg_request *request);

// values[i] belongs to the i-th line of the request, in request order.
int pg_request_get_values(pg_request *request, int *values, size_t count);
// Sets every line it can: a line that fails never stops the others from being attempted. On any
// failure returns -1 with errno from the first failed line. line_errors (NULL, or count entries)
// receives 0 for each line that was set and the errno of each line that was not (it is left
// untouched when the call is refused as a whole for bad arguments, errno EINVAL).
int pg_request_set_values(pg_request *request, const int *values, size_t count, int *line_errors);

// One pollable file descriptor (POLLIN when edge events are pending) for the whole request,
// owned by the request. -1 for output requests.
int pg_request_event_fd(pg_request *request);
// Reads up to max pending events without blocking; returns how many (0 when none).
int pg_request_read_events(pg_request *request, pg_edge_event *events, size_t max);

// The off reflex's reaction: reads the one line of `input` (a one-line input request) and, only if
// it reads released (logical 0), sets each of the `count` one-line output requests `outputs` to 0.
// Returns PG_REACT_OPENED (released, every output set), PG_REACT_ASSERTED (nothing set),
// PG_REACT_UNREADABLE (-1: the read failed or the arguments are bad; nothing set; errno says why) or
// PG_REACT_NOT_ALL_OPENED (-2: released, and at least one output failed; every output was attempted;
// errno is the first failure's). output_errors (NULL, or count entries) receives 0 for each output
// set and the errno of each that was not, whenever the input read released.
#define PG_REACT_NOT_ALL_OPENED (-2)
#define PG_REACT_UNREADABLE (-1)
#define PG_REACT_ASSERTED 0
#define PG_REACT_OPENED 1
int pg_release_react(pg_request *input, pg_request *const *outputs, size_t count, int *output_errors);

// The off reflex's wait and reactions in C, so that nothing but C runs between an edge's wake-up
// and the relay write (gpio_shim_reflex.c). A table belongs to one SignalLines, which owns it and
// guards it with its own two locks, `outputs_lock` then `inputs_lock` (the same order everywhere):
//  - plans (which input request's release opens which output requests) change only under both;
//  - the closed and opened bits change only under `outputs_lock`;
//  - the counters and the released keys are atomics, readable without a lock.
// A key is an input's index (0 ..< PG_REFLEX_KEYS); an output bit is 1 << its output's index.
#define PG_REFLEX_KEYS 8
#define PG_REFLEX_OUTPUTS 8
typedef struct pg_reflex_table pg_reflex_table;

// NULL with errno ENOMEM.
pg_reflex_table *pg_reflex_table_new(pthread_mutex_t *outputs_lock, pthread_mutex_t *inputs_lock);
void pg_reflex_table_free(pg_reflex_table *table);
// Under both locks. `outputs[i]` drives the output of bit `output_bits[i]`; input NULL clears the key.
// -1 with errno EINVAL for a key or count out of range.
int pg_reflex_set_plan(pg_reflex_table *table, unsigned int key, pg_request *input,
                       pg_request *const *outputs, const uint32_t *output_bits, size_t count);
// Under both locks: every key without a plan (before the lines are released).
void pg_reflex_clear_plans(pg_reflex_table *table);
// Under outputs_lock: the outputs applied closed, the only ones a reaction writes.
void pg_reflex_set_closed(pg_reflex_table *table, uint32_t output_bits);
// Under outputs_lock: the outputs reactions drove off since the last call (cleared by it).
uint32_t pg_reflex_take_opened(pg_reflex_table *table);
// Reactions that drove at least one output off, and reactions that found the input released (whether
// or not anything was closed), since the table was made.
long pg_reflex_openings(pg_reflex_table *table);
long pg_reflex_releases(pg_reflex_table *table);
// The keys reactions found released since the last call (cleared by it); for each, when the write
// that opened its outputs ended (CLOCK_MONOTONIC ns, or -1 when nothing was open to drive off).
uint32_t pg_reflex_take_released(pg_reflex_table *table, int64_t opened_at_ns[PG_REFLEX_KEYS]);
// Wakes with edges: begun (by pg_reflex_wait, before any reaction), handled (pg_reflex_end, after the
// caller's hand-off), and when the latest began (CLOCK_MONOTONIC ns). A wake still reacting has
// begun != handled.
void pg_reflex_end(pg_reflex_table *table);
uint64_t pg_reflex_begun(pg_reflex_table *table);
uint64_t pg_reflex_handled(pg_reflex_table *table);
int64_t pg_reflex_began_ns(pg_reflex_table *table);

// What a wake found for each ready key.
#define PG_REFLEX_NO_PLAN (-3)  // no plan for the key: the caller reacts (another backend)
typedef struct {
    uint64_t key;
    int outcome;        // a PG_REACT_* value, or PG_REFLEX_NO_PLAN (also for keys >= PG_REFLEX_KEYS)
    int first_errno;    // PG_REACT_UNREADABLE / PG_REACT_NOT_ALL_OPENED: the first failure's errno
    uint32_t failed_bits;  // PG_REACT_NOT_ALL_OPENED: the outputs that stayed closed
} pg_reflex_result;

// epoll_wait(2) on `epoll_fd` (up to `max` keys, at most 16), then, under both locks, the
// reaction for each ready key that has a plan: a release drives the plan's closed outputs off
// (`pg_release_react`) and is recorded (opened bits, openings, released keys). A wake with any key
// but UINT64_MAX (the caller's wake pipe) is begun first; the caller ends it (`pg_reflex_end`). Returns the number of
// results, 0 on timeout, or -1 with errno from epoll_wait.
int pg_reflex_wait(pg_reflex_table *table, int epoll_fd, pg_reflex_result *results, int max, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
