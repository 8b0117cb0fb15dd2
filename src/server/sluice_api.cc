#include "server/sluice_api.h"

#include "common/file_util.h"
#include "common/ids.h"
#include "exec/json_views.h"
#include "exec/query_runner.h"
#include "exec/runner.h"
#include "server/api_info.h"

namespace sluice {
namespace {

using nlohmann::json;

ApiResponse Json(const json& body, int status = 200) { return {status, "application/json", body.dump()}; }

json RefsJson(const std::vector<Ref>& refs) {
  json out = json::array();
  for (const auto& r : refs) out.push_back(RefJson(r));
  return out;
}

json ErrorJson(const Status& status) {
  return {{"kind", std::string(ErrorKindName(KindOf(status)))}, {"message", status.message()},
          {"hint", HintOf(status)}};
}

ApiResponse ErrorResponse(const Status& status) {
  return Json({{"error", ErrorJson(status)}}, HttpStatusFor(status));
}

// A run's progress as newline-delimited JSON events (see sluice_api.h). A client that went
// away does not stop the run: it is a transaction either way.
class StreamingObserver : public RunObserver {
 public:
  explicit StreamingObserver(const ChunkWriter& write) : write_(write) {}
  void Send(const json& event) {
    if (connected_) connected_ = write_(event.dump() + "\n");
  }
  void OnPlan(const Plan& plan, const std::string& job_id) override {
    Send({{"event", "plan"}, {"job_id", job_id}, {"models", plan.nodes.size()}, {"text", plan.ToText()}});
  }
  void OnModelOutput(const std::string& model, const std::string& line) override {
    Send({{"event", "output"}, {"model", model}, {"line", line}});
  }
  void OnModelFinish(const ModelReport& report) override {
    Send({{"event", "model"}, {"report", ModelReportJson(report)}});
  }
  void OnWarning(const std::string& message) override { Send({{"event", "warning"}, {"message", message}}); }

 private:
  const ChunkWriter& write_;
  bool connected_ = true;
};

std::string Param(const RestRequest& request, const std::string& key, const std::string& fallback = "") {
  auto it = request.query.find(key);
  return it == request.query.end() || it->second.empty() ? fallback : it->second;
}

std::string Field(const json& body, const char* key, const std::string& fallback = "") {
  return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : fallback;
}

Result<std::string> Required(const json& body, const char* key) {
  std::string value = Field(body, key);
  if (value.empty()) return InvalidInput("missing field '", key, "'");
  return value;
}

// A merge's commit message: bauplan's commit_message (default "merge A into B"), then a blank
// line and commit_body when given.
std::string MergeMessage(const json& body, const std::string& source, const std::string& target) {
  std::string message = Field(body, "commit_message", "merge " + source + " into " + target);
  std::string extra = Field(body, "commit_body");
  return extra.empty() ? message : message + "\n\n" + extra;
}

}  // namespace

ApiResponse SluiceApi::Handle(const RestRequest& request) {
  return HandleGuarded([&] { return Route(request); }, ErrorResponse);
}

Result<ApiResponse> SluiceApi::Route(const RestRequest& request) {
  auto parts = SplitPath(request.path);  // api, v1, resource, ...
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return NotFound("no route for ", request.path);
  const std::string& resource = parts[2];
  const std::string& method = request.method;
  json body = request.body.empty() ? json::object() : json::parse(request.body);
  Catalog& catalog = lake_->catalog();
  std::string author = !request.user.empty() ? request.user : Field(body, "author", CurrentAuthor());
  std::string ns = Param(request, "namespace", Field(body, "namespace", "bauplan"));

  if (resource == "info" && method == "GET") return InfoResponse(author);
  if (resource == "branches") {
    if (parts.size() == 3 && method == "GET") {
      SLUICE_ASSIGN_OR_RAISE(auto refs, catalog.ListBranches(Param(request, "name")));
      return Json(RefsJson(refs));
    }
    if (parts.size() == 3 && method == "POST") {
      SLUICE_ASSIGN_OR_RAISE(std::string name, Required(body, "name"));
      SLUICE_ASSIGN_OR_RAISE(std::string from, Required(body, "from_ref"));
      SLUICE_RETURN_NOT_OK(catalog.CreateBranch(name, from));
      SLUICE_ASSIGN_OR_RAISE(Ref ref, catalog.GetRef(name));
      return Json(RefJson(ref), 201);
    }
    if (parts.size() >= 4) {
      const std::string& name = parts[3];
      if (parts.size() == 4 && method == "GET") {
        SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(name));
        return Json({{"name", name}, {"is_branch", !ref.branch.empty()}, {"commit", CommitJson(ref.commit)},
                     {"tables", ref.tree.tables}, {"namespaces", ref.tree.namespaces}});
      }
      if (parts.size() == 4 && method == "DELETE") {
        SLUICE_RETURN_NOT_OK(catalog.DeleteBranch(name));
        return Json({{"deleted", name}});
      }
      if (parts.size() == 5 && parts[4] == "rename" && method == "POST") {
        SLUICE_ASSIGN_OR_RAISE(std::string to, Required(body, "new_name"));
        SLUICE_RETURN_NOT_OK(catalog.RenameBranch(name, to));
        return Json({{"renamed", name}, {"to", to}});
      }
      if (parts.size() == 5 && parts[4] == "merge" && method == "POST") {
        SLUICE_ASSIGN_OR_RAISE(std::string source, Required(body, "source_ref"));
        SLUICE_ASSIGN_OR_RAISE(MergeResult merge,
                               catalog.Merge(source, name, author, MergeMessage(body, source, name),
                                             IcebergAppendMerger()));
        return Json({{"commit", CommitJson(merge.commit)}, {"fast_forward", merge.fast_forward},
                     {"no_op", merge.no_op}});
      }
    }
  }
  if (resource == "diff" && method == "GET") {
    SLUICE_ASSIGN_OR_RAISE(auto changes, lake_->DiffRefs(Param(request, "from"), Param(request, "to")));
    json out = json::array();
    for (const auto& c : changes) out.push_back(TableChangeJson(c));
    return Json(out);
  }
  if (resource == "tags") {
    if (parts.size() == 3 && method == "GET") {
      SLUICE_ASSIGN_OR_RAISE(auto refs, catalog.ListTags());
      return Json(RefsJson(refs));
    }
    if (parts.size() == 3 && method == "POST") {
      SLUICE_ASSIGN_OR_RAISE(std::string name, Required(body, "name"));
      SLUICE_ASSIGN_OR_RAISE(std::string from, Required(body, "from_ref"));
      SLUICE_RETURN_NOT_OK(catalog.CreateTag(name, from));
      SLUICE_ASSIGN_OR_RAISE(Ref ref, catalog.GetRef(name));
      return Json(RefJson(ref), 201);
    }
    if (parts.size() == 4 && method == "DELETE") {
      SLUICE_RETURN_NOT_OK(catalog.DeleteTag(parts[3]));
      return Json({{"deleted", parts[3]}});
    }
    if (parts.size() == 5 && parts[4] == "rename" && method == "POST") {
      SLUICE_ASSIGN_OR_RAISE(std::string to, Required(body, "new_name"));
      SLUICE_RETURN_NOT_OK(catalog.RenameTag(parts[3], to));
      return Json({{"renamed", parts[3]}, {"to", to}});
    }
  }
  if (resource == "commits" && method == "GET") {
    std::string limit = Param(request, "limit", "0");
    SLUICE_ASSIGN_OR_RAISE(auto commits, catalog.Log(Param(request, "ref", "main"), std::stoul(limit)));
    json out = json::array();
    for (const auto& c : commits) out.push_back(CommitJson(c));
    return Json(out);
  }
  if (resource == "namespaces") {
    if (parts.size() == 3 && method == "GET") {
      SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(Param(request, "ref", "main")));
      return Json(ref.tree.namespaces);
    }
    if ((parts.size() == 3 && method == "POST") || (parts.size() == 4 && method == "DELETE")) {
      bool create = method == "POST";
      std::string name = create ? Field(body, "name") : parts[3];
      std::string branch = create ? Field(body, "branch") : Param(request, "branch");
      if (name.empty() || branch.empty()) return InvalidInput("a namespace and a branch are required");
      SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(branch));
      SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, catalog.Resolve(branch));
      if (create && head.tree.namespaces.count(name)) {
        return AlreadyExists("namespace '", name, "' already exists on '", branch, "'");
      }
      CommitRequest commit;
      commit.branch = branch;
      (create ? commit.namespaces_to_add : commit.namespaces_to_remove).insert(name);
      commit.author = author;
      commit.message = (create ? "create namespace " : "drop namespace ") + name;
      commit.expected_head = head.commit.id;
      SLUICE_RETURN_NOT_OK(catalog.CommitChanges(commit).status());
      return Json({{"namespace", name}, {"branch", branch}}, create ? 201 : 200);
    }
  }
  if (resource == "tables") {
    if (parts.size() == 3 && method == "GET") {
      SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(Param(request, "ref", "main")));
      std::string only = Param(request, "namespace");
      json out = json::array();
      for (const auto& [table, location] : ref.tree.tables) {
        if (!only.empty() && table.substr(0, table.find('.')) != only) continue;
        out.push_back({{"name", table}, {"metadata_location", location}});
      }
      return Json(out);
    }
    if (parts.size() >= 4) {
      SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(parts[3], ns));
      if (parts.size() == 4 && method == "GET") {
        std::string ref_text = Param(request, "ref", "main");
        SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, catalog.Resolve(ref_text));
        SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake_->GetTable(ref, table));
        return Json(TableInfoJson(info, ref_text));
      }
      if (parts.size() == 4 && method == "DELETE") {
        std::string branch = Param(request, "branch");
        SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(branch));
        SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, catalog.Resolve(branch));
        if (!head.tree.tables.count(table)) {
          if (Param(request, "if_exists") == "true") return Json({{"deleted", nullptr}});
          return NotFound("table '", table, "' not found on branch '", branch, "'");
        }
        CommitRequest commit;
        commit.branch = branch;
        commit.changes[table] = std::nullopt;
        commit.author = author;
        commit.message = "drop table " + table;
        commit.expected_head = head.commit.id;
        SLUICE_RETURN_NOT_OK(catalog.CommitChanges(commit).status());
        return Json({{"deleted", table}});
      }
      if (parts.size() == 5 && parts[4] == "import" && method == "POST") {
        SLUICE_ASSIGN_OR_RAISE(std::string uri, Required(body, "search_uri"));
        SLUICE_ASSIGN_OR_RAISE(std::string branch, Required(body, "branch"));
        SLUICE_ASSIGN_OR_RAISE(ImportResult result, lake_->ImportTable(branch, table, uri, author));
        return Json({{"table", result.table}, {"created", result.created}, {"rows", result.rows},
                     {"files", result.files}, {"commit", result.commit.id}, {"branch", branch}});
      }
      if (parts.size() == 5 && parts[4] == "revert" && method == "POST") {
        SLUICE_ASSIGN_OR_RAISE(std::string source, Required(body, "source_ref"));
        SLUICE_ASSIGN_OR_RAISE(std::string branch, Required(body, "into_branch"));
        SLUICE_ASSIGN_OR_RAISE(Commit commit, lake_->RevertTable(branch, table, source, author));
        return Json({{"table", table}, {"branch", branch}, {"commit", commit.id}});
      }
    }
  }
  if (resource == "query" && method == "POST") {
    QueryRequest query;
    SLUICE_ASSIGN_OR_RAISE(query.sql, Required(body, "sql"));
    query.ref = Field(body, "ref", "main");
    query.namespace_name = ns;
    if (body.contains("max_rows") && body["max_rows"].is_number()) query.max_rows = body["max_rows"].get<int64_t>();
    std::string output = Field(body, "output", "arrow");
    if (output == "json" || output == "tty") {
      // Printed lines, for the CLI.
      query.output = output;
      json lines = json::array();
      SLUICE_RETURN_NOT_OK(RunQuery(*lake_, query, [&](const std::string& line) { lines.push_back(line); }));
      return Json({{"lines", lines}});
    }
    query.output = "arrow";
    query.output_path = lake_->objects().root() + "/api/" + NewShortId(12) + ".arrow";
    SLUICE_RETURN_NOT_OK(MakeDirs(lake_->objects().root() + "/api"));
    SLUICE_RETURN_NOT_OK(RunQuery(*lake_, query, [](const std::string&) {}));
    SLUICE_ASSIGN_OR_RAISE(std::string bytes, ReadFile(query.output_path));
    (void)RemoveAll(query.output_path);
    return ApiResponse{200, "application/vnd.apache.arrow.file", std::move(bytes)};
  }
  if (resource == "runs" && method == "POST") {
    RunOptions options;
    options.zygotes = &zygotes_;
    SLUICE_ASSIGN_OR_RAISE(options.project_dir, Required(body, "project_dir"));
    SLUICE_ASSIGN_OR_RAISE(options.ref, Required(body, "ref"));
    options.namespace_name = Field(body, "namespace");
    if (body.contains("parameters")) {
      for (const auto& [k, v] : body["parameters"].items()) options.params[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    options.strict = body.value("strict", false);
    options.dry_run = body.value("dry_run", false);
    options.transaction = body.value("transaction", true);
    options.max_parallel = body.value("parallel", 0);
    options.author = author;
    if (body.value("stream", false)) {
      ApiResponse response;
      response.content_type = "application/x-ndjson";
      response.stream = [this, options](const ChunkWriter& write) {
        StreamingObserver observer(write);
        auto report = RunProject(*lake_, options, &observer);
        if (report.ok()) {
          observer.Send({{"event", "report"}, {"report", RunReportJson(*report)}});
        } else {
          observer.Send({{"event", "error"}, {"error", ErrorJson(report.status())}});
        }
      };
      return response;
    }
    SLUICE_ASSIGN_OR_RAISE(RunReport report, RunProject(*lake_, options, nullptr));
    return Json(RunReportJson(report));
  }
  return NotFound("no route for ", method, " ", request.path);
}

}  // namespace sluice
