// sluice table ls / get / import / rm and sluice namespace ls.
#include <iostream>

#include "cli/commands.h"

namespace sluice::cli {
namespace {

struct TableArgs {
  std::string name, ref, search_uri, branch, namespace_name = "bauplan";
  bool if_exists = false;
};

Status ListTables(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref_text = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [table, location] : ref.tree.tables) {
      out.push_back({{"name", table}, {"metadata_location", location}});
    }
    context.PrintJson(out);
    return Status::OK();
  }
  for (const auto& [table, _] : ref.tree.tables) std::cout << table << "\n";
  return Status::OK();
}

Status GetTable(CliContext& context, const TableArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref_text = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
  SLUICE_ASSIGN_OR_RAISE(std::string name, QualifyTableName(args.name, args.namespace_name));
  SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake->GetTable(ref, name));
  const auto& snapshot = info.snapshot;
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& field : snapshot.schema->fields()) {
    fields.push_back({{"name", field->name()}, {"type", field->type()->ToString()},
                      {"nullable", field->nullable()}});
  }
  nlohmann::json out = {{"name", name},
                        {"ref", ref_text},
                        {"records", snapshot.total_records},
                        {"data_files", snapshot.data_files.size()},
                        {"snapshot_id", snapshot.snapshot_id ? nlohmann::json(*snapshot.snapshot_id)
                                                             : nlohmann::json(nullptr)},
                        {"metadata_location", info.metadata_location},
                        {"fields", fields}};
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

}  // namespace

void AddTableCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<TableArgs>();
  auto* table = app.add_subcommand("table", "List, inspect, import and drop tables");
  table->require_subcommand(1);

  auto* ls = table->add_subcommand("ls", "List the tables at a ref");
  ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
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

  auto* ns = app.add_subcommand("namespace", "List namespaces");
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
