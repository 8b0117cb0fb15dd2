#include "exec/json_views.h"

namespace sluice {

using nlohmann::json;

json ErrorJson(const Status& status) {
  return {
      {"kind", std::string(ErrorKindName(KindOf(status)))}, {"message", status.message()}, {"hint", HintOf(status)}};
}

json CommitJson(const Commit& commit) {
  return {{"id", commit.id},           {"parents", commit.parents},           {"author", commit.author},
          {"message", commit.message}, {"timestamp_ms", commit.timestamp_ms}, {"properties", commit.properties}};
}

json RefJson(const Ref& ref) {
  return {{"name", ref.name}, {"kind", ref.kind == RefKind::kBranch ? "branch" : "tag"}, {"commit", ref.commit_id}};
}

json TableInfoJson(const TableInfo& info, const std::string& ref_text) {
  const auto& snapshot = info.snapshot;
  json fields = json::array();
  for (const auto& field : snapshot.schema->fields()) {
    fields.push_back({{"name", field->name()}, {"type", field->type()->ToString()}, {"nullable", field->nullable()}});
  }
  json history = json::array();
  for (const auto& h : snapshot.history) {
    history.push_back({{"snapshot_id", h.snapshot_id},
                       {"timestamp_ms", h.timestamp_ms},
                       {"operation", h.operation},
                       {"records", h.total_records}});
  }
  json partitions = json::array();
  for (const auto& p : snapshot.partitions) {
    partitions.push_back({{"name", p.name}, {"transform", p.transform}, {"source", p.source_column}});
  }
  auto dot = info.name.find('.');
  return {{"name", info.name},
          {"namespace", info.name.substr(0, dot)},
          {"table", dot == std::string::npos ? info.name : info.name.substr(dot + 1)},
          {"kind", info.kind},
          {"table_uuid", snapshot.metadata.table_uuid},
          {"partitions", partitions},
          {"properties", snapshot.properties},
          {"ref", ref_text},
          {"records", snapshot.total_records},
          {"data_files", snapshot.data_files.size()},
          {"snapshot_id", snapshot.snapshot_id ? json(*snapshot.snapshot_id) : json(nullptr)},
          {"metadata_location", info.metadata_location},
          {"fields", fields},
          {"history", history}};
}

json TableChangeJson(const TableChange& c) {
  auto count = [](const std::optional<int64_t>& n) { return n ? json(*n) : json(nullptr); };
  return {{"table", c.table},
          {"kind", c.kind},
          {"from_records", count(c.from_records)},
          {"to_records", count(c.to_records)},
          {"schema_changes", c.schema_changes}};
}

json ModelReportJson(const ModelReport& m) {
  json out = {{"name", m.name},
              {"kind", m.kind},
              {"location", m.location},
              {"status", ModelStatusName(m.status)},
              {"seconds", m.seconds},
              {"rows", m.rows < 0 ? json(nullptr) : json(m.rows)},
              {"output_table", m.output_table},
              {"message", m.message},
              {"traceback", m.traceback},
              {"user_start", m.user_start},
              {"user_return", m.user_return},
              {"output_written", m.output_written},
              {"worker_start", m.worker_start},
              {"output_shared_bytes", m.output_shared_bytes}};
  if (!m.preview_columns.empty()) out["preview"] = {{"columns", m.preview_columns}, {"rows", m.preview_rows}};
  json scans = json::array();
  for (const auto& scan : m.scans) {
    scans.push_back({{"table", scan.table},
                     {"bytes_from_storage", scan.bytes_from_storage},
                     {"bytes_from_cache", scan.bytes_from_cache},
                     {"storage_reasons", scan.storage_reasons},
                     {"row_groups_read", scan.row_groups_read},
                     {"row_groups_total", scan.row_groups_total},
                     {"files_read", scan.files_read},
                     {"files_total", scan.files_total},
                     {"shared_with", scan.shared_with},
                     {"seconds", scan.seconds}});
  }
  out["scans"] = scans;
  return out;
}

ModelReport ModelReportFromJson(const json& m) {
  ModelReport model;
  model.name = m.value("name", "");
  model.kind = m.value("kind", "");
  model.location = m.value("location", "");
  std::string status = m.value("status", "");
  for (ModelStatus s : {ModelStatus::kSuccess, ModelStatus::kWarning, ModelStatus::kFailed, ModelStatus::kSkipped}) {
    if (ModelStatusName(s) == status) model.status = s;
  }
  model.seconds = m.value("seconds", 0.0);
  model.rows = m.contains("rows") && m["rows"].is_number() ? m["rows"].get<int64_t>() : -1;
  model.output_table = m.value("output_table", "");
  model.message = m.value("message", "");
  model.traceback = m.value("traceback", "");
  model.user_start = m.value("user_start", 0.0);
  model.user_return = m.value("user_return", 0.0);
  model.output_written = m.value("output_written", 0.0);
  model.worker_start = m.value("worker_start", 0.0);
  model.output_shared_bytes = m.value("output_shared_bytes", int64_t{0});
  if (m.contains("preview") && m["preview"].is_object()) {
    model.preview_columns = m["preview"].value("columns", std::vector<std::string>{});
    model.preview_rows = m["preview"].value("rows", std::vector<std::vector<std::string>>{});
  }
  for (const auto& s : m.value("scans", json::array())) {
    TableScanReport scan;
    scan.table = s.value("table", "");
    scan.bytes_from_storage = s.value("bytes_from_storage", int64_t{0});
    scan.bytes_from_cache = s.value("bytes_from_cache", int64_t{0});
    scan.storage_reasons = s.value("storage_reasons", std::vector<std::string>{});
    scan.row_groups_read = s.value("row_groups_read", int64_t{0});
    scan.row_groups_total = s.value("row_groups_total", int64_t{0});
    scan.files_read = s.value("files_read", int64_t{0});
    scan.files_total = s.value("files_total", int64_t{0});
    scan.shared_with = s.value("shared_with", "");
    scan.seconds = s.value("seconds", 0.0);
    model.scans.push_back(std::move(scan));
  }
  return model;
}

json RunReportJson(const RunReport& report) {
  json models = json::array();
  for (const auto& m : report.models) models.push_back(ModelReportJson(m));
  return {{"job_id", report.job_id},
          {"job_status", report.ok()                                      ? "SUCCESS"
                         : KindOf(report.status) == ErrorKind::kCancelled ? "CANCELLED"
                                                                          : "FAILED"},
          {"ref", report.target_ref},
          {"run_branch", report.run_branch},
          {"run_branch_kept", report.run_branch_kept},
          {"commit", report.commit_id},
          {"seconds", report.seconds},
          {"environment_seconds", report.environment_seconds},
          {"memory_budget_bytes", report.memory_budget_bytes},
          {"peak_shared_memory_bytes", report.peak_shared_memory_bytes},
          {"spilled_bytes", report.spilled_bytes},
          {"warnings", report.warnings},
          {"error", report.ok() ? json(nullptr) : json(report.status.message())},
          {"error_kind", report.ok() ? json(nullptr) : json(std::string(ErrorKindName(KindOf(report.status))))},
          {"models", models}};
}

RunReport RunReportFromJson(const json& j) {
  RunReport report;
  report.job_id = j.value("job_id", "");
  report.target_ref = j.value("ref", "");
  report.run_branch = j.value("run_branch", "");
  report.run_branch_kept = j.value("run_branch_kept", false);
  report.commit_id = j.value("commit", "");
  report.seconds = j.value("seconds", 0.0);
  report.environment_seconds = j.value("environment_seconds", 0.0);
  report.memory_budget_bytes = j.value("memory_budget_bytes", int64_t{0});
  report.peak_shared_memory_bytes = j.value("peak_shared_memory_bytes", int64_t{0});
  report.spilled_bytes = j.value("spilled_bytes", int64_t{0});
  report.warnings = j.value("warnings", std::vector<std::string>{});
  if (j.value("job_status", "") != "SUCCESS") {
    std::string kind =
        j.contains("error_kind") && j["error_kind"].is_string() ? j["error_kind"].get<std::string>() : "";
    std::string message = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "run failed";
    report.status = MakeError(ErrorKindFromName(kind), message);
  }
  for (const auto& m : j.value("models", json::array())) report.models.push_back(ModelReportFromJson(m));
  return report;
}

json ColumnCacheUsageJson(const ColumnCacheUsage& usage) {
  return {{"directory", usage.directory}, {"entries", usage.entries}, {"bytes", usage.bytes}, {"budget", usage.budget}};
}

}  // namespace sluice
