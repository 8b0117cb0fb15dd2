// The versioned catalog: commits that map table identifiers ("ns.table") to Iceberg metadata
// locations, and refs (branches and tags) that name commits. Like git: a commit's id is the
// SHA-256 of its content, a branch moves only by compare-and-swap, and creating a branch
// copies nothing. Stored in SQLite at <home>/catalog.db; safe for several processes at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "catalog/job_store.h"
#include "catalog/key_store.h"
#include "common/status.h"

namespace sluice {

class SqlConnection;

// The state a commit names: tables and namespaces.
struct Tree {
  std::map<std::string, std::string> tables;  // "ns.table" -> metadata location
  std::set<std::string> namespaces;
};

struct Commit {
  std::string id;                    // 64 hex chars
  std::vector<std::string> parents;  // first parent = previous head of the branch
  std::string author;
  std::string message;
  int64_t timestamp_ms = 0;
  std::map<std::string, std::string> properties;
  std::string tree_id;
};

enum class RefKind { kBranch, kTag };

struct Ref {
  std::string name;
  RefKind kind = RefKind::kBranch;
  std::string commit_id;
};

// A ref text resolved to a commit and its tree.
//   "main", "alice.dev"      -> branch head (branch = the name)
//   "alice.dev@<hash>"       -> that commit, which must be in the branch's history; branch empty
//   "@<hash>"                -> that commit; branch empty
//   "<tag>"                  -> the tagged commit; branch empty
// <hash> may be any unique prefix of at least 6 hex characters.
struct ResolvedRef {
  std::string text;    // as given
  std::string branch;  // non-empty only when the ref is a branch head (writable)
  Commit commit;
  Tree tree;
};

// Table changes of one commit: location = put, nullopt = drop.
using TableChanges = std::map<std::string, std::optional<std::string>>;

struct CommitRequest {
  std::string branch;
  TableChanges changes;
  std::set<std::string> namespaces_to_add;
  std::set<std::string> namespaces_to_remove;  // InvalidInput when one still has tables
  std::string author, message;
  std::map<std::string, std::string> properties;
  // The head the changes were computed against. When the branch has moved since, the
  // commit is rebased onto the new head if the commits in between touched none of these
  // tables, and fails with Conflict naming the tables otherwise.
  std::optional<std::string> expected_head;
};

// How a table differs between two refs.
struct TableDiff {
  enum class Kind { kAdded, kRemoved, kChanged };
  std::string table;
  Kind kind = Kind::kChanged;
  std::optional<std::string> from, to;  // metadata locations
};

// Merges a table that both sides of a merge changed, given the metadata locations at the
// merge base, on the target and on the source. Returns the merged location, or nullopt when
// the changes cannot be combined (a conflict). Lets the catalog stay ignorant of table files.
using TableMerger = std::function<Result<std::optional<std::string>>(
    const std::string& table, const std::string& base, const std::string& ours, const std::string& theirs)>;

struct MergeResult {
  Commit commit;  // the target's new head (its old head when no_op)
  bool fast_forward = false;
  bool no_op = false;  // the target already contained the source
};

class Catalog {
 public:
  // Opens <home>/catalog.db, creating it with branch "main" at an empty root commit.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& home);
  // Opens a catalog by URI: "postgresql://..." (shared, several machines) or
  // "sqlite:///path/catalog.db". Created on first use like Open.
  static Result<std::unique_ptr<Catalog>> OpenUri(const std::string& uri);
  ~Catalog();

  // NotFound naming the ref (with a hint listing how to see branches) when unknown.
  Result<ResolvedRef> Resolve(const std::string& ref) const;
  Result<Commit> GetCommit(const std::string& id) const;

  // Branch names: letters, digits, '.', '_', '-', '/'; not starting with '.' or '-', no '@',
  // no "..". InvalidInput otherwise; AlreadyExists when taken (by a branch or a tag).
  Status CreateBranch(const std::string& name, const std::string& from_ref);
  // InvalidInput for "main"; NotFound when absent.
  Status DeleteBranch(const std::string& name);
  Status RenameBranch(const std::string& from, const std::string& to);
  // Sorted by name; `contains` filters by substring (empty = all).
  Result<std::vector<Ref>> ListBranches(const std::string& contains = "") const;

  Status CreateTag(const std::string& name, const std::string& from_ref);
  Status DeleteTag(const std::string& name);
  Status RenameTag(const std::string& from, const std::string& to);
  Result<std::vector<Ref>> ListTags() const;
  Result<Ref> GetRef(const std::string& name) const;

  // Applies the changes on top of the branch head and moves the head by compare-and-swap.
  // Conflict for a protected branch (main): it moves only by merges.
  // Returns the new commit.
  Result<Commit> CommitChanges(const CommitRequest& request);

  // Merges `source_ref` into branch `target_branch`: no-op when the target contains it,
  // fast-forward when the target is an ancestor of the source, otherwise a three-way merge
  // by table against the merge base; a table changed on both sides (differently) is a
  // Conflict naming the tables, and the target is left unchanged -- unless `merger` (when
  // given) combines the two versions of a table.
  // `properties` are added to a merge commit's (a fast-forward makes none).
  Result<MergeResult> Merge(const std::string& source_ref, const std::string& target_branch, const std::string& author,
                            const std::string& message, const TableMerger& merger = nullptr,
                            const std::map<std::string, std::string>& properties = {});

  // Tables added, removed and changed going from `from_ref` to `to_ref`, sorted by name.
  Result<std::vector<TableDiff>> Diff(const std::string& from_ref, const std::string& to_ref) const;

  // Commits reachable from the ref by first parents, newest first; limit 0 = all.
  Result<std::vector<Commit>> Log(const std::string& ref, size_t limit = 0) const;

  // The job records of this catalog (runs, imports, plans, queries), in the same database.
  JobStore& jobs() { return *jobs_; }
  // The API keys its server checks, in the same database.
  KeyStore& keys() { return *keys_; }

  // "main" is protected: runs and imports never write it; merges may.
  static bool IsProtectedBranch(const std::string& branch) { return branch == "main"; }

  // Conflict, with a hint, when `branch` is protected; `what` names the write ("runs",
  // "imports", "writes"). Every write checks this first, before any work.
  static Status CheckWritable(const std::string& branch, const std::string& what = "writes");

 private:
  class Store;
  explicit Catalog(std::unique_ptr<Store> store);
  static Result<std::unique_ptr<Catalog>> OpenOn(std::unique_ptr<SqlConnection> connection);
  std::unique_ptr<Store> store_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<KeyStore> keys_;
};

}  // namespace sluice
