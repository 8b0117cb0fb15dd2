// Regressions the Avro fuzzer found (fuzz/avro_fuzzer.cc, reproducers in
// fuzz/regressions/avro/), kept beside the reader they broke.
#include <gtest/gtest.h>

#include <limits>

#include "format/avro.h"

namespace sluice {
namespace {

std::string AvroLong(int64_t value) {
  uint64_t n = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  std::string out;
  while (n & ~0x7FULL) {
    out.push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out;
}

// A container file whose header holds `schema` and no blocks.
std::string HeaderOnly(const std::string& schema) {
  std::string out("Obj\x01", 4);
  out += AvroLong(1);
  out += AvroLong(11) + "avro.schema";
  out += AvroLong(static_cast<int64_t>(schema.size())) + schema;
  out += AvroLong(0);
  out += std::string(16, 'S');
  return out;
}

// A schema that is JSON but not the Avro it claims made nlohmann::json's at() throw out of
// DecodeAvroFile (std::terminate in the reader of a manifest a REST client committed).
TEST(AvroFuzzRegression, MalformedSchemaIsAnErrorNotAnAbort) {
  for (const std::string schema : {R"({"type": "record", "name": "r"})", R"({"type": "array"})", R"({"type": "map"})",
                                   R"({"type": "record", "fields": [{"type": "int"}]})", R"({"type": 3})",
                                   R"({"type": "record", "name": 1, "fields": []})"}) {
    auto file = DecodeAvroFile(HeaderOnly(schema) + AvroLong(1) + AvroLong(1) + "\x02" + std::string(16, 'S'));
    EXPECT_FALSE(file.ok()) << schema;
    if (!file.ok()) {
      EXPECT_EQ(KindOf(file.status()), ErrorKind::kInvalidInput) << file.status().ToString();
    }
  }
}

// A block count of INT64_MIN was negated (signed overflow), in the header and in arrays.
TEST(AvroFuzzRegression, ABlockCountThatCannotBeNegatedIsAnError) {
  std::string file("Obj\x01", 4);
  file += AvroLong(std::numeric_limits<int64_t>::min()) + AvroLong(0);
  auto decoded = DecodeAvroFile(file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(KindOf(decoded.status()), ErrorKind::kInvalidInput);
}

// An array of nulls (items of no bytes) claiming 2^40 items: a few bytes made the reader loop
// and allocate until it was killed. More items than the data left holds is an error now.
TEST(AvroFuzzRegression, MoreItemsThanTheDataHoldsIsAnErrorNotAHang) {
  std::string block = AvroLong(int64_t{1} << 40) + AvroLong(0);  // one array: 2^40 nulls, then its end
  std::string file = HeaderOnly(R"({"type": "array", "items": "null"})");
  file.resize(file.size() - 16 - 1);  // drop the end of the header's metadata and the sync
  file += AvroLong(0) + std::string(16, 'S') + AvroLong(1) + AvroLong(static_cast<int64_t>(block.size())) + block +
          std::string(16, 'S');
  auto decoded = DecodeAvroFile(file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("more than the data left holds"), std::string::npos)
      << decoded.status().ToString();
}

}  // namespace
}  // namespace sluice
