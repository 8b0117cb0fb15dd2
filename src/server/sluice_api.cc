#include "server/sluice_api.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/bounded_json.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/memory_file.h"
#include "exec/json_views.h"
#include "exec/query_runner.h"
#include "exec/runner.h"
#include "server/api_executors.h"
#include "server/api_info.h"
#include "server/api_jobs.h"
#include "server/api_json.h"
#include "server/api_tables.h"
#include "server/request_fields.h"

namespace sluice {
namespace {

using nlohmann::json;

json RefsJson(const std::vector<Ref>& refs) {
  json out = json::array();
  for (const auto& r : refs) out.push_back(RefJson(r));
  return out;
}

ApiResponse ErrorResponse(const Status& status) { return Json({{"error", ErrorJson(status)}}, HttpStatusFor(status)); }

Result<std::string> Required(const json& body, const char* key) {
  std::string value = Field(body, key);
  if (value.empty()) return InvalidInput("missing field '", key, "'");
  return value;
}

// An answer sent from `file`, from its start, in chunks; the file closes with the answer, and
// so does `hold`.
ApiResponse FileAnswer(OwnedFd file, std::string content_type, std::shared_ptr<void> hold = nullptr) {
  ApiResponse response;
  response.content_type = std::move(content_type);
  response.stream = [file = std::make_shared<OwnedFd>(std::move(file)), hold](const ChunkWriter& write) {
    std::string chunk(1 << 20, '\0');
    for (off_t offset = 0;;) {
      ssize_t n = ::pread(file->get(), chunk.data(), chunk.size(), offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !write(std::string_view(chunk.data(), static_cast<size_t>(n)))) return;
      offset += n;
    }
  };
  return response;
}

}  // namespace

SluiceApi::SluiceApi(Lakehouse* lake, const ServerLimits& limits)
    : lake_(lake),
      limits_(limits),
      query_workers_(/*max_workers=*/8, limits.query_worker_idle_seconds),
      jobs_(std::make_unique<JobsApi>(lake, &zygotes_)),
      executors_(std::make_unique<ExecutorsApi>(lake, limits.remote_workers_per_user)) {}
SluiceApi::~SluiceApi() = default;

void SluiceApi::WarmUp() { WarmUpQueryWorkers(*lake_, &zygotes_); }

ApiResponse SluiceApi::Handle(const RestRequest& request) {
  return jobs_->RecordAsJob(request, [&] { return HandleGuarded([&] { return Route(request); }, ErrorResponse); });
}

Result<ApiResponse> SluiceApi::Route(const RestRequest& request) {
  auto parts = SplitPath(request.path);  // api, v1, resource, ...
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return NotFound("no route for ", request.path);
  const std::string& resource = parts[2];
  const std::string& method = request.method;
  // Before the body is read as JSON: a worker's bytes are not.
  SLUICE_ASSIGN_OR_RAISE(auto executors_answer, executors_->Route(request, parts));
  if (executors_answer) return std::move(*executors_answer);
  json body = request.body.empty() ? json::object() : ParseBoundedJson(request.body);
  SLUICE_ASSIGN_OR_RAISE(auto jobs_answer, jobs_->Route(request, parts, body));
  if (jobs_answer) return std::move(*jobs_answer);
  Catalog& catalog = lake_->catalog();
  std::string author = RequestAuthor(request, body);
  std::string ns = Param(request, "namespace", Field(body, "namespace", "bauplan"));

  if (resource == "info" && method == "GET") return InfoResponse(author);
  if (resource == "cache" && parts.size() >= 4 && parts[3] == "columns") {
    // The column cache of this data home's scans: its usage, and pruning (admins).
    SLUICE_ASSIGN_OR_RAISE(ColumnCache * cache, lake_->column_cache());
    if (parts.size() == 4 && method == "GET") {
      SLUICE_ASSIGN_OR_RAISE(ColumnCacheUsage usage, cache->Usage());
      return Json(ColumnCacheUsageJson(usage));
    }
    if (parts.size() == 5 && parts[4] == "prune" && method == "POST") {
      const json& max = body.contains("max_bytes") ? body["max_bytes"] : json(0);
      if (!max.is_number_integer() || max.get<int64_t>() < 0) {
        return InvalidInput("'max_bytes' must be a whole number of bytes, not ", max.dump());
      }
      bool dry_run = body.value("dry_run", false);
      SLUICE_ASSIGN_OR_RAISE(ColumnCacheUsage removed, cache->Prune(max.get<int64_t>(), dry_run));
      return Json(ColumnCacheUsageJson(removed));
    }
  }
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
        return Json({{"name", name},
                     {"is_branch", !ref.branch.empty()},
                     {"commit", CommitJson(ref.commit)},
                     {"tables", ref.tree.tables},
                     {"namespaces", ref.tree.namespaces}});
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
        // bauplan's commit_message (default "merge A into B"), then commit_body.
        SLUICE_ASSIGN_OR_RAISE(CommitNote note, CommitNoteOf(request, body));
        std::string message = note.Message(Field(body, "commit_message", "merge " + source + " into " + name));
        SLUICE_ASSIGN_OR_RAISE(MergeResult merge,
                               catalog.Merge(source, name, author, message, IcebergAppendMerger(), note.properties));
        return Json(
            {{"commit", CommitJson(merge.commit)}, {"fast_forward", merge.fast_forward}, {"no_op", merge.no_op}});
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
  SLUICE_ASSIGN_OR_RAISE(auto tables, RouteTables(*lake_, request, parts, body, author));
  if (tables) return std::move(*tables);
  if (resource == "query" && method == "POST") {
    QueryRequest query;
    SLUICE_ASSIGN_OR_RAISE(query.sql, Required(body, "sql"));
    query.ref = Field(body, "ref", "main");
    query.namespace_name = ns;
    query.principal = request.key_id.empty() ? "" : "key " + request.key_id;
    if (body.contains("max_rows") && !body["max_rows"].is_null()) {
      if (!body["max_rows"].is_number_integer() || body["max_rows"].get<int64_t>() < 0) {
        return InvalidInput("max_rows must be a non-negative integer, not ", body["max_rows"].dump());
      }
      query.max_rows = body["max_rows"].get<int64_t>();
    }
    query.cache = !body.contains("cache") || (body["cache"] != "off" && body["cache"] != false);
    // The server's limit, or a shorter one the client asks for (the SDK's client_timeout, the
    // CLI's --client-timeout): past it the client has given up, and nobody reads the answer.
    query.timeout_seconds = limits_.query_timeout_seconds;
    query.timeout_hint = "this server stops queries after " +
                         (limits_.query_timeout_seconds > 0 ? SecondsText(limits_.query_timeout_seconds) + " s"
                                                            : std::string("no time limit")) +
                         " ($" + kQueryTimeoutVariable +
                         "); a client may ask for less (client_timeout=, --client-timeout)";
    if (body.contains("timeout_seconds") && !body["timeout_seconds"].is_null()) {
      const json& asked = body["timeout_seconds"];
      if (!asked.is_number() || !(asked.get<double>() > 0) || asked.get<double>() > kMaxLimitSeconds) {
        return InvalidInput("timeout_seconds must be a number of seconds above 0 and at most ", kMaxLimitSeconds,
                            ", not ", asked.dump());
      }
      if (query.timeout_seconds == 0 || asked.get<double>() < query.timeout_seconds) {
        query.timeout_seconds = asked.get<double>();
        query.timeout_hint = "the client asked for this limit (client_timeout=, --client-timeout); this server's is " +
                             (limits_.query_timeout_seconds > 0 ? SecondsText(limits_.query_timeout_seconds) + " s"
                                                                : std::string("none"));
      }
    }
    std::string output = Field(body, "output", "arrow");
    if (output == "json" || output == "tty") {
      // Printed lines, for the CLI.
      query.output = output;
      json lines = json::array();
      SLUICE_RETURN_NOT_OK(RunQuery(
          *lake_, query, [&](const std::string& line) { lines.push_back(line); }, &zygotes_, &query_workers_));
      return Json({{"lines", lines}});
    }
    if (output != "arrow" && output != "arrow_stream") {
      return InvalidInput("output must be arrow, arrow_stream, json or tty, not '", output, "'");
    }
    // The worker writes the rows, an Arrow IPC file or stream, into a memory file of this
    // answer's own (nothing to clean up whatever the client does), which is sent on in chunks:
    // the result is never held whole in this process. Those files are memory outside the
    // object store's budget, held until their clients have read them: past that budget, a
    // query waits for none but is refused, so clients that ask and never read cannot fill
    // the server's memory.
    int64_t budget = lake_->objects().memory_budget();
    if (budget > 0 && unread_answer_bytes_->load() >= budget) {
      return WithHint(Conflict("answers not yet read by their clients hold ", unread_answer_bytes_->load(),
                               " bytes, the server's memory budget (", budget, " bytes)"),
                      "try again once they are read, or ask for fewer rows (max_rows)");
    }
    SLUICE_ASSIGN_OR_RAISE(OwnedFd answer, MemoryFile("sluice-query-answer"));
    query.output = output;
    query.output_fd = answer.get();
    SLUICE_RETURN_NOT_OK(RunQuery(
        *lake_, query, [](const std::string&) {}, &zygotes_, &query_workers_));
    struct stat written {};
    int64_t size = ::fstat(answer.get(), &written) == 0 ? written.st_size : 0;
    *unread_answer_bytes_ += size;
    std::shared_ptr<void> hold(nullptr, [unread = unread_answer_bytes_, size](void*) { *unread -= size; });
    return FileAnswer(std::move(answer),
                      output == "arrow" ? "application/vnd.apache.arrow.file" : "application/vnd.apache.arrow.stream",
                      std::move(hold));
  }
  return NotFound("no route for ", method, " ", request.path);
}

}  // namespace sluice
