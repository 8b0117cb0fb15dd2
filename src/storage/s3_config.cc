#include "storage/s3_config.h"

#include <arrow/filesystem/filesystem.h>
#include <arrow/util/uri.h>

#include <cstdlib>
#include <mutex>

#include "common/file_util.h"

namespace sluice {
namespace {

// Debian's CA bundle; Arrow's bundled AWS SDK does not find it by itself (REFERENCE.md).
constexpr const char* kCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// Per attempt; loopback and LAN servers answer in milliseconds, AWS in tens of them.
constexpr double kConnectTimeoutSeconds = 1.0;
// Attempts per request, the first included (throttling and 5xx answers are retried too).
constexpr int64_t kMaxAttempts = 2;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::mutex s3_mutex;
bool s3_started_here = false;  // GUARDED_BY(s3_mutex)

}  // namespace

S3Config S3Config::FromEnvironment() {
  S3Config config;
  config.access_key_id = Env("AWS_ACCESS_KEY_ID");
  config.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  config.session_token = Env("AWS_SESSION_TOKEN");
  config.region = Env("AWS_REGION");
  if (config.region.empty()) config.region = Env("AWS_DEFAULT_REGION");
  config.endpoint_url = Env("AWS_ENDPOINT_URL_S3");
  if (config.endpoint_url.empty()) config.endpoint_url = Env("AWS_ENDPOINT_URL");
  return config;
}

Result<arrow::fs::S3Options> ToArrowS3Options(const S3Config& config) {
  if (config.access_key_id.empty() != config.secret_access_key.empty()) {
    return InvalidInput("S3 credentials: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither");
  }
  std::string scheme, endpoint_override;
  if (!config.endpoint_url.empty()) {
    arrow::util::Uri uri;
    auto bad = [&](const std::string& why) {
      return InvalidInput("S3 endpoint '", config.endpoint_url, "' (AWS_ENDPOINT_URL): ", why);
    };
    if (!uri.Parse(config.endpoint_url).ok() || uri.host().empty()) return bad("expected http(s)://host[:port]");
    if (uri.scheme() != "http" && uri.scheme() != "https") return bad("the scheme must be http or https");
    if (uri.scheme() == "http" && !IsLoopback(uri.host())) {
      return bad("plain http is allowed for a loopback host only; use https");
    }
    std::string path = uri.path();
    if (!path.empty() && path != "/") return bad("an endpoint has no path");
    scheme = uri.scheme();
    std::string host = uri.host().find(':') != std::string::npos ? "[" + uri.host() + "]" : uri.host();
    endpoint_override = uri.port() > 0 ? host + ":" + std::to_string(uri.port()) : host;
  }
  // The AWS SDK must be up before any credentials provider is made (the default chain reads
  // its config cache): only now, once the configuration is known to be usable.
  SLUICE_RETURN_NOT_OK(EnsureS3Support());
  arrow::fs::S3Options options =
      config.access_key_id.empty()
          ? arrow::fs::S3Options::Defaults()
          : arrow::fs::S3Options::FromAccessKey(config.access_key_id, config.secret_access_key, config.session_token);
  options.region = config.region;
  // Bounded failure: an endpoint that is down or unreachable fails in about two seconds
  // instead of the SDK's default (about 6 s refused, much longer for a host that drops
  // packets): one connection attempt of at most kConnectTimeoutSeconds, retried once.
  options.connect_timeout = kConnectTimeoutSeconds;
  options.retry_strategy = arrow::fs::S3RetryStrategy::GetAwsStandardRetryStrategy(kMaxAttempts);
  if (!endpoint_override.empty()) {
    options.scheme = scheme;
    options.endpoint_override = endpoint_override;
    if (options.region.empty()) options.region = "us-east-1";
  }
  return options;
}

Status EnsureS3Support() {
  std::lock_guard<std::mutex> lock(s3_mutex);
  if (arrow::fs::IsS3Initialized()) return Status::OK();
  if (arrow::fs::IsS3Finalized()) return Internal("S3 support was already stopped in this process");
  if (PathExists(kCaBundle)) {
    arrow::fs::FileSystemGlobalOptions global;
    global.tls_ca_file_path = kCaBundle;
    SLUICE_RETURN_NOT_OK_CTX(arrow::fs::Initialize(global), "starting S3 support");
  }
  SLUICE_RETURN_NOT_OK_CTX(arrow::fs::InitializeS3(arrow::fs::S3GlobalOptions::Defaults()), "starting S3 support");
  s3_started_here = true;
  return Status::OK();
}

Status FinalizeS3Support() {
  std::lock_guard<std::mutex> lock(s3_mutex);
  if (!s3_started_here || arrow::fs::IsS3Finalized()) return Status::OK();
  return arrow::fs::FinalizeS3();
}

Result<std::shared_ptr<arrow::fs::S3FileSystem>> MakeS3FileSystem(const S3Config& config) {
  SLUICE_ASSIGN_OR_RAISE(arrow::fs::S3Options options, ToArrowS3Options(config));
  return WithContext(arrow::fs::S3FileSystem::Make(options), "connecting to S3");
}

}  // namespace sluice
