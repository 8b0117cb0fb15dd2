// How Sluice reaches S3: credentials, region and endpoint, from the usual AWS environment
// variables, and the process-wide start and stop of Arrow's S3 support (the AWS SDK).
#pragma once

#include <memory>
#include <string>

#include <arrow/filesystem/s3fs.h>

#include "common/status.h"

namespace sluice {

struct S3Config {
  // Both set: these credentials (with session_token when set). Both empty: the AWS SDK's
  // default chain (environment, ~/.aws, instance metadata). One without the other: an error.
  std::string access_key_id;      // AWS_ACCESS_KEY_ID
  std::string secret_access_key;  // AWS_SECRET_ACCESS_KEY
  std::string session_token;      // AWS_SESSION_TOKEN
  // AWS_REGION (else AWS_DEFAULT_REGION). Empty: the SDK decides, or "us-east-1" with an
  // endpoint_url (S3-compatible servers rarely care).
  std::string region;
  // AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL): "https://host[:port]" of an S3-compatible
  // server; empty for AWS itself. "http://" is accepted for a loopback host only
  // (127.0.0.0/8, ::1, localhost), since credentials travel with every request.
  std::string endpoint_url;

  static S3Config FromEnvironment();
};

// The Arrow options for `config`: a connection attempt times out after 1 s and a request is
// tried at most twice, so an endpoint that is down fails within about 2 s. InvalidInput for a malformed endpoint URL,
// http to a non-loopback host, or half a key pair; otherwise starts S3 support (EnsureS3Support: the AWS SDK must be up
// before credentials are made).
Result<arrow::fs::S3Options> ToArrowS3Options(const S3Config& config);

// Starts Arrow's S3 support once per process (later calls do nothing), with the system's CA
// bundle for TLS. Thread-safe. Every process that called it must call FinalizeS3Support()
// before exiting; the AWS SDK may crash at exit otherwise.
Status EnsureS3Support();

// Stops Arrow's S3 support if EnsureS3Support() started it; then no S3 call works any more.
// Call it once, at the end of main, after every S3 filesystem is released.
Status FinalizeS3Support();

// An S3 filesystem for `config` (starts S3 support).
Result<std::shared_ptr<arrow::fs::S3FileSystem>> MakeS3FileSystem(const S3Config& config);

}  // namespace sluice
