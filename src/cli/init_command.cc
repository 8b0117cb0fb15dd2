// sluice init [PATH] [--name NAME]: a new project shaped as `bauplan init` makes it
// (bauplan_project.yaml, pyproject.toml, models.py). The template's models are ours; they
// run as created on an empty data home because the `titanic` table they read is a model of
// the project that makes a small sample until the user brings the real table.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "project/project.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModelsTemplate = R"PY("""Your first Sluice project (bauplan-compatible). Run it with:

    sluice checkout -b dev        # runs write to a branch, never to main
    sluice run

`titanic` makes a small sample of the Titanic passenger list, so the project runs on an
empty data home. To use the real table instead, load it and delete the `titanic` model:

    sluice table create titanic --search-uri 'path/or/s3/titanic*.parquet'
    sluice table import titanic --search-uri 'path/or/s3/titanic*.parquet'

bauplan.Model("titanic") names a model of the project when there is one, else the table
of the run's namespace (bauplan.titanic) on the branch you run on.
"""

import bauplan
from bauplan.standard_expectations import expect_column_all_unique


@bauplan.python("{PYTHON}")
@bauplan.model()
def titanic():
    """A sample of the passenger list: PassengerId, Survived, Pclass, Sex, Age, Fare."""
    import pyarrow as pa

    ages = [22.0, 38.0, 26.0, 35.0, None, 54.0, 2.0, 27.0, 14.0, 4.0,
            58.0, 20.0, 39.0, 14.0, None, 55.0, 2.0, 31.0, 35.0, 34.0]
    survived = [0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    count = len(ages)
    return pa.table({
        "PassengerId": pa.array(range(1, count + 1), pa.int64()),
        "Survived": pa.array(survived, pa.int64()),
        "Pclass": pa.array([3, 1, 3, 1, 3, 1, 3, 3, 2, 3, 1, 3, 3, 3, 2, 2, 3, 3, 2, 2], pa.int64()),
        "Sex": ["male", "female", "female", "female", "male", "male", "male", "female", "female",
                "female", "female", "male", "male", "female", "male", "female", "male", "female",
                "male", "female"],
        "Age": pa.array(ages, pa.float64()),
        "Fare": pa.array([7.25, 71.28, 7.92, 53.1, 8.46, 51.86, 21.07, 11.13, 30.07, 16.7,
                          26.55, 8.05, 31.27, 7.85, 29.0, 16.0, 29.12, 18.0, 13.0, 10.5], pa.float64()),
    })


@bauplan.python("{PYTHON}", pip={"polars": "1.37"})
@bauplan.model()
def survival_rate_by_age(
    passengers=bauplan.Model("titanic", columns=["Age", "Survived"], filter="Age IS NOT NULL"),
):
    """Survival rate of the passengers by age, in one-year bins.

    | Age  | survival_rate |
    |------|---------------|
    | 2.0  | 0.0           |
    | ...  | ...           |
    """
    import polars as pl

    df = pl.from_arrow(passengers)
    return (
        df.group_by(pl.col("Age").floor())
        .agg(pl.col("Survived").mean().alias("survival_rate"))
        .sort("Age")
        .to_arrow()
    )


@bauplan.expectation()
@bauplan.python("{PYTHON}")
def test_age(data=bauplan.Model("survival_rate_by_age", columns=["Age"])):
    """The age bins are unique."""
    return expect_column_all_unique(data, "Age")
)PY";

// "3.11": the minor version of the interpreter models run with, so the template's
// @bauplan.python(...) names one that is there. Falls back to "3.11".
std::string DefaultPythonVersion() {
  SubprocessOptions options;
  options.argv = {PythonExecutable(), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"};
  options.timeout_seconds = 30;
  auto child = Subprocess::Start(options);
  if (!child.ok()) return "3.11";
  auto result = (*child)->Wait();
  if (!result.ok() || result->exit_code != 0) return "3.11";
  std::string version = result->stdout_text;
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
  return version.empty() ? "3.11" : version;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
  return text;
}

// TOML basic string: quotes, backslashes and control characters escaped.
std::string TomlString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Writes `path` unless it exists (kept as the user has it, as bauplan does). Returns
// whether it was written.
Result<bool> WriteIfAbsent(const std::string& path, const std::string& contents) {
  if (PathExists(path)) return false;
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(path, contents));
  return true;
}

struct InitArgs {
  std::string path, name;
};

Status Init(CliContext& context, const InitArgs& args) {
  std::string dir = AbsolutePath(args.path.empty() ? "." : args.path);
  if (PathExists(dir) && !IsDirectory(dir)) return InvalidInput("'", dir, "' exists and is not a directory");
  SLUICE_RETURN_NOT_OK(MakeDirs(dir));
  if (auto existing = FindProjectFile(dir); existing.ok() || KindOf(existing.status()) != ErrorKind::kNotFound) {
    return WithHint(
        AlreadyExists("'", dir, "' is already a project: ", existing.ok() ? *existing : existing.status().message()),
        "pick another directory: sluice init PATH");
  }
  std::string name = args.name;
  if (name.empty()) name = fs::path(dir).filename().string();
  if (name.empty()) name = "my_project";
  std::string id = NewUuid();

  YAML::Emitter project;
  project << YAML::BeginMap << YAML::Key << "project" << YAML::Value << YAML::BeginMap << YAML::Key << "id"
          << YAML::Value << id << YAML::Key << "name" << YAML::Value << name << YAML::EndMap << YAML::EndMap;
  std::string python = DefaultPythonVersion();
  std::string pyproject = "[project]\nname = " + TomlString(name) +
                          "\nversion = \"0.1.0\"\nrequires-python = \"~=" + python +
                          "\"\n# Models import `bauplan`; Sluice provides it when it runs them.\n"
                          "dependencies = []\n\n[dependency-groups]\ndev = [\"ruff>=0.15,<0.16\", \"polars>=1\"]\n";
  std::vector<std::string> written;
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(dir + "/bauplan_project.yaml", std::string(project.c_str()) + "\n"));
  written.push_back("bauplan_project.yaml");
  SLUICE_ASSIGN_OR_RAISE(bool wrote, WriteIfAbsent(dir + "/pyproject.toml", pyproject));
  if (wrote) written.push_back("pyproject.toml");
  SLUICE_ASSIGN_OR_RAISE(wrote, WriteIfAbsent(dir + "/models.py", ReplaceAll(kModelsTemplate, "{PYTHON}", python)));
  if (wrote) written.push_back("models.py");

  if (context.json()) {
    context.PrintJson({{"project_dir", dir}, {"name", name}, {"id", id}, {"files", written}});
  } else {
    std::cerr << "Initialized bauplan project \"" << name << "\" in " << dir << "\n";
    std::cout << "next: sluice checkout -b dev && sluice run -p " << dir << "\n";
  }
  return Status::OK();
}

}  // namespace

void AddInitCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<InitArgs>();
  auto* init = app.add_subcommand("init", "Create a new project (bauplan_project.yaml, models.py)");
  init->add_option("path", args->path, "Directory to initialize (default: the current one)");
  init->add_option("--name", args->name, "Project name (default: the directory's name)");
  init->callback([&context, exit_code, args] { *exit_code = ReportError(Init(context, *args)); });
}

}  // namespace sluice::cli
