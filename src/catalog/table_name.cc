#include "catalog/table_name.h"

namespace sluice {

Status CheckNamePart(const std::string& name, const std::string& what) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  bool ok = !name.empty() && name.size() <= 255 && letter(name[0]);
  for (char c : name) ok = ok && (letter(c) || (c >= '0' && c <= '9') || c == '-');
  if (ok) return Status::OK();
  return WithHint(InvalidInput("invalid ", what, " name '", name, "'"),
                  "a name starts with a letter or '_' and has only letters, digits, '_' and '-'");
}

Result<std::string> QualifiedTableName(const std::string& name, const std::string& default_namespace) {
  auto dot = name.find('.');
  if (dot == std::string::npos) {
    SLUICE_RETURN_NOT_OK(CheckNamePart(name, "table"));
    SLUICE_RETURN_NOT_OK(CheckNamePart(default_namespace, "namespace"));
    return default_namespace + "." + name;
  }
  if (name.find('.', dot + 1) != std::string::npos) {
    return WithHint(InvalidInput("invalid table name '", name, "': expected 'table' or 'namespace.table'"),
                    "a name starts with a letter or '_' and has only letters, digits, '_' and '-'");
  }
  SLUICE_RETURN_NOT_OK(CheckNamePart(name.substr(0, dot), "namespace"));
  SLUICE_RETURN_NOT_OK(CheckNamePart(name.substr(dot + 1), "table"));
  return name;
}

}  // namespace sluice
