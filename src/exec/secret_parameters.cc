#include "exec/secret_parameters.h"

#include "project/sql_analysis.h"

namespace sluice {

Result<SecretParameters> SecretParameters::Make(const Project& project, const Plan& plan) {
  SecretParameters out;
  for (const auto& spec : project.file.parameters) {
    if (spec.type != "secret") continue;
    auto it = plan.parameters.find(spec.name);
    if (it == plan.parameters.end()) continue;
    const auto* text = std::get_if<std::string>(&it->second);
    if (!text || !IsSealedSecret(*text)) continue;
    if (!out.box_) {
      auto box = SecretBox::Open(DefaultSecretKeyPath(), /*create=*/false);
      if (!box.ok()) return WithContext(box.status(), "secret parameter '" + spec.name + "'");
      out.box_ = std::move(*box);
    }
    SLUICE_RETURN_NOT_OK(out.box_->Unseal(spec.name, *text).status());
    out.sealed_.insert(spec.name);
  }
  if (!out.sealed_.empty()) out.parameters_ = plan.parameters;
  return out;
}

Result<nlohmann::json> SecretParameters::Arguments(const PlanNode& node) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [argument, value] : node.arguments) {
    out[argument] = std::visit([](const auto& v) { return nlohmann::json(v); }, value);
    auto parameter = node.model.parameters.find(argument);
    if (parameter == node.model.parameters.end() || !sealed_.count(parameter->second)) continue;
    SLUICE_ASSIGN_OR_RAISE(std::string clear, box_->Unseal(parameter->second, std::get<std::string>(value)));
    out[argument] = clear;
  }
  return out;
}

Result<std::string> SecretParameters::Sql(const PlanNode& node) const {
  if (node.model.kind != ModelKind::kSql || sealed_.empty()) return node.sql;
  Status opened;
  auto literal = [&](const std::string& name, std::string* out) {
    auto it = parameters_.find(name);
    if (it == parameters_.end()) return false;
    if (!sealed_.count(name)) {
      *out = ToSqlLiteral(it->second);
      return true;
    }
    auto clear = box_->Unseal(name, std::get<std::string>(it->second));
    if (!clear.ok()) {
      opened = clear.status();
      return false;
    }
    *out = ToSqlLiteral(ParameterValue(*clear));
    return true;
  };
  auto sql = SubstituteParameters(node.model.sql, literal);
  SLUICE_RETURN_NOT_OK(opened);
  return sql;
}

}  // namespace sluice
