#include "plan/plan.h"

#include <charconv>
#include <iomanip>
#include <set>
#include <sstream>

#include "catalog/table_name.h"
#include "common/name_match.h"
#include "project/sql_analysis.h"

namespace sluice {
namespace {

std::string Describe(const ModelSpec& model) {
  return "model '" + model.name + "' (" + model.location.ToString() + ")";
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Result<std::map<std::string, ParameterValue>> EffectiveParameters(const Project& project, const PlanOptions& options) {
  std::map<std::string, ParameterValue> values;
  std::map<std::string, const ParameterSpec*> specs;
  for (const auto& spec : project.file.parameters) {
    specs[spec.name] = &spec;
    if (spec.default_value) values[spec.name] = *spec.default_value;
  }
  for (const auto& [name, text] : options.cli_params) {
    auto it = specs.find(name);
    if (it == specs.end()) {
      std::vector<std::string> known;
      for (const auto& [k, _] : specs) known.push_back(k);
      return WithHint(
          InvalidInput("unknown parameter '", name, "' (--param ", name, "=", text, ")"),
          known.empty() ? "the project file defines no parameters" : "the project file defines: " + JoinNames(known));
    }
    SLUICE_ASSIGN_OR_RAISE(values[name], ParseParameterValue(*it->second, text));
  }
  for (const auto& spec : project.file.parameters) {
    if (spec.required && !values.count(spec.name)) {
      return WithHint(InvalidInput("parameter '", spec.name, "' is required and has no value"),
                      "pass it with --param " + spec.name + "=<value>");
    }
  }
  return values;
}

// A cycle among the nodes not yet ordered, as "'a' (f:1) -> 'b' (f:2) -> 'a'".
std::string FindCycle(const std::vector<PlanNode>& nodes, const std::vector<bool>& placed) {
  size_t start = 0;
  while (start < nodes.size() && placed[start]) ++start;
  std::vector<size_t> path;
  std::vector<int> position(nodes.size(), -1);
  size_t current = start;
  while (position[current] < 0) {
    position[current] = static_cast<int>(path.size());
    path.push_back(current);
    for (size_t up : nodes[current].upstream) {
      if (!placed[up]) {
        current = up;
        break;
      }
    }
  }
  std::string out;
  for (size_t i = position[current]; i < path.size(); ++i) {
    out += "'" + nodes[path[i]].model.name + "' (" + nodes[path[i]].model.location.ToString() + ") <- ";
  }
  return out + "'" + nodes[current].model.name + "'";
}

}  // namespace

std::string ToSqlLiteral(const ParameterValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) {
    std::string out = "'";
    for (char c : *text) {
      out += c;
      if (c == '\'') out += '\'';
    }
    return out + "'";
  }
  if (const auto* number = std::get_if<int64_t>(&value)) return std::to_string(*number);
  if (const auto* flag = std::get_if<bool>(&value)) return *flag ? "TRUE" : "FALSE";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), std::get<double>(value));
  std::string out(buffer, result.ptr);
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

Result<Plan> BuildPlan(const Project& project, const PlanOptions& options) {
  Plan plan;
  plan.namespace_name = options.namespace_name.empty() ? project.file.namespace_name : options.namespace_name;
  SLUICE_ASSIGN_OR_RAISE(plan.parameters, EffectiveParameters(project, options));
  auto literal = [&](const std::string& name, std::string* out) {
    auto it = plan.parameters.find(name);
    if (it == plan.parameters.end()) return false;
    *out = ToSqlLiteral(it->second);
    return true;
  };
  auto table_exists = [&](const std::string& table) {
    return options.table_exists ? options.table_exists(table) : false;
  };

  auto resolve_table = [&](const std::string& table) -> Result<std::string> {
    if (options.resolve_table) return options.resolve_table(table);
    if (table_exists(table)) return table;
    return NotFound("table '", table, "' does not exist");
  };
  std::vector<std::string> model_names;
  for (const auto& model : project.models) model_names.push_back(model.name);

  std::vector<PlanNode> nodes(project.models.size());
  for (size_t i = 0; i < project.models.size(); ++i) {
    const ModelSpec& model = project.models[i];
    PlanNode& node = nodes[i];
    node.model = model;
    for (const auto& input : model.inputs) {
      ResolvedInput resolved;
      resolved.input = input;
      // A model of the project, else a table, each by the name rule (common/name_match.h).
      auto model_match = MatchName(input.name, model_names, "model");
      if (!model_match.ok() && KindOf(model_match.status()) != ErrorKind::kNotFound) {
        return WithContext(model_match.status(), Describe(model) + ": input '" + input.name + "'");
      }
      std::string qualified =
          input.name.find('.') == std::string::npos ? plan.namespace_name + "." + input.name : input.name;
      bool exact_model = model_match.ok() && project.models[*model_match].name == input.name;
      Result<std::string> table = exact_model ? Result<std::string>(NotFound("")) : resolve_table(qualified);
      if (!table.ok() && KindOf(table.status()) != ErrorKind::kNotFound && !model_match.ok()) {
        return WithContext(table.status(), Describe(model) + ": input '" + input.name + "'");
      }
      // Exact names first (a model, then a table), then case-insensitive ones in that order.
      bool exact_table = table.ok() && *table == qualified;
      if (model_match.ok() && !exact_table) {
        size_t upstream = *model_match;
        resolved.source = InputSource::kModel;
        resolved.source_name = project.models[upstream].name;
        if (std::find(node.upstream.begin(), node.upstream.end(), upstream) == node.upstream.end()) {
          node.upstream.push_back(upstream);
        }
      } else if (table.ok()) {
        resolved.source = InputSource::kTable;
        resolved.source_name = *table;
      } else {
        return WithHint(NotFound(Describe(model), ": input '", input.name, "' (", input.location.ToString(),
                                 ") is neither a model of the project nor a table '", qualified, "' at the ref"),
                        "list the tables with: sluice table ls");
      }
      if (!input.filter.empty()) {
        SLUICE_ASSIGN_OR_RAISE(resolved.filter,
                               WithContext(SubstituteParameters(input.filter, literal),
                                           Describe(model) + ": filter of input '" + input.name + "'"));
      }
      node.inputs.push_back(std::move(resolved));
    }
    if (!model.overwrite_filter.empty()) {
      SLUICE_ASSIGN_OR_RAISE(node.overwrite_filter, WithContext(SubstituteParameters(model.overwrite_filter, literal),
                                                                Describe(model) + ": overwrite_filter"));
    }
    if (model.kind == ModelKind::kSql) {
      SLUICE_ASSIGN_OR_RAISE(node.sql, WithContext(SubstituteParameters(model.sql, literal), Describe(model)));
    }
    for (const auto& [argument, parameter] : model.parameters) {
      auto it = plan.parameters.find(parameter);
      if (it == plan.parameters.end()) {
        return WithHint(InvalidInput(Describe(model), ": Parameter('", parameter,
                                     "') has no value: the project file does not define it"),
                        "add it under parameters: in bauplan_project.yml");
      }
      node.arguments[argument] = it->second;
    }
    if (model.kind != ModelKind::kExpectation && model.materialization != Materialization::kNone) {
      // `name="ns.table"` puts the output in namespace `ns`; a bare name goes to the run's.
      SLUICE_ASSIGN_OR_RAISE(node.output_table,
                             WithContext(QualifiedTableName(model.name, plan.namespace_name), Describe(model)));
    }
  }

  // Topological order, stable in project order (Kahn).
  std::vector<bool> placed(nodes.size(), false);
  std::vector<size_t> order;
  while (order.size() < nodes.size()) {
    bool progress = false;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (placed[i]) continue;
      bool ready =
          std::all_of(nodes[i].upstream.begin(), nodes[i].upstream.end(), [&](size_t up) { return placed[up]; });
      if (!ready) continue;
      placed[i] = true;
      order.push_back(i);
      progress = true;
      break;  // the earliest ready model in project order goes first
    }
    if (!progress) {
      return WithHint(InvalidInput("cycle between models: ", FindCycle(nodes, placed)),
                      "a model cannot read its own output, directly or through others");
    }
  }
  std::vector<size_t> new_index(nodes.size());
  for (size_t k = 0; k < order.size(); ++k) new_index[order[k]] = k;
  for (size_t k = 0; k < order.size(); ++k) {
    PlanNode node = nodes[order[k]];
    for (auto& up : node.upstream) up = new_index[up];
    plan.nodes.push_back(std::move(node));
  }
  for (size_t k = 0; k < plan.nodes.size(); ++k) {
    for (size_t up : plan.nodes[k].upstream) plan.nodes[up].downstream.push_back(k);
  }
  return plan;
}

std::string Plan::ToText() const {
  size_t width = 8;
  for (const auto& node : nodes) width = std::max(width, node.model.name.size());
  std::ostringstream out;
  for (const auto& node : nodes) {
    std::vector<std::string> inputs;
    for (const auto& input : node.inputs) inputs.push_back(input.source_name);
    out << "  " << std::left << std::setw(static_cast<int>(width) + 2) << node.model.name << std::setw(13)
        << ModelKindName(node.model.kind) << std::setw(24) << node.model.location.ToString() << "<- "
        << JoinNames(inputs);
    if (!node.output_table.empty()) out << "  -> " << node.output_table;
    out << "\n";
  }
  return out.str();
}

}  // namespace sluice
