// The off reflex's reaction in one call: read an enable, and if it reads released, drive the relays
// its release opens. Built on the shim's own API (gpio_shim.h), so it is the same for libgpiod v1
// and v2; being in C, nothing runs between the read and the writes but the library calls.
#include <errno.h>
#include "gpio_shim.h"

int pg_release_react(pg_request *input, pg_request *const *outputs, size_t count, int *output_errors) {
    if (input == NULL || (count > 0 && outputs == NULL)) {
        errno = EINVAL;
        return PG_REACT_UNREADABLE;
    }
    for (size_t i = 0; i < count; i++) {
        if (outputs[i] == NULL) {
            errno = EINVAL;
            return PG_REACT_UNREADABLE;
        }
    }
    int level = 1;
    if (pg_request_get_values(input, &level, 1) != 0)
        return PG_REACT_UNREADABLE;  // errno from the read
    if (level != 0)
        return PG_REACT_ASSERTED;
    // Every relay is attempted even when one fails: each that opens is one less closed.
    const int off = 0;
    int first_error = 0;
    for (size_t i = 0; i < count; i++) {
        int code = 0;
        if (pg_request_set_values(outputs[i], &off, 1, NULL) != 0)
            code = errno != 0 ? errno : EIO;
        if (output_errors != NULL)
            output_errors[i] = code;
        if (code != 0 && first_error == 0)
            first_error = code;
    }
    if (first_error != 0) {
        errno = first_error;
        return PG_REACT_NOT_ALL_OPENED;
    }
    return PG_REACT_OPENED;
}

// ---------------------------------------------------------------------------------------------
// The off reflex's wait and reactions (gpio_shim.h). Between epoll_wait's return and the write
// there are two uncontended mutex locks and the two library calls of pg_release_react: the same
// path a C program takes, where the Swift path before it cost a hundred microseconds and more in
// the rig's emulated guest.
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

typedef struct {
    pg_request *input;
    size_t count;
    pg_request *outputs[PG_REFLEX_OUTPUTS];
    uint32_t output_bits[PG_REFLEX_OUTPUTS];
} pg_reflex_plan;

struct pg_reflex_table {
    pthread_mutex_t *outputs_lock;
    pthread_mutex_t *inputs_lock;
    pg_reflex_plan plans[PG_REFLEX_KEYS];  // under both locks
    uint32_t closed;                       // under outputs_lock
    uint32_t opened;                       // under outputs_lock
    _Atomic uint32_t released;
    _Atomic int64_t opened_at_ns[PG_REFLEX_KEYS];
    _Atomic long openings;
    _Atomic long releases;
    _Atomic uint64_t begun;
    _Atomic uint64_t handled;
    _Atomic int64_t began_ns;
};

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

pg_reflex_table *pg_reflex_table_new(pthread_mutex_t *outputs_lock, pthread_mutex_t *inputs_lock) {
    if (outputs_lock == NULL || inputs_lock == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pg_reflex_table *table = calloc(1, sizeof *table);
    if (table == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    table->outputs_lock = outputs_lock;
    table->inputs_lock = inputs_lock;
    for (int key = 0; key < PG_REFLEX_KEYS; key++)
        atomic_init(&table->opened_at_ns[key], -1);
    return table;
}

void pg_reflex_table_free(pg_reflex_table *table) { free(table); }

int pg_reflex_set_plan(pg_reflex_table *table, unsigned int key, pg_request *input,
                       pg_request *const *outputs, const uint32_t *output_bits, size_t count) {
    if (table == NULL || key >= PG_REFLEX_KEYS || count > PG_REFLEX_OUTPUTS
        || (count > 0 && (outputs == NULL || output_bits == NULL))) {
        errno = EINVAL;
        return -1;
    }
    pg_reflex_plan *plan = &table->plans[key];
    plan->input = input;
    plan->count = input == NULL ? 0 : count;
    for (size_t i = 0; i < plan->count; i++) {
        if (outputs[i] == NULL) {
            plan->input = NULL;
            plan->count = 0;
            errno = EINVAL;
            return -1;
        }
        plan->outputs[i] = outputs[i];
        plan->output_bits[i] = output_bits[i];
    }
    return 0;
}

void pg_reflex_clear_plans(pg_reflex_table *table) {
    for (int key = 0; key < PG_REFLEX_KEYS; key++) {
        table->plans[key].input = NULL;
        table->plans[key].count = 0;
    }
}

void pg_reflex_set_closed(pg_reflex_table *table, uint32_t output_bits) { table->closed = output_bits; }

uint32_t pg_reflex_take_opened(pg_reflex_table *table) {
    uint32_t opened = table->opened;
    table->opened = 0;
    return opened;
}

long pg_reflex_openings(pg_reflex_table *table) { return atomic_load_explicit(&table->openings, memory_order_acquire); }
long pg_reflex_releases(pg_reflex_table *table) { return atomic_load_explicit(&table->releases, memory_order_acquire); }

uint32_t pg_reflex_take_released(pg_reflex_table *table, int64_t opened_at_ns[PG_REFLEX_KEYS]) {
    uint32_t released = atomic_exchange_explicit(&table->released, 0, memory_order_acq_rel);
    for (int key = 0; key < PG_REFLEX_KEYS; key++)
        opened_at_ns[key] = (released & (1u << key))
            ? atomic_exchange_explicit(&table->opened_at_ns[key], -1, memory_order_relaxed) : -1;
    return released;
}

static void begin_wake(pg_reflex_table *table, int64_t now_ns) {
    atomic_store_explicit(&table->began_ns, now_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&table->begun, 1, memory_order_release);
}

void pg_reflex_end(pg_reflex_table *table) { atomic_fetch_add_explicit(&table->handled, 1, memory_order_release); }
uint64_t pg_reflex_begun(pg_reflex_table *table) { return atomic_load_explicit(&table->begun, memory_order_acquire); }
uint64_t pg_reflex_handled(pg_reflex_table *table) { return atomic_load_explicit(&table->handled, memory_order_acquire); }
int64_t pg_reflex_began_ns(pg_reflex_table *table) { return atomic_load_explicit(&table->began_ns, memory_order_acquire); }

// Under both locks: one key's reaction.
static void react_locked(pg_reflex_table *table, unsigned int key, pg_reflex_result *result) {
    pg_reflex_plan *plan = &table->plans[key];
    if (plan->input == NULL) {
        result->outcome = PG_REFLEX_NO_PLAN;
        return;
    }
    // Only the outputs applied closed: one open already is not written again.
    pg_request *closed[PG_REFLEX_OUTPUTS];
    uint32_t bits[PG_REFLEX_OUTPUTS];
    int errors[PG_REFLEX_OUTPUTS];
    size_t count = 0;
    for (size_t i = 0; i < plan->count; i++) {
        if (table->closed & plan->output_bits[i]) {
            closed[count] = plan->outputs[i];
            bits[count] = plan->output_bits[i];
            count++;
        }
    }
    int outcome = pg_release_react(plan->input, closed, count, errors);
    result->outcome = outcome;
    if (outcome == PG_REACT_UNREADABLE) {
        result->first_errno = errno;
        return;
    }
    if (outcome == PG_REACT_ASSERTED)
        return;
    uint32_t opened = 0;
    for (size_t i = 0; i < count; i++) {
        if (errors[i] == 0) {
            opened |= bits[i];
        } else {
            result->failed_bits |= bits[i];
            if (result->first_errno == 0) result->first_errno = errors[i];
        }
    }
    table->closed &= ~opened;
    table->opened |= opened;
    if (opened != 0) {
        // Counted even when another output failed: what did open must never be re-closed.
        atomic_store_explicit(&table->opened_at_ns[key], monotonic_ns(), memory_order_relaxed);
        atomic_fetch_add_explicit(&table->openings, 1, memory_order_release);
    }
    atomic_fetch_or_explicit(&table->released, 1u << key, memory_order_release);
    // Every release counts, even one that found nothing closed: a close decided before it (and
    // not written yet) must be vetoed all the same.
    atomic_fetch_add_explicit(&table->releases, 1, memory_order_release);
}

int pg_reflex_wait(pg_reflex_table *table, int epoll_fd, pg_reflex_result *results, int max, int timeout_ms) {
    if (table == NULL || results == NULL || max < 1) {
        errno = EINVAL;
        return -1;
    }
    struct epoll_event events[16];
    if (max > 16) max = 16;
    int ready = epoll_wait(epoll_fd, events, max, timeout_ms);
    if (ready <= 0) return ready;
    bool begun = false;
    for (int i = 0; i < ready; i++) {
        pg_reflex_result *result = &results[i];
        result->key = events[i].data.u64;
        result->outcome = PG_REFLEX_NO_PLAN;
        result->first_errno = 0;
        result->failed_bits = 0;
        if (result->key == UINT64_MAX) continue;  // the caller's wake pipe
        if (!begun) {
            begin_wake(table, monotonic_ns());
            begun = true;
        }
        if (result->key >= PG_REFLEX_KEYS) continue;
        // EDEADLK or EINVAL cannot happen with SignalLines' locks; then nothing is read or written,
        // and the caller's loop, which reads every edge itself, reacts.
        if (pthread_mutex_lock(table->outputs_lock) != 0) continue;
        if (pthread_mutex_lock(table->inputs_lock) != 0) {
            pthread_mutex_unlock(table->outputs_lock);
            continue;
        }
        react_locked(table, (unsigned int)result->key, result);
        pthread_mutex_unlock(table->inputs_lock);
        pthread_mutex_unlock(table->outputs_lock);
    }
    return ready;
}
