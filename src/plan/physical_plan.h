// The physical plan of a run: what the engine does, step by step, for a logical plan.
//   scan   reads a lake table's declared columns with its filter pushed down, once for every
//          model that reads the same table, columns and filter;
//   call   runs one model in a worker (an expectation's call is its check), after its scans
//          and the calls of the models it reads;
//   write  commits a model's output as an Iceberg snapshot, after its call. A model that
//          reads another waits for that model's call, not its write, so writes overlap
//          with the models downstream.
// Steps are numbered so that a step only depends on steps before it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "plan/plan.h"

namespace sluice {

enum class StepKind { kScan, kCall, kWrite };

struct ScanStep {
  std::string table;                 // qualified "ns.table"
  std::vector<std::string> columns;  // empty: all
  std::string filter;                // SQL predicate with $params substituted; empty: none
  // Who reads it, first reader first: (node, index into its inputs).
  std::vector<std::pair<size_t, size_t>> readers;
  // Why its columns could not be worked out (scan_columns failed): the readers fail with it
  // when they run, as they would have failed reading the table.
  Status error;
};

struct PlanStep {
  StepKind kind;
  size_t node = 0;                 // call and write: the plan node
  size_t scan = 0;                 // scan: index into PhysicalPlan::scans
  std::vector<size_t> depends_on;  // indices of earlier steps
};

struct PhysicalPlan {
  std::vector<ScanStep> scans;
  std::vector<PlanStep> steps;
  // For each table input of each node, the scan it reads: scan_of[node][input], or -1 for an
  // input that is another model's output.
  std::vector<std::vector<long>> scan_of;
};

struct PhysicalPlanOptions {
  bool write = true;  // false (a dry run): no write steps
  // The columns a scan of `input` of `node` reads when the input declares none: an SQL
  // model's are those its statement references. Unset, or an empty answer: all columns.
  std::function<Result<std::vector<std::string>>(const PlanNode& node, const ResolvedInput& input)> scan_columns;
  // The rows a scan of `input` of `node` may leave out when the input declares no filter: an
  // SQL model's WHERE conjuncts on it (exec/sql_pushdown.h). Unset, or "": none.
  std::function<std::string(const PlanNode& node, const ResolvedInput& input)> scan_filter;
};

// Never fails as a whole: a scan whose columns cannot be worked out carries its error.
PhysicalPlan BuildPhysicalPlan(const Plan& plan, const PhysicalPlanOptions& options);

}  // namespace sluice
