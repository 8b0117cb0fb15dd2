#include "data/source_reader.h"

#include <arrow/csv/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/file_util.h"
#include "common/utf8.h"
#include "data/schema_util.h"
#include "storage/file_io.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsParquet(const std::string& path) { return EndsWith(path, ".parquet") || EndsWith(path, ".parq"); }

Status UnknownFormat(const std::string& path) {
  return WithHint(InvalidInput("'", path, "' is neither a Parquet nor a CSV file"),
                  "import files ending in .parquet or .csv");
}

bool Under(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root.back() == '/' || path[root.size()] == '/'));
}

}  // namespace

Status CheckSourceColumns(const std::string& path, const arrow::Schema& schema) {
  if (schema.num_fields() == 0) return InvalidInput("'", path, "' has no columns: there is no table to make of it");
  std::set<std::string> seen;
  for (const auto& field : schema.fields()) {
    if (!seen.insert(field->name()).second) {
      return WithHint(InvalidInput("'", path, "' has the column '", field->name(), "' twice"),
                      "give each column its own name before importing the file");
    }
  }
  return Status::OK();
}

bool IsInsideDataHome(const std::string& path) {
  std::error_code ec;
  for (fs::path dir = fs::path(path).parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_regular_file(dir / "catalog.db", ec) && fs::is_directory(dir / "warehouse", ec)) return true;
    if (dir == dir.root_path()) break;
  }
  return false;
}

namespace {

constexpr const char* kGlobChars = "*?[";

std::string AllowedList(const SourceAccess& access) {
  std::string out;
  for (const auto& prefix : access.allowed) out += (out.empty() ? "" : ",") + prefix.ToString();
  return out;
}

// Whether an s3:// location (a file, or a prefix to list) may be read as a source: under an
// allowed prefix (`or_equal`: the prefix itself, for listing) and outside the warehouse.
Status CheckS3Access(const StorageUri& uri, const std::string& given, const SourceAccess& access,
                     bool or_equal = false) {
  // Keys are used as written; a '%' could only be meant to make one name look like another.
  if (given.find('%') != std::string::npos || given.find('\\') != std::string::npos) {
    return InvalidInput("'", given, "': '%' and '\\' are not accepted in an s3:// source");
  }
  StorageUri normal = uri.Normalized();
  if (access.warehouse && (normal == access.warehouse->Normalized() || normal.IsUnder(*access.warehouse))) {
    return WithHint(InvalidInput("'", given, "' lies inside the data home's warehouse (", access.warehouse->ToString(),
                                 "): its files are not importable"),
                    "import the source files, or read the table through its catalog");
  }
  for (const auto& prefix : access.allowed) {
    if (normal.IsUnder(prefix) || (or_equal && normal == prefix.Normalized())) return Status::OK();
  }
  std::string allowed = AllowedList(access);
  return WithHint(InvalidInput("'", given, "' is not under a location this data home reads sources from (",
                               kAllowedSourcesSetting, allowed.empty() ? " is empty" : " = " + allowed, ")"),
                  std::string("the data home's owner can allow a prefix: sluice config set ") + kAllowedSourcesSetting +
                      " s3://bucket/prefix[,s3://...]");
}

bool IsSourceName(const std::string& path) { return IsParquet(path) || EndsWith(path, ".csv"); }

// The S3 objects a search URI names: one object, a prefix's *.parquet / *.csv, or a glob's
// matches (listed below the glob's fixed part).
Result<std::vector<std::string>> ListS3SourceFiles(const StorageUri& uri, const std::string& given,
                                                   const SourceAccess& access) {
  const std::string& key = uri.path();
  size_t glob = key.find_first_of(kGlobChars);
  std::string dir_key;
  std::string pattern;  // the whole key pattern, matched against each listed key
  if (glob != std::string::npos) {
    size_t slash = key.rfind('/', glob);
    dir_key = slash == std::string::npos ? "" : key.substr(0, slash);
    pattern = key;
  } else if (IsSourceName(key)) {
    SLUICE_RETURN_NOT_OK(CheckS3Access(uri, given, access));
    SLUICE_ASSIGN_OR_RAISE(bool exists, FileIO::Default().Exists(uri.ToString()));
    if (!exists) return std::vector<std::string>();
    return std::vector<std::string>{uri.Normalized().ToString()};
  } else {
    dir_key = key;
    while (!dir_key.empty() && dir_key.back() == '/') dir_key.pop_back();
  }
  StorageUri dir = StorageUri::Parse("s3://" + uri.bucket() + "/" + dir_key).ValueOr(uri);
  // Nothing is listed outside what is allowed, even to find nothing.
  SLUICE_RETURN_NOT_OK(CheckS3Access(dir, given, access, /*or_equal=*/true));
  SLUICE_ASSIGN_OR_RAISE(auto listed, FileIO::Default().List(dir.ToString()));
  std::vector<std::string> out;
  const std::string below = dir.Normalized().path().empty() ? "" : dir.Normalized().path() + "/";
  for (const auto& file : listed) {
    const std::string& name = file.uri.path();
    if (!pattern.empty()) {
      if (::fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME | FNM_PERIOD) != 0) continue;
    } else if (name.find('/', below.size()) != std::string::npos || !IsSourceName(name)) {
      continue;  // a prefix: its own *.parquet / *.csv, not those of sub-prefixes (as locally)
    }
    out.push_back(file.uri.ToString());
  }
  return out;
}

}  // namespace

Result<std::string> CheckSourcePath(const std::string& given, const SourceAccess& access) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri uri, StorageUri::Parse(given));
  if (uri.is_s3()) {
    SLUICE_RETURN_NOT_OK(CheckS3Access(uri, given, access));
    SLUICE_ASSIGN_OR_RAISE(bool exists, FileIO::Default().Exists(uri.ToString()));
    if (!exists) return NotFound("'", given, "': no such object");
    return uri.Normalized().ToString();
  }
  const std::string& path = uri.path();
  std::error_code ec;
  fs::path resolved = fs::canonical(path, ec);
  if (ec) return NotFound("'", given, "': ", ec.message());
  std::string real = resolved.string();
  if (!fs::is_regular_file(resolved, ec)) return InvalidInput("'", given, "' is not a regular file");
  if (IsInsideDataHome(real)) {
    return WithHint(InvalidInput("'", given, "' lies inside a data home: its files are not importable"),
                    "import the source files, or read the table through its catalog");
  }
  const char* roots = std::getenv("SLUICE_IMPORT_ROOTS");
  if (roots && *roots) {
    std::stringstream list(roots);
    std::string root;
    bool allowed = false;
    while (std::getline(list, root, ':')) {
      if (root.empty()) continue;
      fs::path canonical_root = fs::weakly_canonical(root, ec);
      if (!ec && Under(real, canonical_root.string())) allowed = true;
    }
    if (!allowed) {
      return WithHint(InvalidInput("'", given, "' is outside the directories imports may read"),
                      std::string("allowed: $SLUICE_IMPORT_ROOTS=") + roots);
    }
  }
  return real;
}

Result<std::string> CheckSourceFile(const std::string& path, const SourceAccess& access) {
  SLUICE_ASSIGN_OR_RAISE(std::string real, CheckSourcePath(path, access));
  if (!IsSourceName(real)) return UnknownFormat(path);
  return real;
}

Result<std::string> CheckSourceUnder(const std::string& path, const std::string& root, const char* what,
                                     const SourceAccess& access) {
  auto outside = [&] {
    return InvalidInput(what, " '", path, "' is not a file of the table: it must lie under the table's location '",
                        root, "'");
  };
  SLUICE_ASSIGN_OR_RAISE(StorageUri file, StorageUri::Parse(path));
  SLUICE_ASSIGN_OR_RAISE(StorageUri base, WithContext(StorageUri::Parse(root), "the table's location"));
  if (file.scheme() != base.scheme()) return outside();
  if (file.is_s3()) SLUICE_RETURN_NOT_OK(CheckS3SourcePlace(path, root, what, access));  // before any read
  SLUICE_ASSIGN_OR_RAISE(std::string checked, WithContext(CheckSourcePath(path, access), what));
  if (file.is_local()) {
    std::error_code ec;
    std::string real_root = fs::weakly_canonical(base.path(), ec).string();
    if (ec || !Under(checked, real_root) || checked == real_root) return outside();
  }
  return checked;
}

Status CheckS3SourcePlace(const std::string& uri, const std::string& root, const char* what,
                          const SourceAccess& access) {
  auto file = StorageUri::Parse(uri);
  auto base = StorageUri::Parse(root);
  if (!file.ok() || !base.ok() || !file->is_s3() || !file->IsUnder(*base)) {
    return InvalidInput(what, " '", uri, "' is not a file of the table: it must lie under the table's location '", root,
                        "'");
  }
  return WithContext(CheckS3Access(*file, uri, access), what);
}

Result<std::vector<std::string>> ListSourceFiles(const std::string& search_uri, const SourceAccess& access) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri uri, StorageUri::Parse(search_uri));
  if (uri.is_s3()) {
    SLUICE_ASSIGN_OR_RAISE(auto matched, ListS3SourceFiles(uri, search_uri, access));
    if (matched.empty()) {
      return WithHint(NotFound("no files match '", search_uri, "'"),
                      "pass a Parquet or CSV object, a prefix holding them, or a glob such as "
                      "'s3://bucket/data/*.parquet'");
    }
    std::vector<std::string> out;
    for (const auto& file : matched) {
      SLUICE_RETURN_NOT_OK(CheckS3Access(*StorageUri::Parse(file), file, access));
      if (!IsSourceName(file)) return UnknownFormat(file);
      out.push_back(file);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  std::string pattern = uri.path();
  // A search inside a data home is refused as such, even where it would match nothing.
  std::string fixed = pattern.substr(0, pattern.find_first_of("*?["));
  std::error_code ec;
  fs::path base = IsDirectory(fixed) ? fs::path(fixed) : fs::path(fixed).parent_path();
  fs::path real_base = base.empty() ? fs::path() : fs::canonical(base, ec);
  if (!ec && !real_base.empty() && IsInsideDataHome((real_base / "x").string())) {
    return WithHint(InvalidInput("'", search_uri, "' lies inside a data home: its files are not importable"),
                    "import the source files, or read the table through its catalog");
  }
  std::vector<std::string> matched;
  if (IsDirectory(pattern)) {
    for (const char* ext : {"/*.parquet", "/*.csv"}) {
      SLUICE_ASSIGN_OR_RAISE(auto files, GlobFiles(pattern + ext));
      matched.insert(matched.end(), files.begin(), files.end());
    }
  } else {
    SLUICE_ASSIGN_OR_RAISE(matched, GlobFiles(pattern));
  }
  if (matched.empty()) {
    return WithHint(NotFound("no files match '", search_uri, "'"),
                    "pass a Parquet or CSV file, a directory of them, or a glob such as 'data/*.parquet'");
  }
  std::vector<std::string> out;
  for (const auto& file : matched) {
    SLUICE_ASSIGN_OR_RAISE(std::string real, CheckSourceFile(file, access));
    out.push_back(std::move(real));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenSourceFile(const std::string& path) {
  if (path.rfind("s3://", 0) == 0) return FileIO::Default().OpenInput(path);
  // O_NONBLOCK: a FIFO swapped in after the check must not hang the open.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return IOError("cannot open '", path, "': ", std::strerror(errno));
  auto refuse = [&](const std::string& why) {
    ::close(fd);
    return InvalidInput("'", path, "' ", why, " since it was checked: not read");
  };
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return refuse("is no longer a regular file");
  // What was opened, by the kernel's account: a directory swapped for a symlink between the
  // check and the open shows here as another path.
  std::error_code ec;
  fs::path opened = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
  if (ec || opened.string() != path) return refuse("moved");
  auto file = arrow::io::ReadableFile::Open(fd);
  if (!file.ok()) {
    ::close(fd);
    return file.status();
  }
  return std::shared_ptr<arrow::io::RandomAccessFile>(*std::move(file));
}

Result<std::shared_ptr<arrow::Table>> ReadSourceFile(const std::string& path) {
  auto read = [&]() -> Result<std::shared_ptr<arrow::Table>> {
    SLUICE_ASSIGN_OR_RAISE(auto input, OpenSourceFile(path));
    if (IsParquet(path)) {
      SLUICE_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
      std::shared_ptr<arrow::Table> table;
      SLUICE_RETURN_NOT_OK(reader->ReadTable(&table));
      return table;
    }
    if (EndsWith(path, ".csv")) {
      SLUICE_ASSIGN_OR_RAISE(
          auto reader,
          arrow::csv::TableReader::Make(arrow::io::default_io_context(), input, arrow::csv::ReadOptions::Defaults(),
                                        arrow::csv::ParseOptions::Defaults(), arrow::csv::ConvertOptions::Defaults()));
      auto table = reader->Read();
      if (!table.ok()) {
        // Arrow's message may quote the file's bytes: binary data named .csv.
        return InvalidInput("not a CSV file Sluice can read (UTF-8 text with a header row): ",
                            ValidUtf8(table.status().message()));
      }
      return table;
    }
    return UnknownFormat(path);
  };
  SLUICE_ASSIGN_OR_RAISE(auto table, WithContext(read(), "reading '" + path + "'"));
  SLUICE_RETURN_NOT_OK(CheckSourceColumns(path, *table->schema()));
  return WithoutFieldMetadata(table)->ReplaceSchemaMetadata(nullptr);
}

Result<std::shared_ptr<arrow::Schema>> ReadSourceSchema(const std::string& path) {
  if (!IsParquet(path)) {
    SLUICE_ASSIGN_OR_RAISE(auto table, ReadSourceFile(path));
    return table->schema();
  }
  auto read = [&]() -> Result<std::shared_ptr<arrow::Schema>> {
    SLUICE_ASSIGN_OR_RAISE(auto input, OpenSourceFile(path));
    SLUICE_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    std::shared_ptr<arrow::Schema> schema;
    SLUICE_RETURN_NOT_OK(reader->GetSchema(&schema));
    return schema;
  };
  SLUICE_ASSIGN_OR_RAISE(auto schema, WithContext(read(), "reading '" + path + "'"));
  SLUICE_RETURN_NOT_OK(CheckSourceColumns(path, *schema));
  return WithoutFieldMetadata(*schema)->RemoveMetadata();
}

Result<SourceData> ReadSourceFiles(const std::string& search_uri, const SourceAccess& access) {
  SourceData out;
  SLUICE_ASSIGN_OR_RAISE(out.files, ListSourceFiles(search_uri, access));
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (const auto& file : out.files) {
    SLUICE_ASSIGN_OR_RAISE(auto table, ReadSourceFile(file));
    if (!tables.empty() && !table->schema()->Equals(*tables.front()->schema())) {
      return InvalidInput("'", file, "' has schema ", table->schema()->ToString(), " but '", out.files.front(),
                          "' has ", tables.front()->schema()->ToString());
    }
    tables.push_back(std::move(table));
  }
  SLUICE_ASSIGN_OR_RAISE(out.table, arrow::ConcatenateTables(tables));
  return out;
}

}  // namespace sluice
