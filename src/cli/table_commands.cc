// sluice table ls / get / import / rm and sluice namespace ls.
#include <iostream>

#include "cli/commands.h"
#include "common/clock.h"
#include "exec/json_views.h"

namespace sluice::cli {
namespace {

struct TableArgs {
  std::string name, ref, search_uri, branch, namespace_name = "bauplan", source_ref;
  std::string name_filter, namespace_filter;
  bool if_exists = false;
};

Status ListTables(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref_text = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
  std::map<std::string, std::string> tables;
  for (const auto& [table, location] : ref.tree.tables) {
    std::string ns = table.substr(0, table.find('.'));
    if (!args.namespace_filter.empty() && ns != args.namespace_filter) continue;
    if (!args.name_filter.empty() && table.find(args.name_filter) == std::string::npos) continue;
    tables[table] = location;
  }
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [table, location] : tables) {
      out.push_back({{"name", table}, {"metadata_location", location}});
    }
    context.PrintJson(out);
    return Status::OK();
  }
  for (const auto& [table, _] : tables) std::cout << table << "\n";
  return Status::OK();
}

Status GetTable(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref_text = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
  SLUICE_ASSIGN_OR_RAISE(std::string name, QualifyTableName(args.name, args.namespace_name));
  SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake->GetTable(ref, name));
  const auto& snapshot = info.snapshot;
  nlohmann::json out = TableInfoJson(info, ref_text);
  if (context.json()) {
    context.PrintJson(out);
    return Status::OK();
  }
  std::cout << "table:     " << name << "  (at " << ref_text << ")\n"
            << "records:   " << FormatCount(snapshot.total_records) << " in "
            << snapshot.data_files.size() << " data file(s)\n"
            << "snapshot:  " << (snapshot.snapshot_id ? std::to_string(*snapshot.snapshot_id) : "none") << "\n"
            << "metadata:  " << info.metadata_location << "\n"
            << "schema:\n";
  for (const auto& field : snapshot.schema->fields()) {
    std::cout << "  " << field->name() << "  " << field->type()->ToString()
              << (field->nullable() ? "" : "  not null") << "\n";
  }
  if (!snapshot.history.empty()) std::cout << "history:\n";
  for (const auto& h : snapshot.history) {
    std::cout << "  " << h.snapshot_id << "  " << FormatIsoTime(h.timestamp_ms) << "  " << h.operation
              << "  " << FormatCount(h.total_records) << " records\n";
  }
  return Status::OK();
}

Status ImportTable(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  SLUICE_ASSIGN_OR_RAISE(std::string name, QualifyTableName(args.name, args.namespace_name));
  SLUICE_ASSIGN_OR_RAISE(ImportResult result,
                         lake->ImportTable(branch, name, args.search_uri, CurrentAuthor()));
  if (context.json()) {
    context.PrintJson({{"table", result.table}, {"created", result.created}, {"rows", result.rows},
                       {"files", result.files}, {"commit", result.commit.id}, {"branch", branch}});
    return Status::OK();
  }
  std::cout << (result.created ? "created " : "appended to ") << result.table << " on '" << branch
            << "': " << FormatCount(result.rows) << " rows from " << result.files.size()
            << " file(s), commit " << result.commit.id.substr(0, 12) << "\n";
  return Status::OK();
}

Status RemoveTable(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  SLUICE_ASSIGN_OR_RAISE(std::string name, QualifyTableName(args.name, args.namespace_name));
  if (Catalog::IsProtectedBranch(branch)) {
    return WithHint(Conflict("branch '", branch, "' is protected: drop the table on another branch and merge"),
                    "create one with: sluice checkout -b <name>.dev");
  }
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake->catalog().Resolve(branch));
  if (head.tree.tables.count(name) == 0) {
    if (args.if_exists) return Status::OK();
    return NotFound("table '", name, "' not found on branch '", branch, "'");
  }
  CommitRequest request;
  request.branch = branch;
  request.changes[name] = std::nullopt;
  request.author = CurrentAuthor();
  request.message = "drop table " + name;
  request.expected_head = head.commit.id;
  SLUICE_RETURN_NOT_OK(lake->catalog().CommitChanges(request).status());
  if (!context.json()) std::cout << "dropped " << name << " on '" << branch << "'\n";
  return Status::OK();
}

Status RevertTable(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  SLUICE_ASSIGN_OR_RAISE(std::string name, QualifyTableName(args.name, args.namespace_name));
  SLUICE_ASSIGN_OR_RAISE(Commit commit, lake->RevertTable(branch, name, args.source_ref, CurrentAuthor()));
  if (context.json()) {
    context.PrintJson({{"table", name}, {"branch", branch}, {"commit", commit.id}});
  } else {
    std::cout << "reverted " << name << " on '" << branch << "' to its state at '" << args.source_ref
              << "': commit " << commit.id.substr(0, 12) << "\n";
  }
  return Status::OK();
}

Status ChangeNamespace(CliContext& context, const TableArgs& args, bool create) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  if (args.name.empty() || args.name.find('.') != std::string::npos) {
    return InvalidInput("invalid namespace name '", args.name, "'");
  }
  if (Catalog::IsProtectedBranch(branch)) {
    return WithHint(Conflict("branch '", branch, "' is protected"),
                    "change namespaces on another branch and merge it");
  }
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake->catalog().Resolve(branch));
  bool exists = head.tree.namespaces.count(args.name) > 0;
  if (create && exists) {
    if (args.if_exists) return Status::OK();
    return AlreadyExists("namespace '", args.name, "' already exists on '", branch, "'");
  }
  if (!create && !exists && args.if_exists) return Status::OK();
  CommitRequest request;
  request.branch = branch;
  (create ? request.namespaces_to_add : request.namespaces_to_remove).insert(args.name);
  request.author = CurrentAuthor();
  request.message = (create ? "create namespace " : "drop namespace ") + args.name;
  request.expected_head = head.commit.id;
  SLUICE_RETURN_NOT_OK(lake->catalog().CommitChanges(request).status());
  if (!context.json()) {
    std::cout << (create ? "created" : "dropped") << " namespace " << args.name << " on '" << branch << "'\n";
  }
  return Status::OK();
}

}  // namespace

void AddTableCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<TableArgs>();
  auto* table = app.add_subcommand("table", "List, inspect, import and drop tables");
  table->require_subcommand(1);

  auto* ls = table->add_subcommand("ls", "List the tables at a ref");
  ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ls->add_option("--name", args->name_filter, "Only tables whose name contains this");
  ls->add_option("-n,--namespace", args->namespace_filter, "Only tables of this namespace");
  ls->callback([&context, exit_code, args] { *exit_code = ReportError(ListTables(context, *args)); });

  auto* get = table->add_subcommand("get", "Show a table's schema, row count and snapshot");
  get->add_option("name", args->name)->required();
  get->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  get->callback([&context, exit_code, args] { *exit_code = ReportError(GetTable(context, *args)); });

  for (const char* verb : {"import", "create"}) {
    auto* import = table->add_subcommand(
        verb, "Create a table from Parquet or CSV files, or append them to it (one commit)");
    import->add_option("name", args->name, "Table name: 'table' or 'namespace.table'")->required();
    import->add_option("-s,--search-uri", args->search_uri, "A file, a directory or a glob")->required();
    import->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
    import->add_option("-n,--namespace", args->namespace_name, "Namespace for a bare table name");
    import->callback([&context, exit_code, args] { *exit_code = ReportError(ImportTable(context, *args)); });
  }

  auto* rm = table->add_subcommand("rm", "Drop a table from a branch (its history stays)");
  rm->add_option("name", args->name)->required();
  rm->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  rm->add_flag("--if-exists", args->if_exists, "Succeed when the table does not exist");
  rm->callback([&context, exit_code, args] { *exit_code = ReportError(RemoveTable(context, *args)); });

  auto* revert = table->add_subcommand("revert", "Bring a table's state at another ref into a branch");
  revert->add_option("name", args->name)->required();
  revert->add_option("-s,--source-ref", args->source_ref, "Ref whose version of the table to take")->required();
  revert->add_option("-b,--into-branch", args->branch, "Branch to write (default: the active branch)");
  revert->callback([&context, exit_code, args] { *exit_code = ReportError(RevertTable(context, *args)); });

  auto* ns = app.add_subcommand("namespace", "List, create and drop namespaces");
  auto* ns_create = ns->add_subcommand("create", "Create a namespace on a branch");
  ns_create->add_option("name", args->name)->required();
  ns_create->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  ns_create->add_flag("--if-not-exists", args->if_exists, "Succeed when it exists");
  ns_create->callback([&context, exit_code, args] {
    *exit_code = ReportError(ChangeNamespace(context, *args, true));
  });
  auto* ns_rm = ns->add_subcommand("rm", "Drop an empty namespace from a branch");
  ns_rm->add_option("name", args->name)->required();
  ns_rm->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  ns_rm->add_flag("--if-exists", args->if_exists, "Succeed when it does not exist");
  ns_rm->callback([&context, exit_code, args] {
    *exit_code = ReportError(ChangeNamespace(context, *args, false));
  });
  ns->require_subcommand(1);
  auto* ns_ls = ns->add_subcommand("ls", "List the namespaces at a ref");
  ns_ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ns_ls->callback([&context, exit_code, args] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      std::string ref_text = args->ref.empty() ? context.ActiveBranch() : args->ref;
      SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
      if (context.json()) {
        context.PrintJson(ref.tree.namespaces);
      } else {
        for (const auto& name : ref.tree.namespaces) std::cout << name << "\n";
      }
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
