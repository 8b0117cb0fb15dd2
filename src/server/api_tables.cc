#include "server/api_tables.h"

#include "catalog/table_name.h"
#include "exec/external_table.h"
#include "exec/json_views.h"
#include "exec/table_creation.h"
#include "exec/table_import.h"
#include "server/api_json.h"
#include "server/request_fields.h"

namespace sluice {
namespace {

using nlohmann::json;

bool Flag(const json& body, const char* key) {
  if (!body.contains(key)) return false;
  const json& value = body[key];
  if (value.is_boolean()) return value.get<bool>();
  return value.is_string() && (value == "true" || value == "on");
}

Result<std::string> Required(const json& body, const char* key) {
  std::string value = Field(body, key);
  if (value.empty()) return InvalidInput("missing field '", key, "'");
  return value;
}

json CreateResultJson(const TableCreateResult& result) {
  return {{"table", TableInfoJson(result.table, result.branch)},
          {"created", result.created},
          {"replaced", result.replaced},
          {"files", result.files},
          {"branch", result.branch},
          {"commit", result.commit ? json(result.commit->id) : json(nullptr)}};
}

json PlanJson(const TablePlan& plan, const TableCreateOptions& options) {
  json conflicts = json::array();
  for (const auto& c : plan.conflicts) conflicts.push_back({{"column", c.column}, {"types", c.types}});
  auto dot = options.table.find('.');
  return {{"plan", plan.yaml},
          {"can_auto_apply", plan.can_auto_apply()},
          {"conflicts", conflicts},
          {"files_to_be_imported", plan.files},
          {"table", options.table},
          {"namespace", options.table.substr(0, dot)},
          {"branch", options.branch},
          {"search_string", options.search_uri},
          {"table_replace", options.replace},
          {"table_partitioned_by", options.partitioned_by.empty() ? json(nullptr) : json(options.partitioned_by)}};
}

Result<ApiResponse> ChangeNamespace(Lakehouse& lake, const std::string& name, const std::string& branch, bool create,
                                    const std::string& author, const CommitNote& note) {
  if (name.empty() || branch.empty()) return InvalidInput("a namespace and a branch are required");
  SLUICE_RETURN_NOT_OK(CheckNamePart(name, "namespace"));
  SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(branch));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake.catalog().Resolve(branch));
  if (create && head.tree.namespaces.count(name)) {
    return AlreadyExists("namespace '", name, "' already exists on '", branch, "'");
  }
  if (!create && !head.tree.namespaces.count(name)) {
    return NotFound("namespace '", name, "' not found on '", branch, "'");
  }
  CommitRequest commit;
  commit.branch = branch;
  (create ? commit.namespaces_to_add : commit.namespaces_to_remove).insert(name);
  commit.author = author;
  commit.message = (create ? "create namespace " : "drop namespace ") + name;
  note.ApplyTo(&commit);
  commit.expected_head = head.commit.id;
  SLUICE_RETURN_NOT_OK(lake.catalog().CommitChanges(commit).status());
  return Json({{"namespace", name}, {"branch", branch}}, create ? 201 : 200);
}

Result<ApiResponse> RouteNamespaces(Lakehouse& lake, const RestRequest& request, const std::vector<std::string>& parts,
                                    const json& body, const std::string& author) {
  const std::string& method = request.method;
  Catalog& catalog = lake.catalog();
  if (parts.size() == 3 && method == "GET") {
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(Param(request, "ref", "main")));
    return Json(ref.tree.namespaces);
  }
  if (parts.size() == 4 && method == "GET") {
    std::string ref_text = Param(request, "ref", "main");
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(ref_text));
    if (!ref.tree.namespaces.count(parts[3])) {
      return NotFound("namespace '", parts[3], "' not found at ref '", ref_text, "'");
    }
    return Json({{"name", parts[3]}, {"ref", ref_text}});
  }
  if (parts.size() == 3 && method == "POST") {
    SLUICE_ASSIGN_OR_RAISE(CommitNote note, CommitNoteOf(request, body));
    return ChangeNamespace(lake, Field(body, "name"), Field(body, "branch"), true, author, note);
  }
  if (parts.size() == 4 && method == "DELETE") {
    SLUICE_ASSIGN_OR_RAISE(CommitNote note, CommitNoteOf(request, body));
    return ChangeNamespace(lake, parts[3], Param(request, "branch"), false, author, note);
  }
  return NotFound("no route for ", method, " ", request.path);
}

TableCreateOptions CreateOptionsFrom(const json& body, const std::string& table, const std::string& author) {
  TableCreateOptions options;
  options.table = table;
  options.branch = Field(body, "branch");
  options.search_uri = Field(body, "search_uri");
  options.partitioned_by = Field(body, "partitioned_by");
  options.replace = Flag(body, "replace");
  options.if_not_exists = Flag(body, "if_not_exists");
  options.author = author;
  return options;
}

Result<ApiResponse> RouteOneTable(Lakehouse& lake, const RestRequest& request, const std::vector<std::string>& parts,
                                  const json& body, const std::string& author, const std::string& ns) {
  const std::string& method = request.method;
  Catalog& catalog = lake.catalog();
  SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(parts[3], ns));
  if (parts.size() == 4 && method == "GET") {
    std::string ref_text = Param(request, "ref", "main");
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(ref_text));
    SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake.GetTable(ref, table));
    return Json(TableInfoJson(info, ref_text));
  }
  if (parts.size() == 4 && method == "DELETE") {
    std::string branch = Param(request, "branch");
    SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(branch));
    SLUICE_ASSIGN_OR_RAISE(CommitNote note, CommitNoteOf(request, body));
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, catalog.Resolve(branch));
    if (auto stored = ResolveTableName(head.tree, table); stored.ok()) table = *stored;  // name rule
    if (!head.tree.tables.count(table)) {
      if (Param(request, "if_exists") == "true") return Json({{"deleted", nullptr}});
      return NotFound("table '", table, "' not found on branch '", branch, "'");
    }
    CommitRequest commit;
    commit.branch = branch;
    commit.changes[table] = std::nullopt;
    commit.author = author;
    commit.message = "drop table " + table;
    note.ApplyTo(&commit);
    commit.expected_head = head.commit.id;
    SLUICE_RETURN_NOT_OK(catalog.CommitChanges(commit).status());
    return Json({{"deleted", table}});
  }
  if (parts.size() != 5 || method != "POST") return NotFound("no route for ", method, " ", request.path);
  const std::string& action = parts[4];
  if (action == "create") {
    SLUICE_RETURN_NOT_OK(Required(body, "search_uri").status());
    SLUICE_RETURN_NOT_OK(Required(body, "branch").status());
    SLUICE_ASSIGN_OR_RAISE(TableCreateResult result, CreateTable(lake, CreateOptionsFrom(body, table, author)));
    return Json(CreateResultJson(result), result.created ? 201 : 200);
  }
  if (action == "import") {
    ImportOptions options;
    options.table = table;
    SLUICE_ASSIGN_OR_RAISE(options.search_uri, Required(body, "search_uri"));
    SLUICE_ASSIGN_OR_RAISE(options.branch, Required(body, "branch"));
    options.best_effort = Flag(body, "best_effort");
    options.continue_on_error = Flag(body, "continue_on_error");
    options.import_duplicate_files = Flag(body, "import_duplicate_files");
    options.author = author;
    SLUICE_ASSIGN_OR_RAISE(ImportResult result, ImportData(lake, options));
    json skipped = json::array();
    for (const auto& [file, reason] : result.skipped) skipped.push_back({{"file", file}, {"reason", reason}});
    return Json({{"table", result.table},
                 {"branch", result.branch},
                 {"rows", result.rows},
                 {"files", result.files},
                 {"skipped", skipped},
                 {"commit", result.commit ? json(result.commit->id) : json(nullptr)}});
  }
  if (action == "external") {
    ExternalTableOptions options;
    options.table = table;
    SLUICE_ASSIGN_OR_RAISE(options.branch, Required(body, "branch"));
    if (body.contains("search_patterns")) {
      if (!body["search_patterns"].is_array()) return InvalidInput("'search_patterns' must be a list of strings");
      for (const auto& p : body["search_patterns"]) {
        if (!p.is_string()) return InvalidInput("'search_patterns' must be a list of strings");
        options.search_patterns.push_back(p.get<std::string>());
      }
    }
    options.metadata_json_uri = Field(body, "metadata_json_uri");
    options.overwrite = Flag(body, "overwrite");
    options.author = author;
    SLUICE_ASSIGN_OR_RAISE(TableCreateResult result, CreateExternalTable(lake, options));
    return Json(CreateResultJson(result), 201);
  }
  if (action == "revert") {
    SLUICE_ASSIGN_OR_RAISE(std::string source, Required(body, "source_ref"));
    SLUICE_ASSIGN_OR_RAISE(std::string branch, Required(body, "into_branch"));
    SLUICE_ASSIGN_OR_RAISE(CommitNote note, CommitNoteOf(request, body));
    SLUICE_ASSIGN_OR_RAISE(Commit commit, lake.RevertTable(branch, table, source, author, note));
    return Json({{"table", table}, {"branch", branch}, {"commit", commit.id}});
  }
  return NotFound("no route for ", method, " ", request.path);
}

}  // namespace

Result<std::optional<ApiResponse>> RouteTables(Lakehouse& lake, const RestRequest& request,
                                               const std::vector<std::string>& parts, const json& body,
                                               const std::string& author) {
  const std::string& resource = parts[2];
  const std::string& method = request.method;
  std::string ns = Param(request, "namespace", Field(body, "namespace", "bauplan"));
  if (resource == "namespaces") return RouteNamespaces(lake, request, parts, body, author);
  if (resource == "table_plans" && method == "POST") {
    if (parts.size() == 3) {
      SLUICE_ASSIGN_OR_RAISE(std::string name, Required(body, "table"));
      SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(name, ns));
      SLUICE_RETURN_NOT_OK(Required(body, "search_uri").status());
      SLUICE_RETURN_NOT_OK(Required(body, "branch").status());
      TableCreateOptions options = CreateOptionsFrom(body, table, author);
      SLUICE_ASSIGN_OR_RAISE(TablePlan plan, PlanTableCreation(lake, options));
      return Json(PlanJson(plan, options));
    }
    if (parts.size() == 4 && parts[3] == "apply") {
      SLUICE_ASSIGN_OR_RAISE(std::string plan, Required(body, "plan"));
      SLUICE_ASSIGN_OR_RAISE(TableCreateResult result, ApplyTablePlan(lake, plan, Field(body, "branch"), author));
      return Json(CreateResultJson(result), 201);
    }
  }
  if (resource != "tables") return std::optional<ApiResponse>();
  if (parts.size() == 3 && method == "GET") {
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake.catalog().Resolve(Param(request, "ref", "main")));
    std::string only = Param(request, "namespace");
    json out = json::array();
    for (const auto& [table, location] : ref.tree.tables) {
      auto dot = table.find('.');
      if (!only.empty() && table.substr(0, dot) != only) continue;
      out.push_back({{"name", table},
                     {"namespace", table.substr(0, dot)},
                     {"table", table.substr(dot + 1)},
                     {"kind", lake.TableKind(location)},
                     {"metadata_location", location}});
    }
    return Json(out);
  }
  if (parts.size() >= 4) return RouteOneTable(lake, request, parts, body, author, ns);
  return NotFound("no route for ", method, " ", request.path);
}

}  // namespace sluice
