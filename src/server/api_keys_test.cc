#include "server/api_keys.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/temporary_catalog_test.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

using ApiKeysTest = TemporaryCatalogTest;

TEST_F(ApiKeysTest, NoKeyChecksNothing) {
  ApiKeys keys(&catalog_->keys());
  ASSERT_OK_AND_ASSIGN(bool enabled, keys.enabled());
  EXPECT_FALSE(enabled);
}

TEST_F(ApiKeysTest, AKeyIsItsUserAndRoleAndOnlyItsHashIsStored) {
  ASSERT_OK_AND_ASSIGN(std::string alice, catalog_->keys().Create("alice", "writer", 1));
  ASSERT_OK_AND_ASSIGN(std::string bob, catalog_->keys().Create("bob", "reader", 2));
  EXPECT_NE(alice, bob);
  EXPECT_EQ(alice.rfind("sk_", 0), 0u);
  ApiKeys keys(&catalog_->keys());
  ASSERT_OK_AND_ASSIGN(bool enabled, keys.enabled());
  EXPECT_TRUE(enabled);
  ASSERT_OK_AND_ASSIGN(Caller a, keys.Authenticate("Bearer " + alice));
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.role, "writer");
  ASSERT_OK_AND_ASSIGN(Caller b, keys.Authenticate("Bearer " + bob));
  EXPECT_EQ(b.role, "reader");
  // The catalog file holds no key in clear.
  std::string db;
  for (const char* suffix : {"", "-wal"}) {
    if (PathExists(home_ + "/catalog.db" + suffix)) {
      ASSERT_OK_AND_ASSIGN(std::string part, ReadFile(home_ + "/catalog.db" + suffix));
      db += part;
    }
  }
  EXPECT_EQ(db.find(alice), std::string::npos);
  EXPECT_NE(db.find(Sha256Hex(alice)), std::string::npos);
}

TEST_F(ApiKeysTest, AnythingElseIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string alice, catalog_->keys().Create("alice", "admin", 1));
  ApiKeys keys(&catalog_->keys());
  for (const std::string& header :
       std::vector<std::string>{"", "Bearer ", "Bearer", alice, "Basic " + alice, "Bearer " + alice + " ",
                                "Bearer " + alice + "\r\n", "Bearer  " + alice, "Bearer ' OR '1'='1",
                                // The catalog holds hashes: the hash itself is no key.
                                "Bearer " + Sha256Hex(alice)}) {
    auto caller = keys.Authenticate(header);
    EXPECT_FALSE(caller.ok()) << "'" << header << "' was taken for " << (caller.ok() ? caller->user : "");
  }
}

TEST_F(ApiKeysTest, ListAndRemoveByIdNeverShowTheKey) {
  ASSERT_OK_AND_ASSIGN(std::string alice, catalog_->keys().Create("alice", "writer", 1));
  ASSERT_OK_AND_ASSIGN(auto listed, catalog_->keys().List());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, Sha256Hex(alice).substr(0, 12));
  EXPECT_FALSE(catalog_->keys().Remove("abc").ok());     // too short to name a key
  EXPECT_FALSE(catalog_->keys().Remove("'; --x").ok());  // not an id
  ASSERT_OK_AND_ASSIGN(ApiKeyRecord removed, catalog_->keys().Remove(listed[0].id.substr(0, 8)));
  EXPECT_EQ(removed.user, "alice");
  ApiKeys keys(&catalog_->keys());
  EXPECT_FALSE(keys.Authenticate("Bearer " + alice).ok());
  EXPECT_FALSE(catalog_->keys().Remove(listed[0].id).ok());
}

TEST_F(ApiKeysTest, BadUsersAndRolesAreRefused) {
  for (const std::string& user : std::vector<std::string>{"", "a b", "x\"y", "../root", std::string(200, 'u')}) {
    EXPECT_FALSE(catalog_->keys().Create(user, "writer", 1).ok()) << user;
  }
  EXPECT_FALSE(catalog_->keys().Create("alice", "root", 1).ok());
  EXPECT_FALSE(catalog_->keys().Create("alice", "", 1).ok());
}

TEST(RoleNeeded, ReadsWritesAndMain) {
  EXPECT_EQ(RoleNeeded("GET", "/api/v1/branches"), "reader");
  EXPECT_EQ(RoleNeeded("GET", "/v1/main/namespaces"), "reader");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/query"), "reader");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/branches"), "writer");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/runs"), "writer");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/branches/alice.dev/merge"), "writer");
  EXPECT_EQ(RoleNeeded("POST", "/v1/alice.dev/namespaces/bauplan/tables/t"), "writer");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/branches/main/merge"), "admin");
  EXPECT_EQ(RoleNeeded("DELETE", "/api/v1/branches/main"), "admin");
  EXPECT_EQ(RoleNeeded("POST", "/api/v1/branches/main/rename"), "admin");
  EXPECT_TRUE(RoleAllows("admin", "writer"));
  EXPECT_TRUE(RoleAllows("writer", "reader"));
  EXPECT_FALSE(RoleAllows("reader", "writer"));
  EXPECT_FALSE(RoleAllows("writer", "admin"));
  EXPECT_FALSE(RoleAllows("", "reader"));
  EXPECT_FALSE(RoleAllows("root", "reader"));
}

}  // namespace
}  // namespace sluice
