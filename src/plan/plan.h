// The logical plan of a run: the models of a project ordered as a DAG, each input resolved
// to a model of the project or a table of the lake, parameters typed and substituted.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "project/project.h"

namespace sluice {

struct PlanOptions {
  std::string namespace_name;                     // empty: the project's namespace
  std::map<std::string, std::string> cli_params;  // --param name=value
  // Whether a qualified table ("ns.table") exists at the ref the run reads.
  std::function<bool(const std::string&)> table_exists;
  // The stored name of a qualified table by the name rule (common/name_match.h): NotFound
  // when there is none, InvalidInput when ambiguous. When set, used instead of table_exists.
  std::function<Result<std::string>(const std::string&)> resolve_table;
};

enum class InputSource { kModel, kTable };

struct ResolvedInput {
  ModelInput input;  // as declared
  InputSource source = InputSource::kTable;
  std::string source_name;  // model name, or qualified table "ns.table"
  std::string filter;       // input.filter with $params substituted as SQL literals
};

struct PlanNode {
  ModelSpec model;
  std::vector<ResolvedInput> inputs;
  std::vector<size_t> upstream;  // indices of nodes whose outputs this node reads
  std::vector<size_t> downstream;
  std::string sql;                                  // SQL models: text with $params substituted
  std::map<std::string, ParameterValue> arguments;  // Python Parameter arguments, typed
  std::string overwrite_filter;                     // OVERWRITE_PARTITIONS: the model's, $params substituted
  std::string output_table;                         // "ns.model" when materialized; empty for NONE
};

struct Plan {
  std::vector<PlanNode> nodes;                       // topologically sorted, ties in project order
  std::map<std::string, ParameterValue> parameters;  // effective values
  std::string namespace_name;
  // The DAG for people: one line per model, "name (kind, file:line) <- inputs -> table".
  std::string ToText() const;
};

// Resolves inputs (a model of the project first, then a table of the namespace, then
// "ns.table"), checks parameters, and orders the DAG. Errors name the model, its file and
// line: a missing input, a cycle (listing its models), an unknown --param, a missing
// required parameter, a bad parameter value, a self-reference.
Result<Plan> BuildPlan(const Project& project, const PlanOptions& options);

// A parameter value as an SQL literal: 'it''s', 12, 1.5, TRUE.
std::string ToSqlLiteral(const ParameterValue& value);

}  // namespace sluice
