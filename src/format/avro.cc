#include "format/avro.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <random>

#include "common/bounded_json.h"

namespace sluice {
namespace {

using nlohmann::json;

constexpr char kMagic[4] = {'O', 'b', 'j', 1};

// --- encoding ---------------------------------------------------------------------------

void PutLong(std::string* out, int64_t value) {
  uint64_t n = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  while (n & ~0x7FULL) {
    out->push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

void PutBytes(std::string* out, std::string_view bytes) {
  PutLong(out, static_cast<int64_t>(bytes.size()));
  out->append(bytes);
}

std::string TypeName(const json& schema) {
  if (schema.is_string()) return schema.get<std::string>();
  if (schema.is_array()) return "union";
  return schema.at("type").get<std::string>();
}

Status Encode(const json& schema, const json& value, const std::string& path, std::string* out) {
  std::string type = TypeName(schema);
  auto mismatch = [&]() {
    return InvalidInput("avro: value for '", path, "' does not match type ", type, ": ",
                        value.is_binary() ? "<bytes>" : value.dump());
  };
  if (type == "null") {
    if (!value.is_null()) return mismatch();
  } else if (type == "boolean") {
    if (!value.is_boolean()) return mismatch();
    out->push_back(value.get<bool>() ? 1 : 0);
  } else if (type == "int" || type == "long") {
    if (!value.is_number_integer()) return mismatch();
    PutLong(out, value.get<int64_t>());
  } else if (type == "float") {
    if (!value.is_number()) return mismatch();
    float f = value.get<float>();
    out->append(reinterpret_cast<const char*>(&f), 4);
  } else if (type == "double") {
    if (!value.is_number()) return mismatch();
    double d = value.get<double>();
    out->append(reinterpret_cast<const char*>(&d), 8);
  } else if (type == "string") {
    if (!value.is_string()) return mismatch();
    PutBytes(out, value.get_ref<const std::string&>());
  } else if (type == "bytes" || type == "fixed") {
    std::string bytes;
    if (value.is_binary()) {
      const auto& b = value.get_binary();
      bytes.assign(b.begin(), b.end());
    } else if (value.is_string()) {
      bytes = value.get<std::string>();
    } else {
      return mismatch();
    }
    if (type == "bytes") {
      PutBytes(out, bytes);
    } else {
      if (bytes.size() != schema.at("size").get<size_t>()) return mismatch();
      out->append(bytes);
    }
  } else if (type == "record") {
    if (!value.is_object()) return mismatch();
    for (const auto& field : schema.at("fields")) {
      const std::string& name = field.at("name").get_ref<const std::string&>();
      auto it = value.find(name);
      const json& v = it == value.end() ? (field.contains("default") ? field["default"] : json()) : *it;
      SLUICE_RETURN_NOT_OK(Encode(field.at("type"), v, path + "." + name, out));
    }
  } else if (type == "array") {
    if (!value.is_array()) return mismatch();
    if (!value.empty()) {
      PutLong(out, static_cast<int64_t>(value.size()));
      for (const auto& item : value) {
        SLUICE_RETURN_NOT_OK(Encode(schema.at("items"), item, path + "[]", out));
      }
    }
    PutLong(out, 0);
  } else if (type == "map") {
    if (!value.is_object()) return mismatch();
    if (!value.empty()) {
      PutLong(out, static_cast<int64_t>(value.size()));
      for (const auto& [key, item] : value.items()) {
        PutBytes(out, key);
        SLUICE_RETURN_NOT_OK(Encode(schema.at("values"), item, path + "{}", out));
      }
    }
    PutLong(out, 0);
  } else if (type == "union") {
    for (size_t i = 0; i < schema.size(); ++i) {
      bool is_null_branch = TypeName(schema[i]) == "null";
      if (value.is_null() == is_null_branch) {
        PutLong(out, static_cast<int64_t>(i));
        return Encode(schema[i], value, path, out);
      }
    }
    return mismatch();
  } else {
    return InvalidInput("avro: unsupported type '", type, "' at '", path, "'");
  }
  return Status::OK();
}

Result<std::string> Deflate(const std::string& data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("avro: deflateInit2 failed");
  }
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&stream, Z_FINISH);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return Internal("avro: deflate failed");
  out.resize(stream.total_out);
  return out;
}

Result<std::string> Inflate(const std::string& data) {
  z_stream stream{};
  if (inflateInit2(&stream, -15) != Z_OK) return Internal("avro: inflateInit2 failed");
  std::string out;
  char buffer[1 << 16];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      return InvalidInput("avro: corrupt deflate block");
    }
    out.append(buffer, sizeof(buffer) - stream.avail_out);
    if (rc == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) break;
  }
  inflateEnd(&stream);
  return out;
}

// --- decoding ---------------------------------------------------------------------------

class Decoder {
 public:
  Decoder(const char* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  size_t pos() const { return pos_; }

  Result<int64_t> Long() {
    uint64_t n = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= size_) return Truncated();
      uint8_t byte = static_cast<uint8_t>(data_[pos_++]);
      n |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return static_cast<int64_t>((n >> 1) ^ (~(n & 1) + 1));
    }
    return InvalidInput("avro: varint too long");
  }
  Result<std::string> Raw(size_t n) {
    if (pos_ + n > size_) return Truncated();
    std::string out(data_ + pos_, n);
    pos_ += n;
    return out;
  }
  Result<std::string> Bytes() {
    SLUICE_ASSIGN_OR_RAISE(int64_t n, Long());
    if (n < 0) return InvalidInput("avro: negative length");
    return Raw(static_cast<size_t>(n));
  }

  Result<json> Value(const json& schema) {
    std::string type = TypeName(schema);
    if (type == "null") return json();
    if (type == "boolean") {
      SLUICE_ASSIGN_OR_RAISE(std::string b, Raw(1));
      return json(b[0] != 0);
    }
    if (type == "int" || type == "long") {
      SLUICE_ASSIGN_OR_RAISE(int64_t v, Long());
      return json(v);
    }
    if (type == "float") {
      SLUICE_ASSIGN_OR_RAISE(std::string b, Raw(4));
      float f;
      std::memcpy(&f, b.data(), 4);
      return json(f);
    }
    if (type == "double") {
      SLUICE_ASSIGN_OR_RAISE(std::string b, Raw(8));
      double d;
      std::memcpy(&d, b.data(), 8);
      return json(d);
    }
    if (type == "string") {
      SLUICE_ASSIGN_OR_RAISE(std::string s, Bytes());
      return json(s);
    }
    if (type == "bytes" || type == "fixed") {
      std::string b;
      if (type == "bytes") {
        SLUICE_ASSIGN_OR_RAISE(b, Bytes());
      } else {
        SLUICE_ASSIGN_OR_RAISE(b, Raw(schema.at("size").get<size_t>()));
      }
      return json::binary(std::vector<uint8_t>(b.begin(), b.end()));
    }
    if (type == "record") {
      json out = json::object();
      for (const auto& field : schema.at("fields")) {
        SLUICE_ASSIGN_OR_RAISE(out[field.at("name").get<std::string>()], Value(field.at("type")));
      }
      return out;
    }
    if (type == "array" || type == "map") {
      json out = type == "array" ? json::array() : json::object();
      int64_t items = 0;
      while (true) {
        SLUICE_ASSIGN_OR_RAISE(int64_t count, BlockCount(&items));
        if (count == 0) break;
        for (int64_t i = 0; i < count; ++i) {
          if (type == "array") {
            SLUICE_ASSIGN_OR_RAISE(json item, Value(schema.at("items")));
            out.push_back(std::move(item));
          } else {
            SLUICE_ASSIGN_OR_RAISE(std::string key, Bytes());
            SLUICE_ASSIGN_OR_RAISE(out[key], Value(schema.at("values")));
          }
        }
      }
      return out;
    }
    if (type == "union") {
      SLUICE_ASSIGN_OR_RAISE(int64_t branch, Long());
      if (branch < 0 || branch >= static_cast<int64_t>(schema.size())) {
        return InvalidInput("avro: bad union branch ", branch);
      }
      return Value(schema[branch]);
    }
    if (type == "enum") {
      SLUICE_ASSIGN_OR_RAISE(int64_t index, Long());
      return json(schema.at("symbols").at(index));
    }
    return InvalidInput("avro: unsupported type '", type, "'");
  }

  // The item count of the next block of an array or map (0: the end), its byte size skipped
  // when given. `items` counts the items of the whole array: more than the bytes left could
  // hold (plus a margin for items of no bytes, such as nulls) is an error, not a loop that
  // builds billions of values from a few bytes.
  Result<int64_t> BlockCount(int64_t* items) {
    SLUICE_ASSIGN_OR_RAISE(int64_t count, Long());
    if (count < 0) {
      if (count == std::numeric_limits<int64_t>::min()) return InvalidInput("avro: bad block count at byte ", pos_);
      count = -count;
      SLUICE_RETURN_NOT_OK(Long().status());  // block size in bytes
    }
    constexpr int64_t kZeroSizeItems = 1 << 16;
    *items += count;
    if (*items > static_cast<int64_t>(size_ - pos_) + kZeroSizeItems) {
      return InvalidInput("avro: a block of ", count, " items at byte ", pos_, " is more than the data left holds");
    }
    return count;
  }

 private:
  Status Truncated() const { return InvalidInput("avro: truncated data at byte ", pos_); }
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Resolves named-type references ("r102") into their definitions so decoding can recurse.
json Inline(const json& schema, std::map<std::string, json>* named) {
  if (schema.is_string()) {
    auto it = named->find(schema.get<std::string>());
    return it != named->end() ? it->second : schema;
  }
  if (schema.is_array()) {
    json out = json::array();
    for (const auto& branch : schema) out.push_back(Inline(branch, named));
    return out;
  }
  json out = schema;
  std::string type = schema.value("type", "");
  if (type == "record") {
    out["fields"] = json::array();
    for (auto field : schema.at("fields")) {
      field["type"] = Inline(field.at("type"), named);
      out["fields"].push_back(field);
    }
  } else if (type == "array") {
    out["items"] = Inline(schema.at("items"), named);
  } else if (type == "map") {
    out["values"] = Inline(schema.at("values"), named);
  } else if (!schema.is_object() || !schema.contains("type")) {
    return out;
  } else if (schema.at("type").is_object() || schema.at("type").is_array()) {
    return Inline(schema.at("type"), named);
  }
  if (schema.contains("name") && (type == "record" || type == "fixed" || type == "enum")) {
    (*named)[schema["name"].get<std::string>()] = out;
  }
  return out;
}

}  // namespace

Result<std::string> EncodeAvroFile(const AvroFile& file, AvroCodec codec, size_t records_per_block) {
  std::string out(kMagic, 4);
  std::map<std::string, std::string> metadata = file.metadata;
  metadata["avro.schema"] = file.schema.dump();
  metadata["avro.codec"] = codec == AvroCodec::kDeflate ? "deflate" : "null";
  PutLong(&out, static_cast<int64_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    PutBytes(&out, key);
    PutBytes(&out, value);
  }
  PutLong(&out, 0);
  std::string sync(16, '\0');
  std::random_device random;
  for (auto& c : sync) c = static_cast<char>(random());
  out += sync;
  std::map<std::string, json> named;
  json schema = Inline(file.schema, &named);
  for (size_t start = 0; start < file.records.size(); start += records_per_block) {
    size_t end = std::min(file.records.size(), start + records_per_block);
    std::string block;
    for (size_t i = start; i < end; ++i) {
      SLUICE_RETURN_NOT_OK(Encode(schema, file.records[i], "record", &block));
    }
    if (codec == AvroCodec::kDeflate) {
      SLUICE_ASSIGN_OR_RAISE(block, Deflate(block));
    }
    PutLong(&out, static_cast<int64_t>(end - start));
    PutBytes(&out, block);
    out += sync;
  }
  return out;
}

namespace {

Result<AvroFile> Decode(const std::string& bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return InvalidInput("not an Avro container file (bad magic)");
  }
  Decoder header(bytes.data() + 4, bytes.size() - 4);
  std::map<std::string, std::string> metadata;
  int64_t entries = 0;
  while (true) {
    SLUICE_ASSIGN_OR_RAISE(int64_t count, header.BlockCount(&entries));
    if (count == 0) break;
    for (int64_t i = 0; i < count; ++i) {
      SLUICE_ASSIGN_OR_RAISE(std::string key, header.Bytes());
      SLUICE_ASSIGN_OR_RAISE(metadata[key], header.Bytes());
    }
  }
  SLUICE_ASSIGN_OR_RAISE(std::string sync, header.Raw(16));
  AvroFile file;
  try {
    file.schema = ParseBoundedJson(metadata["avro.schema"]);
  } catch (const std::exception& e) {
    return InvalidInput("avro: unreadable schema: ", e.what());
  }
  std::string codec = metadata.count("avro.codec") ? metadata["avro.codec"] : "null";
  if (codec != "null" && codec != "deflate") return InvalidInput("avro: unsupported codec '", codec, "'");
  for (const auto& [key, value] : metadata) {
    if (key.rfind("avro.", 0) != 0) file.metadata[key] = value;
  }
  std::map<std::string, json> named;
  json schema = Inline(file.schema, &named);
  size_t offset = 4 + header.pos();
  Decoder blocks(bytes.data() + offset, bytes.size() - offset);
  while (!blocks.done()) {
    SLUICE_ASSIGN_OR_RAISE(int64_t count, blocks.Long());
    SLUICE_ASSIGN_OR_RAISE(std::string block, blocks.Bytes());
    SLUICE_ASSIGN_OR_RAISE(std::string marker, blocks.Raw(16));
    if (marker != sync) return InvalidInput("avro: sync marker mismatch");
    if (codec == "deflate") {
      SLUICE_ASSIGN_OR_RAISE(block, Inflate(block));
    }
    Decoder records(block.data(), block.size());
    for (int64_t i = 0; i < count; ++i) {
      SLUICE_ASSIGN_OR_RAISE(json record, records.Value(schema));
      file.records.push_back(std::move(record));
    }
  }
  return file;
}

}  // namespace

Result<AvroFile> DecodeAvroFile(const std::string& bytes) {
  try {  // a schema that is not what it claims (".at" of a missing key, ...) is a bad file, not a crash
    return Decode(bytes);
  } catch (const std::exception& e) {
    return InvalidInput("avro: malformed file: ", e.what());
  }
}

}  // namespace sluice
