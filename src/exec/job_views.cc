#include "exec/job_views.h"

#include <cctype>
#include <ctime>

namespace sluice {
namespace {

using nlohmann::json;

std::string Canonical(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c == '-' || c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

json ParseOr(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

// Model entries keep milliseconds inside the detail; the API shows ISO times.
json ModelsJson(const json& models) {
  json out = json::array();
  for (const auto& model : models) {
    json entry = model;
    entry["started_at"] = JobTimeJson(model.value("started_ms", int64_t{0}));
    entry["finished_at"] = JobTimeJson(model.value("finished_ms", int64_t{0}));
    entry.erase("started_ms");
    entry.erase("finished_ms");
    out.push_back(entry);
  }
  return out;
}

}  // namespace

json JobTimeJson(int64_t millis) {
  if (millis <= 0) return nullptr;
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buffer, static_cast<int>(millis % 1000));
  return std::string(out);
}

Result<int64_t> ParseJobTime(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0;
  double second = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 || consumed != 10) {
    return WithHint(InvalidInput("'", text, "' is not a date"), "use 2026-01-15 or 2026-01-15T10:30:00Z");
  }
  std::string rest = text.substr(10);
  int64_t offset_seconds = 0;
  if (!rest.empty()) {
    int n = 0;
    if ((rest[0] != 'T' && rest[0] != ' ') ||
        std::sscanf(rest.c_str() + 1, "%2d:%2d:%lf%n", &hour, &minute, &second, &n) != 3) {
      return WithHint(InvalidInput("'", text, "' is not a date-time"), "use 2026-01-15T10:30:00Z");
    }
    std::string zone = rest.substr(1 + n);
    int zh = 0, zm = 0;
    if (zone == "Z" || zone.empty()) {
      // UTC
    } else if ((zone[0] == '+' || zone[0] == '-') && std::sscanf(zone.c_str() + 1, "%2d:%2d", &zh, &zm) == 2) {
      offset_seconds = (zone[0] == '+' ? 1 : -1) * (zh * 3600 + zm * 60);
    } else {
      return WithHint(InvalidInput("'", text, "': unknown time zone '", zone, "'"), "use Z or +hh:mm");
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second >= 61) {
    return InvalidInput("'", text, "' is not a valid date");
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  int64_t epoch = static_cast<int64_t>(timegm(&tm)) - offset_seconds;
  return epoch * 1000 + static_cast<int64_t>(second * 1000);
}

std::string HumanJobStatus(const std::string& status) {
  std::string out;
  for (char c : status) out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

json JobJson(const JobRecord& job, bool full) {
  json detail = ParseOr(job.detail, json::object());
  json options = detail.value("options", json::object());
  json error = ParseOr(job.error, nullptr);
  json out = {
      {"id", job.id},
      {"kind", job.kind},
      {"status", job.status},
      {"human_readable_status", HumanJobStatus(job.status)},
      {"user", job.user},
      {"runner", job.runner},
      {"ref", job.ref},
      {"tx_ref", detail.contains("tx_ref") ? detail["tx_ref"] : json(nullptr)},
      {"created_at", JobTimeJson(job.created_ms)},
      {"started_at", JobTimeJson(job.started_ms)},
      {"finished_at", JobTimeJson(job.finished_ms)},
      {"duration_seconds",
       job.started_ms && job.finished_ms ? json((job.finished_ms - job.started_ms) / 1000.0) : json(nullptr)},
      {"error", error},
      {"project_id", detail.contains("project_id") ? detail["project_id"] : json(nullptr)},
      {"project_name", detail.contains("project_name") ? detail["project_name"] : json(nullptr)},
      {"args", options.value("args", json::object())},
      {"priority", options.contains("priority") ? options["priority"] : json(nullptr)},
      {"cache", options.value("cache", "on")},
      {"preview", options.value("preview", "off")},
      {"detached", options.value("detached", false)},
      {"cancel_requested", job.cancel_requested},
      {"commit_id", detail.contains("commit_id") ? detail["commit_id"] : json(nullptr)},
      {"operation", detail.value("operation", "")},
  };
  if (full) {
    out["dag_nodes"] = detail.value("dag_nodes", json::array());
    out["dag_edges"] = detail.value("dag_edges", json::array());
    out["models"] = ModelsJson(detail.value("models", json::array()));
    out["dag_text"] = detail.value("dag_text", "");
  }
  return out;
}

json JobLogJson(const JobLogRecord& line) {
  return {{"seq", line.seq},        {"time", JobTimeJson(line.time_ms)},
          {"level", line.level},    {"stream", line.stream},
          {"type", line.type},      {"model", line.model.empty() ? json(nullptr) : json(line.model)},
          {"message", line.message}};
}

json JobContextJson(const JobRecord& job, const std::vector<JobLogRecord>* logs, bool include_snapshot) {
  json detail = ParseOr(job.detail, json::object());
  json out = {{"id", job.id},
              {"project_id", detail.contains("project_id") ? detail["project_id"] : json(nullptr)},
              {"project_name", detail.contains("project_name") ? detail["project_name"] : json(nullptr)},
              {"ref", job.ref.empty() ? json(nullptr) : json(job.ref)},
              {"tx_ref", detail.contains("tx_ref") ? detail["tx_ref"] : json(nullptr)},
              {"dag_nodes", detail.value("dag_nodes", json::array())},
              {"dag_edges", detail.value("dag_edges", json::array())}};
  if (logs) {
    json lines = json::array();
    for (const auto& line : *logs) lines.push_back(JobLogJson(line));
    out["logs"] = lines;
  }
  if (include_snapshot) out["snapshot_dict"] = detail.value("snapshot", json::object());
  return out;
}

Result<std::string> ParseJobKind(const std::string& text) {
  std::string kind = Canonical(text);
  if (kind == "TABLE_PLAN_APPLY") kind = "TABLE_PLAN_CREATE_APPLY";  // bauplan's CLI spelling
  if (kind == "IMPORT") kind = "TABLE_IMPORT";
  for (const char* known : {"RUN", "QUERY", "TABLE_IMPORT", "TABLE_PLAN_CREATE", "TABLE_PLAN_CREATE_APPLY",
                            "IMPORT_PLAN_CREATE", "IMPORT_PLAN_APPLY", "UNSPECIFIED"}) {
    if (kind == known) return kind;
  }
  return WithHint(InvalidInput("unknown job kind '", text, "'"),
                  "use run, query, table-import, table-plan-create, table-plan-apply, "
                  "import-plan-create or import-plan-apply");
}

Result<std::string> ParseJobStatus(const std::string& text) {
  std::string status = Canonical(text);
  if (status == "SUCCESS" || status == "SUCCEEDED" || status == "COMPLETED") status = "COMPLETE";
  if (status == "FAILED" || status == "FAILURE") status = "FAIL";
  if (status == "CANCELLED" || status == "CANCELED" || status == "ABORTED") status = "ABORT";
  for (const char* known : {kJobNotStarted, kJobRunning, kJobComplete, kJobAbort, kJobFail}) {
    if (status == known) return status;
  }
  return WithHint(InvalidInput("unknown job status '", text, "'"), "use not-started, running, complete, abort or fail");
}

Status CheckJobId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
  if (!ok) {
    std::string shown = id.size() > 80 ? id.substr(0, 80) + "..." : id;
    return WithHint(InvalidInput("'", shown, "' is not a job id"),
                    "job ids are letters, digits and '-'; "
                    "list them with: sluice job ls");
  }
  return Status::OK();
}

}  // namespace sluice
