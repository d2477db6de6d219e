// Tensor rules: "PATTERN=FORMAT" / "PATTERN=keep", with glob or "re:" regular-expression patterns.

#include <qlinear/error.hpp>
#include <qlinear/model.hpp>

#include <regex>
#include <string>

namespace qlinear {
namespace {

constexpr std::string_view kRegexPrefix = "re:";

// Does the set starting at pattern[i] (just after '[') contain c? Sets i past the closing ']'.
bool match_set(std::string_view pattern, std::size_t& i, char c) {
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  while (i < pattern.size() && (first || pattern[i] != ']')) {
    first = false;
    char lo = pattern[i++];
    char hi = lo;
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      hi = pattern[i + 1];
      i += 2;
    }
    if (lo <= c && c <= hi) found = true;
  }
  if (i >= pattern.size()) {
    throw Error(ErrorCode::invalid_argument, "pattern '" + std::string(pattern) + "': '[' without ']'");
  }
  ++i;  // the ']'
  return found != negate;
}

// Glob match of the whole name. '*' backtracks to the last star only, which is enough for globs
// (a later star can absorb whatever an earlier one would have), so the match is linear-ish.
bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = ++p;
        star_n = n;
        continue;
      }
      if (pc == '?') {
        ++p, ++n;
        continue;
      }
      if (pc == '[') {
        std::size_t q = p + 1;
        if (match_set(pattern, q, name[n])) {
          p = q, ++n;
          continue;
        }
      } else {
        const bool escaped = pc == '\\' && p + 1 < pattern.size();
        const char literal = escaped ? pattern[p + 1] : pc;
        if (literal == name[n]) {
          p += escaped ? 2 : 1, ++n;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Every '[' of a glob must close; found at parse time instead of on some later tensor name.
void check_glob(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
    } else if (pattern[i] == '[') {
      std::size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is a member
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j == pattern.size()) {
        throw Error(ErrorCode::invalid_argument, "pattern '" + std::string(pattern) + "': '[' without ']'");
      }
      i = j;
    }
  }
}

}  // namespace

TensorRule TensorRule::parse(std::string_view spec) {
  const std::size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    throw Error(ErrorCode::invalid_argument,
                "rule '" + std::string(spec) + "' is not PATTERN=FORMAT or PATTERN=keep");
  }
  TensorRule rule;
  rule.pattern = std::string(spec.substr(0, eq));
  const std::string_view target = spec.substr(eq + 1);
  if (target != "keep") rule.format = parse_format(target);
  // Reject a malformed pattern now rather than on the first tensor name.
  if (std::string_view(rule.pattern).starts_with(kRegexPrefix)) {
    rule.matches("");
  } else {
    check_glob(rule.pattern);
  }
  return rule;
}

bool TensorRule::matches(std::string_view name) const {
  if (std::string_view(pattern).starts_with(kRegexPrefix)) {
    try {
      const std::regex re(pattern.substr(kRegexPrefix.size()), std::regex::ECMAScript);
      return std::regex_match(name.begin(), name.end(), re);
    } catch (const std::regex_error& e) {
      throw Error(ErrorCode::invalid_argument,
                  "rule pattern '" + pattern + "' is not a valid regular expression: " + e.what());
    }
  }
  return glob_match(pattern, name);
}

}  // namespace qlinear
