#include "common/name_match.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace sluice {
namespace {

const std::vector<std::string> kTitanic = {"PassengerId", "Age", "Fare", "Survived", "Name"};

TEST(NameMatchTest, ExactMatchWins) {
  ASSERT_OK_AND_ASSIGN(auto name, ResolveName("Age", {"age", "Age", "AGE"}, "column"));
  EXPECT_EQ(name, "Age");
  ASSERT_OK_AND_ASSIGN(auto lower, ResolveName("age", {"Age", "age"}, "column"));
  EXPECT_EQ(lower, "age");
}

TEST(NameMatchTest, UniqueCaseInsensitiveMatchKeepsTheStoredCase) {
  ASSERT_OK_AND_ASSIGN(auto name, ResolveName("passengerid", kTitanic, "column"));
  EXPECT_EQ(name, "PassengerId");
  ASSERT_OK_AND_ASSIGN(auto upper, ResolveName("FARE", kTitanic, "column"));
  EXPECT_EQ(upper, "Fare");
  ASSERT_OK_AND_ASSIGN(size_t index, MatchName("survived", kTitanic, "column"));
  EXPECT_EQ(index, 3u);
}

TEST(NameMatchTest, AmbiguousMatchNamesEveryCandidate) {
  auto result = ResolveName("AGE", {"Age", "age", "Fare"}, "column");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kInvalidInput);
  std::string message = result.status().message();
  EXPECT_NE(message.find("'AGE' is ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("'Age'"), std::string::npos) << message;
  EXPECT_NE(message.find("'age'"), std::string::npos) << message;
  EXPECT_EQ(message.find("Fare"), std::string::npos) << message;
}

TEST(NameMatchTest, QuotedNamesMatchExactly) {
  ASSERT_OK_AND_ASSIGN(auto name, ResolveName("age", {"Age", "age"}, "column", /*quoted=*/true));
  EXPECT_EQ(name, "age");
  auto missing = ResolveName("age", {"Age"}, "column", /*quoted=*/true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(KindOf(missing.status()), ErrorKind::kNotFound);
  EXPECT_NE(missing.status().message().find("quoted"), std::string::npos);
}

TEST(NameMatchTest, MissingNameIsNotFound) {
  auto result = ResolveName("Agee", kTitanic, "column");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kNotFound);
  EXPECT_NE(result.status().message().find("column 'Agee' does not exist"), std::string::npos);
  EXPECT_FALSE(ResolveName("Age", {}, "column").ok());
}

TEST(NameMatchTest, HostileNamesAreComparedAsPlainText) {
  std::vector<std::string> names = {"a\"; DROP TABLE t; --", "Age"};
  ASSERT_OK_AND_ASSIGN(auto name, ResolveName("A\"; drop table T; --", names, "column"));
  EXPECT_EQ(name, names[0]);
  EXPECT_FALSE(ResolveName("", names, "column").ok());
  // Non-ASCII bytes are compared exactly (no locale-dependent folding).
  EXPECT_FALSE(ResolveName("\xc3\x89t\xc3\xa9", {"\xc3\xa9t\xc3\xa9"}, "column").ok());
}

TEST(NameMatchTest, QualifiedTableNames) {
  std::vector<std::string> tables = {
      "bauplan.amountStatsTable", "bauplan.titanic", "Raw.Trips", "raw2.x", "bauplan.Dup", "bauplan.DUP"};
  ASSERT_OK_AND_ASSIGN(auto exact, ResolveQualifiedName("bauplan.amountStatsTable", tables));
  EXPECT_EQ(exact, "bauplan.amountStatsTable");
  ASSERT_OK_AND_ASSIGN(auto folded, ResolveQualifiedName("bauplan.amountstatstable", tables));
  EXPECT_EQ(folded, "bauplan.amountStatsTable");
  ASSERT_OK_AND_ASSIGN(auto ns, ResolveQualifiedName("raw.trips", tables));
  EXPECT_EQ(ns, "Raw.Trips");
  ASSERT_OK_AND_ASSIGN(auto dup, ResolveQualifiedName("bauplan.Dup", tables));
  EXPECT_EQ(dup, "bauplan.Dup");
  auto ambiguous = ResolveQualifiedName("bauplan.dup", tables);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(KindOf(ambiguous.status()), ErrorKind::kInvalidInput);
  EXPECT_NE(ambiguous.status().message().find("'DUP'"), std::string::npos);
  auto missing = ResolveQualifiedName("bauplan.nope", tables);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(KindOf(missing.status()), ErrorKind::kNotFound);
  EXPECT_NE(missing.status().message().find("'bauplan.nope'"), std::string::npos);
  EXPECT_EQ(KindOf(ResolveQualifiedName("nope.titanic", tables).status()), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace sluice
