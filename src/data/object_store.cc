#include "data/object_store.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"
#include "common/ids.h"
#include "data/schema_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

int64_t ArenaCap() {
  const char* value = std::getenv("SLUICE_ARENA_BYTES");
  if (value && *value) return std::atoll(value);
  return int64_t{4} << 30;
}

arrow::ipc::IpcWriteOptions WriteOptions() {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  options.alignment = 64;
  return options;
}

Status WriteIpc(const arrow::Table& table, arrow::io::OutputStream* sink) {
  SLUICE_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(sink, table.schema(), WriteOptions()));
  SLUICE_RETURN_NOT_OK(writer->WriteTable(table));
  return writer->Close();
}

struct ArenaFile {
  std::string path;
  int64_t size;
};

std::vector<ArenaFile> ListArena(const std::string& arena) {
  std::vector<ArenaFile> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(arena, ec)) {
    if (entry.path().extension() != ".buf") continue;
    auto size = entry.file_size(ec);
    if (!ec) files.push_back({entry.path().string(), static_cast<int64_t>(size)});
  }
  return files;
}

int64_t ArenaBytes(const std::string& arena) {
  int64_t total = 0;
  for (const auto& file : ListArena(arena)) total += file.size;
  return total;
}

// Takes a recycled file whose pages are already in memory, or makes a new one, at `temp`.
Status ClaimArenaFile(const std::string& arena, int64_t size, const std::string& temp) {
  auto files = ListArena(arena);
  std::sort(files.begin(), files.end(), [&](const ArenaFile& a, const ArenaFile& b) {
    bool a_fits = a.size >= size, b_fits = b.size >= size;
    if (a_fits != b_fits) return a_fits;
    return a_fits ? a.size < b.size : a.size > b.size;
  });
  for (const auto& file : files) {
    if (::rename(file.path.c_str(), temp.c_str()) == 0) break;  // else another writer took it
  }
  int fd = ::open(temp.c_str(), O_RDWR | O_CREAT, 0600);
  if (fd < 0) return IOError("cannot create '", temp, "': ", std::strerror(errno));
  int rc = ::ftruncate(fd, size);
  ::close(fd);
  if (rc != 0) return IOError("cannot size '", temp, "' to ", size, " bytes: ", std::strerror(errno));
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(const std::string& root) {
  std::unique_ptr<ObjectStore> store(new ObjectStore(root));
  SLUICE_RETURN_NOT_OK(MakeDirs(store->arena_dir()));
  return store;
}

Status ObjectStore::ClaimForWriter(const std::string& path, int64_t size_hint) {
  return ClaimArenaFile(arena_dir(), size_hint, path);
}

Result<std::string> ObjectStore::Put(const std::string& key, const arrow::Table& table) {
  std::string path = root_ + "/" + key;
  SLUICE_RETURN_NOT_OK(MakeDirs(path.substr(0, path.find_last_of('/'))));
  arrow::io::MockOutputStream counter;
  SLUICE_RETURN_NOT_OK(WriteIpc(table, &counter));
  int64_t size = counter.GetExtentBytesWritten();
  std::string temp = path + ".tmp-" + NewShortId(8);
  SLUICE_RETURN_NOT_OK(ClaimArenaFile(arena_dir(), size, temp));
  {
    // Plain writes into the claimed file: its pages are resident, and writing through a
    // mapping would fault each of them in again.
    int fd = ::open(temp.c_str(), O_RDWR);
    if (fd < 0) return IOError("cannot open '", temp, "': ", std::strerror(errno));
    SLUICE_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(fd));
    Status written = WriteIpc(table, file.get());
    SLUICE_RETURN_NOT_OK(file->Close());
    if (!written.ok()) {
      ::unlink(temp.c_str());
      return WithContext(written, "writing object '" + key + "'");
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return IOError("cannot rename '", temp, "' to '", path, "': ", std::strerror(errno));
  }
  return path;
}

Result<std::shared_ptr<arrow::Table>> ObjectStore::Get(const std::string& path) {
  SLUICE_ASSIGN_OR_RAISE(auto file, WithContext(arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ),
                                                "object '" + path + "'"));
  SLUICE_ASSIGN_OR_RAISE(auto reader,
                         WithContext(arrow::ipc::RecordBatchFileReader::Open(file), "object '" + path + "'"));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int i = 0; i < reader->num_record_batches(); ++i) {
    SLUICE_ASSIGN_OR_RAISE(auto batch, reader->ReadRecordBatch(i));
    batches.push_back(std::move(batch));
  }
  SLUICE_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(reader->schema(), batches));
  return WithoutFieldMetadata(table);
}

Status ObjectStore::Release(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return Status::OK();  // already gone
  if (ArenaBytes(arena_dir()) + static_cast<int64_t>(size) <= ArenaCap()) {
    std::string target = arena_dir() + "/" + NewShortId(16) + ".buf";
    if (::rename(path.c_str(), target.c_str()) == 0) return Status::OK();
  }
  ::unlink(path.c_str());
  return Status::OK();
}

Status ObjectStore::ReleaseAll(const std::string& prefix) {
  std::string dir = root_ + "/" + prefix;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::OK();
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  for (const auto& file : files) {
    // Task and result files are small: not worth recycling; RemoveAll takes them.
    if (file.find(".json") == std::string::npos) SLUICE_RETURN_NOT_OK(Release(file));
  }
  return RemoveAll(dir);
}

int64_t ObjectStore::MaxObjectBytes() const {
  const char* value = std::getenv("SLUICE_MAX_OUTPUT_BYTES");
  if (value && *value) return std::max<int64_t>(std::atoll(value), 0);
  struct statvfs info;
  if (::statvfs(root_.c_str(), &info) != 0) return 0;
  return static_cast<int64_t>(info.f_blocks) * static_cast<int64_t>(info.f_frsize) / 2;
}

Status ObjectStore::TrimArena(int64_t max_bytes) {
  if (max_bytes < 0) max_bytes = ArenaCap();
  auto files = ListArena(arena_dir());
  std::sort(files.begin(), files.end(), [](const ArenaFile& a, const ArenaFile& b) { return a.size > b.size; });
  int64_t total = 0;
  for (const auto& file : files) {
    if (total + file.size <= max_bytes) {
      total += file.size;
    } else {
      ::unlink(file.path.c_str());
    }
  }
  return Status::OK();
}

}  // namespace sluice
