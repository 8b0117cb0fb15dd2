#include "exec/run_report.h"

#include "common/byte_size.h"

namespace sluice {

std::string_view ModelStatusName(ModelStatus status) {
  switch (status) {
    case ModelStatus::kSuccess:
      return "success";
    case ModelStatus::kWarning:
      return "warning";
    case ModelStatus::kFailed:
      return "failed";
    case ModelStatus::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::string ScanSummary(const TableScanReport& scan) {
  std::string out = scan.table + ": ";
  if (scan.files_total > scan.files_read) {
    out += std::to_string(scan.files_read) + " of " + std::to_string(scan.files_total) + " files, ";
  }
  if (scan.bytes_from_storage == 0) {
    out += FormatBytes(scan.bytes_from_cache) + ", all from cache";
  } else {
    out += FormatBytes(scan.bytes_from_storage) + " from storage";
    if (!scan.storage_reasons.empty()) {
      out += " (";
      for (size_t i = 0; i < scan.storage_reasons.size(); ++i) out += (i ? ", " : "") + scan.storage_reasons[i];
      out += ")";
    }
    if (scan.bytes_from_cache > 0) out += ", " + FormatBytes(scan.bytes_from_cache) + " from cache";
  }
  if (scan.row_groups_total > scan.row_groups_read) {
    out += "; " + std::to_string(scan.row_groups_total - scan.row_groups_read) + " of " +
           std::to_string(scan.row_groups_total) + " row groups skipped";
  }
  if (!scan.shared_with.empty()) out += "; shared with " + scan.shared_with;
  return out;
}

}  // namespace sluice
