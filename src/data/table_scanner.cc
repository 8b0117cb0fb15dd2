#include "data/table_scanner.h"

#include <algorithm>

#include <arrow/dataset/api.h>
#include <arrow/dataset/file_parquet.h>
#include <arrow/filesystem/localfs.h>
#include <parquet/metadata.h>

#include "common/name_match.h"
#include "data/cached_data_file.h"
#include "data/filter_expression.h"
#include "data/scan_read_log.h"
#include "data/schema_util.h"
#include "storage/file_io.h"

namespace sluice {

namespace ds = arrow::dataset;

Result<std::vector<std::string>> ResolveColumns(const arrow::Schema& schema, const std::vector<std::string>& wanted) {
  std::vector<std::string> names;
  for (const auto& field : schema.fields()) names.push_back(field->name());
  if (wanted.empty() || (wanted.size() == 1 && wanted[0] == "*")) return names;
  std::vector<std::string> out;
  for (const auto& column : wanted) {
    bool quoted = column.size() >= 2 && column.front() == '"' && column.back() == '"';
    std::string written = quoted ? column.substr(1, column.size() - 2) : column;
    auto resolved = ResolveName(written, names, "column", quoted);
    if (!resolved.ok()) {
      if (KindOf(resolved.status()) == ErrorKind::kNotFound) {
        return InvalidInput("column '", written, "' does not exist; available: ", FieldNames(schema));
      }
      return resolved.status();
    }
    if (std::find(out.begin(), out.end(), *resolved) == out.end()) out.push_back(*resolved);
  }
  return out;
}

namespace {

// The scanner's batches under the scan's result schema (no field metadata), counted into the
// stats as they go by. It owns the scan's read log, which the files record into until the
// scan is over.
class ScanBatchReader : public arrow::RecordBatchReader {
 public:
  ScanBatchReader(std::shared_ptr<arrow::Schema> schema, std::shared_ptr<arrow::RecordBatchReader> batches,
                  std::shared_ptr<ScanReadLog> reads, std::shared_ptr<ScanStats> own_stats, ScanStats* stats,
                  bool cache_off, std::string cache_problem)
      : schema_(std::move(schema)),
        batches_(std::move(batches)),
        reads_(std::move(reads)),
        own_stats_(std::move(own_stats)),
        stats_(stats),
        cache_off_(cache_off),
        cache_problem_(std::move(cache_problem)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    batch->reset();
    if (!batches_) return arrow::Status::OK();  // ended or closed
    std::shared_ptr<arrow::RecordBatch> next;
    ARROW_RETURN_NOT_OK(batches_->ReadNext(&next));
    if (!next) {
      Finish();
      return arrow::Status::OK();
    }
    stats_->rows_out += next->num_rows();
    // The same columns; only the schema's field metadata goes (the dataset's is stripped
    // already, a fragment's physical schema may still carry some).
    *batch = arrow::RecordBatch::Make(schema_, next->num_rows(), next->columns());
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    if (!batches_) return arrow::Status::OK();
    auto closed = batches_->Close();
    batches_.reset();
    return closed;
  }

 private:
  void Finish() {
    stats_->bytes_from_storage = reads_->bytes_from_storage();
    stats_->bytes_from_cache = reads_->bytes_from_cache();
    stats_->storage_reasons = reads_->StorageReasons(cache_off_, cache_problem_);
    batches_.reset();
  }

  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::RecordBatchReader> batches_;  // null once ended or closed
  std::shared_ptr<ScanReadLog> reads_;
  std::shared_ptr<ScanStats> own_stats_;  // when the caller passed none
  ScanStats* stats_;                      // the caller's or own_stats_
  bool cache_off_;
  std::string cache_problem_;
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> ScanTableBatches(const ScanRequest& request, ScanStats* stats) {
  // Without a caller's stats, the reader counts into its own.
  auto own_stats = stats ? nullptr : std::make_shared<ScanStats>();
  ScanStats& s = stats ? *stats : *own_stats;
  s = ScanStats{};
  if (!request.schema) return Internal("scan without a schema");
  auto schema = WithoutFieldMetadata(*request.schema);
  SLUICE_ASSIGN_OR_RAISE(std::vector<std::string> columns, ResolveColumns(*schema, request.columns));
  arrow::compute::Expression filter = arrow::compute::literal(true);
  if (!request.filter.empty()) {
    SLUICE_ASSIGN_OR_RAISE(filter, ParseFilter(request.filter, *schema));
  }
  SLUICE_ASSIGN_OR_RAISE(auto bound, filter.Bind(*schema));

  auto format = std::make_shared<ds::ParquetFileFormat>();
  // The chunks of a row group are fetched at once (concurrent requests on S3), each by a
  // request of its own so that each is one cache entry: no coalescing of neighbours.
  auto parquet_options = std::make_shared<ds::ParquetFragmentScanOptions>();
  arrow::io::CacheOptions one_request_per_chunk = arrow::io::CacheOptions::Defaults();
  one_request_per_chunk.hole_size_limit = 0;
  one_request_per_chunk.range_size_limit = 1;
  one_request_per_chunk.lazy = false;
  parquet_options->arrow_reader_properties->set_pre_buffer(true);
  parquet_options->arrow_reader_properties->set_cache_options(one_request_per_chunk);
  format->default_fragment_scan_options = parquet_options;
  // Each fragment reads through its own file's filesystem; the dataset's is only a default.
  std::shared_ptr<arrow::fs::FileSystem> dataset_fs = std::make_shared<arrow::fs::LocalFileSystem>();
  std::vector<std::shared_ptr<ds::FileFragment>> fragments;
  auto reads = std::make_shared<ScanReadLog>();  // every read of the scan, until its last
  s.files_total = static_cast<int64_t>(request.files.size());
  bool prune = !request.filter.empty() && request.partitions.size() == request.files.size() &&
               request.spec_ids.size() == request.files.size();
  for (size_t i = 0; i < request.files.size(); ++i) {
    if (prune && !FileMayMatch(filter, request.partition_specs, request.spec_ids[i], request.partitions[i])) {
      ++s.files_skipped;
      continue;
    }
    const std::string& uri = request.files[i];
    SLUICE_ASSIGN_OR_RAISE(FileIO::Resolved file, FileIO::Default().Resolve(uri));
    const std::string name = "data file '" + file.uri.DisplayName() + "'";
    ++s.files;
    int64_t size = i < request.file_sizes.size() ? request.file_sizes[i] : 0;
    // The content's identity in cache keys: location and size, and the modification time of
    // a file that may change.
    std::string identity = file.uri.ToString();
    if (size <= 0 || !request.files_immutable) {
      SLUICE_ASSIGN_OR_RAISE(StoredFileInfo info, FileIO::Default().Info(uri));
      size = info.size;
      if (!request.files_immutable) {
        identity += "@mtime=" + std::to_string(info.modified.time_since_epoch().count());
      }
    }
    identity += "@size=" + std::to_string(size);
    auto data_file = std::make_shared<CachedDataFile>(request.cache, uri, size, identity, static_cast<int>(i), reads);
    ds::FileSource source(
        [data_file]() -> arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> {
          return data_file->OpenReader();
        },
        size);
    SLUICE_ASSIGN_OR_RAISE(auto whole, WithContext(format->MakeFragment(source), name));
    auto parquet_fragment = std::static_pointer_cast<ds::ParquetFileFragment>(whole);
    SLUICE_RETURN_NOT_OK_CTX(parquet_fragment->EnsureCompleteMetadata(), name);
    auto metadata = parquet_fragment->metadata();
    data_file->SetLayout(*metadata);
    s.row_groups_total += metadata->num_row_groups();
    // Row groups whose statistics cannot satisfy the filter are dropped here.
    SLUICE_ASSIGN_OR_RAISE(auto kept, parquet_fragment->SplitByRowGroup(bound));
    for (const auto& piece : kept) {
      auto row_group_fragment = std::static_pointer_cast<ds::ParquetFileFragment>(piece);
      for (int rg : row_group_fragment->row_groups()) {
        ++s.row_groups_read;
        s.rows_read += metadata->RowGroup(rg)->num_rows();
      }
      fragments.push_back(row_group_fragment);
    }
  }
  SLUICE_ASSIGN_OR_RAISE(
      auto dataset, ds::FileSystemDataset::Make(schema, arrow::compute::literal(true), format, dataset_fs, fragments));
  SLUICE_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
  SLUICE_RETURN_NOT_OK(builder->Filter(filter));
  SLUICE_RETURN_NOT_OK(builder->Project(columns));
  SLUICE_RETURN_NOT_OK(builder->UseThreads(true));
  if (request.row_groups_ahead > 0) {
    // Each fragment is one row group, read as one batch or a few (128 Ki rows a batch).
    SLUICE_RETURN_NOT_OK(builder->FragmentReadahead(request.row_groups_ahead));
    SLUICE_RETURN_NOT_OK(builder->BatchReadahead(request.row_groups_ahead));
  }
  SLUICE_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
  // In fragment order, as ScanTable's table always was.
  SLUICE_ASSIGN_OR_RAISE(auto batches, scanner->ToRecordBatchReader());
  auto result_schema = WithoutFieldMetadata(*batches->schema());
  return std::make_shared<ScanBatchReader>(result_schema, std::move(batches), std::move(reads), std::move(own_stats),
                                           &s, request.cache == nullptr, request.cache_problem);
}

Result<std::shared_ptr<arrow::Table>> ScanTable(const ScanRequest& request, ScanStats* stats) {
  SLUICE_ASSIGN_OR_RAISE(auto reader, ScanTableBatches(request, stats));
  SLUICE_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatchReader(reader.get()));
  return table;
}

}  // namespace sluice
