// The data home's `storage.allowed_sources` setting: the s3:// prefixes clients may name as
// sources (imports, table creation, external tables; data/source_reader.h). Kept in the home
// as `allowed-sources`, one normalized prefix per line, beside `warehouse-location`; read at
// every use, so a change counts at once, also for a running server. Only the home's owner
// changes it (`sluice config set storage.allowed_sources ...` acts on the local home; there
// is no API route): a client must not widen what the server reads for it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "storage/storage_uri.h"

namespace sluice {

// The prefixes allowed in `home`; empty when the setting was never made.
Result<std::vector<StorageUri>> ReadAllowedSources(const std::string& home);

// Replaces the setting with `text`: comma-separated s3:// prefixes ("s3://bucket/prefix" or a
// whole bucket, "s3://bucket"); empty clears it. InvalidInput naming an entry that is not an
// s3:// location, or holds '%', '\', a glob character or '.'/'..' segments. Returns the
// prefixes stored (normalized, without duplicates).
Result<std::vector<StorageUri>> SetAllowedSources(const std::string& home, const std::string& text);

}  // namespace sluice
