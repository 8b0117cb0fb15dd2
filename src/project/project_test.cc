#include "project/project.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "project/sql_analysis.h"

namespace sluice {
namespace {

const std::string kPackages = std::string(SLUICE_SOURCE_DIR) + "/python";

class ProjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-project-test-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
  }
  void TearDown() override { ASSERT_OK(RemoveAll(dir_)); }
  void Write(const std::string& name, const std::string& text) { ASSERT_OK(WriteFileAtomic(dir_ + "/" + name, text)); }
  Result<Project> Load() { return LoadProject(dir_, SLUICE_TEST_PYTHON, kPackages); }
  void WriteProjectFile() {
    Write("bauplan_project.yml", "project:\n  id: x\n  name: p\nparameters:\n  n:\n    type: int\n    default: 3\n");
  }
  std::string dir_;
};

const ModelSpec* Find(const Project& project, const std::string& name) {
  for (const auto& m : project.models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

TEST(ExampleProjectTest, LoadsTheTaxiExample) {
  ASSERT_OK_AND_ASSIGN(Project project,
                       LoadProject(std::string(SLUICE_SOURCE_DIR) + "/examples/taxi", SLUICE_TEST_PYTHON, kPackages));
  EXPECT_EQ(project.file.name, "taxi");
  EXPECT_EQ(project.file.namespace_name, "bauplan");
  EXPECT_EQ(project.file.timeout_seconds, 600);
  ASSERT_EQ(project.file.parameters.size(), 2u);
  EXPECT_EQ(std::get<double>(*project.file.parameters[0].default_value), 0.5);
  ASSERT_EQ(project.models.size(), 4u);
  const ModelSpec* clean = Find(project, "clean_trips");
  ASSERT_NE(clean, nullptr);
  EXPECT_EQ(clean->kind, ModelKind::kPython);
  EXPECT_EQ(clean->location.ToString(), "models.py:11");
  ASSERT_EQ(clean->inputs.size(), 1u);
  EXPECT_EQ(clean->inputs[0].name, "trips_with_zones");
  EXPECT_EQ(clean->inputs[0].param_name, "trips");
  EXPECT_EQ(clean->inputs[0].columns.size(), 5u);
  EXPECT_EQ(clean->inputs[0].filter, "pickup_at >= $start_date");
  EXPECT_EQ(Find(project, "borough_stats")->materialization, Materialization::kReplace);
  EXPECT_EQ(Find(project, "every_borough_has_trips")->kind, ModelKind::kExpectation);
  const ModelSpec* sql = Find(project, "trips_with_zones");
  ASSERT_NE(sql, nullptr);
  EXPECT_EQ(sql->kind, ModelKind::kSql);
  ASSERT_EQ(sql->inputs.size(), 2u);
  EXPECT_EQ(sql->inputs[0].name, "taxi_trips");
  EXPECT_EQ(sql->inputs[1].name, "taxi_zones");
}

TEST_F(ProjectTest, DecoratorsInAnyOrderWithForeignOnes) {
  WriteProjectFile();
  Write("models.py", R"(import bauplan
import functools

def logged(fn):
    return fn

@logged
@bauplan.python("3.11", pip={"pandas": "2.2"})
@bauplan.model(name="renamed", materialization_strategy="append", columns=["a"])
def f(x=bauplan.Model("t", filter="a > $n"), n=bauplan.Parameter("n")):
    return x

@bauplan.model
def g(y=bauplan.Model("renamed")):
    return y

def not_a_model(z=bauplan.Model("t")):
    return z
)");
  ASSERT_OK_AND_ASSIGN(Project project, Load());
  ASSERT_EQ(project.models.size(), 2u);
  const ModelSpec* f = Find(project, "renamed");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->function_name, "f");
  EXPECT_EQ(f->materialization, Materialization::kAppend);
  EXPECT_EQ(f->pip.at("pandas"), "2.2");
  EXPECT_EQ(f->parameters.at("n"), "n");
  EXPECT_EQ(f->output_columns, std::vector<std::string>{"a"});
  EXPECT_NE(Find(project, "g"), nullptr);
}

TEST_F(ProjectTest, ErrorsNameFileAndLine) {
  WriteProjectFile();
  Write("models.py", "import bauplan\n\n@bauplan.model()\ndef f(:\n    pass\n");
  auto syntax = Load();
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("models.py:4"), std::string::npos) << syntax.status().ToString();

  Write("models.py", "import bauplan\n\n@bauplan.model()\ndef dup(t=bauplan.Model('x')):\n    return t\n");
  Write("dup.sql", "SELECT * FROM x\n");
  auto twice = Load();
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("models.py:4"), std::string::npos);
  EXPECT_NE(twice.status().message().find("dup.sql"), std::string::npos);

  ASSERT_OK(RemoveAll(dir_ + "/dup.sql"));
  Write("bad.sql", "-- bauplan: color=blue\nSELECT * FROM x\n");
  auto header = Load();
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.status().message().find("bad.sql:1"), std::string::npos);

  Write("bad.sql", "SELECT a,\n  b\nFROM x WHERE\n");
  auto parse = Load();
  ASSERT_FALSE(parse.ok());
  EXPECT_NE(parse.status().message().find("(bad.sql:3): syntax error"), std::string::npos) << parse.status().ToString();

  ASSERT_OK(RemoveAll(dir_ + "/bad.sql"));
  Write("bauplan_project.yaml", "project: {name: q}\n");
  auto both = Load();
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("bauplan_project.yaml"), std::string::npos);
}

TEST_F(ProjectTest, ProjectFileErrors) {
  Write("bauplan_project.yml", "project:\n  name: [unclosed\n");
  auto yaml = Load();
  ASSERT_FALSE(yaml.ok());
  EXPECT_NE(yaml.status().message().find("bauplan_project.yml:"), std::string::npos);
  Write("bauplan_project.yml", "parameters:\n  n:\n    type: int\n    default: abc\n");
  auto value = Load();
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("'abc' is not a valid int"), std::string::npos);
  ASSERT_OK(RemoveAll(dir_ + "/bauplan_project.yml"));
  EXPECT_EQ(KindOf(Load().status()), ErrorKind::kNotFound);
}

TEST(SqlAnalysisTest, TablesColumnsCtesAndParameters) {
  ASSERT_OK_AND_ASSIGN(SqlAnalysis a, AnalyzeSql(R"(
    WITH recent AS (SELECT * FROM raw.trips WHERE miles > $min)
    SELECT r.zone_id, z.borough, COUNT(*) AS n,
    FROM recent r JOIN zones z ON r.zone_id = z.zone_id
    WHERE z.name <> '$not_a_param' -- $nor_this
    GROUP BY 1, 2)"));
  EXPECT_EQ(a.tables, (std::vector<std::string>{"raw.trips", "zones"}));
  EXPECT_TRUE(a.uses_star);
  EXPECT_TRUE(a.columns.count("borough"));
  EXPECT_TRUE(a.columns.count("miles"));
  auto bad = AnalyzeSql("SELECT a FROM\nWHERE");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().message();
  auto literal = [](const std::string& name, std::string* out) {
    if (name != "min") return false;
    *out = "'it''s'";
    return true;
  };
  ASSERT_OK_AND_ASSIGN(std::string sql, SubstituteParameters("x > $min AND y = '$min' -- $min", literal));
  EXPECT_EQ(sql, "x > 'it''s' AND y = '$min' -- $min");
  EXPECT_FALSE(SubstituteParameters("x > $other", literal).ok());
}

// DuckDB SQL, parsed by DuckDB: every construct plans and identifiers keep their case.
TEST(SqlAnalysisTest, DuckDbConstructsKeepCase) {
  std::vector<std::string> texts = {
      "SELECT PULocationID, count(*) FROM taxi_fhvhv GROUP BY ALL",
      "SELECT * EXCLUDE (Name) FROM titanic",
      "SELECT * REPLACE (Age * 2 AS Age) FROM titanic",
      "SELECT PassengerId FROM titanic QUALIFY row_number() OVER (PARTITION BY Survived ORDER BY Fare) = 1",
      "SELECT COLUMNS('P.*') FROM titanic",
      "FROM titanic SELECT PassengerId, Fare,",
      "WITH titanic AS (SELECT * FROM bauplan.titanic) SELECT Age FROM titanic ORDER BY ALL",
      "SELECT Name FROM titanic WHERE Fare > $min_fare AND Name <> 'SELECT 1 FROM nope'",
      "PIVOT titanic ON Survived USING avg(Fare) GROUP BY Age",
      "SELECT \"we\"\"ird;col\" FROM \"amountStatsTable\"",
  };
  ASSERT_OK_AND_ASSIGN(auto analyzer, SqlAnalyzer::Start(texts, SLUICE_TEST_PYTHON, kPackages));
  ASSERT_OK_AND_ASSIGN(auto results, analyzer->Finish());
  ASSERT_EQ(results.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    ASSERT_TRUE(results[i].ok()) << texts[i] << ": " << results[i].status().ToString();
  EXPECT_EQ(results[0]->tables, (std::vector<std::string>{"taxi_fhvhv"}));
  EXPECT_EQ(results[0]->columns, (std::set<std::string>{"PULocationID"}));
  EXPECT_FALSE(results[0]->uses_star);
  EXPECT_TRUE(results[1]->uses_star);
  EXPECT_TRUE(results[2]->uses_star);
  EXPECT_EQ(results[3]->columns, (std::set<std::string>{"PassengerId", "Survived", "Fare"}));
  EXPECT_TRUE(results[4]->uses_star);
  EXPECT_EQ(results[5]->columns, (std::set<std::string>{"PassengerId", "Fare"}));
  // A CTE's body reads the lake table it shadows; the outer reference is the CTE.
  EXPECT_EQ(results[6]->tables, (std::vector<std::string>{"bauplan.titanic"}));
  EXPECT_EQ(results[7]->columns, (std::set<std::string>{"Name", "Fare"}));
  EXPECT_EQ(results[8]->tables, (std::vector<std::string>{"titanic"}));
  EXPECT_TRUE(results[8]->uses_star);
  EXPECT_EQ(results[9]->tables, (std::vector<std::string>{"amountStatsTable"}));
  EXPECT_EQ(results[9]->columns, (std::set<std::string>{"we\"ird;col"}));
}

TEST(SqlAnalysisTest, RefusesAnythingButOneQuery) {
  std::vector<std::string> texts = {"SELECT * FROM titanic; DROP TABLE titanic", "DROP TABLE titanic",
                                    "ATTACH '/tmp/x.db' AS x", "SELECT 1; SELECT 2", "SELECT a,\n  b\nFORM titanic"};
  ASSERT_OK_AND_ASSIGN(auto analyzer, SqlAnalyzer::Start(texts, SLUICE_TEST_PYTHON, kPackages));
  ASSERT_OK_AND_ASSIGN(auto results, analyzer->Finish());
  for (const auto& result : results) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(KindOf(result.status()), ErrorKind::kInvalidInput);
  }
  EXPECT_NE(results[4].status().message().find("line 3: syntax error"), std::string::npos)
      << results[4].status().message();
}

TEST_F(ProjectTest, SqlModelSyntaxErrorNamesFileAndLine) {
  WriteProjectFile();
  Write("good.sql", "SELECT * EXCLUDE (Name), FROM titanic QUALIFY row_number() OVER () = 1");
  Write("broken.sql", "-- bauplan: materialization_strategy=REPLACE\nSELECT Age\nFORM titanic");
  auto project = Load();
  ASSERT_FALSE(project.ok());
  EXPECT_NE(project.status().message().find("SQL model 'broken' (broken.sql:3): syntax error"), std::string::npos)
      << project.status().message();
  ASSERT_OK(RemoveAll(dir_ + "/broken.sql"));
  ASSERT_OK_AND_ASSIGN(Project loaded, Load());
  const ModelSpec* good = Find(loaded, "good");
  ASSERT_NE(good, nullptr);
  ASSERT_EQ(good->inputs.size(), 1u);
  EXPECT_EQ(good->inputs[0].name, "titanic");
  EXPECT_TRUE(good->sql_analysis.uses_star);
}

}  // namespace
}  // namespace sluice
