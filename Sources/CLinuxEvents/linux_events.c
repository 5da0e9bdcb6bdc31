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
