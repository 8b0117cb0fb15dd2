#include "storage/storage_uri.h"

#include <filesystem>
#include <vector>

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFileScheme = "file://";
constexpr std::string_view kS3Scheme = "s3://";

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Absolute and lexically normal, without a trailing '/' (except for "/" itself).
std::string NormalLocalPath(std::string_view path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(path), ec);
  if (ec) absolute = fs::path(path);
  std::string out = absolute.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// The '/'-separated segments of an S3 key, empty ones dropped.
std::vector<std::string_view> KeySegments(std::string_view key) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    if (end > start) segments.push_back(key.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

std::string JoinSegments(const std::vector<std::string_view>& segments) {
  std::string out;
  for (const auto& segment : segments) {
    if (!out.empty()) out += '/';
    out += segment;
  }
  return out;
}

}  // namespace

Result<StorageUri> StorageUri::Parse(std::string_view text) {
  if (text.empty()) return InvalidInput("empty location: expected a path, a file:// or an s3:// URI");
  if (StartsWith(text, kFileScheme)) {
    std::string_view rest = text.substr(kFileScheme.size());
    if (StartsWith(rest, "localhost/")) rest.remove_prefix(std::string_view("localhost").size());
    if (!StartsWith(rest, "/")) {
      return InvalidInput("location '", text, "': a file:// URI must name an absolute local path (file:///...)");
    }
    return StorageUri(Scheme::kLocal, "", std::string(rest));
  }
  if (StartsWith(text, kS3Scheme)) {
    std::string_view rest = text.substr(kS3Scheme.size());
    size_t slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    std::string_view key = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (bucket.empty()) return InvalidInput("location '", text, "': an s3:// URI needs a bucket (s3://bucket/key)");
    if (bucket.find_first_of("?#@:") != std::string_view::npos) {
      return InvalidInput("location '", text, "': '", bucket, "' is not an S3 bucket name");
    }
    for (const auto& segment : KeySegments(key)) {
      if (segment == "." || segment == "..") {
        return InvalidInput("location '", text, "': an S3 key may not contain '.' or '..' segments");
      }
    }
    return StorageUri(Scheme::kS3, std::string(bucket), std::string(key));
  }
  size_t colon = text.find("://");
  if (colon != std::string_view::npos && text.find('/') > colon) {
    return InvalidInput("unsupported location '", text, "': '", text.substr(0, colon),
                        "://' is not a storage Sluice knows (local paths, file:// and s3:// are)");
  }
  return StorageUri(Scheme::kLocal, "", std::string(text));
}

StorageUri StorageUri::Local(std::string_view path) { return StorageUri(Scheme::kLocal, "", NormalLocalPath(path)); }

std::string StorageUri::ToString() const {
  if (is_s3()) return std::string(kS3Scheme) + bucket_ + "/" + path_;
  if (!path_.empty() && path_[0] == '/') return std::string(kFileScheme) + path_;
  return std::string(kFileScheme) + NormalLocalPath(path_);
}

std::string StorageUri::FileSystemPath() const {
  if (is_s3()) return path_.empty() ? bucket_ : bucket_ + "/" + path_;
  return path_;
}

StorageUri StorageUri::Join(std::string_view relative) const {
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  std::string base = path_;
  while (!base.empty() && base.back() == '/' && base != "/") base.pop_back();
  if (relative.empty()) return StorageUri(scheme_, bucket_, base);
  if (base.empty() && is_s3()) return StorageUri(scheme_, bucket_, std::string(relative));
  if (base == "/") return StorageUri(scheme_, bucket_, "/" + std::string(relative));
  return StorageUri(scheme_, bucket_, base + "/" + std::string(relative));
}

StorageUri StorageUri::Normalized() const {
  if (is_local()) return StorageUri(scheme_, "", NormalLocalPath(path_));
  // Parse refused "." and ".." in keys; only empty segments remain to drop.
  return StorageUri(scheme_, bucket_, JoinSegments(KeySegments(path_)));
}

bool StorageUri::IsUnder(const StorageUri& root) const {
  StorageUri self = Normalized();
  StorageUri base = root.Normalized();
  if (self.scheme_ != base.scheme_ || self.bucket_ != base.bucket_) return false;
  if (base.path_.empty()) return !self.path_.empty();  // a whole bucket
  if (base.path_ == "/") return self.path_.size() > 1;
  return self.path_.size() > base.path_.size() && StartsWith(self.path_, base.path_) &&
         self.path_[base.path_.size()] == '/';
}

Result<std::string> LocalPathFromUri(std::string_view uri) {
  SLUICE_ASSIGN_OR_RAISE(StorageUri parsed, StorageUri::Parse(uri));
  if (!parsed.is_local()) {
    return InvalidInput("location '", uri, "' is not a local file: only local files are supported here");
  }
  return parsed.path();
}

std::string LocalFileUri(std::string_view path) { return StorageUri::Local(path).ToString(); }

}  // namespace sluice
