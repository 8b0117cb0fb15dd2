#include "plan/physical_plan.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace sluice {
namespace {

ResolvedInput TableInput(const std::string& table, std::vector<std::string> columns, const std::string& filter) {
  ResolvedInput input;
  input.input.name = table;
  input.input.columns = std::move(columns);
  input.source = InputSource::kTable;
  input.source_name = table;
  input.filter = filter;
  return input;
}

ResolvedInput ModelInputOf(const std::string& model) {
  ResolvedInput input;
  input.input.name = model;
  input.source = InputSource::kModel;
  input.source_name = model;
  return input;
}

PlanNode Node(const std::string& name, std::vector<ResolvedInput> inputs, std::vector<size_t> upstream,
              const std::string& output_table) {
  PlanNode node;
  node.model.name = name;
  node.inputs = std::move(inputs);
  node.upstream = std::move(upstream);
  node.output_table = output_table;
  return node;
}

// a and b read the same table the same way; c reads it with another filter and reads a.
Plan ThreeModels() {
  Plan plan;
  plan.nodes.push_back(Node("a", {TableInput("ns.trips", {"x"}, "x > 1")}, {}, "ns.a"));
  plan.nodes.push_back(Node("b", {TableInput("ns.trips", {"x"}, "x > 1")}, {}, ""));
  plan.nodes.push_back(Node("c", {TableInput("ns.trips", {"x"}, "x > 2"), ModelInputOf("a")}, {0}, "ns.c"));
  plan.nodes[0].downstream = {2};
  return plan;
}

size_t StepOf(const PhysicalPlan& physical, StepKind kind, size_t node) {
  for (size_t s = 0; s < physical.steps.size(); ++s) {
    if (physical.steps[s].kind == kind && physical.steps[s].node == node) return s;
  }
  ADD_FAILURE() << "no such step for node " << node;
  return 0;
}

TEST(PhysicalPlanTest, OneScanPerTableColumnsAndFilter) {
  PhysicalPlan physical = BuildPhysicalPlan(ThreeModels(), {});
  ASSERT_EQ(physical.scans.size(), 2u);
  EXPECT_EQ(physical.scans[0].filter, "x > 1");
  EXPECT_EQ(physical.scans[0].readers.size(), 2u);  // a and b share it
  EXPECT_EQ(physical.scans[1].filter, "x > 2");
  EXPECT_EQ(physical.scan_of[0], std::vector<long>{0});
  EXPECT_EQ(physical.scan_of[1], std::vector<long>{0});
  EXPECT_EQ(physical.scan_of[2], (std::vector<long>{1, -1}));  // the model input has no scan
}

TEST(PhysicalPlanTest, CallsWaitForScansAndUpstreamCallsButNotTheirWrites) {
  PhysicalPlan physical = BuildPhysicalPlan(ThreeModels(), {});
  for (size_t s = 0; s < physical.steps.size(); ++s) {
    for (size_t d : physical.steps[s].depends_on) EXPECT_LT(d, s) << "step " << s;
  }
  size_t call_a = StepOf(physical, StepKind::kCall, 0), write_a = StepOf(physical, StepKind::kWrite, 0);
  size_t call_c = StepOf(physical, StepKind::kCall, 2);
  EXPECT_EQ(physical.steps[write_a].depends_on, std::vector<size_t>{call_a});
  const auto& c_deps = physical.steps[call_c].depends_on;
  EXPECT_NE(std::find(c_deps.begin(), c_deps.end(), call_a), c_deps.end());
  EXPECT_EQ(std::find(c_deps.begin(), c_deps.end(), write_a), c_deps.end());
  // b materializes nothing: no write step.
  for (const auto& step : physical.steps) EXPECT_FALSE(step.kind == StepKind::kWrite && step.node == 1);
}

TEST(PhysicalPlanTest, ADryRunHasNoWrites) {
  PhysicalPlanOptions options;
  options.write = false;
  for (const auto& step : BuildPhysicalPlan(ThreeModels(), options).steps) EXPECT_NE(step.kind, StepKind::kWrite);
}

TEST(PhysicalPlanTest, AScanWhoseColumnsCannotBeWorkedOutCarriesItsErrorAlone) {
  Plan plan;
  plan.nodes.push_back(Node("q", {TableInput("ns.trips", {}, "")}, {}, ""));
  plan.nodes.push_back(Node("r", {TableInput("ns.trips", {}, "")}, {}, ""));
  PhysicalPlanOptions options;
  options.scan_columns = [](const PlanNode& node, const ResolvedInput&) -> Result<std::vector<std::string>> {
    if (node.model.name == "q") return InvalidInput("column 'nope' not found");
    return std::vector<std::string>{"x"};
  };
  PhysicalPlan physical = BuildPhysicalPlan(plan, options);
  ASSERT_EQ(physical.scans.size(), 2u);
  EXPECT_EQ(physical.scans[0].error.message(), "column 'nope' not found");
  EXPECT_OK(physical.scans[1].error);
  EXPECT_EQ(physical.scans[1].columns, std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace sluice
