// What a table or namespace name may be. Names become directory names in the warehouse and
// identifiers in SQL, so each part is an identifier: a letter or '_' first, then letters,
// digits, '_' or '-'. This keeps '/', '..', spaces and control characters out of every path.
#pragma once

#include <string>

#include "common/status.h"

namespace sluice {

// InvalidInput naming `what` ("table", "namespace") and the name when it is not valid.
Status CheckNamePart(const std::string& name, const std::string& what);

// "taxi" -> "<default_namespace>.taxi"; "ns.taxi" stays. InvalidInput for an empty part, more
// than one dot, or a part that is not a valid name.
Result<std::string> QualifiedTableName(const std::string& name, const std::string& default_namespace);

}  // namespace sluice
