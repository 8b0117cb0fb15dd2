#include "data/heap_table.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arrow/io/memory.h>
#include <arrow/ipc/api.h>
#include <arrow/util/base64.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>

#include "common/bounded_json.h"

namespace sluice {
namespace {

constexpr std::string_view kMagic = "SLUICE-HEAP-TABLE\n";
constexpr int64_t kMaxDescriptionBytes = int64_t{64} << 20;

// A whole file mapped read-only; unmapped with the last buffer that slices it.
class MappedSegment : public arrow::Buffer {
 public:
  MappedSegment(const uint8_t* data, int64_t size) : arrow::Buffer(data, size) {}
  ~MappedSegment() override {
    if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
  }
};

Result<std::shared_ptr<arrow::Buffer>> MapSegment(int fd, size_t index) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return IOError("segment ", index, ": ", std::strerror(errno));
  if (info.st_size == 0) return std::make_shared<arrow::Buffer>(nullptr, 0);
  void* data = ::mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return IOError("cannot map segment ", index, ": ", std::strerror(errno));
  return std::make_shared<MappedSegment>(static_cast<const uint8_t*>(data), info.st_size);
}

int64_t Int(const nlohmann::json& value, const char* what) {
  if (!value.is_number_integer()) throw std::invalid_argument(std::string(what) + " is not an integer");
  return value.get<int64_t>();
}

class Builder {
 public:
  explicit Builder(const std::vector<std::shared_ptr<arrow::Buffer>>& segments) : segments_(segments) {}

  std::shared_ptr<arrow::ArrayData> Node(const std::shared_ptr<arrow::DataType>& type, const nlohmann::json& node) {
    if (!node.is_array() || node.size() != 6) throw std::invalid_argument("a node is not [length, nulls, offset, ...]");
    int64_t length = Int(node[0], "length"), nulls = Int(node[1], "null count"), offset = Int(node[2], "offset");
    if (length < 0 || offset < 0 || nulls < -1 || nulls > length) throw std::invalid_argument("bad length or offset");
    const nlohmann::json& refs = node[3];
    const nlohmann::json& children = node[4];
    const nlohmann::json& dictionary = node[5];
    bool is_dictionary = type->id() == arrow::Type::DICTIONARY;
    const auto& storage = is_dictionary ? static_cast<const arrow::DictionaryType&>(*type).index_type() : type;
    size_t buffers = storage->layout().buffers.size();
    if (!refs.is_array() || refs.size() != buffers) {
      throw std::invalid_argument("a " + type->ToString() + " node has " + std::to_string(refs.size()) +
                                  " buffers, not " + std::to_string(buffers));
    }
    if (!children.is_array() || children.size() != static_cast<size_t>(type->num_fields())) {
      throw std::invalid_argument("a " + type->ToString() + " node has the wrong number of children");
    }
    std::vector<std::shared_ptr<arrow::Buffer>> data;
    for (const auto& ref : refs) data.push_back(Buffer(ref));
    std::vector<std::shared_ptr<arrow::ArrayData>> child_data;
    for (int i = 0; i < type->num_fields(); ++i) child_data.push_back(Node(type->field(i)->type(), children[i]));
    auto out = arrow::ArrayData::Make(type, length, std::move(data), std::move(child_data), nulls, offset);
    if (is_dictionary) {
      if (dictionary.is_null()) throw std::invalid_argument("a dictionary node has no dictionary");
      out->dictionary = Node(static_cast<const arrow::DictionaryType&>(*type).value_type(), dictionary);
    } else if (!dictionary.is_null()) {
      throw std::invalid_argument("a " + type->ToString() + " node has a dictionary");
    }
    return out;
  }

 private:
  std::shared_ptr<arrow::Buffer> Buffer(const nlohmann::json& ref) {
    if (ref.is_null()) return nullptr;
    if (!ref.is_array() || ref.size() != 3) throw std::invalid_argument("a buffer is not [segment, offset, size]");
    int64_t segment = Int(ref[0], "segment"), offset = Int(ref[1], "buffer offset"), size = Int(ref[2], "buffer size");
    if (segment < 0 || static_cast<size_t>(segment) >= segments_.size()) {
      throw std::invalid_argument("a buffer names segment " + std::to_string(segment) + " of " +
                                  std::to_string(segments_.size()));
    }
    const auto& memory = segments_[static_cast<size_t>(segment)];
    if (offset < 0 || size < 0 || offset > memory->size() || size > memory->size() - offset) {
      throw std::invalid_argument("a buffer of " + std::to_string(size) + " bytes at " + std::to_string(offset) +
                                  " is outside its segment of " + std::to_string(memory->size()) + " bytes");
    }
    return arrow::SliceBuffer(memory, offset, size);
  }

  const std::vector<std::shared_ptr<arrow::Buffer>>& segments_;
};

}  // namespace

bool IsHeapTableFile(int fd) {
  char head[kMagic.size()];
  return ::pread(fd, head, sizeof(head), 0) == static_cast<ssize_t>(sizeof(head)) &&
         std::string_view(head, sizeof(head)) == kMagic;
}

Result<nlohmann::json> ReadHeapTableDescription(int fd, int64_t* data_start) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return IOError("cannot read the heap table: ", std::strerror(errno));
  uint64_t length = 0;
  if (!IsHeapTableFile(fd) ||
      ::pread(fd, &length, sizeof(length), static_cast<off_t>(kMagic.size())) != static_cast<ssize_t>(sizeof(length))) {
    return InvalidInput("not a heap table");
  }
  int64_t header = static_cast<int64_t>(kMagic.size() + sizeof(length));
  if (length > static_cast<uint64_t>(kMaxDescriptionBytes) || header + static_cast<int64_t>(length) > info.st_size) {
    return InvalidInput("the heap table's description is ", length, " bytes, more than its file holds");
  }
  std::string text(length, '\0');
  if (::pread(fd, text.data(), length, header) != static_cast<ssize_t>(length)) {
    return IOError("cannot read the heap table's description");
  }
  *data_start = (header + static_cast<int64_t>(length) + 63) / 64 * 64;
  try {
    nlohmann::json description = ParseBoundedJson(text);
    if (!description.is_object() || !description.contains("schema") || !description["schema"].is_string() ||
        !description.contains("batches") || !description["batches"].is_array()) {
      return InvalidInput("the heap table's description has no schema or batches");
    }
    return description;
  } catch (const std::exception& e) {
    return InvalidInput("the heap table's description is not valid JSON: ", e.what());
  }
}

Status RewriteHeapTableSegments(nlohmann::json* description,
                                const std::function<Result<int64_t>(int64_t segment, int64_t* offset)>& rewrite) {
  std::function<Status(nlohmann::json&)> node = [&](nlohmann::json& n) -> Status {
    if (!n.is_array() || n.size() != 6 || !n[3].is_array() || !n[4].is_array()) {
      return InvalidInput("a node of the heap table is not [length, nulls, offset, buffers, children, dictionary]");
    }
    for (auto& ref : n[3]) {
      if (ref.is_null()) continue;
      if (!ref.is_array() || ref.size() != 3 || !ref[0].is_number_integer() || !ref[1].is_number_integer()) {
        return InvalidInput("a buffer of the heap table is not [segment, offset, size]");
      }
      int64_t offset = ref[1].get<int64_t>();
      SLUICE_ASSIGN_OR_RAISE(int64_t segment, rewrite(ref[0].get<int64_t>(), &offset));
      ref[0] = segment;
      ref[1] = offset;
    }
    for (auto& child : n[4]) SLUICE_RETURN_NOT_OK(node(child));
    if (!n[5].is_null()) SLUICE_RETURN_NOT_OK(node(n[5]));
    return Status::OK();
  };
  for (auto& batch : (*description)["batches"]) {
    if (!batch.is_object() || !batch.contains("columns") || !batch["columns"].is_array()) {
      return InvalidInput("a batch of the heap table has no columns");
    }
    for (auto& column : batch["columns"]) SLUICE_RETURN_NOT_OK(node(column));
  }
  return Status::OK();
}

Result<std::shared_ptr<arrow::Table>> MapHeapTable(const nlohmann::json& description,
                                                   const std::vector<std::shared_ptr<OwnedFd>>& segments, bool full) {
  std::vector<std::shared_ptr<arrow::Buffer>> mapped;
  for (size_t i = 0; i < segments.size(); ++i) {
    SLUICE_ASSIGN_OR_RAISE(auto buffer, MapSegment(segments[i]->get(), i));
    mapped.push_back(std::move(buffer));
  }
  auto schema_bytes =
      arrow::Buffer::FromString(arrow::util::base64_decode(description.at("schema").get<std::string>()));
  arrow::io::BufferReader schema_reader(schema_bytes);
  arrow::ipc::DictionaryMemo memo;
  SLUICE_ASSIGN_OR_RAISE(auto schema,
                         WithContext(arrow::ipc::ReadSchema(&schema_reader, &memo), "the heap table's schema"));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  Builder builder(mapped);
  try {
    for (const auto& batch : description.at("batches")) {
      int64_t rows = Int(batch.at("rows"), "rows");
      const auto& columns = batch.at("columns");
      if (!columns.is_array() || columns.size() != static_cast<size_t>(schema->num_fields())) {
        return InvalidInput("a batch of the heap table has ", columns.size(), " columns, its schema ",
                            schema->num_fields());
      }
      std::vector<std::shared_ptr<arrow::ArrayData>> arrays;
      for (int i = 0; i < schema->num_fields(); ++i)
        arrays.push_back(builder.Node(schema->field(i)->type(), columns[i]));
      auto made = arrow::RecordBatch::Make(schema, rows, std::move(arrays));
      SLUICE_RETURN_NOT_OK(WithContext(full ? made->ValidateFull() : made->Validate(), "the heap table"));
      batches.push_back(std::move(made));
    }
  } catch (const std::exception& e) {
    return InvalidInput("the heap table is malformed: ", e.what());
  }
  return arrow::Table::FromRecordBatches(schema, std::move(batches));
}

}  // namespace sluice
