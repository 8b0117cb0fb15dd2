#include "storage/file_io.h"

#include <arrow/filesystem/localfs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"
#include "common/ids.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// What to do about the S3 errors people meet first, recognized by the AWS SDK's error name.
std::string S3Hint(const std::string& message) {
  for (const char* code : {"SIGNATURE_DOES_NOT_MATCH", "INVALID_ACCESS_KEY_ID", "ACCESS_DENIED"}) {
    if (message.find(code) != std::string::npos) {
      return "check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and what they may access";
    }
  }
  if (message.find("NO_SUCH_BUCKET") != std::string::npos)
    return "the bucket does not exist: create it, or fix the URI";
  if (message.find("NETWORK_CONNECTION") != std::string::npos) {
    return "the S3 endpoint did not answer: is it up, and is AWS_ENDPOINT_URL right?";
  }
  return "";
}

// Rewrites an error from Arrow or the OS to name the location, keeping its kind.
Status Failed(std::string_view what, const std::string& uri, const Status& status) {
  Status out = MakeError(KindOf(status), std::string(what) + " '" + uri + "': " + status.message());
  std::string hint = uri.rfind("s3://", 0) == 0 ? S3Hint(status.message()) : "";
  return hint.empty() ? out : WithHint(out, hint);
}

Status ErrnoStatus(std::string_view what, const std::string& uri, int err) {
  if (err == ENOENT) return NotFound(what, " '", uri, "': ", std::strerror(err));
  return IOError(what, " '", uri, "': ", std::strerror(err));
}

const std::shared_ptr<arrow::fs::FileSystem>& LocalFileSystem() {
  static const std::shared_ptr<arrow::fs::FileSystem> local = std::make_shared<arrow::fs::LocalFileSystem>();
  return local;
}

std::chrono::system_clock::time_point FromTimespec(const struct timespec& t) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec)));
}

std::string ParentPath(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes locally to a temporary name beside `path`, then renames it into place.
Result<int64_t> WriteLocalAtomically(const std::string& uri, const std::string& path,
                                     const FileIO::StreamWriter& write) {
  std::string parent = ParentPath(path);
  if (!parent.empty()) SLUICE_RETURN_NOT_OK(MakeDirs(parent));
  std::string temp = path + ".tmp-" + NewShortId(8);
  auto written = [&]() -> Result<int64_t> {
    SLUICE_ASSIGN_OR_RAISE(std::shared_ptr<arrow::io::OutputStream> out, arrow::io::FileOutputStream::Open(temp));
    Status st = write(out);
    if (!st.ok()) {
      (void)out->Abort();
      return st;
    }
    SLUICE_ASSIGN_OR_RAISE(int64_t size, out->Tell());
    SLUICE_RETURN_NOT_OK(out->Close());
    return size;
  }();
  if (written.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    written = ErrnoStatus("cannot rename into", uri, errno);
  }
  if (!written.ok()) {
    ::unlink(temp.c_str());
    if (written.status().message().find(uri) == std::string::npos &&
        written.status().message().find(path) == std::string::npos) {
      return Failed("cannot write", uri, written.status());
    }
  }
  return written;
}

}  // namespace

FileIO::FileIO(S3Config s3) : s3_config_(std::move(s3)) {}

FileIO& FileIO::Default() {
  static FileIO* io = new FileIO(S3Config::FromEnvironment());
  return *io;
}

Result<std::shared_ptr<arrow::fs::FileSystem>> FileIO::S3FileSystem() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!s3_) {
    SLUICE_ASSIGN_OR_RAISE(s3_, MakeS3FileSystem(s3_config_));
  }
  return s3_;
}

Result<FileIO::Resolved> FileIO::Resolve(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  Resolved out;
  out.path = parsed.FileSystemPath();
  out.uri = parsed;
  if (parsed.is_local()) {
    out.filesystem = LocalFileSystem();
  } else {
    if (parsed.path().empty()) return InvalidInput("location '", uri, "' names a bucket, not a file");
    SLUICE_ASSIGN_OR_RAISE(out.filesystem, WithContext(S3FileSystem(), "'" + uri + "'"));
  }
  return out;
}

Result<std::string> FileIO::ReadAll(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  if (parsed.is_local()) return ReadFile(parsed.path());
  SLUICE_ASSIGN_OR_RAISE(auto input, OpenInput(uri));
  auto read = [&]() -> Result<std::string> {
    SLUICE_ASSIGN_OR_RAISE(int64_t size, input->GetSize());
    std::string bytes(static_cast<size_t>(size), '\0');
    SLUICE_ASSIGN_OR_RAISE(int64_t got, input->ReadAt(0, size, bytes.data()));
    if (got != size) return IOError("short read: ", got, " of ", size, " bytes");
    return bytes;
  };
  auto bytes = read();
  if (!bytes.ok()) return Failed("cannot read", uri, bytes.status());
  return bytes;
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> FileIO::OpenInput(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(Resolved at, Resolve(uri));
  auto info = at.filesystem->GetFileInfo(at.path);
  if (!info.ok()) return Failed("cannot open", uri, info.status());
  if (info->type() == arrow::fs::FileType::NotFound) return NotFound("cannot open '", uri, "': no such file");
  if (info->type() != arrow::fs::FileType::File) return InvalidInput("cannot open '", uri, "': not a file");
  auto opened = at.filesystem->OpenInputFile(*info);
  if (!opened.ok()) return Failed("cannot open", uri, opened.status());
  return opened;
}

Status FileIO::WriteAtomically(const std::string& uri, std::string_view contents) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  if (parsed.is_local()) {
    // fsynced before the rename: metadata files name a table's state and must survive a crash.
    std::string parent = ParentPath(parsed.path());
    if (!parent.empty()) SLUICE_RETURN_NOT_OK(MakeDirs(parent));
    return WriteFileAtomic(parsed.path(), contents);
  }
  return WriteAtomically(uri,
                         [&](const std::shared_ptr<arrow::io::OutputStream>& out) {
                           return out->Write(contents.data(), static_cast<int64_t>(contents.size()));
                         })
      .status();
}

Result<int64_t> FileIO::WriteAtomically(const std::string& uri, const StreamWriter& write) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  if (parsed.is_local()) return WriteLocalAtomically(uri, parsed.path(), write);
  SLUICE_ASSIGN_OR_RAISE(Resolved at, Resolve(uri));
  // A multipart upload completes only on Close(): until then, and after Abort(), the
  // object does not exist.
  auto opened = at.filesystem->OpenOutputStream(at.path);
  if (!opened.ok()) return Failed("cannot write", uri, opened.status());
  std::shared_ptr<arrow::io::OutputStream> out = *opened;
  Status st = write(out);
  if (!st.ok()) {
    (void)out->Abort();
    return Failed("cannot write", uri, st);
  }
  auto size = out->Tell();
  if (!size.ok()) {
    (void)out->Abort();
    return Failed("cannot write", uri, size.status());
  }
  st = out->Close();
  if (!st.ok()) return Failed("cannot write", uri, st);
  return size;
}

Result<bool> FileIO::Exists(const std::string& uri) {
  auto info = Info(uri);
  if (info.ok()) return true;
  if (KindOf(info.status()) == ErrorKind::kNotFound) return false;
  return info.status();
}

Result<StoredFileInfo> FileIO::Info(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  StoredFileInfo out{parsed.Normalized(), 0, {}};
  if (parsed.is_local()) {
    struct stat st {};
    if (::stat(parsed.path().c_str(), &st) != 0) return ErrnoStatus("cannot stat", uri, errno);
    if (!S_ISREG(st.st_mode)) return NotFound("'", uri, "' is not a file");
    out.size = st.st_size;
    out.modified = FromTimespec(st.st_mtim);
    return out;
  }
  SLUICE_ASSIGN_OR_RAISE(Resolved at, Resolve(uri));
  auto info = at.filesystem->GetFileInfo(at.path);
  if (!info.ok()) return Failed("cannot stat", uri, info.status());
  if (info->type() != arrow::fs::FileType::File) return NotFound("no file at '", uri, "'");
  out.size = info->size();
  out.modified = std::chrono::time_point_cast<std::chrono::system_clock::duration>(info->mtime());
  return out;
}

Result<std::vector<StoredFileInfo>> FileIO::List(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  StorageUri root = parsed.Normalized();
  std::vector<StoredFileInfo> out;
  if (root.is_local()) {
    // std::filesystem rather than Arrow's LocalFileSystem, which follows symbolic links.
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(root.path(), fs::directory_options::none, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      const std::string path = it->path().lexically_normal().string();
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // links and directories
      out.push_back({StorageUri::Local(path), st.st_size, FromTimespec(st.st_mtim)});
    }
    if (error && error != std::errc::no_such_file_or_directory) {
      return IOError("cannot list '", uri, "': ", error.message());
    }
  } else {
    auto filesystem = S3FileSystem();
    if (!filesystem.ok()) return Failed("cannot list", uri, filesystem.status());
    arrow::fs::FileSelector selector;
    selector.base_dir = root.FileSystemPath();
    selector.recursive = true;
    selector.allow_not_found = true;
    auto infos = (*filesystem)->GetFileInfo(selector);
    if (!infos.ok()) return Failed("cannot list", uri, infos.status());
    for (const auto& info : *infos) {
      if (info.type() != arrow::fs::FileType::File) continue;
      SLUICE_ASSIGN_OR_RAISE(StorageUri file, StorageUri::Parse("s3://" + info.path()));
      out.push_back(
          {file, info.size(), std::chrono::time_point_cast<std::chrono::system_clock::duration>(info.mtime())});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const StoredFileInfo& a, const StoredFileInfo& b) { return a.uri.ToString() < b.uri.ToString(); });
  return out;
}

Status FileIO::Delete(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  if (parsed.is_local()) {
    if (::unlink(parsed.path().c_str()) != 0 && errno != ENOENT) return ErrnoStatus("cannot remove", uri, errno);
    return Status::OK();
  }
  SLUICE_ASSIGN_OR_RAISE(Resolved at, Resolve(uri));
  auto info = at.filesystem->GetFileInfo(at.path);
  if (!info.ok()) return Failed("cannot remove", uri, info.status());
  if (info->type() == arrow::fs::FileType::NotFound) return Status::OK();
  Status st = at.filesystem->DeleteFile(at.path);
  if (!st.ok()) return Failed("cannot remove", uri, st);
  return Status::OK();
}

}  // namespace sluice
