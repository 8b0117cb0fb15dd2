// The JSON shapes of jobs (server/README.md, "Jobs"), shared by the API and `-O json`, and
// the parsing of what users type to filter them (bauplan's spellings included).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "catalog/job_store.h"
#include "common/status.h"

namespace sluice {

// "2026-11-30T09:00:00.123Z"; null for 0.
nlohmann::json JobTimeJson(int64_t millis);
// Accepts "2026-11-30", "2026-11-30T09:00:00", with optional fraction and "Z" or "+hh:mm".
Result<int64_t> ParseJobTime(const std::string& text);

// A Job; with `full`, also dag_nodes, dag_edges and models.
nlohmann::json JobJson(const JobRecord& job, bool full);
nlohmann::json JobLogJson(const JobLogRecord& line);
// bauplan's JobContext: ids, project, refs, DAG, and optionally logs and the code snapshot.
nlohmann::json JobContextJson(const JobRecord& job, const std::vector<JobLogRecord>* logs, bool include_snapshot);

// "run", "RUN", "table-import", "TABLE_IMPORT", "table-plan-apply", ... -> the JobKind name.
// InvalidInput listing the kinds otherwise.
Result<std::string> ParseJobKind(const std::string& text);
// "running", "RUNNING", "not-started", "complete", "success", "fail", "failed", "abort",
// "cancelled" -> the JobState name. InvalidInput listing the states otherwise.
Result<std::string> ParseJobStatus(const std::string& text);
// "complete" for COMPLETE, "not-started" for NOT_STARTED, ...
std::string HumanJobStatus(const std::string& status);

// Job ids are [A-Za-z0-9-]{1,64}; anything else (a path, "../x") is InvalidInput.
Status CheckJobId(const std::string& id);

}  // namespace sluice
