// Fuzz target: the Avro object container reader (format/avro.h, DecodeAvroFile), which reads
// every Iceberg manifest list and manifest, including those a REST client commits.
// Input: the bytes of a whole container file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "format/avro.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto file = sluice::DecodeAvroFile(bytes);
  if (file.ok()) {
    // What the readers do next: re-encoding what decoded must not crash either.
    (void)sluice::EncodeAvroFile(*file, sluice::AvroCodec::kNull);
  }
  return 0;
}
