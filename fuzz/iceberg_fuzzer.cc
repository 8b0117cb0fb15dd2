// Fuzz target: the Iceberg metadata reader (format/iceberg_table.h, LoadTableSnapshot and
// ReadTableMetadata; iceberg_schema.h's ArrowSchemaFromIceberg through them): a metadata
// JSON file, the manifest list of its current snapshot and that list's manifest.
//
// Input: up to three files separated by the line "--- sluice-fuzz-file ---":
//   metadata.json, list.avro, manifest.avro
// They are written to a private temporary directory (the working directory of the fuzzer
// after start-up), so a metadata file naming "manifest-list": "list.avro" and a list naming
// "manifest.avro" reach the Avro readers. Missing parts are absent files. Locations naming
// s3:// reach storage's S3 path up to its refusal of the fuzzer's endpoint (see below).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "format/iceberg_table.h"

namespace {

constexpr std::string_view kSeparator = "\n--- sluice-fuzz-file ---\n";
const char* const kNames[] = {"metadata.json", "list.avro", "manifest.avro"};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // libFuzzer writes artifacts relative to the working directory: `make fuzz` passes an
  // absolute -artifact_prefix, and corpora are given as absolute paths.
  static char dir[] = "/tmp/sluice-fuzz-iceberg-XXXXXX";
  if (!mkdtemp(dir) || chdir(dir) != 0) {
    std::perror("iceberg_fuzzer: temporary directory");
    std::abort();
  }
  std::atexit([] { std::filesystem::remove_all(dir); });
  // Metadata may name s3:// files. Storage refuses plain http to a host that is not loopback
  // before starting any S3 support, so such locations fail at once: no network, no AWS SDK
  // (whose retries against an unreachable endpoint take seconds per input).
  setenv("AWS_ENDPOINT_URL", "http://s3.fuzz.invalid", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const char* name : kNames) {
    size_t end = input.find(kSeparator);
    std::string_view part = input.substr(0, end);
    if (part.empty() && end == std::string_view::npos && name != kNames[0]) {
      std::remove(name);
    } else {
      std::FILE* file = std::fopen(name, "wb");  // not WriteFileAtomic: no fsync per run
      if (!file || std::fwrite(part.data(), 1, part.size(), file) != part.size() || std::fclose(file) != 0) {
        std::perror(name);
        std::abort();
      }
    }
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + kSeparator.size());
  }
  (void)sluice::LoadTableSnapshot("metadata.json");
  (void)sluice::ReadTableMetadata("metadata.json");
  return 0;
}
