// split_command_words(): a command line as Patroni splits its callbacks, pre_promote and
// before_stop (Python's shlex.split in POSIX mode): words separated by blanks (space, tab, CR,
// LF); '...' keeps everything literally; "..." keeps everything but a backslash before '"' or
// '\'; a backslash outside quotes keeps the next character literally; '' is an empty word; '#' is
// an ordinary character. No shell is involved: no variables, globs, pipes or redirections.
// Pure function; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgha::election {

// The words, or nullopt with `error` set ("no closing quotation", "no escaped character").
std::optional<std::vector<std::string>> split_command_words(std::string_view text, std::string* error);

}  // namespace pgha::election
