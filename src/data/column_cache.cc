#include "data/column_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash/xxhash.h>

#include "common/byte_size.h"
#include "common/file_util.h"
#include "common/ids.h"

namespace sluice {
namespace {

// The entry header (docs/column_cache_format.md); all integers little-endian.
constexpr char kMagic[8] = {'S', 'L', 'C', 'C', 'H', 'U', 'N', 'K'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 32;
constexpr int64_t kDefaultMaxBudget = 10LL << 30;
// Temporary files older than this were left by a writer that died.
constexpr int64_t kStaleTemporarySeconds = 3600;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t key_length;
  uint64_t payload_length;
  uint64_t checksum;
};
static_assert(sizeof(Header) == kHeaderSize);

uint64_t Checksum(const std::string& key, const uint8_t* data, size_t size) {
  return XXH3_64bits_withSeed(data, size, XXH3_64bits(key.data(), key.size()));
}

// Reads exactly `size` bytes at `offset`; false on a short read or an error.
bool ReadFully(int fd, void* out, size_t size, off_t offset) {
  auto* p = static_cast<uint8_t*>(out);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    offset += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteFully(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

struct EntryFile {
  std::string path;
  int64_t bytes = 0;
  int64_t used_ns = 0;  // mtime: set at write, refreshed at every hit
};

// Every entry file under `directory`/entries; temporaries a dead writer left are removed.
std::vector<EntryFile> ListEntries(const std::string& directory) {
  std::vector<EntryFile> out;
  std::string root = directory + "/entries";
  DIR* top = ::opendir(root.c_str());
  if (!top) return out;
  int64_t now = ::time(nullptr);
  while (dirent* shard = ::readdir(top)) {
    if (shard->d_name[0] == '.') continue;
    std::string shard_dir = root + "/" + shard->d_name;
    DIR* dir = ::opendir(shard_dir.c_str());
    if (!dir) continue;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      std::string path = shard_dir + "/" + name;
      struct stat info;
      if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
      if (name.rfind(".tmp-", 0) == 0) {
        if (now - info.st_mtime > kStaleTemporarySeconds) ::unlink(path.c_str());
        continue;
      }
      out.push_back({path, static_cast<int64_t>(info.st_size),
                     static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec});
    }
    ::closedir(dir);
  }
  ::closedir(top);
  return out;
}

// Holds an exclusive flock on `directory`/evict.lock, so two processes never evict at once.
class EvictionLock {
 public:
  explicit EvictionLock(const std::string& directory) {
    fd_ = ::open((directory + "/evict.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~EvictionLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  int fd_ = -1;
};

// Unlinks least recently used entries until at most `max_bytes` remain; what it removed.
ColumnCacheUsage Evict(const std::string& directory, int64_t max_bytes, int64_t* remaining, bool dry_run = false) {
  EvictionLock lock(directory);
  std::vector<EntryFile> entries = ListEntries(directory);
  int64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  std::sort(entries.begin(), entries.end(),
            [](const EntryFile& a, const EntryFile& b) { return a.used_ns < b.used_ns; });
  ColumnCacheUsage removed;
  removed.directory = directory;
  for (const auto& e : entries) {
    if (total <= max_bytes) break;
    // An open reader keeps its file; the name is what goes.
    if (!dry_run && ::unlink(e.path.c_str()) != 0) continue;
    total -= e.bytes;
    removed.entries += 1;
    removed.bytes += e.bytes;
  }
  if (remaining) *remaining = total;
  return removed;
}

}  // namespace

Result<int64_t> ColumnCacheBudget(const std::string& directory) {
  if (const char* env = std::getenv("SLUICE_COLUMN_CACHE_BYTES"); env && *env) {
    return ParseByteSize(env, "SLUICE_COLUMN_CACHE_BYTES");
  }
  auto setting = ReadFile(directory + "/budget");
  if (setting.ok()) {
    std::string text = *setting;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    if (!text.empty() && text != "0") {
      return WithContext(ParseByteSize(text, "budget"), "column cache setting '" + directory + "/budget'");
    }
  }
  struct statvfs info;
  if (::statvfs(directory.c_str(), &info) != 0) return kDefaultMaxBudget;
  int64_t free_bytes = static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
  return std::min(kDefaultMaxBudget, free_bytes / 4);
}

Status SetColumnCacheBudget(const std::string& directory, int64_t bytes) {
  SLUICE_RETURN_NOT_OK(MakeDirs(directory));
  return WriteFileAtomic(directory + "/budget", std::to_string(std::max<int64_t>(bytes, 0)) + "\n", 0600);
}

Result<std::unique_ptr<ColumnCache>> ColumnCache::Open(const ColumnCacheOptions& options) {
  const std::string& dir = options.directory;
  if (dir.empty()) return InvalidInput("no column cache directory");
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) SLUICE_RETURN_NOT_OK(MakeDirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("cannot create the column cache '", dir, "': ", std::strerror(errno));
  }
  // Whoever can write here decides what scans return: only this user may.
  struct stat info;
  if (::lstat(dir.c_str(), &info) != 0) return IOError("column cache '", dir, "': ", std::strerror(errno));
  if (!S_ISDIR(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & 022) != 0) {
    return WithHint(
        InvalidInput("column cache '", dir, "' is not a directory of this user that only it can write; it is not used"),
        "remove it (sluice recreates it), or fix its owner and mode (0700)");
  }
  if (::mkdir((dir + "/entries").c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("cannot create '", dir, "/entries': ", std::strerror(errno));
  }
  int64_t budget = options.budget_bytes;
  if (budget <= 0) {
    SLUICE_ASSIGN_OR_RAISE(budget, ColumnCacheBudget(dir));
  }
  return std::unique_ptr<ColumnCache>(new ColumnCache(dir, budget));
}

std::string ColumnCache::EntryPath(const std::string& key) const {
  XXH128_hash_t hash = XXH3_128bits(key.data(), key.size());
  char name[40];
  std::snprintf(name, sizeof(name), "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return directory_ + "/entries/" + std::string(name, 2) + "/" + std::string(name + 2) + ".chunk";
}

Result<std::shared_ptr<arrow::Buffer>> ColumnCache::Get(const std::string& file, const std::string& part,
                                                        bool* damaged) {
  if (damaged) *damaged = false;
  std::string key = file + "\n" + part;
  std::string path = EntryPath(key);
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info;
  auto reject = [&]() -> Result<std::shared_ptr<arrow::Buffer>> {
    damaged_ += 1;
    if (damaged) *damaged = true;
    // Only the file that failed goes, not one a writer renamed over it since.
    struct stat now;
    if (::lstat(path.c_str(), &now) == 0 && now.st_ino == info.st_ino && now.st_dev == info.st_dev) {
      ::unlink(path.c_str());
    }
    return nullptr;
  };
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return nullptr;
  Header header;
  if (info.st_size < static_cast<off_t>(kHeaderSize) || !ReadFully(fd, &header, kHeaderSize, 0)) return reject();
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0 || header.version != kVersion ||
      header.key_length != key.size() ||
      static_cast<uint64_t>(info.st_size) != kHeaderSize + header.key_length + header.payload_length) {
    return reject();
  }
  std::string stored_key(header.key_length, '\0');
  if (!ReadFully(fd, stored_key.data(), stored_key.size(), kHeaderSize) || stored_key != key) return reject();
  SLUICE_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> payload,
                         arrow::AllocateBuffer(static_cast<int64_t>(header.payload_length)));
  auto* data = const_cast<uint8_t*>(payload->data());
  if (!ReadFully(fd, data, header.payload_length, static_cast<off_t>(kHeaderSize + header.key_length)) ||
      Checksum(key, data, header.payload_length) != header.checksum) {
    return reject();
  }
  ::futimens(fd, nullptr);  // most recently used
  return payload;
}

Status ColumnCache::Put(const std::string& file, const std::string& part, const arrow::Buffer& data) {
  std::string key = file + "\n" + part;
  int64_t entry_bytes = static_cast<int64_t>(kHeaderSize + key.size()) + data.size();
  if (entry_bytes > budget_) return Status::OK();
  std::string path = EntryPath(key);
  std::string shard = path.substr(0, path.find_last_of('/'));
  if (::mkdir(shard.c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("cannot create '", shard, "': ", std::strerror(errno));
  }
  std::string temporary = shard + "/.tmp-" + NewShortId(12);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IOError("cannot write '", temporary, "': ", std::strerror(errno));
  Header header;
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kVersion;
  header.key_length = static_cast<uint32_t>(key.size());
  header.payload_length = static_cast<uint64_t>(data.size());
  header.checksum = Checksum(key, data.data(), static_cast<size_t>(data.size()));
  bool written = WriteFully(fd, &header, kHeaderSize) && WriteFully(fd, key.data(), key.size()) &&
                 WriteFully(fd, data.data(), static_cast<size_t>(data.size()));
  int saved = errno;
  ::close(fd);
  // No fsync: an entry a crash truncated fails its checks and is read again from storage.
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    if (written) saved = errno;
    ::unlink(temporary.c_str());
    return IOError("cannot write the column cache entry '", path, "': ", std::strerror(saved));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (approximate_bytes_ < 0) {
    approximate_bytes_ = 0;
    for (const auto& e : ListEntries(directory_)) approximate_bytes_ += e.bytes;
  } else {
    approximate_bytes_ += entry_bytes;
  }
  // Down to 90%, so that a full cache walks its directory once per tenth of its budget.
  if (approximate_bytes_ > budget_) Evict(directory_, budget_ / 10 * 9, &approximate_bytes_);
  return Status::OK();
}

Result<ColumnCacheUsage> ColumnCache::Usage() const {
  ColumnCacheUsage usage;
  usage.directory = directory_;
  usage.budget = budget_;
  for (const auto& e : ListEntries(directory_)) {
    usage.entries += 1;
    usage.bytes += e.bytes;
  }
  return usage;
}

Result<ColumnCacheUsage> ColumnCache::Prune(int64_t max_bytes, bool dry_run) {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t remaining = 0;
  ColumnCacheUsage removed = Evict(directory_, std::max<int64_t>(max_bytes, 0), &remaining, dry_run);
  if (!dry_run) approximate_bytes_ = remaining;
  removed.budget = budget_;
  return removed;
}

}  // namespace sluice
