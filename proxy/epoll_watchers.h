// epoll_sets_watching(): which of this process's epoll descriptors have a given open file in
// their interest list, read from /proc/self/fdinfo (each epoll descriptor lists its targets as
// "tfd: N ... ino:HEX" lines). EdgePoller uses it to find the epoll descriptor of an io_context's
// reactor through public means: it registers a probe descriptor with the io_context and looks
// for the one epoll set that lists it.
// Thread-safety: free functions; descriptors opened or closed meanwhile by other threads can only
// make a scan miss a set or list one whose number was reused, which the inode check rejects.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

namespace pgha::proxy {

// True when an epoll descriptor's fdinfo text lists target descriptor `fd` with inode `ino` (the
// inode tells a reused descriptor number apart; a pipe has one of its own, an eventfd does not).
bool fdinfo_lists_target(std::string_view fdinfo, int fd, ino_t ino);

// The epoll descriptors of this process whose interest list holds `fd` (the same open file:
// number and inode). Empty when there is none or /proc is not readable.
std::vector<int> epoll_sets_watching(int fd);

}  // namespace pgha::proxy
