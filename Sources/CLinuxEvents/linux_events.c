#include "linux_events.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

int pg_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int pg_epoll_watch(int epfd, int fd, uint64_t key, bool edge_triggered) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN | (edge_triggered ? EPOLLET : 0);
    event.data.u64 = key;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int pg_epoll_unwatch(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int pg_epoll_wait(int epfd, uint64_t *keys, int max, int timeout_ms) {
    struct epoll_event events[16];
    if (keys == NULL || max < 1) {
        errno = EINVAL;
        return -1;
    }
    if (max > 16)
        max = 16;
    int ready = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < ready; i++)
        keys[i] = events[i].data.u64;
    return ready;
}
