#include "format/partition_transform.h"

#include <cstring>

namespace sluice {
namespace {

using nlohmann::json;

constexpr int64_t kMicrosPerDay = 86400LL * 1000000;
constexpr int64_t kMicrosPerHour = 3600LL * 1000000;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The civil (proleptic Gregorian) year and month (1-12) of a day count since 1970-01-01
// (H. Hinnant's civil_from_days).
void CivilFromDays(int64_t days, int64_t* year, int* month) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2 ? 1 : 0);
}

// A source value as the transforms see it.
struct Value {
  enum class Type { kNull, kInt, kDays, kMicros, kTimeMicros, kString, kBinary, kBool, kDouble, kDecimal };
  Type type = Type::kNull;
  int64_t i = 0;      // kInt, kDays, kMicros, kTimeMicros
  std::string bytes;  // kString, kBinary; kDecimal: unscaled, two's complement big-endian, minimal
  bool b = false;
  double d = 0;
};

int64_t ToMicros(int64_t value, arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      return value * 1000000;
    case arrow::TimeUnit::MILLI:
      return value * 1000;
    case arrow::TimeUnit::MICRO:
      return value;
    case arrow::TimeUnit::NANO:
      return FloorDiv(value, 1000);
  }
  return value;
}

std::string MinimalBigEndian(const arrow::Decimal128& decimal) {
  uint8_t le[16];
  decimal.ToBytes(le);  // little-endian two's complement
  std::string be(16, '\0');
  for (int k = 0; k < 16; ++k) be[k] = static_cast<char>(le[15 - k]);
  size_t start = 0;
  // Drop leading bytes that only repeat the sign.
  while (start < 15) {
    uint8_t byte = static_cast<uint8_t>(be[start]), next = static_cast<uint8_t>(be[start + 1]);
    if ((byte == 0x00 && !(next & 0x80)) || (byte == 0xFF && (next & 0x80))) {
      ++start;
    } else {
      break;
    }
  }
  return be.substr(start);
}

Result<Value> ValueAt(const arrow::Array& array, int64_t i) {
  Value v;
  if (array.IsNull(i)) return v;
  switch (array.type_id()) {
    case arrow::Type::INT8:
      v.i = static_cast<const arrow::Int8Array&>(array).Value(i);
      break;
    case arrow::Type::INT16:
      v.i = static_cast<const arrow::Int16Array&>(array).Value(i);
      break;
    case arrow::Type::INT32:
      v.i = static_cast<const arrow::Int32Array&>(array).Value(i);
      break;
    case arrow::Type::INT64:
      v.i = static_cast<const arrow::Int64Array&>(array).Value(i);
      break;
    case arrow::Type::UINT8:
      v.i = static_cast<const arrow::UInt8Array&>(array).Value(i);
      break;
    case arrow::Type::UINT16:
      v.i = static_cast<const arrow::UInt16Array&>(array).Value(i);
      break;
    case arrow::Type::UINT32:
      v.i = static_cast<const arrow::UInt32Array&>(array).Value(i);
      break;
    case arrow::Type::UINT64:
      v.i = static_cast<int64_t>(static_cast<const arrow::UInt64Array&>(array).Value(i));
      break;
    case arrow::Type::DATE32:
      v.type = Value::Type::kDays;
      v.i = static_cast<const arrow::Date32Array&>(array).Value(i);
      return v;
    case arrow::Type::DATE64:
      v.type = Value::Type::kDays;
      v.i = FloorDiv(static_cast<const arrow::Date64Array&>(array).Value(i), 86400000);
      return v;
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      v.type = Value::Type::kMicros;
      v.i = ToMicros(static_cast<const arrow::TimestampArray&>(array).Value(i), type.unit());
      return v;
    }
    case arrow::Type::TIME32: {
      const auto& type = static_cast<const arrow::Time32Type&>(*array.type());
      v.type = Value::Type::kTimeMicros;
      v.i = ToMicros(static_cast<const arrow::Time32Array&>(array).Value(i), type.unit());
      return v;
    }
    case arrow::Type::TIME64: {
      const auto& type = static_cast<const arrow::Time64Type&>(*array.type());
      v.type = Value::Type::kTimeMicros;
      v.i = ToMicros(static_cast<const arrow::Time64Array&>(array).Value(i), type.unit());
      return v;
    }
    case arrow::Type::STRING:
      v.type = Value::Type::kString;
      v.bytes = std::string(static_cast<const arrow::StringArray&>(array).GetView(i));
      return v;
    case arrow::Type::LARGE_STRING:
      v.type = Value::Type::kString;
      v.bytes = std::string(static_cast<const arrow::LargeStringArray&>(array).GetView(i));
      return v;
    case arrow::Type::STRING_VIEW:
      v.type = Value::Type::kString;
      v.bytes = std::string(static_cast<const arrow::StringViewArray&>(array).GetView(i));
      return v;
    case arrow::Type::BINARY:
      v.type = Value::Type::kBinary;
      v.bytes = std::string(static_cast<const arrow::BinaryArray&>(array).GetView(i));
      return v;
    case arrow::Type::LARGE_BINARY:
      v.type = Value::Type::kBinary;
      v.bytes = std::string(static_cast<const arrow::LargeBinaryArray&>(array).GetView(i));
      return v;
    case arrow::Type::FIXED_SIZE_BINARY:
      v.type = Value::Type::kBinary;
      v.bytes = std::string(static_cast<const arrow::FixedSizeBinaryArray&>(array).GetView(i));
      return v;
    case arrow::Type::BOOL:
      v.type = Value::Type::kBool;
      v.b = static_cast<const arrow::BooleanArray&>(array).Value(i);
      return v;
    case arrow::Type::FLOAT:
      v.type = Value::Type::kDouble;
      v.d = static_cast<const arrow::FloatArray&>(array).Value(i);
      return v;
    case arrow::Type::DOUBLE:
      v.type = Value::Type::kDouble;
      v.d = static_cast<const arrow::DoubleArray&>(array).Value(i);
      return v;
    case arrow::Type::DECIMAL128:
      v.type = Value::Type::kDecimal;
      v.bytes = MinimalBigEndian(arrow::Decimal128(static_cast<const arrow::Decimal128Array&>(array).GetValue(i)));
      return v;
    default:
      return InvalidInput("cannot partition values of type ", array.type()->ToString());
  }
  v.type = Value::Type::kInt;
  return v;
}

// The first `width` code points of UTF-8 text.
std::string TruncateUtf8(const std::string& text, int width) {
  size_t pos = 0;
  for (int n = 0; n < width && pos < text.size(); ++n) {
    ++pos;
    while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
  }
  return text.substr(0, pos);
}

json Binary(const std::string& bytes) { return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end())); }

json Identity(const Value& v) {
  switch (v.type) {
    case Value::Type::kNull:
      return json();
    case Value::Type::kInt:
    case Value::Type::kDays:
    case Value::Type::kMicros:
    case Value::Type::kTimeMicros:
      return v.i;
    case Value::Type::kString:
      return v.bytes;
    case Value::Type::kBinary:
    case Value::Type::kDecimal:
      return Binary(v.bytes);
    case Value::Type::kBool:
      return v.b;
    case Value::Type::kDouble:
      return v.d;
  }
  return json();
}

int32_t BucketHash(const Value& v) {
  switch (v.type) {
    case Value::Type::kInt:
    case Value::Type::kDays:
    case Value::Type::kMicros:
    case Value::Type::kTimeMicros: {
      // int, long, date, time and timestamps hash as a long, little-endian.
      uint8_t bytes[8];
      uint64_t u = static_cast<uint64_t>(v.i);
      for (int k = 0; k < 8; ++k) bytes[k] = static_cast<uint8_t>(u >> (8 * k));
      return Murmur3Hash32(bytes, 8);
    }
    default:
      return Murmur3Hash32(v.bytes.data(), v.bytes.size());
  }
}

Result<json> ApplyTo(const PartitionTransform& t, const Value& v) {
  using Kind = PartitionTransform::Kind;
  if (v.type == Value::Type::kNull || t.kind() == Kind::kVoid) return json();
  switch (t.kind()) {
    case Kind::kIdentity:
      return Identity(v);
    case Kind::kYear:
    case Kind::kMonth:
    case Kind::kDay: {
      int64_t days = v.type == Value::Type::kMicros ? FloorDiv(v.i, kMicrosPerDay) : v.i;
      if (t.kind() == Kind::kDay) return days;
      int64_t year = 0;
      int month = 0;
      CivilFromDays(days, &year, &month);
      if (t.kind() == Kind::kYear) return year - 1970;
      return (year - 1970) * 12 + (month - 1);
    }
    case Kind::kHour:
      return FloorDiv(v.i, kMicrosPerHour);
    case Kind::kBucket:
      return static_cast<int64_t>((BucketHash(v) & 0x7FFFFFFF) % t.param());
    case Kind::kTruncate:
      if (v.type == Value::Type::kInt) return v.i - (((v.i % t.param()) + t.param()) % t.param());
      if (v.type == Value::Type::kString) return TruncateUtf8(v.bytes, t.param());
      if (v.type == Value::Type::kBinary) return Binary(v.bytes.substr(0, t.param()));
      return InvalidInput("truncate does not apply to this value");
    case Kind::kVoid:
      return json();
  }
  return json();
}

}  // namespace

int32_t Murmur3Hash32(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  uint32_t h = 0;
  size_t blocks = size / 4;
  for (size_t i = 0; i < blocks; ++i) {
    uint32_t k;
    std::memcpy(&k, bytes + 4 * i, 4);  // little-endian machines only (x86, arm64)
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
    h = (h << 13) | (h >> 19);
    h = h * 5 + 0xe6546b64;
  }
  const uint8_t* tail = bytes + 4 * blocks;
  uint32_t k = 0;
  switch (size & 3) {
    case 3:
      k ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      k *= c1;
      k = (k << 15) | (k >> 17);
      k *= c2;
      h ^= k;
  }
  h ^= static_cast<uint32_t>(size);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return static_cast<int32_t>(h);
}

Result<PartitionTransform> PartitionTransform::Parse(const std::string& text) {
  static const std::pair<const char*, Kind> kPlain[] = {{"identity", Kind::kIdentity}, {"year", Kind::kYear},
                                                        {"month", Kind::kMonth},       {"day", Kind::kDay},
                                                        {"hour", Kind::kHour},         {"void", Kind::kVoid}};
  for (const auto& [name, kind] : kPlain) {
    if (text == name) return PartitionTransform(kind, 0);
  }
  for (const auto& [name, kind] :
       {std::pair<std::string, Kind>{"bucket", Kind::kBucket}, {"truncate", Kind::kTruncate}}) {
    if (text.rfind(name + "[", 0) != 0 || text.back() != ']') continue;
    std::string number = text.substr(name.size() + 1, text.size() - name.size() - 2);
    if (number.empty() || number.size() > 10 || number.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(number) < 1 || std::stoll(number) > INT32_MAX) {
      return InvalidInput("partition transform '", text, "': ", name, " needs a positive width");
    }
    return PartitionTransform(kind, static_cast<int>(std::stoll(number)));
  }
  return InvalidInput("unknown partition transform '", text,
                      "' (known: identity, year, month, day, hour, bucket[N], truncate[W], void)");
}

std::string PartitionTransform::ToString() const {
  switch (kind_) {
    case Kind::kIdentity:
      return "identity";
    case Kind::kYear:
      return "year";
    case Kind::kMonth:
      return "month";
    case Kind::kDay:
      return "day";
    case Kind::kHour:
      return "hour";
    case Kind::kBucket:
      return "bucket[" + std::to_string(param_) + "]";
    case Kind::kTruncate:
      return "truncate[" + std::to_string(param_) + "]";
    case Kind::kVoid:
      return "void";
  }
  return "void";
}

Status PartitionTransform::CheckSource(const arrow::DataType& type, const std::string& column) const {
  using T = arrow::Type;
  bool integer = arrow::is_integer(type.id());
  bool text = type.id() == T::STRING || type.id() == T::LARGE_STRING || type.id() == T::STRING_VIEW;
  bool binary = type.id() == T::BINARY || type.id() == T::LARGE_BINARY || type.id() == T::FIXED_SIZE_BINARY;
  bool date = type.id() == T::DATE32 || type.id() == T::DATE64;
  bool timestamp = type.id() == T::TIMESTAMP;
  bool ok = false;
  const char* needs = "";
  switch (kind_) {
    case Kind::kIdentity:
    case Kind::kVoid:
      ok = integer || text || binary || date || timestamp || type.id() == T::BOOL || type.id() == T::TIME32 ||
           type.id() == T::TIME64;
      needs = "an integer, date, time, timestamp, string, binary or boolean column";
      break;
    case Kind::kYear:
    case Kind::kMonth:
    case Kind::kDay:
      ok = date || timestamp;
      needs = "a date or timestamp column";
      break;
    case Kind::kHour:
      ok = timestamp;
      needs = "a timestamp column";
      break;
    case Kind::kBucket:
      ok = integer || text || binary || date || timestamp || type.id() == T::TIME32 || type.id() == T::TIME64 ||
           type.id() == T::DECIMAL128;
      needs = "an integer, date, time, timestamp, string, binary or decimal column";
      break;
    case Kind::kTruncate:
      ok = integer || text || binary;
      needs = "an integer, string or binary column";
      break;
  }
  if (ok) return Status::OK();
  std::string name = ToString();
  return InvalidInput(name.substr(0, name.find('[')), "() needs ", needs, ", '", column, "' is ", type.ToString());
}

std::string PartitionTransform::ResultType(const std::string& source_type) const {
  switch (kind_) {
    case Kind::kYear:
    case Kind::kMonth:
    case Kind::kHour:
    case Kind::kBucket:
      return "int";
    case Kind::kDay:
      return "date";
    default:
      return source_type;
  }
}

Result<json> PartitionTransform::Apply(const arrow::Array& values, int64_t i) const {
  SLUICE_ASSIGN_OR_RAISE(Value v, ValueAt(values, i));
  return ApplyTo(*this, v);
}

Result<json> PartitionTransform::Apply(const arrow::Scalar& value) const {
  SLUICE_ASSIGN_OR_RAISE(auto array, arrow::MakeArrayFromScalar(value, 1));
  return Apply(*array, 0);
}

Result<std::string> SingleValueBytes(const json& value, const std::string& type) {
  std::string out;
  auto little_endian = [&](uint64_t u, int n) {
    for (int k = 0; k < n; ++k) out.push_back(static_cast<char>(u >> (8 * k)));
  };
  if (type == "int" || type == "date") {
    if (!value.is_number_integer()) return InvalidInput("partition value ", value.dump(), " is not an ", type);
    little_endian(static_cast<uint32_t>(value.get<int32_t>()), 4);
  } else if (type == "long" || type == "time" || type.rfind("timestamp", 0) == 0) {
    if (!value.is_number_integer()) return InvalidInput("partition value ", value.dump(), " is not a ", type);
    little_endian(static_cast<uint64_t>(value.get<int64_t>()), 8);
  } else if (type == "float") {
    float f = value.get<float>();
    uint32_t u;
    std::memcpy(&u, &f, 4);
    little_endian(u, 4);
  } else if (type == "double") {
    double d = value.get<double>();
    uint64_t u;
    std::memcpy(&u, &d, 8);
    little_endian(u, 8);
  } else if (type == "boolean") {
    out.push_back(value.get<bool>() ? 1 : 0);
  } else if (value.is_string()) {
    out = value.get<std::string>();
  } else if (value.is_binary()) {
    out.assign(value.get_binary().begin(), value.get_binary().end());
  } else {
    return InvalidInput("partition value ", value.dump(), " of type ", type, " has no binary form");
  }
  return out;
}

json AvroTypeOfPartitionValue(const std::string& type) {
  if (type == "date") return {{"type", "int"}, {"logicalType", "date"}};
  if (type == "timestamp") return {{"type", "long"}, {"logicalType", "timestamp-micros"}, {"adjust-to-utc", false}};
  if (type == "timestamptz") return {{"type", "long"}, {"logicalType", "timestamp-micros"}, {"adjust-to-utc", true}};
  if (type == "time") return {{"type", "long"}, {"logicalType", "time-micros"}};
  if (type == "int" || type == "long" || type == "float" || type == "double" || type == "boolean" || type == "string") {
    return type;
  }
  return "bytes";  // binary, fixed, uuid, decimal: their bytes
}

}  // namespace sluice
