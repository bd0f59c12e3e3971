// printable_excerpt(): bytes that came from outside (a server's reply, an etcd error body, a field
// of an HTTP request) made safe to put in a log line or a health detail: at most `max_bytes` of
// them, every byte that is not printable (NUL, ESC, CR, LF, bytes >= 0x7f) shown as '.', and "..."
// when cut: for details such as "HTTP: garbage reply \"SSH-2.0-OpenSSH\"". A pure function; safe
// from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgha {

std::string printable_excerpt(std::string_view bytes, std::size_t max_bytes = 24);

}  // namespace pgha
