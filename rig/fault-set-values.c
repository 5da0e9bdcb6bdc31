// Fault injection for the rig (LD_PRELOAD): makes libgpiod writes to chosen line offsets fail, so
// that the shim's "attempt every line, report each failure" path runs against the real library
// and kernel. rig/run.sh compiles it on the host (the guest's root is read-only); the guest preloads
// it into `packguard rig set-lines` (rig/guest-gpio-versions.sh).
//
//   PG_FAULT_SET_OFFSETS="5:5,19:1"   offset:errno pairs; writes to those offsets fail with that errno
//   PG_FAULT_SET_OFFSETS="20:5:1"      offset:errno:value; only writes of that value fail (a relay that
//                                      cannot close but still opens)
//
// libgpiod v1: gpiod_line_set_value() is per line (the shim sets a request's lines one by one): a
// faulted offset fails, every other line goes through to the real function.
// libgpiod v2: gpiod_line_request_set_values_subset() sets a whole request in one ioctl: when it
// includes a faulted offset the whole call fails (as the kernel's ioctl fails as a whole), with the
// first faulted offset's errno.
// Both are defined here; a process only ever calls the one of the libgpiod it links.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

struct gpiod_line;
struct gpiod_line_request;

// The errno for a write of `value` to a faulted offset, or 0.
static int fault_for(unsigned int offset, int value) {
    const char *spec = getenv("PG_FAULT_SET_OFFSETS");
    while (spec != NULL && *spec != '\0') {
        char *end;
        unsigned long faulted = strtoul(spec, &end, 10);
        if (end == spec || *end != ':')
            return 0; // malformed: no fault (the rig's test then fails visibly)
        long code = strtol(end + 1, &end, 10);
        long only = -1;  // any value
        if (*end == ':')
            only = strtol(end + 1, &end, 10);
        if (faulted == offset && (only < 0 || only == (value != 0)))
            return (int)code;
        spec = *end == ',' ? end + 1 : NULL;
    }
    return 0;
}

int gpiod_line_set_value(struct gpiod_line *line, int value) {
    // Looked up, not linked: a v2 process has no gpiod_line_offset (and never calls this).
    unsigned int (*offset_of)(struct gpiod_line *) = (unsigned int (*)(struct gpiod_line *))dlsym(RTLD_DEFAULT, "gpiod_line_offset");
    if (offset_of == NULL) {
        errno = ENOSYS;
        return -1;
    }
    int code = fault_for(offset_of(line), value);
    if (code != 0) {
        errno = code;
        return -1;
    }
    int (*real)(struct gpiod_line *, int) = (int (*)(struct gpiod_line *, int))dlsym(RTLD_NEXT, "gpiod_line_set_value");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(line, value);
}

int gpiod_line_request_set_values_subset(struct gpiod_line_request *request, size_t num_values,
                                         const unsigned int *offsets, const int *values) {
    for (size_t i = 0; i < num_values; i++) {
        int code = fault_for(offsets[i], values[i]);
        if (code != 0) {
            errno = code;
            return -1;
        }
    }
    int (*real)(struct gpiod_line_request *, size_t, const unsigned int *, const int *) =
        (int (*)(struct gpiod_line_request *, size_t, const unsigned int *, const int *))dlsym(
            RTLD_NEXT, "gpiod_line_request_set_values_subset");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(request, num_values, offsets, values);
}
