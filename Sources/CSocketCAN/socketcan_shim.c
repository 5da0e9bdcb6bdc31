#include "socketcan_shim.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int pg_can_open(const char *ifname, const pg_can_filter *filters, int count, const char **failed_step) {
    int fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) { *failed_step = "socket(PF_CAN, SOCK_RAW, CAN_RAW)"; return -1; }
    int saved;
    struct can_filter *kernel = calloc(count > 0 ? (size_t)count : 1, sizeof *kernel);
    if (!kernel) { saved = ENOMEM; *failed_step = "calloc"; goto fail; }
    for (int i = 0; i < count; i++) {
        if (filters[i].extended) {
            kernel[i].can_id = (filters[i].id & CAN_EFF_MASK) | CAN_EFF_FLAG;
            kernel[i].can_mask = CAN_EFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG;
        } else {
            kernel[i].can_id = filters[i].id & CAN_SFF_MASK;
            kernel[i].can_mask = CAN_SFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG;
        }
    }
    // No filter at all would mean "everything": with nothing configured, receive nothing.
    int rc = setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, kernel, (socklen_t)(count * (int)sizeof *kernel));
    free(kernel);
    if (rc != 0) { saved = errno; *failed_step = "setsockopt(CAN_RAW_FILTER)"; goto fail; }
    int off = 0;
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &off, sizeof off) != 0) {
        saved = errno; *failed_step = "setsockopt(CAN_RAW_RECV_OWN_MSGS)"; goto fail;
    }
    can_err_mask_t no_errors = 0;
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &no_errors, sizeof no_errors) != 0) {
        saved = errno; *failed_step = "setsockopt(CAN_RAW_ERR_FILTER)"; goto fail;
    }
    unsigned int index = if_nametoindex(ifname);
    if (index == 0) { saved = errno; *failed_step = "if_nametoindex"; goto fail; }
    struct sockaddr_can address;
    memset(&address, 0, sizeof address);
    address.can_family = AF_CAN;
    address.can_ifindex = (int)index;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) { saved = errno; *failed_step = "bind"; goto fail; }
    return fd;
fail:
    close(fd);
    errno = saved;
    return -1;
}

int pg_can_read(int fd, uint32_t *id, int *extended, int *length, uint8_t *data) {
    struct can_frame frame;
    ssize_t n = read(fd, &frame, sizeof frame);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    if ((size_t)n != sizeof frame) return 2;  // CAN FD frames are larger; CAN_RAW_FD_FRAMES is off
    if (frame.can_id & (CAN_RTR_FLAG | CAN_ERR_FLAG)) return 2;
    *extended = (frame.can_id & CAN_EFF_FLAG) != 0;
    *id = frame.can_id & (*extended ? CAN_EFF_MASK : CAN_SFF_MASK);
    *length = frame.len > 8 ? 8 : frame.len;
    memcpy(data, frame.data, 8);
    return 1;
}

int pg_can_close(int fd) { return close(fd); }
