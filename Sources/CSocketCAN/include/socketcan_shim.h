#ifndef PACKGUARD_SOCKETCAN_SHIM_H
#define PACKGUARD_SOCKETCAN_SHIM_H
#include <stdint.h>

/// One identifier the kernel lets through (exact match, standard or extended).
typedef struct {
    uint32_t id;
    int extended;
} pg_can_filter;

/// Opens a CAN_RAW socket bound to `ifname`, receive-only: the given filters, own messages not
/// received, error frames not requested, non-blocking, close-on-exec. Returns the fd, or -1 with
/// errno set and *failed_step naming the call that failed (a static string).
int pg_can_open(const char *ifname, const pg_can_filter *filters, int count, const char **failed_step);

/// Reads one frame: 1 with id (flag bits stripped), *extended, *length and data[8]; 0 when none
/// is waiting; 2 for a frame that is not classic CAN data (remote, error, or CAN FD) that was
/// consumed; -1 with errno.
int pg_can_read(int fd, uint32_t *id, int *extended, int *length, uint8_t *data);

int pg_can_close(int fd);

#endif
