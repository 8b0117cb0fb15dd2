// A heap table (format: python/sluice/_heap.py): a model's output handed over without a copy.
// Its buffers stay in the memory the model built them in (the worker's shared heap,
// env/shared_heap.c, or the memory of the worker's own inputs); a short file says where each
// one is. Nothing of that file is trusted: every buffer must lie inside the memory it names,
// and the table must pass Arrow's full validation, before anything reads it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/memory_file.h"
#include "common/status.h"

namespace sluice {

// Whether the file `fd` holds a heap table rather than an Arrow IPC file.
bool IsHeapTableFile(int fd);

// The description in the heap table file `fd` as its worker wrote it: buffers of segment 0 are
// counted from the file's data area, which starts at *data_start.
Result<nlohmann::json> ReadHeapTableDescription(int fd, int64_t* data_start);

// The table a checked description names, over its segments (each an open file, mapped
// read-only here: nobody can change them, see ObjectStore::AdoptHeapTable). The mappings live
// as long as the table's buffers. Fails, naming what is wrong, on any buffer outside its
// segment, any node that does not fit its type, and (with `full`) any table Arrow's
// ValidateFull refuses. ValidateFull reads every offset and string once: it is done when a
// table is adopted, its memory sealed; mapping it again needs only the bounds and Validate.
Result<std::shared_ptr<arrow::Table>> MapHeapTable(const nlohmann::json& description,
                                                   const std::vector<std::shared_ptr<OwnedFd>>& segments,
                                                   bool full = false);

// Rewrites every buffer reference of `description` with `rewrite(segment, offset)`, which
// returns the new segment (and may move the offset); an error stops the rewrite.
Status RewriteHeapTableSegments(nlohmann::json* description,
                                const std::function<Result<int64_t>(int64_t segment, int64_t* offset)>& rewrite);

}  // namespace sluice
