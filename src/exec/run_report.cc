#include "exec/run_report.h"

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

}  // namespace sluice
