#include "common/utf8.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Utf8, ValidTextIsUnchanged) {
  std::string text = "PassengerId 1 \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x95";  // é € 🚕
  EXPECT_EQ(ValidUtf8(text), text);
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(ValidUtf8("raw \xFF\xFE!"), "raw \xEF\xBF\xBD\xEF\xBF\xBD!");
  EXPECT_EQ(ValidUtf8("cut \xE2\x82"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");          // truncated €
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

TEST(Utf8, APrefixEndsOnACharacterBoundary) {
  std::string euros = "\xE2\x82\xAC\xE2\x82\xAC";
  EXPECT_EQ(Utf8Prefix(euros, 4), "\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(euros, 3), "\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(euros, 2), "");
  EXPECT_EQ(Utf8Prefix(euros, 10), euros);
}

}  // namespace
}  // namespace sluice
