// sluice table ls / get / import / rm / revert and sluice namespace ls / create / rm.
// Commands ask the backend (the JSON API, local or remote) and format its answers.
#include <iostream>

#include "cli/commands.h"
#include "common/clock.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct TableArgs {
  std::string name, ref, search_uri, branch, namespace_name = "bauplan", source_ref;
  std::string name_filter, namespace_filter;
  bool if_exists = false;
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

Status ListTables(CliContext& context, Backend& backend, const TableArgs& args) {
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  std::map<std::string, std::string> query{{"ref", ref}};
  if (!args.namespace_filter.empty()) query["namespace"] = args.namespace_filter;
  SLUICE_ASSIGN_OR_RAISE(json all, backend.Call("GET", "tables", nullptr, query));
  json tables = json::array();
  for (const auto& t : all) {
    if (args.name_filter.empty() || t.at("name").get<std::string>().find(args.name_filter) != std::string::npos) {
      tables.push_back(t);
    }
  }
  if (context.json()) {
    context.PrintJson(tables);
    return Status::OK();
  }
  for (const auto& t : tables) std::cout << t.at("name").get<std::string>() << "\n";
  return Status::OK();
}

Status GetTable(CliContext& context, Backend& backend, const TableArgs& args) {
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(json info, backend.Call("GET", TablePath(args), nullptr,
                                                 {{"ref", ref}, {"namespace", args.namespace_name}}));
  if (context.json()) {
    context.PrintJson(info);
    return Status::OK();
  }
  const json& snapshot = info.at("snapshot_id");
  std::cout << "table:     " << info.at("name").get<std::string>() << "  (at " << ref << ")\n"
            << "records:   " << FormatCount(info.at("records")) << " in "
            << info.at("data_files").get<int64_t>() << " data file(s)\n"
            << "snapshot:  " << (snapshot.is_null() ? "none" : std::to_string(snapshot.get<int64_t>())) << "\n"
            << "metadata:  " << info.at("metadata_location").get<std::string>() << "\n"
            << "schema:\n";
  for (const auto& field : info.at("fields")) {
    std::cout << "  " << field.at("name").get<std::string>() << "  " << field.at("type").get<std::string>()
              << (field.at("nullable").get<bool>() ? "" : "  not null") << "\n";
  }
  if (!info.at("history").empty()) std::cout << "history:\n";
  for (const auto& h : info.at("history")) {
    std::cout << "  " << h.at("snapshot_id").get<int64_t>() << "  " << FormatIsoTime(h.at("timestamp_ms"))
              << "  " << h.at("operation").get<std::string>() << "  " << FormatCount(h.at("records"))
              << " records\n";
  }
  return Status::OK();
}

Status ImportTable(CliContext& context, Backend& backend, const TableArgs& args) {
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  // With a remote backend, paths are the server's: imports read files where the lake is.
  const std::string& uri = args.search_uri;
  SLUICE_ASSIGN_OR_RAISE(json result, backend.Call("POST", TablePath(args) + "/import",
                                                   {{"search_uri", uri}, {"branch", branch},
                                                    {"namespace", args.namespace_name}}));
  if (context.json()) {
    context.PrintJson(result);
    return Status::OK();
  }
  std::cout << (result.at("created").get<bool>() ? "created " : "appended to ")
            << result.at("table").get<std::string>() << " on '" << branch << "': "
            << FormatCount(result.at("rows")) << " rows from " << result.at("files").size()
            << " file(s), commit " << result.at("commit").get<std::string>().substr(0, 12) << "\n";
  return Status::OK();
}

Status RemoveTable(CliContext& context, Backend& backend, const TableArgs& args) {
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
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  SLUICE_ASSIGN_OR_RAISE(json answer, backend.Call("POST", TablePath(args) + "/revert",
                                                   {{"source_ref", args.source_ref}, {"into_branch", branch},
                                                    {"namespace", args.namespace_name}}));
  if (context.json()) {
    context.PrintJson(answer);
  } else {
    std::cout << "reverted " << answer.at("table").get<std::string>() << " on '" << branch
              << "' to its state at '" << args.source_ref << "': commit "
              << answer.at("commit").get<std::string>().substr(0, 12) << "\n";
  }
  return Status::OK();
}

Status ChangeNamespace(CliContext& context, Backend& backend, const TableArgs& args, bool create) {
  std::string branch = args.branch.empty() ? context.ActiveBranch() : args.branch;
  if (args.name.empty() || args.name.find('.') != std::string::npos) {
    return InvalidInput("invalid namespace name '", args.name, "'");
  }
  auto answer = create ? backend.Call("POST", "namespaces", {{"name", args.name}, {"branch", branch}})
                       : backend.Call("DELETE", "namespaces/" + EncodePathPart(args.name), nullptr,
                                      {{"branch", branch}});
  if (!answer.ok()) {
    ErrorKind skip = create ? ErrorKind::kAlreadyExists : ErrorKind::kNotFound;
    if (args.if_exists && KindOf(answer.status()) == skip) return Status::OK();
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
  auto* table = app.add_subcommand("table", "List, inspect, import, revert and drop tables");
  table->require_subcommand(1);

  auto* ls = table->add_subcommand("ls", "List the tables at a ref");
  ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ls->add_option("--name", args->name_filter, "Only tables whose name contains this");
  ls->add_option("-n,--namespace", args->namespace_filter, "Only tables of this namespace");
  ls->callback(WithBackend(context, exit_code, [&context, args](Backend& b) { return ListTables(context, b, *args); }));

  auto* get = table->add_subcommand("get", "Show a table's schema, row count, snapshot and history");
  get->add_option("name", args->name)->required();
  get->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  get->callback(WithBackend(context, exit_code, [&context, args](Backend& b) { return GetTable(context, b, *args); }));

  for (const char* verb : {"import", "create"}) {
    auto* import = table->add_subcommand(
        verb, "Create a table from Parquet or CSV files, or append them to it (one commit)");
    import->add_option("name", args->name, "Table name: 'table' or 'namespace.table'")->required();
    import->add_option("-s,--search-uri", args->search_uri, "A file, a directory or a glob")->required();
    import->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
    import->add_option("-n,--namespace", args->namespace_name, "Namespace for a bare table name");
    import->callback(
        WithBackend(context, exit_code, [&context, args](Backend& b) { return ImportTable(context, b, *args); }));
  }

  auto* rm = table->add_subcommand("rm", "Drop a table from a branch (its history stays)");
  rm->add_option("name", args->name)->required();
  rm->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  rm->add_flag("--if-exists", args->if_exists, "Succeed when the table does not exist");
  rm->callback(WithBackend(context, exit_code, [&context, args](Backend& b) { return RemoveTable(context, b, *args); }));

  auto* revert = table->add_subcommand("revert", "Bring a table's state at another ref into a branch");
  revert->add_option("name", args->name)->required();
  revert->add_option("-s,--source-ref", args->source_ref, "Ref whose version of the table to take")->required();
  revert->add_option("-b,--into-branch", args->branch, "Branch to write (default: the active branch)");
  revert->callback(
      WithBackend(context, exit_code, [&context, args](Backend& b) { return RevertTable(context, b, *args); }));

  auto* ns = app.add_subcommand("namespace", "List, create and drop namespaces");
  ns->require_subcommand(1);
  auto* ns_ls = ns->add_subcommand("ls", "List the namespaces at a ref")->alias("list");
  ns_ls->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  ns_ls->callback(WithBackend(context, exit_code, [&context, args](Backend& backend) -> Status {
    std::string ref = args->ref.empty() ? context.ActiveBranch() : args->ref;
    SLUICE_ASSIGN_OR_RAISE(json names, backend.Call("GET", "namespaces", nullptr, {{"ref", ref}}));
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
  ns_create->add_flag("--if-not-exists", args->if_exists, "Succeed when it exists");
  ns_create->callback(WithBackend(context, exit_code, [&context, args](Backend& b) {
    return ChangeNamespace(context, b, *args, true);
  }));
  auto* ns_rm = ns->add_subcommand("rm", "Drop an empty namespace from a branch")->alias("delete")->alias("drop");
  ns_rm->add_option("name", args->name)->required();
  ns_rm->add_option("-b,--branch", args->branch, "Branch to write (default: the active branch)");
  ns_rm->add_flag("--if-exists", args->if_exists, "Succeed when it does not exist");
  ns_rm->callback(WithBackend(context, exit_code, [&context, args](Backend& b) {
    return ChangeNamespace(context, b, *args, false);
  }));
}

}  // namespace sluice::cli
