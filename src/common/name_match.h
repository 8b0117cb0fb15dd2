// Sluice's one rule for resolving a name written by a user (a column, table, namespace or
// model) against the names that exist: an exact match wins; otherwise a unique
// case-insensitive match (DuckDB's behaviour); several case-insensitive matches are an
// error naming the candidates. A quoted name matches exactly. The stored case of a name is
// never changed: callers use the matched name, not the written one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice {

// ASCII case folding, as DuckDB folds identifiers.
std::string FoldCase(std::string_view name);
bool EqualsIgnoringCase(std::string_view a, std::string_view b);

// The index in `candidates` of the name `wanted` resolves to. `what` names the kind of
// thing in errors ("column", "table"). NotFound when nothing matches; InvalidInput naming
// every candidate when the case-insensitive match is ambiguous (and `wanted` is not quoted).
Result<size_t> MatchName(std::string_view wanted, const std::vector<std::string>& candidates, std::string_view what,
                         bool quoted = false);

// MatchName returning the matched (stored) name.
Result<std::string> ResolveName(std::string_view wanted, const std::vector<std::string>& candidates,
                                std::string_view what, bool quoted = false);

// A qualified table name "ns.table" among `qualified_names` (all "ns.table"): the namespace
// is resolved among the namespaces present, then the table among that namespace's tables,
// each by the rule above. Returns the stored "ns.table". NotFound when either part is
// missing; InvalidInput when either is ambiguous.
Result<std::string> ResolveQualifiedName(std::string_view wanted, const std::vector<std::string>& qualified_names);

}  // namespace sluice
