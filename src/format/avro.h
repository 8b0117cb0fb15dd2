// Avro object container files, written and read here (Debian's Avro C library drops the
// "field-id" attributes Iceberg needs and cannot set the file metadata it requires).
// Values use nlohmann::json as the value model: null, booleans, integers, doubles, strings,
// binary (json::binary_t) for bytes and fixed, objects for records and maps, arrays for
// arrays. A union takes its first non-null branch unless the value is null.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sluice {

struct AvroFile {
  nlohmann::json schema;                        // the writer's schema
  std::map<std::string, std::string> metadata;  // user metadata (without avro.* keys)
  std::vector<nlohmann::json> records;
};

enum class AvroCodec { kNull, kDeflate };

// Encodes a whole container file. `records_per_block` bounds the records of one block.
// InvalidInput when a value does not fit the schema (naming the field).
Result<std::string> EncodeAvroFile(const AvroFile& file, AvroCodec codec = AvroCodec::kDeflate,
                                   size_t records_per_block = 1000);

// Decodes a whole container file written by any Avro writer using the null or deflate codec.
Result<AvroFile> DecodeAvroFile(const std::string& bytes);

}  // namespace sluice
