#include "plan/plan.h"

#include <gtest/gtest.h>

#include "common/name_match.h"
#include "common/test_util.h"

namespace sluice {
namespace {

ModelSpec PythonModel(const std::string& name, int line, std::vector<ModelInput> inputs) {
  ModelSpec model;
  model.name = name;
  model.function_name = name;
  model.location = {"models.py", line};
  for (auto& input : inputs) input.location = model.location;
  model.inputs = std::move(inputs);
  return model;
}

ModelInput Input(const std::string& name, const std::string& filter = "") {
  ModelInput input;
  input.name = name;
  input.param_name = "x";
  input.filter = filter;
  return input;
}

Project MakeProject(std::vector<ModelSpec> models) {
  Project project;
  project.dir = "/p";
  project.file.name = "p";
  ParameterSpec min{"min", "float", ParameterValue(1.5), false, ""};
  ParameterSpec who{"who", "str", ParameterValue(std::string("O'Brien")), false, ""};
  project.file.parameters = {min, who};
  project.models = std::move(models);
  return project;
}

PlanOptions Options() {
  PlanOptions options;
  options.table_exists = [](const std::string& t) { return t == "bauplan.trips" || t == "raw.zones"; };
  return options;
}

TEST(PlanTest, ResolvesModelsBeforeTablesAndOrdersTheDag) {
  auto last = PythonModel("last", 9, {Input("middle")});
  auto middle = PythonModel("middle", 5, {Input("trips", "miles > $min"), Input("raw.zones")});
  middle.materialization = Materialization::kReplace;
  auto trips = PythonModel("trips_copy", 1, {Input("trips")});
  ASSERT_OK_AND_ASSIGN(Plan plan, BuildPlan(MakeProject({last, middle, trips}), Options()));
  ASSERT_EQ(plan.nodes.size(), 3u);
  EXPECT_EQ(plan.nodes[0].model.name, "middle");
  EXPECT_EQ(plan.nodes[1].model.name, "last");
  EXPECT_EQ(plan.nodes[2].model.name, "trips_copy");
  EXPECT_EQ(plan.nodes[0].inputs[0].source, InputSource::kTable);
  EXPECT_EQ(plan.nodes[0].inputs[0].source_name, "bauplan.trips");
  EXPECT_EQ(plan.nodes[0].inputs[0].filter, "miles > 1.5");
  EXPECT_EQ(plan.nodes[0].inputs[1].source_name, "raw.zones");
  EXPECT_EQ(plan.nodes[0].output_table, "bauplan.middle");
  EXPECT_EQ(plan.nodes[0].downstream, std::vector<size_t>{1});
  EXPECT_EQ(plan.nodes[1].upstream, std::vector<size_t>{0});
  EXPECT_EQ(plan.nodes[1].inputs[0].source, InputSource::kModel);
  EXPECT_NE(plan.ToText().find("-> bauplan.middle"), std::string::npos);
}

TEST(PlanTest, MissingInputCycleAndUnknownParameter) {
  auto missing = BuildPlan(MakeProject({PythonModel("m", 3, {Input("nope")})}), Options());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("model 'm' (models.py:3)"), std::string::npos);
  EXPECT_NE(missing.status().message().find("'bauplan.nope'"), std::string::npos);

  auto cycle =
      BuildPlan(MakeProject({PythonModel("a", 1, {Input("b")}), PythonModel("b", 5, {Input("a")})}), Options());
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.status().message().find("cycle"), std::string::npos);
  EXPECT_NE(cycle.status().message().find("'a' (models.py:1)"), std::string::npos);
  EXPECT_NE(cycle.status().message().find("'b' (models.py:5)"), std::string::npos);

  auto self = BuildPlan(MakeProject({PythonModel("s", 1, {Input("s")})}), Options());
  ASSERT_FALSE(self.ok());

  PlanOptions options = Options();
  options.cli_params["nope"] = "1";
  auto unknown = BuildPlan(MakeProject({PythonModel("m", 3, {Input("trips")})}), options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos);
  EXPECT_NE(HintOf(unknown.status()).find("min, who"), std::string::npos);

  options.cli_params = {{"min", "abc"}};
  EXPECT_FALSE(BuildPlan(MakeProject({PythonModel("m", 3, {Input("trips")})}), options).ok());
}

TEST(PlanTest, ParametersAreTypedAndQuoted) {
  auto model = PythonModel("m", 3, {Input("trips", "name = $who AND miles > $min")});
  model.parameters["threshold"] = "min";
  ModelSpec sql;
  sql.name = "q";
  sql.kind = ModelKind::kSql;
  sql.location = {"q.sql", 0};
  sql.sql = "SELECT * FROM trips WHERE miles > $min";
  sql.inputs = {Input("trips")};
  PlanOptions options = Options();
  options.cli_params["min"] = "10";
  ASSERT_OK_AND_ASSIGN(Plan plan, BuildPlan(MakeProject({model, sql}), options));
  EXPECT_EQ(plan.nodes[0].inputs[0].filter, "name = 'O''Brien' AND miles > 10.0");
  EXPECT_EQ(std::get<double>(plan.nodes[0].arguments.at("threshold")), 10.0);
  EXPECT_EQ(plan.nodes[1].sql, "SELECT * FROM trips WHERE miles > 10.0");
  EXPECT_EQ(ToSqlLiteral(ParameterValue(true)), "TRUE");
  EXPECT_EQ(ToSqlLiteral(ParameterValue(int64_t{7})), "7");

  auto bad = model;
  bad.parameters["x"] = "undefined";
  EXPECT_FALSE(BuildPlan(MakeProject({bad}), Options()).ok());
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Tables and models named in another case resolve to their stored names (the name rule).
TEST(PlanNameRuleTest, MixedCaseTablesAndModels) {
  std::vector<std::string> tables = {"bauplan.amountStatsTable", "bauplan.titanic", "bauplan.Dup", "bauplan.DUP",
                                     "bauplan.trips"};
  PlanOptions options;
  options.resolve_table = [&](const std::string& t) { return ResolveQualifiedName(t, tables); };
  auto reader = PythonModel("reader", 1, {Input("AMOUNTSTATSTABLE"), Input("Clean_Titanic")});
  auto clean = PythonModel("clean_titanic", 5, {Input("Titanic")});
  // An exact table name wins over a model that matches only ignoring case.
  auto trips_model = PythonModel("Trips", 9, {Input("titanic")});
  auto exact = PythonModel("exact", 12, {Input("trips"), Input("Trips")});
  ASSERT_OK_AND_ASSIGN(Plan plan, BuildPlan(MakeProject({reader, clean, trips_model, exact}), options));
  const PlanNode* r = nullptr;
  const PlanNode* e = nullptr;
  for (const auto& node : plan.nodes) {
    if (node.model.name == "reader") r = &node;
    if (node.model.name == "exact") e = &node;
  }
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->inputs[0].source, InputSource::kTable);
  EXPECT_EQ(r->inputs[0].source_name, "bauplan.amountStatsTable");
  EXPECT_EQ(r->inputs[1].source, InputSource::kModel);
  EXPECT_EQ(r->inputs[1].source_name, "clean_titanic");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->inputs[0].source, InputSource::kTable);
  EXPECT_EQ(e->inputs[0].source_name, "bauplan.trips");
  EXPECT_EQ(e->inputs[1].source, InputSource::kModel);
  EXPECT_EQ(e->inputs[1].source_name, "Trips");

  auto ambiguous = BuildPlan(MakeProject({PythonModel("m", 3, {Input("dup")})}), options);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("model 'm' (models.py:3)"), std::string::npos)
      << ambiguous.status().message();
  EXPECT_NE(ambiguous.status().message().find("'Dup', 'DUP'"), std::string::npos);
}

}  // namespace
}  // namespace sluice
