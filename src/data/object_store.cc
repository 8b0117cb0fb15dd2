#include "data/object_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

// A read-only shared mapping of a whole file, unmapped with the last buffer that refers to it.
class MappedBuffer : public arrow::Buffer {
 public:
  MappedBuffer(const uint8_t* data, int64_t size) : arrow::Buffer(data, size) {}
  ~MappedBuffer() override {
    if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
  }
};

Result<std::shared_ptr<arrow::Buffer>> MapReadOnly(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return IOError("cannot stat: ", std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return IOError("not a regular file");
  if (info.st_size == 0) return std::make_shared<arrow::Buffer>(nullptr, 0);
  void* data = ::mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return IOError("cannot map: ", std::strerror(errno));
  return std::make_shared<MappedBuffer>(static_cast<const uint8_t*>(data), info.st_size);
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(const std::string& root) {
  std::unique_ptr<ObjectStore> store(new ObjectStore(root));
  SLUICE_RETURN_NOT_OK(MakeDirs(store->arena_dir()));
  return store;
}

Status ObjectStore::ClaimForWriter(const std::string& path, int64_t size_hint) {
  std::string key = KeyOf(path);
  if (!key.empty()) {
    SLUICE_RETURN_NOT_OK(MakeRoom(size_hint, key));
    budget_->AddWriting(key, size_hint);
  }
  return ClaimArenaFile(arena_dir(), size_hint, path);
}

Result<std::string> ObjectStore::Put(const std::string& key, const arrow::Table& table) {
  std::string path = root_ + "/" + key;
  SLUICE_RETURN_NOT_OK(MakeDirs(path.substr(0, path.find_last_of('/'))));
  arrow::io::MockOutputStream counter;
  SLUICE_RETURN_NOT_OK(WriteIpc(table, &counter));
  int64_t size = counter.GetExtentBytesWritten();
  SLUICE_RETURN_NOT_OK(MakeRoom(size, key));
  budget_->AddWriting(key, size);
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
  budget_->AddResident(key, size, IsSpillable(path));
  return path;
}

Result<std::shared_ptr<arrow::Table>> ObjectStore::Get(const std::string& path) {
  SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, OpenForReader(path));
  SLUICE_ASSIGN_OR_RAISE(auto mapped, WithContext(MapReadOnly(fd.get()), "object '" + path + "'"));
  auto file = std::make_shared<arrow::io::BufferReader>(std::move(mapped));
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
  if (std::string key = KeyOf(path); !key.empty()) SLUICE_RETURN_NOT_OK(ReleaseSpilled(key));
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
  SLUICE_RETURN_NOT_OK(ReleaseSpilled(prefix));
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

void ObjectStore::SetMemoryBudget(int64_t limit_bytes, const std::string& spill_dir) {
  budget_ = std::make_unique<MemoryBudget>(limit_bytes);
  spill_ = SpillDir(spill_dir);
}

std::string ObjectStore::KeyOf(const std::string& path) const {
  std::string normal = fs::path(path).lexically_normal().string();
  std::string root = fs::path(root_).lexically_normal().string();
  while (!root.empty() && root.back() == '/') root.pop_back();
  if (normal.size() <= root.size() + 1 || normal.compare(0, root.size() + 1, root + "/") != 0) return "";
  std::string key = normal.substr(root.size() + 1);
  while (!key.empty() && key.back() == '/') key.pop_back();
  if (key.empty() || key.rfind("..", 0) == 0) return "";
  return key;
}

bool ObjectStore::IsSpillable(const std::string& path) const {
  std::string key = KeyOf(path);
  if (key.empty() || key.rfind("arena/", 0) == 0) return false;
  OwnedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat info {};
  if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  char magic[6] = {};
  return ::pread(fd.get(), magic, sizeof(magic), 0) == sizeof(magic) && std::memcmp(magic, "ARROW1", 6) == 0;
}

Status ObjectStore::MakeRoom(int64_t incoming, const std::string& keep) {
  Status first;
  for (const auto& victim : budget_->PickVictims(incoming, keep)) {
    if (first.ok()) {
      first = Spill(victim.key);
    } else {
      budget_->SpillFailed(victim.key);  // picked, but an earlier spill failed: stays
    }
  }
  return first;
}

Status ObjectStore::Spill(const std::string& key) {
  std::string path = root_ + "/" + key;
  OwnedFd source(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (source.get() < 0) {
    if (errno == ENOENT) {  // released meanwhile
      budget_->Remove(key);
      return Status::OK();
    }
    budget_->SpillFailed(key);
    return IOError("cannot spill object '", key, "': cannot open '", path, "': ", std::strerror(errno));
  }
  auto written = spill_.Write(key, source.get());
  if (!written.ok()) {
    budget_->SpillFailed(key);
    return WithHint(IOError("cannot spill object '", key, "' to disk (shared memory is over its budget of ",
                            budget_->limit(), " bytes): ", written.status().message()),
                    "make the spill directory writable, or raise the budget: SLUICE_MEMORY_BUDGET or sluice config set "
                    "memory.budget");
  }
  std::lock_guard<std::mutex> lock(move_mutex_);
  spilled_[key] = *written;
  budget_->Spilled(key);
  // Readers that mapped it keep their pages until they unmap; new readers open the disk file.
  ::unlink(path.c_str());
  return Status::OK();
}

Status ObjectStore::Written(const std::string& path) {
  std::string key = KeyOf(path);
  if (key.empty()) return Status::OK();
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    budget_->Remove(key);
    return Status::OK();
  }
  budget_->AddResident(key, info.st_size, IsSpillable(path));
  return MakeRoom(0, key);
}

Result<OwnedFd> ObjectStore::OpenLocked(const std::string& path, const std::string& key) {
  if (!key.empty()) {
    if (auto it = spilled_.find(key); it != spilled_.end()) return spill_.Open(key, it->second);
  }
  OwnedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return IOError("cannot open object '", path, "': ", std::strerror(errno));
  return fd;
}

Result<OwnedFd> ObjectStore::OpenForReader(const std::string& path) {
  std::string key = KeyOf(path);
  std::lock_guard<std::mutex> lock(move_mutex_);
  SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, OpenLocked(path, key));
  if (!key.empty()) budget_->Touch(key);
  return fd;
}

int64_t ObjectStore::ObjectBytes(const std::string& path) {
  std::string key = KeyOf(path);
  {
    std::lock_guard<std::mutex> lock(move_mutex_);
    if (auto it = spilled_.find(key); !key.empty() && it != spilled_.end()) return it->second.bytes;
  }
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : -1;
}

MemoryBudgetGroupStats ObjectStore::Usage(const std::string& prefix) const {
  std::string key = prefix;
  while (!key.empty() && key.back() == '/') key.pop_back();
  return budget_->GroupStats(MemoryBudget::GroupOf(key + "/x"));
}

Status ObjectStore::ReleaseSpilled(const std::string& prefix) {
  std::string key = prefix;
  while (!key.empty() && key.back() == '/') key.pop_back();
  if (key.empty()) return Status::OK();
  bool had_spilled = false;
  {
    std::lock_guard<std::mutex> lock(move_mutex_);
    for (auto it = spilled_.lower_bound(key); it != spilled_.end() && it->first.rfind(key, 0) == 0;) {
      bool under = it->first.size() == key.size() || it->first[key.size()] == '/';
      if (under) had_spilled = true;
      it = under ? spilled_.erase(it) : std::next(it);
    }
  }
  std::string group = MemoryBudget::GroupOf(key + "/x");
  if (group == key) {
    budget_->RemoveGroup(group);
  } else {
    budget_->Remove(key);
  }
  // A whole group's directory goes even when this process spilled nothing into it (an
  // earlier process of the same run may have); a single object's only when it was spilled.
  if (spill_.path().empty() || (group != key && !had_spilled)) return Status::OK();
  return spill_.Remove(key);
}

int64_t ObjectStore::LiveBytesIn(const std::string& root) {
  int64_t total = 0;
  std::error_code ec;
  const fs::path arena = root + "/arena";
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path() == arena) {
      it.disable_recursion_pending();
      continue;
    }
    if (it.depth() == 0 || it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

}  // namespace sluice
