// The policy that keeps the live objects of the shared-memory object store (object_store.h)
// under a memory budget: it counts the bytes of objects resident in shared memory, remembers
// the order in which they were used, and picks the least recently used ones to spill to disk
// when a new object would take the count over the budget. It does no IO: the store moves the
// files and tells the budget what happened.
//
// An object is named by its key (its path under the store's root, "runs/<job>/m.arrow") and
// belongs to the group of its first two path parts ("runs/<job>"), whose peak and spilled
// bytes a run reports. An object is in one of four states:
//   writing   claimed by a writer, not yet in place: counted, never picked;
//   resident  in shared memory: counted, picked when `spillable` and least recently used;
//   leaving   picked, being copied to disk: still counted (its pages are still there), never
//             picked again; Spilled() or SpillFailed() ends it;
//   spilled   on disk: not counted.
// "Used" is: added (created) or Touch()ed (handed to a reader).
//
// Thread-safe: every method may be called from any thread at once.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace sluice {

// Per group (a run's or a query's objects).
struct MemoryBudgetGroupStats {
  int64_t live_bytes = 0;     // resident, writing or leaving now
  int64_t peak_bytes = 0;     // the most live_bytes ever was
  int64_t spilled_bytes = 0;  // the bytes of its objects moved to disk, summed
  int64_t spilled_objects = 0;
};

class MemoryBudget {
 public:
  // `limit_bytes` <= 0: no budget (nothing is ever picked; bytes are still counted).
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  int64_t limit() const { return limit_; }

  // An object being written, of about `bytes`: counted, never picked. Replaces an entry of
  // the same key.
  void AddWriting(const std::string& key, int64_t bytes);

  // An object now in place in shared memory, of `bytes` (it was written, or created whole):
  // counted, most recently used, picked later only when `spillable`. Replaces an entry of the
  // same key (a writing one becomes resident).
  void AddResident(const std::string& key, int64_t bytes, bool spillable);

  // Marks `key` used now (a reader was handed it). Unknown or spilled keys: nothing.
  void Touch(const std::string& key);

  // Forgets `key` (released): its bytes leave the count.
  void Remove(const std::string& key);

  // Forgets every key of `group` (a run's end) and the group's stats.
  void RemoveGroup(const std::string& group);

  // Picks resident spillable objects, least recently used first, until the live bytes not
  // already leaving plus `incoming` fit the limit (or none is left to pick), and marks them
  // leaving. `keep` is never picked (the object that asked for room). Returns the keys and
  // their bytes. Empty when there is no budget or it fits already.
  //
  // An object larger than the whole budget is never refused: every other spillable object is
  // picked, and it stays resident, over the budget, until the next request for room picks it
  // (it is then the least recently used). It was just written into shared memory and is what
  // the next reader most likely wants; spilling it at once would copy it to disk only for
  // that reader to page it back in.
  struct Victim {
    std::string key;
    int64_t bytes;
  };
  std::vector<Victim> PickVictims(int64_t incoming, const std::string& keep = "");

  // The end of a leaving object's move: Spilled() when it is on disk (it leaves the count
  // and is kept as spilled), SpillFailed() when not (resident again, least recently used).
  void Spilled(const std::string& key);
  void SpillFailed(const std::string& key);

  // Whether `key` was spilled (and not removed since).
  bool IsSpilled(const std::string& key) const;

  int64_t live_bytes() const;
  int64_t peak_bytes() const;
  int64_t spilled_bytes() const;
  MemoryBudgetGroupStats GroupStats(const std::string& group) const;

  // "runs/abc/m.arrow" -> "runs/abc"; a key of one part is its own group.
  static std::string GroupOf(const std::string& key);

 private:
  enum class State { kWriting, kResident, kLeaving, kSpilled };
  struct Entry {
    int64_t bytes = 0;
    State state = State::kWriting;
    bool spillable = false;
    std::list<std::string>::iterator lru;  // valid unless kSpilled
  };

  // REQUIRES: mutex_ held, for all of these.
  void EraseLocked(const std::string& key);
  void CountLocked(const std::string& key, int64_t delta);
  bool Counted(State state) const { return state != State::kSpilled; }

  const int64_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;        // GUARDED_BY(mutex_)
  std::list<std::string> lru_;                            // GUARDED_BY(mutex_): least recent first
  std::map<std::string, MemoryBudgetGroupStats> groups_;  // GUARDED_BY(mutex_)
  int64_t live_ = 0;                                      // GUARDED_BY(mutex_)
  int64_t leaving_ = 0;                                   // GUARDED_BY(mutex_)
  int64_t peak_ = 0;                                      // GUARDED_BY(mutex_)
  int64_t spilled_ = 0;                                   // GUARDED_BY(mutex_)
};

// Where the budget comes from, in order: $SLUICE_MEMORY_BUDGET, then the data home's setting
// memory.budget (the file <home>/memory-budget), each a size common/byte_size.h reads ("2G",
// "512MiB", bytes) or "off"/"0" for none; else the default, half of MemTotal capped by the size
// of the filesystem `shared_memory_root` is on. `source` says which, for `sluice info`.
struct MemoryBudgetSetting {
  int64_t bytes = 0;  // 0: no budget
  std::string source;
};
Result<MemoryBudgetSetting> ResolveMemoryBudget(const std::string& data_home, const std::string& shared_memory_root);

// The data home's setting: the file's name under the home, and how it is changed.
inline constexpr const char* kMemoryBudgetSetting = "memory.budget";
std::string MemoryBudgetSettingPath(const std::string& data_home);
// Checks and writes it; "" removes it (back to the default).
Status SetMemoryBudgetSetting(const std::string& data_home, const std::string& value);

}  // namespace sluice
