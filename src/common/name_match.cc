#include "common/name_match.h"

#include <algorithm>
#include <cctype>

namespace sluice {
namespace {

std::string QuoteList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out;
}

}  // namespace

std::string FoldCase(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

Result<size_t> MatchName(std::string_view wanted, const std::vector<std::string>& candidates, std::string_view what,
                         bool quoted) {
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i] == wanted) return i;
  }
  if (quoted) return NotFound(what, " \"", wanted, "\" does not exist (quoted names match exactly)");
  std::vector<size_t> matches;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (EqualsIgnoringCase(candidates[i], wanted)) matches.push_back(i);
  }
  if (matches.empty()) return NotFound(what, " '", wanted, "' does not exist");
  if (matches.size() > 1) {
    std::vector<std::string> names;
    for (size_t i : matches) names.push_back(candidates[i]);
    return InvalidInput(what, " '", wanted, "' is ambiguous: it matches ", QuoteList(names),
                        " ignoring case; write one of them exactly");
  }
  return matches[0];
}

Result<std::string> ResolveName(std::string_view wanted, const std::vector<std::string>& candidates,
                                std::string_view what, bool quoted) {
  SLUICE_ASSIGN_OR_RAISE(size_t index, MatchName(wanted, candidates, what, quoted));
  return candidates[index];
}

Result<std::string> ResolveQualifiedName(std::string_view wanted, const std::vector<std::string>& qualified_names) {
  auto dot = wanted.find('.');
  if (dot == std::string_view::npos) {
    return InvalidInput("table name '", wanted, "' has no namespace");
  }
  std::vector<std::string> namespaces;
  for (const auto& name : qualified_names) {
    std::string ns = name.substr(0, name.find('.'));
    if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) namespaces.push_back(ns);
  }
  auto ns = ResolveName(wanted.substr(0, dot), namespaces, "namespace");
  if (!ns.ok()) {
    if (KindOf(ns.status()) == ErrorKind::kNotFound) return NotFound("table '", wanted, "' does not exist");
    return ns.status();
  }
  std::vector<std::string> tables;
  for (const auto& name : qualified_names) {
    if (name.size() > ns->size() && name.compare(0, ns->size(), *ns) == 0 && name[ns->size()] == '.') {
      tables.push_back(name.substr(ns->size() + 1));
    }
  }
  auto table = ResolveName(wanted.substr(dot + 1), tables, "table");
  if (!table.ok()) {
    if (KindOf(table.status()) == ErrorKind::kNotFound) return NotFound("table '", wanted, "' does not exist");
    return WithContext(table.status(), "namespace '" + *ns + "'");
  }
  return *ns + "." + *table;
}

}  // namespace sluice
