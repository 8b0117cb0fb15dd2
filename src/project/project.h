// A Sluice (bauplan-compatible) project on disk: the project file, the Python models found
// statically in its top-level .py files, and the SQL models of its .sql files. Loading runs
// no user code: Python files are read with Python's `ast` module (python/sluice/_discover.py).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "project/sql_analysis.h"

namespace sluice {

// A typed parameter value: str and secret -> string, int -> int64_t, float -> double,
// bool -> bool.
using ParameterValue = std::variant<std::string, int64_t, double, bool>;

struct SourceLocation {
  std::string file;              // relative to the project directory, e.g. "models.py"
  int line = 0;                  // 1-based; 0 = the whole file
  std::string ToString() const;  // "models.py:12" or "models.py"
};

struct ParameterSpec {
  std::string name;
  std::string type = "str";  // str, int, float, bool, secret
  std::optional<ParameterValue> default_value;
  bool required = false;
  std::string description;
};

// Parses `text` as a value of `type`; InvalidInput names the parameter and the type.
Result<ParameterValue> ParseParameterValue(const ParameterSpec& spec, const std::string& text);

struct ProjectFile {
  std::string path;  // absolute path of bauplan_project.yml
  std::string id, name;
  std::string python_version;                   // defaults.python.version, e.g. "3.11"
  std::map<std::string, std::string> packages;  // defaults.python.packages
  std::string namespace_name = "bauplan";
  double timeout_seconds = 0;  // defaults.timeout; 0 = none
  std::vector<ParameterSpec> parameters;
  std::vector<std::string> include_paths;
};

// One input edge of a model, as declared.
struct ModelInput {
  std::string name;                  // model or table name as written ("taxi_trips", "ns.t")
  std::string param_name;            // Python parameter; SQL: the name as written
  std::vector<std::string> columns;  // empty = all
  std::string filter;                // raw SQL predicate, may contain $params
  std::string ref;                   // Model(..., ref=...) when given
  SourceLocation location;
};

enum class ModelKind { kPython, kSql, kExpectation };

// How a model's output becomes a table (bauplan's materialization_strategy).
enum class Materialization {
  kNone,                 // not written
  kReplace,              // a new snapshot with only the output (the table keeps its history)
  kAppend,               // the output's rows added to the table's
  kOverwritePartitions,  // the partitions the output touches (or overwrite_filter's rows) replaced
};

// "NONE", "REPLACE", "APPEND" or "OVERWRITE_PARTITIONS".
std::string MaterializationName(Materialization materialization);

// A strategy as bauplan accepts it, in any case ("replace", "Overwrite_Partitions");
// InvalidInput quoting `text` and listing the four otherwise.
Result<Materialization> ParseMaterialization(const std::string& text);

// "python", "sql" or "expectation".
std::string ModelKindName(ModelKind kind);

struct ModelSpec {
  std::string name;
  ModelKind kind = ModelKind::kPython;
  SourceLocation location;    // the def line (Python) or the file (SQL)
  std::string function_name;  // Python
  std::string sql;            // SQL text with headers, $params unsubstituted
  SqlAnalysis sql_analysis;   // SQL: what the statement reads (DuckDB's parser)
  std::vector<ModelInput> inputs;
  // Python parameter name -> project parameter name, from bauplan.Parameter("name").
  std::map<std::string, std::string> parameters;
  std::vector<std::string> output_columns;  // model(columns=...); empty or ["*"] = any
  Materialization materialization = Materialization::kNone;
  // Partition fields as written ("day(tpep_pickup_datetime)", "bucket(8, PULocationID)"); an
  // item may hold several separated by commas. Used when the model creates its table.
  std::vector<std::string> partitioned_by;
  // OVERWRITE_PARTITIONS: the SQL predicate (with $params) selecting the rows the output
  // replaces; empty: the partitions the output touches.
  std::string overwrite_filter;
  std::string python_version;  // python("3.11"); empty = project default
  std::map<std::string, std::string> pip;
  std::map<std::string, std::string> resources;  // cpus, memory, timeout, ... as text
  bool internet_access = false;
};

struct Project {
  std::string dir;  // absolute
  ProjectFile file;
  std::vector<ModelSpec> models;  // in file order: .py files sorted, then .sql sorted
};

// The project file of `dir` (absolute path): bauplan_project.yml or .yaml (sluice_project.*
// also accepted). NotFound when there is none, InvalidInput when there are two.
Result<std::string> FindProjectFile(const std::string& dir);

// A parameter type as written ("String", "integer", "BOOL") in its canonical spelling: str,
// int, float, bool or secret; anything else is returned lower-cased, for the caller to refuse.
std::string CanonicalParameterType(std::string type);

// Loads the project in `dir` using `python` (with `package_dir` on PYTHONPATH) to parse the
// Python files. Errors name the file and line: a missing or duplicate project file, bad YAML,
// a Python syntax error, a model defined twice (both places), an unknown decorator argument
// value, a bad `-- bauplan:` header or an unparsable SQL file.
Result<Project> LoadProject(const std::string& dir, const std::string& python, const std::string& package_dir);

}  // namespace sluice
