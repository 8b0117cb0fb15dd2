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
#include "data/memory_budget.h"
#include "data/spill_dir.h"

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
  // copy. Fields carry no field-id metadata. Thread-safe. An IPC object is read where it lives
  // now: in shared memory, or on disk when it was spilled (the page cache, still no copy);
  // either way it counts as used (LRU).
  Result<std::shared_ptr<arrow::Table>> Get(const std::string& path) const;

  // Maps an IPC file; no copy.
  static Result<std::shared_ptr<arrow::Table>> GetIpcFile(const std::string& path);

  // Takes over the heap table (data/heap_table.h) a worker wrote at `path` instead of an IPC
  // file: `heap` is the worker's memory file, which is sealed here against any change (refused
  // while any process can still write it: the worker must be gone), and `inputs` are the objects
  // the worker was given, in order, whose memory the table may reuse. The table is mapped and
  // checked whole before it is accepted. *shared_bytes: the bytes it did not copy. A file that
  // is not a heap table is left as it is (OK). Thread-safe.
  // `input_heap_segments[k]`: input k's segments as the worker got them when it was a heap
  // table (HeapTableOf at the time), else empty.
  Status AdoptHeapTable(const std::string& path, OwnedFd heap, const std::vector<std::string>& inputs,
                        const std::vector<std::vector<std::shared_ptr<OwnedFd>>>& input_heap_segments,
                        int64_t* shared_bytes);

  // A heap table as a worker reading it gets it: its checked description, whose segment i is
  // segments[i] (segment 0: the object's own file). nullopt for an IPC file.
  struct HeapTable {
    nlohmann::json description;
    std::vector<std::shared_ptr<OwnedFd>> segments;
    int64_t heap_bytes = 0;  // the heap's pages it keeps in memory
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

  // --- The memory budget (memory_budget.h) and spill -----------------------------------
  // Live objects (runs' and queries' objects in shared memory, not the recycled arena files,
  // which have their own cap) are kept under `limit_bytes` (0: no budget, nothing spills):
  // before an object is created (Put, ClaimForWriter) and when a writer has finished one
  // (Written), the least recently used objects nobody is writing are moved to
  // `spill_dir`/<key> on local disk. Their shared memory is unlinked, not recycled into the
  // arena: a reader may still map it, and an arena file is rewritten by its next writer. Get
  // and OpenForReader find a spilled object on disk; callers keep the path they were given.
  // Without a call to this, there is no budget. Call it before the store is used.
  void SetMemoryBudget(int64_t limit_bytes, const std::string& spill_dir);
  int64_t memory_budget() const { return budget_->limit(); }
  const std::string& spill_dir() const { return spill_.path(); }

  // A writer has finished the object at `path` (ClaimForWriter's file, now complete and in
  // place): it is counted at its size, and objects are spilled when it took the store over
  // its budget (never this one). A heap table (AdoptHeapTable first) counts its heap's bytes
  // too, and is never spilled. Errors: a spill that failed, naming the spill path.
  Status Written(const std::string& path);

  // Opens the object at `path` read-only for a reader (a worker's input), where it lives now;
  // never through a link. Counts as a use.
  Result<OwnedFd> OpenForReader(const std::string& path) const;

  // The object's size in bytes wherever it lives; -1 when there is none.
  int64_t ObjectBytes(const std::string& path);

  // Live and spilled bytes of the objects under `prefix` ("runs/<job>"), counted in this
  // process since they were created: a run's report reads it before ReleaseAll forgets it.
  MemoryBudgetGroupStats Usage(const std::string& prefix) const;

  // The bytes of objects in shared memory under `root` now (arena files not counted), by
  // listing the directory: what every process of this data home holds, for `sluice info`.
  static int64_t LiveBytesIn(const std::string& root);

  // The one place that decides whether an object can be spilled: an Arrow IPC file (its
  // magic) at a path under root, outside the arena, that is a regular file (not a link), or a
  // heap table (spilled as the IPC file it describes).
  bool IsSpillable(const std::string& path) const;

 private:
  explicit ObjectStore(std::string root)
      : root_(std::move(root)), budget_(std::make_unique<MemoryBudget>(0)), spill_("") {}
  void Forget(const std::string& path);

  // `path`'s key under root ("runs/j/m.arrow"), or "" when it is not under root.
  std::string KeyOf(const std::string& path) const;
  // Spills least recently used objects until `incoming` more bytes fit; `keep` never goes.
  Status MakeRoom(int64_t incoming, const std::string& keep);
  Status Spill(const std::string& key);
  Status SpillHeapTable(const std::string& key, const std::string& path, const HeapTable& heap_table);
  // REQUIRES: move_mutex_ held.
  Result<OwnedFd> OpenLocked(const std::string& path, const std::string& key) const;
  // Forgets the objects under `prefix` and removes their spill files (ReleaseAll).
  Status ReleaseSpilled(const std::string& prefix);

  std::string root_;
  std::unique_ptr<MemoryBudget> budget_;  // replaced only by SetMemoryBudget, before use
  SpillDir spill_;
  // Held while a reader opens an object and while a spilled object changes where it lives,
  // so a reader never finds it in neither place.
  mutable std::mutex move_mutex_;
  std::map<std::string, SpilledFile> spilled_;  // GUARDED_BY(move_mutex_): key -> its file
  mutable std::mutex mutex_;
  std::map<std::string, HeapTable> heap_tables_;  // GUARDED_BY(mutex_): by object path
};

}  // namespace sluice
