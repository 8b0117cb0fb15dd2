#include "catalog/catalog.h"

#include <deque>
#include <mutex>

#include <nlohmann/json.hpp>

#include "catalog/postgres_db.h"
#include "catalog/sqlite_db.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/name_match.h"

namespace sluice {

using nlohmann::json;

// The SQLite connection of one Catalog; one statement at a time per process.
class Catalog::Store {
 public:
  std::unique_ptr<SqlConnection> db;
  std::mutex mutex;
};

namespace {

constexpr const char* kSchema = R"(
  CREATE TABLE IF NOT EXISTS trees (id TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS commits (
    id TEXT PRIMARY KEY, parents TEXT NOT NULL, author TEXT NOT NULL, message TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL, properties TEXT NOT NULL, tree_id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
    commit_id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS catalog_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO catalog_info (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;
)";

std::string Short(const std::string& id) { return id.substr(0, 12); }

Status RefNotFound(const std::string& ref) {
  return WithHint(NotFound("ref '", ref, "' not found"), "list branches with: sluice branch ls (tags: sluice tag ls)");
}

// The write transaction holds the catalog's writer lock from the start, so a
// read-modify-write of a ref inside it is a compare-and-swap against every other process.
using Transaction = SqlWriteTransaction;

json TreeJson(const Tree& tree) { return {{"tables", tree.tables}, {"namespaces", tree.namespaces}}; }

Result<std::string> PutTree(SqlConnection* db, const Tree& tree) {
  std::string body = TreeJson(tree).dump();
  std::string id = Sha256Hex(body);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("INSERT INTO trees (id, body) VALUES (?, ?) ON CONFLICT DO NOTHING"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, id).Bind(2, body).Run());
  return id;
}

Result<Tree> LoadTree(SqlConnection* db, const std::string& id) {
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("SELECT body FROM trees WHERE id = ?"));
  stmt->Bind(1, id);
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return Internal("catalog: tree ", Short(id), " is missing");
  json body = json::parse(stmt->Text(0));
  Tree tree;
  tree.tables = body.at("tables").get<std::map<std::string, std::string>>();
  tree.namespaces = body.at("namespaces").get<std::set<std::string>>();
  return tree;
}

Result<Commit> PutCommit(SqlConnection* db, Commit commit) {
  json content = {{"parents", commit.parents},       {"author", commit.author},
                  {"message", commit.message},       {"timestamp_ms", commit.timestamp_ms},
                  {"properties", commit.properties}, {"tree_id", commit.tree_id}};
  commit.id = Sha256Hex(content.dump());
  SLUICE_ASSIGN_OR_RAISE(
      auto stmt, db->Prepare("INSERT INTO commits (id, parents, author, message, timestamp_ms, properties, tree_id) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, commit.id)
                           .Bind(2, json(commit.parents).dump())
                           .Bind(3, commit.author)
                           .Bind(4, commit.message)
                           .Bind(5, commit.timestamp_ms)
                           .Bind(6, json(commit.properties).dump())
                           .Bind(7, commit.tree_id)
                           .Run());
  return commit;
}

Commit CommitFromRow(const SqlStatement& row) {
  Commit commit;
  commit.id = row.Text(0);
  commit.parents = json::parse(row.Text(1)).get<std::vector<std::string>>();
  commit.author = row.Text(2);
  commit.message = row.Text(3);
  commit.timestamp_ms = row.Int(4);
  commit.properties = json::parse(row.Text(5)).get<std::map<std::string, std::string>>();
  commit.tree_id = row.Text(6);
  return commit;
}

constexpr const char* kCommitColumns =
    "SELECT id, parents, author, message, timestamp_ms, properties, tree_id FROM commits ";

Result<Commit> LoadCommit(SqlConnection* db, const std::string& id) {
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare(std::string(kCommitColumns) + "WHERE id = ?"));
  stmt->Bind(1, id);
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return NotFound("commit '", id, "' not found");
  return CommitFromRow(*stmt);
}

// A commit by a unique prefix of its id (at least 6 hex characters).
Result<Commit> FindCommit(SqlConnection* db, const std::string& prefix, const std::string& ref_text) {
  if (prefix.size() < 6 || prefix.size() > 64 || prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidInput("ref '", ref_text, "': '", prefix,
                        "' is not a commit hash (6 to 64 lower-case hex characters)");
  }
  SLUICE_ASSIGN_OR_RAISE(auto stmt,
                         db->Prepare(std::string(kCommitColumns) + "WHERE id >= ? AND id < ? ORDER BY id LIMIT 2"));
  stmt->Bind(1, prefix).Bind(2, prefix + "g");
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return RefNotFound(ref_text);
  Commit commit = CommitFromRow(*stmt);
  SLUICE_ASSIGN_OR_RAISE(bool second, stmt->Step());
  if (second) return InvalidInput("ref '", ref_text, "': commit prefix '", prefix, "' is ambiguous");
  return commit;
}

Result<std::optional<Ref>> LoadRef(SqlConnection* db, const std::string& name) {
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("SELECT name, kind, commit_id FROM refs WHERE name = ?"));
  stmt->Bind(1, name);
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return std::optional<Ref>();
  Ref ref;
  ref.name = stmt->Text(0);
  ref.kind = stmt->Text(1) == "tag" ? RefKind::kTag : RefKind::kBranch;
  ref.commit_id = stmt->Text(2);
  return std::optional<Ref>(ref);
}

Result<Ref> LoadBranch(SqlConnection* db, const std::string& name) {
  SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(db, name));
  if (!ref) {
    return WithHint(NotFound("branch '", name, "' not found"), "list branches with: sluice branch ls");
  }
  if (ref->kind != RefKind::kBranch) return InvalidInput("'", name, "' is a tag, not a branch");
  return *ref;
}

Status InsertRef(SqlConnection* db, const std::string& name, RefKind kind, const std::string& commit) {
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("INSERT INTO refs (name, kind, commit_id) VALUES (?, ?, ?)"));
  return stmt->Bind(1, name).Bind(2, std::string(kind == RefKind::kTag ? "tag" : "branch")).Bind(3, commit).Run();
}

// Moves a branch from `expected` to `commit`; Conflict when it is no longer at `expected`.
Status MoveBranch(SqlConnection* db, const std::string& name, const std::string& expected, const std::string& commit) {
  SLUICE_ASSIGN_OR_RAISE(
      auto stmt, db->Prepare("UPDATE refs SET commit_id = ? WHERE name = ? AND kind = 'branch' AND commit_id = ?"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, commit).Bind(2, name).Bind(3, expected).Run());
  if (db->Changes() != 1) return Conflict("branch '", name, "' moved while writing; retry");
  return Status::OK();
}

// Every ancestor of `id` (itself included), nearest first (breadth-first over all parents).
Result<std::vector<std::string>> Ancestors(SqlConnection* db, const std::string& id) {
  std::vector<std::string> order;
  std::set<std::string> seen{id};
  std::deque<std::string> queue{id};
  while (!queue.empty()) {
    std::string current = queue.front();
    queue.pop_front();
    order.push_back(current);
    SLUICE_ASSIGN_OR_RAISE(Commit commit, LoadCommit(db, current));
    for (const auto& parent : commit.parents) {
      if (seen.insert(parent).second) queue.push_back(parent);
    }
  }
  return order;
}

Status CheckRefName(const std::string& name, const char* what) {
  bool ok = !name.empty() && name.size() <= 200 && name[0] != '.' && name[0] != '-' &&
            name.find("..") == std::string::npos && name.back() != '.' && name.back() != '/';
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/')) {
      ok = false;
    }
  }
  if (!ok) {
    return WithHint(InvalidInput("invalid ", what, " name '", name, "'"),
                    "use letters, digits, '.', '_', '-' and '/', e.g. alice.dev");
  }
  return Status::OK();
}

Result<ResolvedRef> ResolveLocked(SqlConnection* db, const std::string& text) {
  ResolvedRef out;
  out.text = text;
  auto at = text.find('@');
  if (at == std::string::npos) {
    SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(db, text));
    if (!ref) return RefNotFound(text);
    if (ref->kind == RefKind::kBranch) out.branch = ref->name;
    SLUICE_ASSIGN_OR_RAISE(out.commit, LoadCommit(db, ref->commit_id));
  } else {
    SLUICE_ASSIGN_OR_RAISE(out.commit, FindCommit(db, text.substr(at + 1), text));
    if (at > 0) {
      std::string name = text.substr(0, at);
      SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(db, name));
      if (!ref) return RefNotFound(name);
      SLUICE_ASSIGN_OR_RAISE(auto history, Ancestors(db, ref->commit_id));
      if (std::find(history.begin(), history.end(), out.commit.id) == history.end()) {
        return NotFound("commit ", Short(out.commit.id), " is not in the history of '", name, "'");
      }
    }
  }
  SLUICE_ASSIGN_OR_RAISE(out.tree, LoadTree(db, out.commit.tree_id));
  return out;
}

Result<Commit> NewCommit(SqlConnection* db, const Tree& tree, std::vector<std::string> parents,
                         const std::string& author, const std::string& message,
                         std::map<std::string, std::string> properties) {
  Commit commit;
  SLUICE_ASSIGN_OR_RAISE(commit.tree_id, PutTree(db, tree));
  commit.parents = std::move(parents);
  commit.author = author;
  commit.message = message;
  commit.timestamp_ms = NowMillis();
  commit.properties = std::move(properties);
  return PutCommit(db, std::move(commit));
}

}  // namespace

Catalog::Catalog(std::unique_ptr<Store> store)
    : store_(std::move(store)),
      jobs_(std::make_unique<JobStore>(store_->db.get(), &store_->mutex)),
      keys_(std::make_unique<KeyStore>(store_->db.get(), &store_->mutex)) {}
Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& home) {
  SLUICE_RETURN_NOT_OK(MakeDirs(home));
  SLUICE_ASSIGN_OR_RAISE(auto db, SqliteDb::Open(home + "/catalog.db"));
  return OpenOn(std::move(db));
}

Result<std::unique_ptr<Catalog>> Catalog::OpenUri(const std::string& uri) {
  if (uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0) {
    SLUICE_ASSIGN_OR_RAISE(auto db, PostgresDb::Open(uri));
    return OpenOn(std::move(db));
  }
  if (uri.rfind("sqlite://", 0) == 0) {
    SLUICE_ASSIGN_OR_RAISE(auto db, SqliteDb::Open(uri.substr(9)));
    return OpenOn(std::move(db));
  }
  return WithHint(InvalidInput("unsupported catalog '", uri, "'"),
                  "use postgresql://user@host/db or sqlite:///path/catalog.db");
}

Result<std::unique_ptr<Catalog>> Catalog::OpenOn(std::unique_ptr<SqlConnection> connection) {
  auto store = std::make_unique<Store>();
  store->db = std::move(connection);
  SqlConnection* db = store->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_RETURN_NOT_OK(db->Exec(kSchema));
  SLUICE_RETURN_NOT_OK(JobStore::Migrate(db));
  SLUICE_RETURN_NOT_OK(KeyStore::Migrate(db));
  SLUICE_ASSIGN_OR_RAISE(auto main, LoadRef(db, "main"));
  if (!main) {
    SLUICE_ASSIGN_OR_RAISE(Commit root, NewCommit(db, Tree{}, {}, "sluice", "initialize catalog", {}));
    SLUICE_RETURN_NOT_OK(InsertRef(db, "main", RefKind::kBranch, root.id));
  }
  SLUICE_RETURN_NOT_OK(txn.Commit());
  return std::unique_ptr<Catalog>(new Catalog(std::move(store)));
}

Result<ResolvedRef> Catalog::Resolve(const std::string& ref) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  return ResolveLocked(store_->db.get(), ref);
}

Result<Commit> Catalog::GetCommit(const std::string& id) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  return FindCommit(store_->db.get(), id, "@" + id);
}

Status Catalog::CreateBranch(const std::string& name, const std::string& from_ref) {
  SLUICE_RETURN_NOT_OK(CheckRefName(name, "branch"));
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(auto existing, LoadRef(db, name));
  if (existing) {
    return AlreadyExists(existing->kind == RefKind::kTag ? "a tag" : "branch", " '", name, "' already exists");
  }
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef from, ResolveLocked(db, from_ref));
  SLUICE_RETURN_NOT_OK(InsertRef(db, name, RefKind::kBranch, from.commit.id));
  return txn.Commit();
}

Status Catalog::DeleteBranch(const std::string& name) {
  if (IsProtectedBranch(name)) return InvalidInput("branch '", name, "' cannot be deleted");
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  SLUICE_RETURN_NOT_OK(LoadBranch(db, name).status());
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("DELETE FROM refs WHERE name = ? AND kind = 'branch'"));
  return stmt->Bind(1, name).Run();
}

Status Catalog::RenameBranch(const std::string& from, const std::string& to) {
  if (IsProtectedBranch(from)) return InvalidInput("branch '", from, "' cannot be renamed");
  SLUICE_RETURN_NOT_OK(CheckRefName(to, "branch"));
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_RETURN_NOT_OK(LoadBranch(db, from).status());
  SLUICE_ASSIGN_OR_RAISE(auto taken, LoadRef(db, to));
  if (taken) return AlreadyExists("'", to, "' already exists");
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("UPDATE refs SET name = ? WHERE name = ?"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, to).Bind(2, from).Run());
  return txn.Commit();
}

namespace {
Result<std::vector<Ref>> ListRefs(SqlConnection* db, const char* kind, const std::string& contains) {
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("SELECT name, commit_id FROM refs WHERE kind = ? ORDER BY name"));
  stmt->Bind(1, std::string(kind));
  std::vector<Ref> refs;
  while (true) {
    SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
    if (!row) break;
    if (stmt->Text(0).find(contains) == std::string::npos) continue;
    refs.push_back({stmt->Text(0), std::string(kind) == "tag" ? RefKind::kTag : RefKind::kBranch, stmt->Text(1)});
  }
  return refs;
}
}  // namespace

Result<std::vector<Ref>> Catalog::ListBranches(const std::string& contains) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  return ListRefs(store_->db.get(), "branch", contains);
}

Status Catalog::CreateTag(const std::string& name, const std::string& from_ref) {
  SLUICE_RETURN_NOT_OK(CheckRefName(name, "tag"));
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(auto existing, LoadRef(db, name));
  if (existing) return AlreadyExists("'", name, "' already exists");
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef from, ResolveLocked(db, from_ref));
  SLUICE_RETURN_NOT_OK(InsertRef(db, name, RefKind::kTag, from.commit.id));
  return txn.Commit();
}

Status Catalog::DeleteTag(const std::string& name) {
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(db, name));
  if (!ref || ref->kind != RefKind::kTag) return NotFound("tag '", name, "' not found");
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("DELETE FROM refs WHERE name = ? AND kind = 'tag'"));
  return stmt->Bind(1, name).Run();
}

Result<std::vector<Ref>> Catalog::ListTags() const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  return ListRefs(store_->db.get(), "tag", "");
}

Result<Ref> Catalog::GetRef(const std::string& name) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(store_->db.get(), name));
  if (!ref) return RefNotFound(name);
  return *ref;
}

Status Catalog::CheckWritable(const std::string& branch, const std::string& what) {
  if (!IsProtectedBranch(branch)) return Status::OK();
  return WithHint(
      Conflict("branch '", branch, "' is protected: ", what, " go to another branch, which you then merge into it"),
      "create one with: sluice checkout -b <name>.dev");
}

namespace {

// A table or namespace a commit adds must not differ only in case from one the tree keeps:
// names are looked up by the name rule (common/name_match.h), and two such names would make
// every later lookup written in a third case ambiguous. Checked here, where every direct
// write passes, so no command has to special-case it.
Status CheckNoCaseClash(const Tree& tree, const CommitRequest& request) {
  std::map<std::string, std::string> kept_tables, kept_namespaces;  // folded -> stored
  for (const auto& [table, _] : tree.tables) {
    auto change = request.changes.find(table);
    if (change == request.changes.end() || change->second) kept_tables.emplace(FoldCase(table), table);
  }
  for (const auto& ns : tree.namespaces) {
    if (!request.namespaces_to_remove.count(ns)) kept_namespaces.emplace(FoldCase(ns), ns);
  }
  auto clash = [&](std::map<std::string, std::string>& kept, const std::string& name, const char* what) -> Status {
    auto [it, added] = kept.emplace(FoldCase(name), name);
    if (added || it->second == name) return Status::OK();
    return WithHint(AlreadyExists(what, " '", name, "' differs only in case from ", what, " '", it->second,
                                  "' on branch '", request.branch, "'"),
                    std::string("names are matched ignoring case: use '") + it->second + "' or another name");
  };
  for (const auto& [table, location] : request.changes) {
    if (!location) continue;
    SLUICE_RETURN_NOT_OK(clash(kept_tables, table, "table"));
    SLUICE_RETURN_NOT_OK(clash(kept_namespaces, table.substr(0, table.find('.')), "namespace"));
  }
  for (const auto& ns : request.namespaces_to_add) SLUICE_RETURN_NOT_OK(clash(kept_namespaces, ns, "namespace"));
  return Status::OK();
}

}  // namespace

Result<Commit> Catalog::CommitChanges(const CommitRequest& request) {
  // Every direct write goes through here, so this is where main is protected; merges move
  // it by their own compare-and-swap.
  SLUICE_RETURN_NOT_OK(CheckWritable(request.branch));
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(Ref branch, LoadBranch(db, request.branch));
  SLUICE_ASSIGN_OR_RAISE(Commit head, LoadCommit(db, branch.commit_id));
  SLUICE_ASSIGN_OR_RAISE(Tree tree, LoadTree(db, head.tree_id));
  if (request.expected_head && *request.expected_head != branch.commit_id) {
    // Lost a race: rebase when the winners touched other tables only.
    auto expected = LoadCommit(db, *request.expected_head);
    if (!expected.ok()) return Conflict("branch '", request.branch, "' moved from an unknown commit");
    SLUICE_ASSIGN_OR_RAISE(Tree seen, LoadTree(db, expected->tree_id));
    std::vector<std::string> overlap;
    for (const auto& [table, _] : request.changes) {
      auto before = seen.tables.find(table), now = tree.tables.find(table);
      bool same = (before == seen.tables.end()) == (now == tree.tables.end()) &&
                  (before == seen.tables.end() || before->second == now->second);
      if (!same) overlap.push_back(table);
    }
    if (!overlap.empty()) {
      std::string names;
      for (const auto& t : overlap) names += (names.empty() ? "" : ", ") + t;
      return WithHint(Conflict("branch '", request.branch, "' moved from ", Short(*request.expected_head), " to ",
                               Short(branch.commit_id), " and the new commits changed ", names),
                      "another writer changed the same tables first; run again on the new head");
    }
  }
  SLUICE_RETURN_NOT_OK(CheckNoCaseClash(tree, request));
  for (const auto& [table, location] : request.changes) {
    if (location) {
      tree.tables[table] = *location;
      tree.namespaces.insert(table.substr(0, table.find('.')));
    } else if (tree.tables.erase(table) == 0) {
      return NotFound("table '", table, "' not found on branch '", request.branch, "'");
    }
  }
  tree.namespaces.insert(request.namespaces_to_add.begin(), request.namespaces_to_add.end());
  for (const auto& ns : request.namespaces_to_remove) {
    if (!tree.namespaces.count(ns)) {
      return NotFound("namespace '", ns, "' not found on branch '", request.branch, "'");
    }
    for (const auto& [table, _] : tree.tables) {
      if (table.substr(0, table.find('.')) == ns) {
        return WithHint(InvalidInput("namespace '", ns, "' is not empty: it holds ", table),
                        "drop its tables first with: sluice table rm");
      }
    }
    tree.namespaces.erase(ns);
  }
  SLUICE_ASSIGN_OR_RAISE(Commit commit,
                         NewCommit(db, tree, {head.id}, request.author, request.message, request.properties));
  SLUICE_RETURN_NOT_OK(MoveBranch(db, request.branch, head.id, commit.id));
  SLUICE_RETURN_NOT_OK(txn.Commit());
  return commit;
}

Result<MergeResult> Catalog::Merge(const std::string& source_ref, const std::string& target_branch,
                                   const std::string& author, const std::string& message, const TableMerger& merger,
                                   const std::map<std::string, std::string>& properties) {
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef source, ResolveLocked(db, source_ref));
  SLUICE_ASSIGN_OR_RAISE(Ref target, LoadBranch(db, target_branch));
  SLUICE_ASSIGN_OR_RAISE(Commit head, LoadCommit(db, target.commit_id));
  MergeResult result;
  SLUICE_ASSIGN_OR_RAISE(auto target_history, Ancestors(db, head.id));
  std::set<std::string> target_ancestors(target_history.begin(), target_history.end());
  if (target_ancestors.count(source.commit.id)) {
    result.commit = head;
    result.no_op = true;
    return result;
  }
  SLUICE_ASSIGN_OR_RAISE(auto source_history, Ancestors(db, source.commit.id));
  if (std::find(source_history.begin(), source_history.end(), head.id) != source_history.end()) {
    SLUICE_RETURN_NOT_OK(MoveBranch(db, target_branch, head.id, source.commit.id));
    SLUICE_RETURN_NOT_OK(txn.Commit());
    result.commit = source.commit;
    result.fast_forward = true;
    return result;
  }
  std::string base_id;
  for (const auto& id : source_history) {
    if (target_ancestors.count(id)) {
      base_id = id;
      break;
    }
  }
  if (base_id.empty()) return Internal("no common ancestor of '", source_ref, "' and '", target_branch, "'");
  SLUICE_ASSIGN_OR_RAISE(Commit base, LoadCommit(db, base_id));
  SLUICE_ASSIGN_OR_RAISE(Tree base_tree, LoadTree(db, base.tree_id));
  SLUICE_ASSIGN_OR_RAISE(Tree ours, LoadTree(db, head.tree_id));
  const Tree& theirs = source.tree;
  auto location = [](const Tree& tree, const std::string& table) -> std::optional<std::string> {
    auto it = tree.tables.find(table);
    if (it == tree.tables.end()) return std::nullopt;
    return it->second;
  };
  std::set<std::string> tables;
  for (const Tree* tree : {static_cast<const Tree*>(&base_tree), static_cast<const Tree*>(&ours), &theirs}) {
    for (const auto& [name, _] : tree->tables) tables.insert(name);
  }
  Tree merged = ours;
  std::vector<std::string> conflicts;
  for (const auto& table : tables) {
    auto b = location(base_tree, table), o = location(ours, table), t = location(theirs, table);
    if (t == b || t == o) continue;  // unchanged on their side, or the same change
    if (o == b) {
      if (t) {
        merged.tables[table] = *t;
      } else {
        merged.tables.erase(table);
      }
      continue;
    }
    if (merger && b && o && t) {
      SLUICE_ASSIGN_OR_RAISE(auto combined, WithContext(merger(table, *b, *o, *t), "merging table '" + table + "'"));
      if (combined) {
        merged.tables[table] = *combined;
        continue;
      }
    }
    conflicts.push_back(table);
  }
  if (!conflicts.empty()) {
    std::string names;
    for (const auto& c : conflicts) names += (names.empty() ? "" : ", ") + c;
    return WithHint(
        Conflict("merge conflict: tables changed on both '", source_ref, "' and '", target_branch, "': ", names),
        "'" + target_branch + "' is unchanged");
  }
  merged.namespaces.insert(theirs.namespaces.begin(), theirs.namespaces.end());
  std::map<std::string, std::string> merge_properties = properties;
  merge_properties["sluice.merge_base"] = base_id;
  SLUICE_ASSIGN_OR_RAISE(result.commit,
                         NewCommit(db, merged, {head.id, source.commit.id}, author, message, merge_properties));
  SLUICE_RETURN_NOT_OK(MoveBranch(db, target_branch, head.id, result.commit.id));
  SLUICE_RETURN_NOT_OK(txn.Commit());
  return result;
}

Status Catalog::RenameTag(const std::string& from, const std::string& to) {
  SLUICE_RETURN_NOT_OK(CheckRefName(to, "tag"));
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  Transaction txn(db);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(auto ref, LoadRef(db, from));
  if (!ref || ref->kind != RefKind::kTag) return NotFound("tag '", from, "' not found");
  SLUICE_ASSIGN_OR_RAISE(auto taken, LoadRef(db, to));
  if (taken) return AlreadyExists("'", to, "' already exists");
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db->Prepare("UPDATE refs SET name = ? WHERE name = ? AND kind = 'tag'"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, to).Bind(2, from).Run());
  return txn.Commit();
}

Result<std::vector<TableDiff>> Catalog::Diff(const std::string& from_ref, const std::string& to_ref) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef from, ResolveLocked(db, from_ref));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef to, ResolveLocked(db, to_ref));
  std::set<std::string> tables;
  for (const auto& [name, _] : from.tree.tables) tables.insert(name);
  for (const auto& [name, _] : to.tree.tables) tables.insert(name);
  std::vector<TableDiff> out;
  for (const auto& table : tables) {
    TableDiff diff;
    diff.table = table;
    auto a = from.tree.tables.find(table), b = to.tree.tables.find(table);
    if (a != from.tree.tables.end()) diff.from = a->second;
    if (b != to.tree.tables.end()) diff.to = b->second;
    if (diff.from == diff.to) continue;
    diff.kind =
        !diff.from ? TableDiff::Kind::kAdded : (!diff.to ? TableDiff::Kind::kRemoved : TableDiff::Kind::kChanged);
    out.push_back(std::move(diff));
  }
  return out;
}

Result<std::vector<Commit>> Catalog::Log(const std::string& ref, size_t limit) const {
  std::lock_guard<std::mutex> lock(store_->mutex);
  SqlConnection* db = store_->db.get();
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef resolved, ResolveLocked(db, ref));
  std::vector<Commit> out{resolved.commit};
  while ((limit == 0 || out.size() < limit) && !out.back().parents.empty()) {
    SLUICE_ASSIGN_OR_RAISE(Commit parent, LoadCommit(db, out.back().parents.front()));
    out.push_back(std::move(parent));
  }
  return out;
}

}  // namespace sluice
