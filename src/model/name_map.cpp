#include <fmt/format.h>

#include <regex>

#include "core/io.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {

NameMap NameMap::from_json_file(const std::string& path) {
  json j;
  try {
    j = json::parse(read_text_file(path, uint64_t{16} << 20));
  } catch (const json::parse_error& e) {
    fail(ErrorKind::Usage, fmt::format("--map: not valid JSON (byte {})", e.byte), path);
  }
  if (!j.is_object()) fail(ErrorKind::Usage, "--map: expected an object with \"exact\" and/or \"regex\"", path);
  NameMap m;
  for (const auto& [key, value] : j.items()) {
    if (key == "exact") {
      if (!value.is_object()) fail(ErrorKind::Usage, "--map: \"exact\" must be an object of name -> name", path);
      for (const auto& [from, to] : value.items()) {
        if (!to.is_string()) fail(ErrorKind::Usage, "--map: exact rule for '" + from + "' is not a string", path);
        m.exact_.emplace_back(from, to.get<std::string>());
      }
    } else if (key == "regex") {
      if (!value.is_array()) fail(ErrorKind::Usage, "--map: \"regex\" must be a list of [pattern, replacement]", path);
      for (const auto& rule : value) {
        if (!rule.is_array() || rule.size() != 2 || !rule[0].is_string() || !rule[1].is_string())
          fail(ErrorKind::Usage, "--map: regex rule " + rule.dump() + " is not [pattern, replacement]", path);
        try {
          std::regex check(rule[0].get<std::string>());
        } catch (const std::regex_error& e) {
          fail(ErrorKind::Usage, "--map: invalid regular expression '" + rule[0].get<std::string>() + "': " + e.what(), path);
        }
        m.patterns_.emplace_back(rule[0].get<std::string>(), rule[1].get<std::string>());
      }
    } else {
      fail(ErrorKind::Usage, "--map: unknown key '" + key + "' (expected \"exact\" or \"regex\")", path);
    }
  }
  m.exact_used_.assign(m.exact_.size(), false);
  m.pattern_used_.assign(m.patterns_.size(), false);
  return m;
}

std::string NameMap::apply(const std::string& name) const {
  for (size_t i = 0; i < exact_.size(); ++i)
    if (exact_[i].first == name) {
      exact_used_[i] = true;
      return exact_[i].second;
    }
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const std::regex re(patterns_[i].first);
    if (std::regex_match(name, re)) {
      pattern_used_[i] = true;
      return std::regex_replace(name, re, patterns_[i].second);
    }
  }
  return name;
}

std::vector<std::string> NameMap::unused_rules() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < exact_.size(); ++i)
    if (!exact_used_[i]) out.push_back("exact \"" + exact_[i].first + "\"");
  for (size_t i = 0; i < patterns_.size(); ++i)
    if (!pattern_used_[i]) out.push_back("regex \"" + patterns_[i].first + "\"");
  return out;
}

}  // namespace wb
