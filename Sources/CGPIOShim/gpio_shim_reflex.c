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
