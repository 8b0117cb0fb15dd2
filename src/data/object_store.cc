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
#include "data/heap_table.h"
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

// The whole IPC file `file` (mapped: no copy) as a table; `path` names it in errors.
Result<std::shared_ptr<arrow::Table>> ReadIpcFile(std::shared_ptr<arrow::io::RandomAccessFile> file,
                                                  const std::string& path) {
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

Result<std::shared_ptr<arrow::Table>> ObjectStore::Get(const std::string& path) const {
  if (auto heap_table = HeapTableOf(path)) {
    SLUICE_ASSIGN_OR_RAISE(
        auto table, WithContext(MapHeapTable(heap_table->description, heap_table->segments), "object '" + path + "'"));
    return WithoutFieldMetadata(table);
  }
  // Where it lives now: in shared memory, or on disk once spilled.
  SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, OpenForReader(path));
  SLUICE_ASSIGN_OR_RAISE(auto mapped, WithContext(MapReadOnly(fd.get()), "object '" + path + "'"));
  return ReadIpcFile(std::make_shared<arrow::io::BufferReader>(std::move(mapped)), path);
}

std::optional<ObjectStore::HeapTable> ObjectStore::HeapTableOf(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = heap_tables_.find(path);
  if (it == heap_tables_.end()) return std::nullopt;
  return it->second;
}

void ObjectStore::Forget(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  heap_tables_.erase(path);
}

namespace {

std::shared_ptr<OwnedFd> OpenReadOnly(const std::string& path, Status* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) *error = IOError("cannot open '", path, "': ", std::strerror(errno));
  return std::make_shared<OwnedFd>(fd);
}

// Makes the worker's heap unchangeable and no larger than the table: cut after the last byte
// a buffer uses, the pages no buffer uses (what the model allocated and dropped) given back,
// then sealed. `ranges`: the buffers' [offset, end) in the heap. Sealing against writes fails
// while any process still has it mapped writable. *resident_bytes: the pages it keeps.
Status SealHeap(int fd, std::vector<std::pair<int64_t, int64_t>> ranges, int64_t* resident_bytes) {
  constexpr int64_t kPage = 4096;
  struct stat info;
  if (::fstat(fd, &info) != 0) return IOError("cannot read the heap: ", std::strerror(errno));
  std::sort(ranges.begin(), ranges.end());
  int64_t used = 0;
  for (const auto& range : ranges) used = std::max(used, range.second);
  if (used > info.st_size) {
    return InvalidInput("a buffer ends ", used, " bytes into the worker's heap, which holds ", info.st_size);
  }
  int64_t size = std::min<int64_t>((used + kPage - 1) / kPage * kPage, info.st_size);
  if (::ftruncate(fd, size) != 0) return IOError("cannot cut the heap to ", size, " bytes: ", std::strerror(errno));
  // Whole pages between the buffers go back to the kernel.
  int64_t kept_until = 0;  // pages before this are kept
  *resident_bytes = 0;
  for (const auto& [begin, end] : ranges) {
    int64_t gap_end = begin / kPage * kPage;
    if (gap_end > kept_until)
      (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kept_until, gap_end - kept_until);
    int64_t keep_end = std::max(kept_until, (end + kPage - 1) / kPage * kPage);
    *resident_bytes += keep_end - std::max(kept_until, gap_end);
    kept_until = keep_end;
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    if (errno == EBUSY) {
      return WithHint(UserCodeFailed("the memory its output is in is still writable by a process the model left "
                                     "running"),
                      "a model must not leave processes behind that hold its memory");
    }
    return IOError("cannot seal the heap: ", std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace

Status ObjectStore::AdoptHeapTable(const std::string& path, OwnedFd heap, const std::vector<std::string>& inputs,
                                   const std::vector<std::vector<std::shared_ptr<OwnedFd>>>& input_heap_segments,
                                   int64_t* shared_bytes) {
  *shared_bytes = 0;
  Status opened;
  auto file = OpenReadOnly(path, &opened);
  SLUICE_RETURN_NOT_OK(opened);
  if (!IsHeapTableFile(file->get())) return Status::OK();
  int64_t data_start = 0;
  SLUICE_ASSIGN_OR_RAISE(nlohmann::json description, ReadHeapTableDescription(file->get(), &data_start));
  // The inputs' segments, in the order the worker numbered them (2 + m): a heap table's as the
  // worker got them (it may have been spilled since).
  std::vector<std::shared_ptr<OwnedFd>> input_segments;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string& input = inputs[k];
    if (k < input_heap_segments.size() && !input_heap_segments[k].empty()) {
      input_segments.insert(input_segments.end(), input_heap_segments[k].begin(), input_heap_segments[k].end());
    } else {
      // Where it lives now: an input may have been spilled since the worker got it.
      SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, OpenForReader(input));
      input_segments.push_back(std::make_shared<OwnedFd>(std::move(fd)));
    }
  }
  HeapTable adopted;
  adopted.segments = {file, std::make_shared<OwnedFd>(heap.release())};
  std::map<int64_t, int64_t> taken;  // worker's input segment -> ours
  std::vector<std::pair<int64_t, int64_t>> heap_ranges;
  SLUICE_RETURN_NOT_OK(RewriteHeapTableSegments(&description, [&](int64_t segment, int64_t* offset) -> Result<int64_t> {
    if (segment == 0) {
      *offset += data_start;
      return 0;
    }
    if (segment == 1) return 1;
    int64_t m = segment - 2;
    if (m < 0 || m >= static_cast<int64_t>(input_segments.size())) {
      return InvalidInput("a buffer names input segment ", m, " of ", input_segments.size());
    }
    auto [it, added] = taken.emplace(m, static_cast<int64_t>(adopted.segments.size()));
    if (added) adopted.segments.push_back(input_segments[static_cast<size_t>(m)]);
    return it->second;
  }));
  // The heap is cut after the last byte any buffer of it uses (bounds are checked on the mapping).
  std::function<void(const nlohmann::json&)> ends = [&](const nlohmann::json& node) {
    for (const auto& ref : node[3]) {
      if (!ref.is_array() || !ref[2].is_number_integer() || ref[2].get<int64_t>() <= 0) continue;
      int64_t offset = ref[1].get<int64_t>(), size = ref[2].get<int64_t>();
      if (ref[0] != 0) *shared_bytes += size;
      if (ref[0] == 1 && offset >= 0 && size <= (int64_t{1} << 50)) heap_ranges.emplace_back(offset, offset + size);
    }
    for (const auto& child : node[4]) ends(child);
    if (!node[5].is_null()) ends(node[5]);
  };
  for (const auto& batch : description["batches"]) {
    for (const auto& column : batch["columns"]) ends(column);
  }
  if (adopted.segments[1]->get() < 0) return InvalidInput("a heap table without the worker's heap");
  SLUICE_RETURN_NOT_OK(SealHeap(adopted.segments[1]->get(), std::move(heap_ranges), &adopted.heap_bytes));
  adopted.description = std::move(description);
  SLUICE_RETURN_NOT_OK(MapHeapTable(adopted.description, adopted.segments, /*full=*/true).status());
  std::lock_guard<std::mutex> lock(mutex_);
  heap_tables_[path] = std::move(adopted);
  return Status::OK();
}

Result<std::shared_ptr<arrow::Table>> ObjectStore::GetIpcFile(const std::string& path) {
  SLUICE_ASSIGN_OR_RAISE(auto file, WithContext(arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ),
                                                "object '" + path + "'"));
  return ReadIpcFile(std::move(file), path);
}

Status ObjectStore::Release(const std::string& path) {
  Forget(path);
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
  {
    // Heap tables whose files are gone already (a failed run's) are forgotten as well.
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(heap_tables_, [&](const auto& entry) { return entry.first.rfind(dir + "/", 0) == 0; });
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
  if (HeapTableOf(path)) return true;  // spilled as the IPC file it describes
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
  Result<SpilledFile> written;
  auto heap_table = HeapTableOf(path);
  if (heap_table) {
    // A heap table goes to disk as the IPC file it describes; its memory (the worker's heap)
    // is given back once no reader maps it.
    written = [&]() -> Result<SpilledFile> {
      SLUICE_ASSIGN_OR_RAISE(auto table, MapHeapTable(heap_table->description, heap_table->segments));
      return spill_.Write(key, [&](int out) -> Status {
        SLUICE_ASSIGN_OR_RAISE(auto sink, arrow::io::FileOutputStream::Open(::dup(out)));
        Status ipc = WriteIpc(*table, sink.get());
        Status closed = sink->Close();
        return ipc.ok() ? closed : ipc;
      });
    }();
  } else {
    OwnedFd source(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (source.get() < 0) {
      if (errno == ENOENT) {  // released meanwhile
        budget_->Remove(key);
        return Status::OK();
      }
      budget_->SpillFailed(key);
      return IOError("cannot spill object '", key, "': cannot open '", path, "': ", std::strerror(errno));
    }
    written = spill_.Write(key, source.get());
  }
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
  if (heap_table) Forget(path);
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
  int64_t bytes = info.st_size;
  // A heap table's buffers are in the worker's heap (a memory file the store holds).
  if (auto heap_table = HeapTableOf(path)) bytes += heap_table->heap_bytes;
  budget_->AddResident(key, bytes, IsSpillable(path));
  return MakeRoom(0, key);
}

Result<OwnedFd> ObjectStore::OpenLocked(const std::string& path, const std::string& key) const {
  if (!key.empty()) {
    if (auto it = spilled_.find(key); it != spilled_.end()) return spill_.Open(key, it->second);
  }
  OwnedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return IOError("cannot open object '", path, "': ", std::strerror(errno));
  return fd;
}

Result<OwnedFd> ObjectStore::OpenForReader(const std::string& path) const {
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
