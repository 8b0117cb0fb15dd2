#include "data/cached_data_file.h"

#include <cstring>

#include <arrow/filesystem/filesystem.h>
#include <parquet/schema.h>

#include "storage/file_io.h"

namespace sluice {
namespace {

// Parquet's reader over a CachedDataFile. Positional reads only are used by Parquet; the
// stream interface keeps a position for completeness.
class CachedReader : public arrow::io::RandomAccessFile {
 public:
  explicit CachedReader(std::shared_ptr<CachedDataFile> file) : file_(std::move(file)) {}

  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override {
    std::lock_guard<std::mutex> lock(position_mutex_);
    return position_;
  }
  arrow::Status Seek(int64_t position) override {
    std::lock_guard<std::mutex> lock(position_mutex_);
    position_ = position;
    return arrow::Status::OK();
  }
  arrow::Result<int64_t> GetSize() override { return file_->size(); }

  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t position, int64_t nbytes) override {
    if (position < 0 || nbytes < 0) return arrow::Status::Invalid("negative read position or length");
    int64_t length = std::min(nbytes, std::max<int64_t>(file_->size() - position, 0));
    if (length == 0) return std::make_shared<arrow::Buffer>(nullptr, 0);
    return file_->ReadRange(position, length);
  }
  arrow::Result<int64_t> ReadAt(int64_t position, int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(position, nbytes));
    std::memcpy(out, buffer->data(), static_cast<size_t>(buffer->size()));
    return buffer->size();
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    int64_t at;
    {
      std::lock_guard<std::mutex> lock(position_mutex_);
      at = position_;
    }
    ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(at, nbytes));
    std::lock_guard<std::mutex> lock(position_mutex_);
    position_ = at + buffer->size();
    return buffer;
  }
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(auto buffer, Read(nbytes));
    std::memcpy(out, buffer->data(), static_cast<size_t>(buffer->size()));
    return buffer->size();
  }

 private:
  std::shared_ptr<CachedDataFile> file_;
  bool closed_ = false;
  mutable std::mutex position_mutex_;
  int64_t position_ = 0;  // GUARDED_BY(position_mutex_)
};

}  // namespace

void CachedDataFile::SetLayout(const parquet::FileMetaData& metadata) {
  std::lock_guard<std::mutex> lock(mutex_);
  chunks_.clear();
  for (int rg = 0; rg < metadata.num_row_groups(); ++rg) {
    auto row_group = metadata.RowGroup(rg);
    for (int c = 0; c < row_group->num_columns(); ++c) {
      auto chunk = row_group->ColumnChunk(c);
      // Where Parquet's reader starts a chunk (file_reader.cc: ComputeColumnChunkRange).
      int64_t start = chunk->data_page_offset();
      if (chunk->has_dictionary_page() && chunk->dictionary_page_offset() > 0 &&
          chunk->dictionary_page_offset() < start) {
        start = chunk->dictionary_page_offset();
      }
      chunks_[start] = {rg, chunk->path_in_schema()->ToDotString()};
    }
  }
}

std::shared_ptr<arrow::io::RandomAccessFile> CachedDataFile::OpenReader() {
  return std::make_shared<CachedReader>(shared_from_this());
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> CachedDataFile::Storage() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (storage_) return storage_;
  SLUICE_ASSIGN_OR_RAISE(FileIO::Resolved resolved, FileIO::Default().Resolve(uri_));
  // With its size given, S3 needs no HEAD request before the reads.
  arrow::fs::FileInfo info(resolved.path, arrow::fs::FileType::File);
  info.set_size(size_);
  auto opened = resolved.filesystem->OpenInputFile(info);
  if (!opened.ok()) {
    return WithContext(opened.status(), "data file '" + resolved.uri.DisplayName() + "'");
  }
  storage_ = *opened;
  return storage_;
}

Result<std::shared_ptr<arrow::Buffer>> CachedDataFile::ReadRange(int64_t position, int64_t length) {
  int row_group = -1;
  std::string column;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = chunks_.find(position); it != chunks_.end()) std::tie(row_group, column) = it->second;
  }
  // The byte range is what the key really names; the chunk's name is for people.
  std::string part = "bytes " + std::to_string(position) + "+" + std::to_string(length);
  if (row_group >= 0) part = "rg " + std::to_string(row_group) + " col " + column + " " + part;
  if (cache_) {
    bool damaged = false;
    auto cached = cache_->Get(identity_, part, &damaged);
    if (damaged) log_->RecordDamaged(index_);
    if (cached.ok() && *cached && (*cached)->size() == length) {
      log_->Record(index_, row_group, column, length, /*from_cache=*/true);
      return *cached;
    }
  }
  SLUICE_ASSIGN_OR_RAISE(auto storage, Storage());
  SLUICE_ASSIGN_OR_RAISE(auto buffer, storage->ReadAt(position, length));
  log_->Record(index_, row_group, column, buffer->size(), /*from_cache=*/false);
  // The cache is an optimization: a failed put (a full disk) only means a miss next time.
  if (cache_ && buffer->size() == length) (void)cache_->Put(identity_, part, *buffer);
  return buffer;
}

}  // namespace sluice
