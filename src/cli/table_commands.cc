// sluice table ls / get / create / create-plan / create-plan-apply / create-external /
// import / rm / revert and sluice namespace ls / create / rm, with bauplan's flags and
// aliases (src/cli/table.rs, namespace.rs of bauplan). Commands ask the backend (the JSON
// API, local or remote) and format its answers.
#include <unistd.h>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>

#include "catalog/table_name.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/file_util.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct TableArgs {
  std::string name, ref, search_uri, branch, namespace_name = "bauplan", source_ref;
  std::string name_filter, namespace_filter, partitioned_by, save_plan, plan_file, metadata_json_uri;
  std::string commit_body, priority;
  std::vector<std::string> search_patterns, job_args, commit_properties;
  size_t limit = 0;
  bool if_exists = false, if_not_exists = false, replace = false, overwrite = false, detach = false;
  bool best_effort = false, continue_on_error = false, import_duplicate_files = false;
};

template <typename F>
std::function<void()> WithBackend(CliContext& context, int* exit_code, F body) {
  return [&context, exit_code, body] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
      return body(*backend);
    }());
  };
}

std::string TablePath(const TableArgs& args) { return "tables/" + EncodePathPart(args.name); }

// Bauplan takes the table name as a positional argument; its older CLI took --name.
Status NeedName(const TableArgs& args) {
  if (args.name.empty()) return InvalidInput("a table name is required (positional, or --name)");
  return QualifiedTableName(args.name, args.namespace_name).status();
}

Status ListTables(CliContext& context, Backend& backend, const TableArgs& args) {
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  std::map<std::string, std::string> query{{"ref", ref}};
  if (!args.namespace_filter.empty()) query["namespace"] = args.namespace_filter;
  SLUICE_ASSIGN_OR_RAISE(json all, backend.Call("GET", "tables", nullptr, query));
  json tables = json::array();
  for (const auto& t : all) {
    if (args.limit > 0 && tables.size() >= args.limit) break;
    if (args.name_filter.empty() || t.at("name").get<std::string>().find(args.name_filter) != std::string::npos) {
      tables.push_back(t);
    }
  }
  if (context.json()) {
    context.PrintJson(tables);
    return Status::OK();
  }
  // bauplan's columns: NAMESPACE, NAME, KIND.
  size_t ns_width = 9, name_width = 4;
  for (const auto& t : tables) {
    ns_width = std::max(ns_width, t.at("namespace").get<std::string>().size());
    name_width = std::max(name_width, t.at("table").get<std::string>().size());
  }
  auto row = [&](const std::string& ns, const std::string& name, const std::string& kind) {
    std::cout << ns << std::string(ns_width - ns.size() + 2, ' ') << name
              << std::string(name_width - name.size() + 2, ' ') << kind << "\n";
  };
  row("NAMESPACE", "NAME", "KIND");
  for (const auto& t : tables) {
    row(t.at("namespace").get<std::string>(), t.at("table").get<std::string>(), t.at("kind").get<std::string>());
  }
  return Status::OK();
}

Status GetTable(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(
      json info, backend.Call("GET", TablePath(args), nullptr, {{"ref", ref}, {"namespace", args.namespace_name}}));
  if (context.json()) {
    context.PrintJson(info);
    return Status::OK();
  }
  const json& snapshot = info.at("snapshot_id");
  std::cout << "table:     " << info.at("name").get<std::string>() << "  (at " << ref << ")\n"
            << "records:   " << FormatCount(info.at("records")) << " in " << info.at("data_files").get<int64_t>()
            << " data file(s)\n"
            << "snapshot:  " << (snapshot.is_null() ? "none" : std::to_string(snapshot.get<int64_t>())) << "\n"
            << "kind:      " << info.at("kind").get<std::string>() << "\n"
            << "metadata:  " << info.at("metadata_location").get<std::string>() << "\n"
            << "schema:\n";
  for (const auto& field : info.at("fields")) {
    std::cout << "  " << field.at("name").get<std::string>() << "  " << field.at("type").get<std::string>()
              << (field.at("nullable").get<bool>() ? "" : "  not null") << "\n";
  }
  if (!info.at("partitions").empty()) std::cout << "partitioned by:\n";
  for (const auto& p : info.at("partitions")) {
    std::cout << "  " << p.at("transform").get<std::string>() << "(" << p.at("source").get<std::string>() << ")\n";
  }
  if (!info.at("history").empty()) std::cout << "history:\n";
  for (const auto& h : info.at("history")) {
    std::cout << "  " << h.at("snapshot_id").get<int64_t>() << "  " << FormatIsoTime(h.at("timestamp_ms")) << "  "
              << h.at("operation").get<std::string>() << "  " << FormatCount(h.at("records")) << " records\n";
  }
  return Status::OK();
}

void PrintTableCreated(CliContext& context, const json& result, const char* what) {
  if (context.json()) {
    context.PrintJson(result);
    return;
  }
  const json& table = result.at("table");
  if (!result.at("created").get<bool>()) {
    std::cout << "table " << table.at("name").get<std::string>() << " already exists on '"
              << result.at("branch").get<std::string>() << "': kept\n";
    return;
  }
  std::cout << (result.at("replaced").get<bool>() ? "replaced " : "created ") << what << " "
            << table.at("name").get<std::string>() << " on '" << result.at("branch").get<std::string>()
            << "': " << table.at("fields").size() << " column(s), " << FormatCount(table.at("records")) << " rows";
  if (!table.at("partitions").empty()) {
    std::cout << ", partitioned by";
    for (const auto& p : table.at("partitions")) {
      std::cout << " " << p.at("transform").get<std::string>() << "(" << p.at("source").get<std::string>() << ")";
    }
  }
  std::cout << ", commit " << result.at("commit").get<std::string>().substr(0, 12) << "\n";
}

Status CreateTable(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  json body = {{"search_uri", args.search_uri},
               {"branch", branch},
               {"namespace", args.namespace_name},
               {"replace", args.replace},
               {"if_not_exists", args.if_not_exists}};
  if (!args.partitioned_by.empty()) body["partitioned_by"] = args.partitioned_by;
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", TablePath(args) + "/create", body));
  PrintTableCreated(context, result, "table");
  return Status::OK();
}

Status ImportTable(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  // With a remote backend, paths are the server's: imports read files where the lake is.
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", TablePath(args) + "/import",
                                                   {{"search_uri", args.search_uri},
                                                    {"branch", branch},
                                                    {"namespace", args.namespace_name},
                                                    {"best_effort", args.best_effort},
                                                    {"continue_on_error", args.continue_on_error},
                                                    {"import_duplicate_files", args.import_duplicate_files}}));
  if (context.json()) {
    context.PrintJson(result);
    return Status::OK();
  }
  for (const auto& s : result.at("skipped")) {
    std::cerr << "skipped " << s.at("file").get<std::string>() << ": " << s.at("reason").get<std::string>() << "\n";
  }
  if (result.at("commit").is_null()) {
    std::cout << "nothing imported into " << result.at("table").get<std::string>() << " on '" << branch << "'\n";
    return Status::OK();
  }
  std::cout << "imported " << FormatCount(result.at("rows")) << " rows from " << result.at("files").size()
            << " file(s) into " << result.at("table").get<std::string>() << " on '" << branch << "', commit "
            << result.at("commit").get<std::string>().substr(0, 12) << "\n";
  return Status::OK();
}

Status CreatePlan(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  json body = {{"table", args.name},
               {"search_uri", args.search_uri},
               {"branch", branch},
               {"namespace", args.namespace_name},
               {"replace", args.replace}};
  if (!args.partitioned_by.empty()) body["partitioned_by"] = args.partitioned_by;
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", "table_plans", body));
  const std::string yaml = result.at("plan").get<std::string>();
  if (!args.save_plan.empty()) {
    std::ofstream out(args.save_plan, std::ios::binary | std::ios::trunc);
    out << yaml;
    out.close();
    if (!out) return IOError("cannot write the plan to '", args.save_plan, "'");
  }
  if (context.json()) {
    context.PrintJson(result);
  } else if (args.save_plan.empty()) {
    std::cout << yaml;
  } else {
    std::cout << "plan saved to " << args.save_plan << "\n";
  }
  for (const auto& c : result.at("conflicts")) {
    std::string types;
    for (const auto& t : c.at("types")) types += (types.empty() ? "" : " or ") + t.get<std::string>();
    std::cerr << "conflict: column " << c.at("column").get<std::string>() << " is " << types
              << " across the files: keep one entry in its dst_datatype, then run "
                 "`sluice table create-plan-apply --plan FILE`\n";
  }
  return Status::OK();
}

Status ApplyPlan(CliContext& context, Backend& backend, const TableArgs& args) {
  std::string yaml;
  if (!args.plan_file.empty()) {
    SLUICE_ASSIGN_OR_RAISE(yaml, ReadFile(args.plan_file));
  } else {
    if (isatty(STDIN_FILENO)) return InvalidInput("no plan given: use --plan FILE or pipe the YAML to stdin");
    yaml.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  json body = {{"plan", yaml}};
  if (!args.branch.empty()) body["branch"] = args.branch;
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", "table_plans/apply", body));
  PrintTableCreated(context, result, "table");
  return Status::OK();
}

Status CreateExternal(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  json body = {{"branch", branch}, {"namespace", args.namespace_name}, {"overwrite", args.overwrite}};
  if (!args.metadata_json_uri.empty()) body["metadata_json_uri"] = args.metadata_json_uri;
  if (!args.search_patterns.empty()) body["search_patterns"] = args.search_patterns;
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", TablePath(args) + "/external", body));
  PrintTableCreated(context, result, "external table");
  return Status::OK();
}

Status RemoveTable(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  std::map<std::string, std::string> query{{"branch", branch}, {"namespace", args.namespace_name}};
  if (args.if_exists) query["if_exists"] = "true";
  SLUICE_ASSIGN_OR_RAISE(json answer, backend.Call("DELETE", TablePath(args), nullptr, query));
  if (context.json()) {
    context.PrintJson(answer);
  } else if (!answer.at("deleted").is_null()) {
    std::cout << "dropped " << answer.at("deleted").get<std::string>() << " on '" << branch << "'\n";
  }
  return Status::OK();
}

Status RevertTable(CliContext& context, Backend& backend, const TableArgs& args) {
  SLUICE_RETURN_NOT_OK(NeedName(args));
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  SLUICE_ASSIGN_OR_RAISE(json answer, backend.Call("POST", TablePath(args) + "/revert",
                                                   {{"source_ref", args.source_ref},
                                                    {"into_branch", branch},
                                                    {"namespace", args.namespace_name},
                                                    {"replace", args.replace}}));
  if (context.json()) {
    context.PrintJson(answer);
  } else {
    std::cout << "reverted " << answer.at("table").get<std::string>() << " on '" << branch << "' to its state at '"
              << args.source_ref << "': commit " << answer.at("commit").get<std::string>().substr(0, 12) << "\n";
  }
  return Status::OK();
}

Status ChangeNamespace(CliContext& context, Backend& backend, const TableArgs& args, bool create) {
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  if (args.name.empty() || args.name.find('.') != std::string::npos || args.name.find('/') != std::string::npos) {
    return InvalidInput("invalid namespace name '", args.name, "'");
  }
  auto answer = create
                    ? backend.Call("POST", "namespaces", {{"name", args.name}, {"branch", branch}})
                    : backend.Call("DELETE", "namespaces/" + EncodePathPart(args.name), nullptr, {{"branch", branch}});
  if (!answer.ok()) {
    ErrorKind skip = create ? ErrorKind::kAlreadyExists : ErrorKind::kNotFound;
    if ((create ? args.if_not_exists : args.if_exists) && KindOf(answer.status()) == skip) return Status::OK();
    return answer.status();
  }
  if (context.json()) {
    context.PrintJson(*answer);
  } else {
    std::cout << (create ? "created" : "dropped") << " namespace " << args.name << " on '" << branch << "'\n";
  }
  return Status::OK();
}

}  // namespace

void AddTableCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<TableArgs>();
  auto* table = app.add_subcommand("table", "List, inspect, create, import, revert and drop tables");
  table->require_subcommand(1);
  auto run = [&context, exit_code, args](Status (*body)(CliContext&, Backend&, const TableArgs&)) {
    return WithBackend(context, exit_code, [&context, args, body](Backend& b) { return body(context, b, *args); });
  };
  // bauplan's job options: accepted for compatibility; a local job has no queue to rank.
  auto job_options = [args](CLI::App* command) {
    command->add_option("-a,--arg", args->job_args, "Extra arguments as key=value (accepted, unused)");
    command->add_option("--priority", args->priority, "Job priority 1-10 (accepted, unused)");
  };
  auto name_option = [args](CLI::App* command, const char* what) {
    command->add_option("table_name", args->name, what);
    command->add_option("--name", args->name, "The table name (older spelling of the positional argument)");
  };
  // Where a command writes a table: the branch, and the namespace of a bare table name.
  auto write_target = [args](CLI::App* command,
                             const char* branch_help = "Branch to write (default: the active branch)") {
    command->add_option("-b,--branch", args->branch, branch_help);
    command->add_option("-n,--namespace", args->namespace_name, "Namespace for a bare table name");
  };

  auto* ls = table->add_subcommand("ls", "List the tables at a ref");
  ls->alias("list");
  ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ls->add_option("--name", args->name_filter, "Only tables whose name contains this");
  ls->add_option("-n,--namespace", args->namespace_filter, "Only tables of this namespace");
  ls->add_option("--limit", args->limit, "Show at most this many tables");
  ls->callback(run(ListTables));

  auto* get = table->add_subcommand("get", "Show a table's schema, row count, snapshot and history");
  get->add_option("table_name", args->name)->required();
  get->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  get->add_option("-n,--namespace", args->namespace_name, "Namespace for a bare table name");
  get->callback(run(GetTable));

  auto* create = table->add_subcommand("create", "Create an empty table with the schema of Parquet or CSV files");
  name_option(create, "Table name: 'table' or 'namespace.table'");
  create->add_option("--search-uri", args->search_uri, "Files to infer the schema from: a file, a directory or a glob")
      ->required();
  write_target(create);
  create->add_option("--partitioned-by", args->partitioned_by, "Partition spec, e.g. \"day(pickup_at), zone_id\"");
  create->add_flag("-r,--replace", args->replace, "Replace the table if it exists (with an empty one)");
  create->add_flag("--if-not-exists", args->if_not_exists, "Succeed, keeping the table, when it exists");
  job_options(create);
  create->callback(run(CreateTable));

  auto* plan = table->add_subcommand("create-plan", "Write the YAML plan of a table's creation, with schema conflicts");
  name_option(plan, "Table name: 'table' or 'namespace.table'");
  plan->add_option("--search-uri", args->search_uri, "Files to infer the schema from")->required();
  write_target(plan, "Branch to create the table in (default: the active branch)");
  plan->add_option("--partitioned-by", args->partitioned_by, "Partition spec");
  plan->add_flag("-r,--replace", args->replace, "Replace the table if it exists");
  plan->add_option("-p,--save-plan", args->save_plan, "Write the plan to this file (default: print it)");
  plan->add_option("-a,--arg", args->job_args, "Extra arguments as key=value (accepted, unused)");
  plan->callback(run(CreatePlan));

  auto* apply = table->add_subcommand("create-plan-apply", "Create the table a (possibly edited) plan describes");
  apply->add_option("--plan", args->plan_file, "The plan YAML file (default: read stdin)");
  apply->add_option("-b,--branch", args->branch, "Branch to write (default: the plan's branch_name)");
  job_options(apply);
  apply->callback(run(ApplyPlan));

  auto* external = table->add_subcommand("create-external",
                                         "Create a read-only table over Parquet files or an Iceberg metadata.json");
  name_option(external, "Table name: 'table' or 'namespace.table'");
  write_target(external);
  auto* metadata = external->add_option("--metadata-json-uri", args->metadata_json_uri, "An Iceberg metadata.json");
  external->add_option("--search-pattern", args->search_patterns, "Parquet files (repeatable)")->excludes(metadata);
  external->add_flag("--overwrite", args->overwrite, "Replace the table if it exists");
  external->add_flag("-d,--detach", args->detach, "Accepted for compatibility; the table is created at once");
  job_options(external);
  external->callback(run(CreateExternal));

  auto* import = table->add_subcommand("import", "Append the rows of Parquet or CSV files to an existing table");
  name_option(import, "Table name: 'table' or 'namespace.table'");
  import->add_option("--search-uri", args->search_uri, "A file, a directory or a glob")->required();
  write_target(import);
  import->add_flag("--continue-on-error", args->continue_on_error, "Skip files that fail and import the rest");
  import->add_flag("--import-duplicate-files", args->import_duplicate_files,
                   "Import files even when they were imported into the table before");
  import->add_flag("--best-effort", args->best_effort, "Ignore columns the table does not have; missing ones are null");
  import->add_flag("-d,--detach", args->detach, "Accepted for compatibility; the import runs at once");
  job_options(import);
  import->callback(run(ImportTable));

  auto* rm = table->add_subcommand("rm", "Drop a table from a branch (its history stays)");
  rm->alias("delete");
  rm->alias("drop");
  rm->add_option("table_name", args->name)->required();
  write_target(rm);
  rm->add_flag("--if-exists", args->if_exists, "Succeed when the table does not exist");
  rm->add_option("--commit-body", args->commit_body, "Accepted for compatibility");
  rm->callback(run(RemoveTable));

  auto* revert = table->add_subcommand("revert", "Bring a table's state at another ref into a branch");
  revert->add_option("table_name", args->name)->required();
  revert->add_option("-s,--source-ref", args->source_ref, "Ref whose version of the table to take")->required();
  revert->add_option("-i,-b,--into-branch", args->branch, "Branch to write (default: the active branch)");
  revert->add_option("-n,--namespace", args->namespace_name, "Namespace for a bare table name");
  revert->add_flag("--replace", args->replace, "Replace the destination table if it exists");
  revert->add_option("--commit-body", args->commit_body, "Accepted for compatibility");
  revert->add_option("--commit-property", args->commit_properties, "Accepted for compatibility");
  revert->callback(run(RevertTable));

  auto* ns = app.add_subcommand("namespace", "List, create and drop namespaces");
  ns->require_subcommand(1);
  auto* ns_ls = ns->add_subcommand("ls", "List the namespaces at a ref");
  ns_ls->alias("list");
  ns_ls->add_option("namespace", args->name_filter, "Only namespaces whose name contains this");
  ns_ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ns_ls->add_option("--limit", args->limit, "Show at most this many namespaces");
  ns_ls->callback(WithBackend(context, exit_code, [&context, args](Backend& backend) -> Status {
    std::string ref = args->ref.empty() ? context.ActiveBranch() : args->ref;
    SLUICE_ASSIGN_OR_RAISE(json all, backend.Call("GET", "namespaces", nullptr, {{"ref", ref}}));
    json names = json::array();
    for (const auto& name : all) {
      if (args->limit > 0 && names.size() >= args->limit) break;
      if (name.get<std::string>().find(args->name_filter) != std::string::npos) names.push_back(name);
    }
    if (context.json()) {
      context.PrintJson(names);
    } else {
      for (const auto& name : names) std::cout << name.get<std::string>() << "\n";
    }
    return Status::OK();
  }));
  auto* ns_create = ns->add_subcommand("create", "Create a namespace on a branch");
  ns_create->add_option("name", args->name)->required();
  ns_create->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  ns_create->add_flag("--if-not-exists", args->if_not_exists, "Succeed when it exists");
  ns_create->add_option("--commit-body", args->commit_body, "Accepted for compatibility");
  ns_create->callback(WithBackend(context, exit_code,
                                  [&context, args](Backend& b) { return ChangeNamespace(context, b, *args, true); }));
  auto* ns_rm = ns->add_subcommand("rm", "Drop an empty namespace from a branch");
  ns_rm->alias("delete");
  ns_rm->alias("drop");
  ns_rm->add_option("name", args->name)->required();
  ns_rm->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  ns_rm->add_flag("--if-exists", args->if_exists, "Succeed when it does not exist");
  ns_rm->add_option("--commit-body", args->commit_body, "Accepted for compatibility");
  ns_rm->callback(WithBackend(context, exit_code,
                              [&context, args](Backend& b) { return ChangeNamespace(context, b, *args, false); }));
}

}  // namespace sluice::cli
