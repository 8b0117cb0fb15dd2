// The shared-memory object store: tables handed between the engine and model workers as
// Arrow IPC files under a root directory in /dev/shm. Readers map them without copying.
// Released objects are recycled through an arena directory rather than deleted, because
// touching fresh pages is expensive on these machines; a writer claims an arena file by
// renaming it (atomic), truncates it to the size it needs and writes into it.
// The same protocol is implemented by the Python worker (python/sluice/_arena.py).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/memory_file.h"
#include "common/status.h"

namespace sluice {

class ObjectStore {
 public:
  // Creates `root` and `root`/arena when missing.
  static Result<std::unique_ptr<ObjectStore>> Open(const std::string& root);

  const std::string& root() const { return root_; }
  std::string arena_dir() const { return root_ + "/arena"; }

  // Writes `table` as an uncompressed IPC file (64-byte aligned) at root/key (parent
  // directories created; key may contain '/') and returns its path. Written to a temporary
  // name and renamed, so readers never see a partial file.
  Result<std::string> Put(const std::string& key, const arrow::Table& table);

  // Puts a file at `path` (under root, not there yet) for someone else to write into, e.g. a
  // worker through a descriptor: a recycled arena file, the smallest of at least `size_hint`
  // bytes when there is one, so its pages are already resident; else a new one.
  Status ClaimForWriter(const std::string& path, int64_t size_hint);

  // Maps an object: an IPC file written by Put or a worker, or a heap table adopted here; no
  // copy. Fields carry no field-id metadata. Thread-safe.
  Result<std::shared_ptr<arrow::Table>> Get(const std::string& path) const;

  // Maps an IPC file; no copy.
  static Result<std::shared_ptr<arrow::Table>> GetIpcFile(const std::string& path);

  // Takes over the heap table (data/heap_table.h) a worker wrote at `path` instead of an IPC
  // file: `heap` is the worker's memory file, which is sealed here against any change (refused
  // while any process can still write it: the worker must be gone), and `inputs` are the objects
  // the worker was given, in order, whose memory the table may reuse. The table is mapped and
  // checked whole before it is accepted. *shared_bytes: the bytes it did not copy. A file that
  // is not a heap table is left as it is (OK). Thread-safe.
  Status AdoptHeapTable(const std::string& path, OwnedFd heap, const std::vector<std::string>& inputs,
                        int64_t* shared_bytes);

  // A heap table as a worker reading it gets it: its checked description, whose segment i is
  // segments[i] (segment 0: the object's own file). nullopt for an IPC file.
  struct HeapTable {
    nlohmann::json description;
    std::vector<std::shared_ptr<OwnedFd>> segments;
  };
  std::optional<HeapTable> HeapTableOf(const std::string& path) const;

  // Moves one object (a path under root) or every object under root/prefix into the arena
  // (or deletes them once the arena holds more than its cap). Missing objects are fine.
  Status Release(const std::string& path);
  Status ReleaseAll(const std::string& prefix);

  // The largest object a writer may leave: $SLUICE_MAX_OUTPUT_BYTES, else half the size of the
  // filesystem the store is on (so one model's output cannot fill shared memory); 0: no limit.
  int64_t MaxObjectBytes() const;

  // Deletes arena files beyond `max_bytes` (largest kept first); -1: the arena's own cap
  // ($SLUICE_ARENA_BYTES or its default).
  Status TrimArena(int64_t max_bytes = -1);

 private:
  explicit ObjectStore(std::string root) : root_(std::move(root)) {}
  void Forget(const std::string& path);

  std::string root_;
  mutable std::mutex mutex_;
  std::map<std::string, HeapTable> heap_tables_;  // GUARDED_BY(mutex_): by object path
};

}  // namespace sluice
