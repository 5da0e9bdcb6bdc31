// epoll(7) for the off reflex's set-up and the control loop's wait, behind plain functions: Swift's Glibc module has no <sys/epoll.h>,
// and struct epoll_event is packed on x86_64, which Swift cannot lay out. Each returns -1 with
// errno set on failure, like the system calls they wrap.
#ifndef PACKGUARD_LINUX_EVENTS_H
#define PACKGUARD_LINUX_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

/// epoll_create1(EPOLL_CLOEXEC).
int pg_epoll_create(void);
/// Watches `fd` for input, reported with `key`; `edge_triggered`: once per new event (EPOLLET).
int pg_epoll_watch(int epfd, int fd, uint64_t key, bool edge_triggered);
/// Stops watching `fd`.
int pg_epoll_unwatch(int epfd, int fd);
// The reflex's wait itself is the GPIO shim's pg_reflex_wait, which reacts in C before it returns.

/// Watches `fd` for `events` (poll(2)'s POLLIN/POLLOUT bits, which epoll shares), level-triggered,
/// reported with `key`: the control loop's poll set, registered once.
int pg_epoll_watch_events(int epfd, int fd, uint64_t key, uint32_t events);
/// Waits up to `timeout_ms` (-1: forever) for up to `max` (at most 64) ready descriptors; stores
/// each one's key and its ready events (poll(2)'s revents bits). Returns how many.
int pg_epoll_wait_events(int epfd, uint64_t *keys, uint32_t *events, int max, int timeout_ms);

/// pthread_setname_np(3) for the calling thread (Swift's Glibc does not declare it): 0 or the errno
/// (ERANGE: over 15 characters).
int pg_set_thread_name(const char *name);

#endif
