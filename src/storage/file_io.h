// FileIO: every read and write of table files (Parquet data, Avro manifests, metadata JSON)
// goes through here, whatever the storage: local files, or S3 objects through Arrow's S3
// filesystem. Locations are strings StorageUri::Parse accepts; every error is a sluice
// Status whose message names the location. A FileIO is safe for concurrent use from many
// threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>

#include "common/status.h"
#include "storage/s3_config.h"
#include "storage/storage_uri.h"

namespace sluice {

// What Info and List report about one file.
struct StoredFileInfo {
  StorageUri uri;  // normalized
  int64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

class FileIO {
 public:
  // Local files work without setup; S3 is configured from `s3` when first used.
  explicit FileIO(S3Config s3);

  // The process's FileIO, S3 configured from the environment (S3Config::FromEnvironment)
  // when first used. Never destroyed.
  static FileIO& Default();

  // The filesystem holding `uri` and the path to give it. S3 filesystems are made once per
  // FileIO (and start S3 support for the process, see s3_config.h).
  struct Resolved {
    std::shared_ptr<arrow::fs::FileSystem> filesystem;
    std::string path;  // in `filesystem`
    StorageUri uri;    // as parsed
  };
  Result<Resolved> Resolve(const std::string& uri);

  // The whole file. NotFound when it does not exist.
  Result<std::string> ReadAll(const std::string& uri);

  // For random access (Parquet footers, row groups). NotFound when it does not exist.
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInput(const std::string& uri);

  // Writes a file so that readers never see it partially written: locally to a temporary name
  // beside it (parent directories created), fsynced, then renamed over `uri`; on S3 the object
  // appears only when its upload completes, and a failed upload is aborted.
  Status WriteAtomically(const std::string& uri, std::string_view contents);

  // The same, with the contents streamed by `write` (e.g. a Parquet writer); an error from
  // `write` leaves nothing at `uri`. Returns the number of bytes written.
  using StreamWriter = std::function<Status(const std::shared_ptr<arrow::io::OutputStream>&)>;
  Result<int64_t> WriteAtomically(const std::string& uri, const StreamWriter& write);

  // Whether a file (not a directory) exists at `uri`.
  Result<bool> Exists(const std::string& uri);

  // Size and modification time of the file at `uri`; NotFound when there is none.
  Result<StoredFileInfo> Info(const std::string& uri);

  // Every regular file below the directory (or S3 prefix) `uri`, recursively, sorted by URI;
  // empty when there is nothing there. Local symbolic links are neither followed nor listed.
  Result<std::vector<StoredFileInfo>> List(const std::string& uri);

  // Removes the file at `uri`; succeeds when there is none.
  Status Delete(const std::string& uri);

 private:
  Result<std::shared_ptr<arrow::fs::FileSystem>> S3FileSystem();

  S3Config s3_config_;
  std::mutex mutex_;
  std::shared_ptr<arrow::fs::FileSystem> s3_;  // GUARDED_BY(mutex_); made on first S3 use
};

}  // namespace sluice
