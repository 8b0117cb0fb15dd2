// Where a file lives: a local path or an S3 object. The only place in Sluice that parses
// location strings. Accepted forms: "file:///abs/path" (also "file://localhost/abs/path"),
// a plain path ("/abs/path", "rel/path": relative to the working directory) and
// "s3://bucket/key". Locations are not percent-decoded: Iceberg metadata stores them as
// written, and so do we. Any other scheme is InvalidInput naming the location.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace sluice {

class StorageUri {
 public:
  enum class Scheme {
    kLocal,  // a path on this machine
    kS3,     // an object in an S3 bucket (AWS or compatible)
  };

  // An empty local path; assign a parsed location before use.
  StorageUri() = default;

  // Parses `text`. InvalidInput (naming `text`) for an empty string, an unknown scheme, a
  // file:// URI naming another host, an s3:// URI without a bucket, or an s3 key with "."
  // or ".." segments.
  static Result<StorageUri> Parse(std::string_view text);

  // A local path as a URI (made absolute, lexically normalized).
  static StorageUri Local(std::string_view path);

  Scheme scheme() const { return scheme_; }
  bool is_local() const { return scheme_ == Scheme::kLocal; }
  bool is_s3() const { return scheme_ == Scheme::kS3; }

  // Local: the path as given (relative paths stay relative). S3: the key, no leading '/'.
  const std::string& path() const { return path_; }
  // S3 only: the bucket; empty for local paths.
  const std::string& bucket() const { return bucket_; }

  // The canonical text: "file:///abs/path" for local paths (made absolute), "s3://bucket/key".
  std::string ToString() const;

  // How messages and reports name it: the local path, or the whole s3:// URI.
  std::string DisplayName() const { return is_local() ? path_ : ToString(); }

  // What arrow::fs expects: the local path, or "bucket/key" for S3.
  std::string FileSystemPath() const;

  // `relative` ("a/b.parquet", no scheme) appended below this location with one '/'.
  StorageUri Join(std::string_view relative) const;

  // The same location with "." and ".." resolved, repeated and trailing '/' removed, and local
  // paths made absolute: two URIs naming the same file compare equal after Normalized().
  StorageUri Normalized() const;

  // Whether this location lies strictly below `root` (both normalized first, same scheme and
  // bucket). Lexical: links are not resolved.
  bool IsUnder(const StorageUri& root) const;

  bool operator==(const StorageUri& other) const = default;

 private:
  StorageUri(Scheme scheme, std::string bucket, std::string path)
      : scheme_(scheme), bucket_(std::move(bucket)), path_(std::move(path)) {}

  Scheme scheme_ = Scheme::kLocal;
  std::string bucket_;
  std::string path_;
};

// The local path `uri` names: "file:///a/b" -> "/a/b"; plain paths are returned unchanged.
// InvalidInput naming `uri` for S3 and other non-local locations.
Result<std::string> LocalPathFromUri(std::string_view uri);

// "file://" + the absolute, normalized form of `path`.
std::string LocalFileUri(std::string_view path);

}  // namespace sluice
