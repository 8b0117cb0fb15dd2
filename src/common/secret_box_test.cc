#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "common/file_util.h"
#include "common/secret_box.h"
#include "common/test_util.h"

namespace sluice {
namespace {

std::string MakeTempDir() {
  char pattern[] = "/tmp/sluice-secret-XXXXXX";
  return ::mkdtemp(pattern);
}

TEST(SecretBoxTest, SealsAndOpensWithTheSameKeyOnly) {
  std::string dir = MakeTempDir();
  ASSERT_OK_AND_ASSIGN(SecretBox box, SecretBox::Open(dir + "/secret.key", /*create=*/true));
  struct stat info {};
  ASSERT_EQ(::stat((dir + "/secret.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  ASSERT_OK_AND_ASSIGN(std::string sealed, box.Seal("api_token", "s3cr3t: value\nline2"));
  EXPECT_TRUE(IsSealedSecret(sealed));
  EXPECT_EQ(sealed.find("s3cr3t"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string plain, box.Unseal("api_token", sealed));
  EXPECT_EQ(plain, "s3cr3t: value\nline2");

  // Reopening reads the same key.
  ASSERT_OK_AND_ASSIGN(SecretBox again, SecretBox::Open(dir + "/secret.key", false));
  ASSERT_OK_AND_ASSIGN(plain, again.Unseal("api_token", sealed));
  EXPECT_EQ(plain, "s3cr3t: value\nline2");

  // Another parameter name, another key, or a flipped byte: a clear error.
  auto moved = box.Unseal("other", sealed);
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.status().message().find("secret parameter 'other'"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(SecretBox other, SecretBox::Open(dir + "/other.key", true));
  auto wrong = other.Unseal("api_token", sealed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("wrong key"), std::string::npos);
  std::string altered = sealed;
  altered[altered.size() - 3] = altered[altered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(box.Unseal("api_token", altered).ok());
  EXPECT_FALSE(box.Unseal("api_token", "plain text").ok());
  ASSERT_OK(RemoveAll(dir));
}

TEST(SecretBoxTest, RefusesMissingSharedOrBrokenKeys) {
  std::string dir = MakeTempDir();
  auto missing = SecretBox::Open(dir + "/none.key", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(KindOf(missing.status()), ErrorKind::kNotFound);
  ASSERT_OK(WriteFileAtomic(dir + "/shared.key", std::string(64, 'a') + "\n", 0644));
  auto shared = SecretBox::Open(dir + "/shared.key", false);
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("readable by other users"), std::string::npos);
  ASSERT_OK(WriteFileAtomic(dir + "/broken.key", "not a key\n", 0600));
  EXPECT_FALSE(SecretBox::Open(dir + "/broken.key", false).ok());
  ASSERT_OK(RemoveAll(dir));
}

}  // namespace
}  // namespace sluice
