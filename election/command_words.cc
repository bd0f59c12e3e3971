// See command_words.h.
#include "election/command_words.h"

namespace pgha::election {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::optional<std::vector<std::string>> split_command_words(std::string_view text, std::string* error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has begun (possibly empty, as '' makes one)
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\\') {
      if (i + 1 == text.size()) {
        *error = "no escaped character after the final backslash";
        return std::nullopt;
      }
      word += text[++i];
      in_word = true;
    } else if (c == '\'' || c == '"') {
      const std::size_t open = i;
      for (++i; i < text.size() && text[i] != c; ++i) {
        // In "...", a backslash escapes only '"' and '\'; elsewhere it is itself.
        if (c == '"' && text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) ++i;
        word += text[i];
      }
      if (i == text.size()) {
        *error = "no closing quotation for the " + std::string(c == '"' ? "\"" : "'") + " at offset " +
                 std::to_string(open);
        return std::nullopt;
      }
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace pgha::election
