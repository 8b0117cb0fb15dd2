// The JSON shapes of catalog objects, tables and runs, shared by `-O json` output and the
// server's JSON API so both always agree.
#pragma once

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "exec/lakehouse.h"
#include "exec/run_report.h"

namespace sluice {

// {"kind", "message", "hint"} of an error status: how jobs, the API and function executors
// report errors, and what python/sluice/exceptions.py reads back.
nlohmann::json ErrorJson(const Status& status);
nlohmann::json CommitJson(const Commit& commit);
nlohmann::json RefJson(const Ref& ref);
// A table at a ref: name, ref, records, data_files, snapshot_id, metadata_location, fields,
// history.
nlohmann::json TableInfoJson(const TableInfo& info, const std::string& ref_text);
nlohmann::json TableChangeJson(const TableChange& change);
nlohmann::json ModelReportJson(const ModelReport& report);
ModelReport ModelReportFromJson(const nlohmann::json& report);
nlohmann::json RunReportJson(const RunReport& report);
// {"directory", "entries", "bytes", "budget"}: the column cache's usage, or what a prune removed.
nlohmann::json ColumnCacheUsageJson(const ColumnCacheUsage& usage);
// The inverse of RunReportJson, for reports that came over the wire.
RunReport RunReportFromJson(const nlohmann::json& report);

}  // namespace sluice
