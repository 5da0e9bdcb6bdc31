#define _GNU_SOURCE
#include "linux_events.h"

#include <pthread.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

int pg_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int pg_epoll_watch(int epfd, int fd, uint64_t key, bool edge_triggered) {
    return pg_epoll_watch_events(epfd, fd, key, EPOLLIN | (edge_triggered ? EPOLLET : 0));
}

int pg_epoll_unwatch(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int pg_epoll_watch_events(int epfd, int fd, uint64_t key, uint32_t events) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.u64 = key;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int pg_epoll_wait_events(int epfd, uint64_t *keys, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ready[64];
    if (keys == NULL || events == NULL || max < 1) {
        errno = EINVAL;
        return -1;
    }
    if (max > 64)
        max = 64;
    int count = epoll_wait(epfd, ready, max, timeout_ms);
    for (int i = 0; i < count; i++) {
        keys[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

int pg_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
