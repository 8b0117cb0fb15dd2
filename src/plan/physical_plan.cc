#include "plan/physical_plan.h"

#include <map>

namespace sluice {

PhysicalPlan BuildPhysicalPlan(const Plan& plan, const PhysicalPlanOptions& options) {
  PhysicalPlan physical;
  physical.scan_of.resize(plan.nodes.size());
  std::map<std::string, size_t> scan_step_by_key;  // scan's key -> its step
  std::vector<size_t> call_step(plan.nodes.size());
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    const PlanNode& node = plan.nodes[i];
    PlanStep call{StepKind::kCall, i, 0, {}};
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ResolvedInput& input = node.inputs[k];
      if (input.source != InputSource::kTable) {
        physical.scan_of[i].push_back(-1);
        continue;
      }
      std::vector<std::string> columns = input.input.columns;
      Status error;
      if (columns.empty() && options.scan_columns) {
        auto found = options.scan_columns(node, input);
        if (found.ok()) {
          columns = std::move(*found);
        } else {
          error = found.status();
        }
      }
      std::string filter = input.filter;
      if (filter.empty() && error.ok() && options.scan_filter) filter = options.scan_filter(node, input);
      // A scan that cannot be planned is its reader's alone: never shared.
      std::string key =
          error.ok() ? input.source_name + "|" + filter + "|" : "\n" + std::to_string(i) + "." + std::to_string(k);
      for (const auto& column : columns) key += column + ",";
      auto [at, added] = scan_step_by_key.try_emplace(key, physical.steps.size());
      if (added) {
        physical.scans.push_back({input.source_name, columns, filter, {}, error});
        physical.steps.push_back({StepKind::kScan, i, physical.scans.size() - 1, {}});
      }
      size_t scan = physical.steps[at->second].scan;
      physical.scans[scan].readers.push_back({i, k});
      physical.scan_of[i].push_back(static_cast<long>(scan));
      call.depends_on.push_back(at->second);
    }
    for (size_t up : node.upstream) call.depends_on.push_back(call_step[up]);
    call_step[i] = physical.steps.size();
    physical.steps.push_back(std::move(call));
    if (options.write && !node.output_table.empty()) {
      physical.steps.push_back({StepKind::kWrite, i, 0, {call_step[i]}});
    }
  }
  return physical;
}

}  // namespace sluice
