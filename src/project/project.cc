#include "project/project.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_util.h"
#include "common/subprocess.h"
#include "project/sql_analysis.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kProjectFileNames[] = {"bauplan_project.yml", "bauplan_project.yaml", "sluice_project.yml",
                                   "sluice_project.yaml"};

std::string Lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(const std::string& text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(start, end - start + 1);
}

std::string Unquote(std::string text) {
  text = Trim(text);
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front()) {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

std::string Scalar(const YAML::Node& node, const std::string& fallback = "") {
  if (!node || !node.IsScalar()) return fallback;
  return node.as<std::string>();
}

Result<ProjectFile> ParseProjectFile(const std::string& path) {
  ProjectFile out;
  out.path = path;
  std::string name = fs::path(path).filename().string();
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return InvalidInput(name, ":", e.mark.line + 1, ": invalid YAML: ", e.msg);
  }
  auto where = [&](const YAML::Node& node) { return name + ":" + std::to_string(node.Mark().line + 1); };
  try {
    if (root && !root.IsNull() && !root.IsMap()) return InvalidInput(name, ": expected a mapping at the top");
    if (auto project = root["project"]) {
      out.id = Scalar(project["id"]);
      out.name = Scalar(project["name"]);
    }
    if (out.name.empty()) out.name = fs::path(path).parent_path().filename().string();
    if (auto defaults = root["defaults"]) {
      if (auto python = defaults["python"]) {
        out.python_version = Scalar(python["version"]);
        if (auto packages = python["packages"]) {
          for (const auto& package : packages) {
            out.packages[Scalar(package["name"])] = Scalar(package["version"]);
          }
        }
      }
      out.namespace_name = Scalar(defaults["namespace"], out.namespace_name);
      std::string timeout = Scalar(defaults["timeout"]);
      if (!timeout.empty()) {
        try {
          out.timeout_seconds = std::stod(timeout);
        } catch (...) {
          return InvalidInput(where(defaults["timeout"]), ": timeout '", timeout, "' is not a number of seconds");
        }
      }
    }
    if (auto parameters = root["parameters"]) {
      if (!parameters.IsMap()) return InvalidInput(where(parameters), ": parameters must be a mapping");
      for (const auto& entry : parameters) {
        ParameterSpec spec;
        spec.name = entry.first.as<std::string>();
        const YAML::Node& body = entry.second;
        std::string default_text;
        bool has_default = false;
        if (body.IsMap()) {
          spec.type = Scalar(body["type"], "str");
          spec.required = Lower(Scalar(body["required"], "false")) == "true";
          spec.description = Scalar(body["description"]);
          if (body["default"] && !body["default"].IsNull()) {
            default_text = Scalar(body["default"]);
            has_default = true;
          }
        } else if (body.IsScalar()) {
          default_text = body.as<std::string>();
          has_default = true;
        }
        spec.type = CanonicalParameterType(spec.type);
        if (spec.type != "str" && spec.type != "int" && spec.type != "float" && spec.type != "bool" &&
            spec.type != "secret") {
          return InvalidInput(where(entry.first), ": parameter '", spec.name, "' has unknown type '", spec.type,
                              "' (use str, int, float, bool or secret)");
        }
        if (has_default) {
          SLUICE_ASSIGN_OR_RAISE(spec.default_value,
                                 WithContext(ParseParameterValue(spec, default_text), where(entry.first)));
        }
        out.parameters.push_back(std::move(spec));
      }
    }
    if (auto include = root["include_paths"]) {
      for (const auto& item : include) out.include_paths.push_back(item.as<std::string>());
    }
  } catch (const YAML::Exception& e) {
    return InvalidInput(name, ":", e.mark.line + 1, ": ", e.msg);
  }
  return out;
}

// `-- bauplan: key=value` header lines of an SQL model.
Status ApplySqlHeaders(const std::string& file, const std::string& sql, ModelSpec* model) {
  std::istringstream lines(sql);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::string trimmed = Trim(line);
    if (trimmed.rfind("--", 0) != 0) continue;
    std::string comment = Trim(trimmed.substr(2));
    if (comment.rfind("bauplan:", 0) != 0 && comment.rfind("sluice:", 0) != 0) continue;
    std::string setting = Trim(comment.substr(comment.find(':') + 1));
    auto eq = setting.find('=');
    if (eq == std::string::npos) {
      return InvalidInput(file, ":", number, ": expected '-- bauplan: key=value', got '", trimmed, "'");
    }
    std::string key = Lower(Trim(setting.substr(0, eq)));
    std::string value = Unquote(setting.substr(eq + 1));
    std::replace(key.begin(), key.end(), '-', '_');
    if (key == "materialization_strategy") {
      auto strategy = ParseMaterialization(value);
      if (!strategy.ok()) return InvalidInput(file, ":", number, ": ", strategy.status().message());
      model->materialization = *strategy;
    } else if (key == "name") {
      model->name = value;
    } else if (key == "partitioned_by") {
      // Kept whole: "day(at), bucket(8, zone)" has commas inside the transforms too.
      if (!Trim(value).empty()) model->partitioned_by.push_back(Trim(value));
    } else if (key == "overwrite_filter") {
      model->overwrite_filter = value;
    } else if (key == "cache_strategy") {
      // Accepted for compatibility; caching is decided by the engine.
    } else {
      return InvalidInput(
          file, ":", number, ": unknown setting '", key,
          "' (known: materialization_strategy, name, partitioned_by, overwrite_filter, cache_strategy)");
    }
  }
  return Status::OK();
}

// An SQL model read from its file with its headers applied; inputs come from its analysis.
Result<ModelSpec> ReadSqlModel(const std::string& dir, const std::string& file) {
  ModelSpec model;
  model.kind = ModelKind::kSql;
  model.location = {file, 0};
  model.name = fs::path(file).stem().string();
  SLUICE_ASSIGN_OR_RAISE(model.sql, ReadFile(dir + "/" + file));
  SLUICE_RETURN_NOT_OK(ApplySqlHeaders(file, model.sql, &model));
  return model;
}

// Takes the DuckDB parser's analysis of the model's SQL: its tables become its inputs. A
// syntax error names the file and line ("SQL model 'm' (m.sql:3): syntax error ...").
Status ApplySqlAnalysis(Result<SqlAnalysis> analysis, ModelSpec* model) {
  const std::string& file = model->location.file;
  if (!analysis.ok()) {
    std::string message = analysis.status().message();
    std::string where = file;
    if (message.rfind("line ", 0) == 0) {
      auto colon = message.find(": ");
      if (colon != std::string::npos) {
        where += ":" + message.substr(5, colon - 5);
        message = message.substr(colon + 2);
      }
    }
    return InvalidInput("SQL model '", model->name, "' (", where, "): ", message);
  }
  if (analysis->tables.empty()) {
    return InvalidInput("SQL model '", model->name, "' (", file, ") reads no table");
  }
  for (const auto& table : analysis->tables) {
    ModelInput input;
    input.name = table;
    input.param_name = table;
    input.location = model->location;
    model->inputs.push_back(std::move(input));
  }
  model->sql_analysis = std::move(*analysis);
  return Status::OK();
}

Result<std::vector<ModelSpec>> DiscoverPythonModels(const std::string& dir, const std::vector<std::string>& files,
                                                    const std::string& python, const std::string& package_dir) {
  std::vector<ModelSpec> models;
  if (files.empty()) return models;
  SubprocessOptions options;
  options.argv = {python, "-m", "sluice._discover", dir};
  options.argv.insert(options.argv.end(), files.begin(), files.end());
  options.env["PYTHONPATH"] = package_dir;
  options.env["PYTHONDONTWRITEBYTECODE"] = "1";
  options.cwd = dir;
  options.timeout_seconds = 120;
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult result,
                         WithContext(RunSubprocess(options), "discovering models with " + python));
  if (result.exit_code != 0) {
    return Internal("model discovery failed (", python, "): ", result.stderr_text);
  }
  try {
    json out = json::parse(result.stdout_text);
    const auto& errors = out.at("errors");
    if (!errors.empty()) {
      std::string message, hint;
      for (const auto& e : errors) {
        message += (message.empty() ? "" : "\n") + e.at("file").get<std::string>() + ":" +
                   std::to_string(e.value("line", 0)) + ": " + e.at("message").get<std::string>();
        if (hint.empty()) hint = e.value("hint", "");
      }
      return hint.empty() ? InvalidInput(message) : WithHint(InvalidInput(message), hint);
    }
    for (const auto& m : out.at("models")) {
      ModelSpec model;
      model.name = m.at("name");
      model.kind = m.at("kind") == "expectation" ? ModelKind::kExpectation : ModelKind::kPython;
      model.location = {m.at("file"), m.at("line")};
      model.function_name = m.at("function");
      for (const auto& i : m.at("inputs")) {
        ModelInput input;
        input.name = i.at("name");
        input.param_name = i.at("param");
        input.columns = i.at("columns").get<std::vector<std::string>>();
        input.filter = i.at("filter");
        input.ref = i.at("ref");
        input.location = {model.location.file, i.at("line")};
        model.inputs.push_back(std::move(input));
      }
      model.parameters = m.at("parameters").get<std::map<std::string, std::string>>();
      model.output_columns = m.at("columns").get<std::vector<std::string>>();
      auto strategy = ParseMaterialization(m.at("materialization").get<std::string>());
      if (!strategy.ok()) return WithContext(strategy.status(), model.location.ToString());
      model.materialization = *strategy;
      model.overwrite_filter = m.value("overwrite_filter", "");
      model.partitioned_by = m.at("partitioned_by").get<std::vector<std::string>>();
      model.python_version = m.at("python_version");
      model.pip = m.at("pip").get<std::map<std::string, std::string>>();
      model.resources = m.at("resources").get<std::map<std::string, std::string>>();
      model.internet_access = m.at("internet_access");
      models.push_back(std::move(model));
    }
  } catch (const json::exception& e) {
    return Internal("unreadable model discovery output: ", e.what());
  }
  return models;
}

}  // namespace

std::string MaterializationName(Materialization materialization) {
  switch (materialization) {
    case Materialization::kNone:
      return "NONE";
    case Materialization::kReplace:
      return "REPLACE";
    case Materialization::kAppend:
      return "APPEND";
    case Materialization::kOverwritePartitions:
      return "OVERWRITE_PARTITIONS";
  }
  return "NONE";
}

Result<Materialization> ParseMaterialization(const std::string& text) {
  std::string upper = Trim(text);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (auto m : {Materialization::kNone, Materialization::kReplace, Materialization::kAppend,
                 Materialization::kOverwritePartitions}) {
    if (upper == MaterializationName(m)) return m;
  }
  return InvalidInput("materialization_strategy '", text,
                      "' is not one of NONE, REPLACE, APPEND, OVERWRITE_PARTITIONS");
}

std::string ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kPython:
      return "python";
    case ModelKind::kSql:
      return "sql";
    case ModelKind::kExpectation:
      return "expectation";
  }
  return "python";
}

std::string SourceLocation::ToString() const { return line > 0 ? file + ":" + std::to_string(line) : file; }

Result<ParameterValue> ParseParameterValue(const ParameterSpec& spec, const std::string& text) {
  auto bad = [&]() { return InvalidInput("parameter '", spec.name, "': '", text, "' is not a valid ", spec.type); };
  if (spec.type == "int") {
    try {
      size_t used = 0;
      int64_t value = std::stoll(text, &used);
      if (used != text.size()) return bad();
      return ParameterValue(value);
    } catch (...) {
      return bad();
    }
  }
  if (spec.type == "float") {
    try {
      size_t used = 0;
      double value = std::stod(text, &used);
      if (used != text.size()) return bad();
      return ParameterValue(value);
    } catch (...) {
      return bad();
    }
  }
  if (spec.type == "bool") {
    std::string lower = Lower(text);
    if (lower == "true" || lower == "1" || lower == "yes") return ParameterValue(true);
    if (lower == "false" || lower == "0" || lower == "no") return ParameterValue(false);
    return bad();
  }
  return ParameterValue(text);
}

Result<std::string> FindProjectFile(const std::string& dir) {
  if (!IsDirectory(dir)) return NotFound("project directory '", dir, "' does not exist");
  std::vector<std::string> found;
  for (const char* name : kProjectFileNames) {
    if (PathExists(dir + "/" + name)) found.push_back(name);
  }
  if (found.empty()) {
    return WithHint(NotFound("no bauplan_project.yml in '", dir, "'"),
                    "a project is a directory with bauplan_project.yml and .py/.sql model files; "
                    "start one with: sluice init");
  }
  if (found.size() > 1) {
    return InvalidInput("'", dir, "' has both ", found[0], " and ", found[1], ": keep one");
  }
  return dir + "/" + found[0];
}

std::string CanonicalParameterType(std::string type) {
  type = Lower(std::move(type));
  if (type == "string") return "str";
  if (type == "integer") return "int";
  if (type == "boolean") return "bool";
  return type;
}

Result<Project> LoadProject(const std::string& dir, const std::string& python, const std::string& package_dir) {
  Project project;
  project.dir = AbsolutePath(dir);
  SLUICE_ASSIGN_OR_RAISE(std::string project_file, FindProjectFile(project.dir));
  SLUICE_ASSIGN_OR_RAISE(project.file, ParseProjectFile(project_file));

  std::vector<std::string> python_files, sql_files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(project.dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (entry.path().extension() == ".py") python_files.push_back(name);
    if (entry.path().extension() == ".sql") sql_files.push_back(name);
  }
  for (const auto& pattern : project.file.include_paths) {
    SLUICE_ASSIGN_OR_RAISE(auto matches, GlobFiles(project.dir + "/" + pattern));
    for (const auto& match : matches) {
      std::string relative = fs::relative(match, project.dir).string();
      if (fs::path(relative).extension() == ".sql" &&
          std::find(sql_files.begin(), sql_files.end(), relative) == sql_files.end()) {
        sql_files.push_back(relative);
      }
    }
  }
  std::sort(python_files.begin(), python_files.end());
  std::sort(sql_files.begin(), sql_files.end());

  // DuckDB's parser loads in its own process while the Python models are discovered.
  std::vector<ModelSpec> sql_models;
  std::vector<std::string> sql_texts;
  for (const auto& file : sql_files) {
    SLUICE_ASSIGN_OR_RAISE(ModelSpec model, ReadSqlModel(project.dir, file));
    sql_texts.push_back(model.sql);
    sql_models.push_back(std::move(model));
  }
  SLUICE_ASSIGN_OR_RAISE(auto analyzer, SqlAnalyzer::Start(sql_texts, python, package_dir));
  SLUICE_ASSIGN_OR_RAISE(project.models, DiscoverPythonModels(project.dir, python_files, python, package_dir));
  SLUICE_ASSIGN_OR_RAISE(auto analyses, analyzer->Finish());
  for (size_t i = 0; i < sql_models.size(); ++i) {
    SLUICE_RETURN_NOT_OK(ApplySqlAnalysis(std::move(analyses[i]), &sql_models[i]));
    project.models.push_back(std::move(sql_models[i]));
  }
  std::map<std::string, const ModelSpec*> seen;
  for (const auto& model : project.models) {
    auto [it, inserted] = seen.emplace(model.name, &model);
    if (!inserted) {
      return WithHint(InvalidInput("model '", model.name, "' is defined twice: ", it->second->location.ToString(),
                                   " and ", model.location.ToString()),
                      "rename one of them (SQL models are named after their file)");
    }
  }
  if (project.models.empty()) {
    return WithHint(InvalidInput("project '", project.dir, "' has no models"),
                    "decorate a function with @bauplan.model() or add a .sql file");
  }
  return project;
}

}  // namespace sluice
