// sluice branch / checkout / commit / tag / info. Commands ask the backend (the JSON API,
// local or remote) and format its answers.
#include <ctime>
#include <iostream>
#include <regex>
#include <set>

#include "cli/commands.h"
#include "common/byte_size.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/file_util.h"
#include "data/memory_budget.h"
#include "data/object_store.h"
#include "env/package_store.h"
#include "env/sandbox.h"
#include "env/zygote.h"
#include "exec/run_branch_gc.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

// Runs `body` with the context's backend, reporting its status as the exit code.
template <typename F>
std::function<void()> WithBackend(CliContext& context, int* exit_code, F body) {
  return [&context, exit_code, body] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
      return body(*backend);
    }());
  };
}

Status ListRefs(CliContext& context, const json& refs, bool mark_active) {
  if (context.json()) {
    context.PrintJson(refs);
    return Status::OK();
  }
  std::string active = context.ActiveBranch();
  for (const auto& ref : refs) {
    std::string name = ref.at("name");
    std::cout << (mark_active && name == active ? "* " : "  ") << name << "  "
              << ref.at("commit").get<std::string>().substr(0, 12) << "\n";
  }
  return Status::OK();
}

// Prints what the API answered in JSON mode, else `message`.
void Done(CliContext& context, const json& answer, const std::string& message) {
  if (context.json()) {
    context.PrintJson(answer);
  } else {
    std::cout << message << "\n";
  }
}

Status Checkout(CliContext& context, Backend& backend, const std::string& name, bool create, const std::string& from) {
  if (!create && !from.empty()) return InvalidInput("--from-ref can only be used with -b");
  if (create) {
    SLUICE_RETURN_NOT_OK(
        backend.Call("POST", "branches", {{"name", name}, {"from_ref", from.empty() ? context.ActiveBranch() : from}})
            .status());
  } else {
    SLUICE_ASSIGN_OR_RAISE(json ref, backend.Call("GET", "branches/" + EncodePathPart(name)));
    if (!ref.value("is_branch", false)) {
      return WithHint(InvalidInput("'", name, "' is not a branch; only branches can be checked out"),
                      "read from it with --ref " + name);
    }
  }
  SLUICE_RETURN_NOT_OK(context.SetActiveBranch(name));
  if (!context.json()) std::cout << "switched to branch '" << name << "'\n";
  return Status::OK();
}

struct LogArgs {
  std::string ref, message, author, since, until, format = "medium";
  std::string author_name, author_username, author_email;  // regular expressions
  std::vector<std::string> properties;
  size_t limit = 0;  // 0: bauplan's 10 on a terminal, all with -O json (the SDK reads those)
};

// A --author-* filter: a plain string or a regex, as bauplan takes them.
Result<std::optional<std::regex>> FilterRegex(const std::string& text, const char* option) {
  if (text.empty()) return std::optional<std::regex>();
  try {
    return std::optional<std::regex>(std::regex(text, std::regex::ECMAScript));
  } catch (const std::regex_error& e) {
    return InvalidInput(option, " '", text, "' is not a valid regular expression: ", e.what());
  }
}

// The commit's author as bauplan's Actor: name, username and email. Commits that carry only
// an author string use it for the name and the username.
std::string AuthorField(const nlohmann::json& commit, const char* field) {
  if (commit.contains(field) && commit[field].is_string()) return commit[field].get<std::string>();
  if (std::string(field) == "author_email") return "";
  return commit.value("author", "");
}

// "2024-05-01" or "2024-05-01T10:00:00" (UTC) as epoch milliseconds.
Result<int64_t> ParseDateMillis(const std::string& text, const char* option) {
  int y, m, d, hh = 0, mm = 0, ss = 0;
  int n = std::sscanf(text.c_str(), "%d-%d-%d%*c%d:%d:%d", &y, &m, &d, &hh, &mm, &ss);
  if (n < 3) return InvalidInput(option, " '", text, "': expected a date such as 2024-05-01 or 2024-05-01T10:00:00");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Status ShowLog(CliContext& context, Backend& backend, const LogArgs& args) {
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  const std::set<std::string> formats = {"oneline", "short", "medium", "full", "fuller"};
  if (!formats.count(args.format)) {
    return InvalidInput("--format '", args.format, "': expected oneline, short, medium, full or fuller");
  }
  size_t limit = args.limit ? args.limit : (context.json() ? 0 : 10);
  SLUICE_ASSIGN_OR_RAISE(auto by_name, FilterRegex(args.author_name, "--author-name"));
  SLUICE_ASSIGN_OR_RAISE(auto by_username, FilterRegex(args.author_username, "--author-username"));
  SLUICE_ASSIGN_OR_RAISE(auto by_email, FilterRegex(args.author_email, "--author-email"));
  std::optional<std::regex> message;
  if (!args.message.empty()) {
    try {
      message.emplace(args.message, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      return InvalidInput("--message '", args.message, "' is not a valid regular expression: ", e.what());
    }
  }
  std::optional<int64_t> since, until;
  if (!args.since.empty()) {
    SLUICE_ASSIGN_OR_RAISE(since, ParseDateMillis(args.since, "--since"));
  }
  if (!args.until.empty()) {
    SLUICE_ASSIGN_OR_RAISE(until, ParseDateMillis(args.until, "--until"));
  }
  std::map<std::string, std::string> wanted;
  for (const auto& kv : args.properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return InvalidInput("--property '", kv, "': expected key=value");
    wanted[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  SLUICE_ASSIGN_OR_RAISE(json all, backend.Call("GET", "commits", nullptr, {{"ref", ref}}));
  json commits = json::array();
  for (const auto& c : all) {
    int64_t at = c.at("timestamp_ms");
    if (message && !std::regex_search(c.at("message").get<std::string>(), *message)) continue;
    if (!args.author.empty() && c.at("author") != args.author) continue;
    if (by_name && !std::regex_search(AuthorField(c, "author_name"), *by_name)) continue;
    if (by_username && !std::regex_search(AuthorField(c, "author_username"), *by_username)) continue;
    if (by_email && !std::regex_search(AuthorField(c, "author_email"), *by_email)) continue;
    if ((since && at < *since) || (until && at > *until)) continue;
    bool properties_match = true;
    for (const auto& [k, v] : wanted) {
      properties_match = properties_match && c.at("properties").value(k, std::string("\x01")) == v;
    }
    if (!properties_match) continue;
    commits.push_back(c);
    if (limit && commits.size() >= limit) break;
  }
  if (context.json()) {
    context.PrintJson(commits);
    return Status::OK();
  }
  for (const auto& c : commits) {
    std::string id = c.at("id");
    if (args.format == "oneline") {
      std::cout << id.substr(0, 12) << " " << c.at("message").get<std::string>() << "\n";
      continue;
    }
    bool full = args.format == "full" || args.format == "fuller";
    std::cout << "commit " << id << (c.at("parents").size() > 1 ? "  (merge)" : "") << "\n";
    if (full) {
      for (const auto& parent : c.at("parents")) std::cout << "Parent: " << parent.get<std::string>() << "\n";
    }
    std::string email = AuthorField(c, "author_email");
    std::cout << "Author: " << AuthorField(c, "author_name") << (email.empty() ? "" : " <" + email + ">") << "\n";
    if (args.format == "fuller") {
      std::cout << "Author Date: " << FormatIsoTime(c.at("timestamp_ms")) << "\n"
                << "Commit Date: " << FormatIsoTime(c.at("timestamp_ms")) << "\n";
    } else if (args.format != "short") {
      std::cout << "Date:   " << FormatIsoTime(c.at("timestamp_ms")) << "\n";
    }
    if (full) {
      for (const auto& [k, v] : c.at("properties").items()) {
        std::cout << "Property: " << k << "=" << v.get<std::string>() << "\n";
      }
    }
    std::cout << "\n    " << c.at("message").get<std::string>() << "\n\n";
  }
  return Status::OK();
}

// bauplan's format: a header, then "+TABLE ns.name" for each table only `to` has and
// "-TABLE ns.name" for each only `from` has; we add "~TABLE ns.name" with the row counts and
// schema changes for tables both have in different states.
Status ShowDiff(CliContext& context, Backend& backend, const std::string& from, const std::string& to_arg,
                const std::string& namespace_filter) {
  std::string to = to_arg.empty() ? context.ActiveBranch() : to_arg;
  if (from == to) return InvalidInput("can not compare branch '", from, "' with itself");
  SLUICE_ASSIGN_OR_RAISE(json all, backend.Call("GET", "diff", nullptr, {{"from", from}, {"to", to}}));
  json changes = json::array();
  for (const auto& c : all) {
    std::string table = c.at("table");
    if (!namespace_filter.empty() && table.substr(0, table.find('.')) != namespace_filter) continue;
    changes.push_back(c);
  }
  if (context.json()) {
    context.PrintJson(changes);
    return Status::OK();
  }
  std::cout << "diff --bauplan a/" << from << " b/" << to << "\n";
  for (const char* kind : {"added", "removed", "changed"}) {
    for (const auto& c : changes) {
      if (c.at("kind") != kind) continue;
      char mark = kind[0] == 'a' ? '+' : kind[0] == 'r' ? '-' : '~';
      std::cout << mark << "TABLE " << c.at("table").get<std::string>();
      const json &before = c.at("from_records"), &after = c.at("to_records");
      if (!before.is_null() && !after.is_null()) {
        int64_t delta = after.get<int64_t>() - before.get<int64_t>();
        std::cout << "  rows " << FormatCount(before) << " -> " << FormatCount(after) << " (" << (delta >= 0 ? "+" : "")
                  << FormatCount(delta) << ")";
      }
      std::cout << "\n";
      for (const auto& change : c.at("schema_changes")) std::cout << "    " << change.get<std::string>() << "\n";
    }
  }
  return Status::OK();
}

Status Merge(CliContext& context, Backend& backend, const std::string& source, const std::string& into,
             const std::string& commit_message) {
  std::string target = into.empty() ? context.ActiveBranch() : into;
  json body = {{"source_ref", source}};
  if (!commit_message.empty()) body["commit_message"] = commit_message;
  SLUICE_ASSIGN_OR_RAISE(json merge, backend.Call("POST", "branches/" + EncodePathPart(target) + "/merge", body));
  if (context.json()) {
    context.PrintJson(merge);
  } else if (merge.at("no_op")) {
    std::cout << "'" << target << "' already contains '" << source << "'\n";
  } else {
    std::cout << "merged '" << source << "' into '" << target << "'"
              << (merge.at("fast_forward").get<bool>() ? " (fast-forward)" : "") << ": "
              << merge.at("commit").at("id").get<std::string>().substr(0, 12) << "\n";
  }
  return Status::OK();
}

// With `tolerate` set, an error answer of kind `skip` is a success that prints `note`
// on stderr instead (bauplan's --if-exists / --if-not-exists).
Result<std::optional<json>> Tolerating(const Result<json>& answer, bool tolerate, ErrorKind skip,
                                       const std::string& note) {
  if (answer.ok()) return std::optional<json>(*answer);
  if (!tolerate || KindOf(answer.status()) != skip) return answer.status();
  std::cerr << note << "\n";
  return std::optional<json>();
}

struct RefListArgs {
  std::string filter, name, user;
  bool all_zones = false;
  bool runs = false;  // only the branches failed runs kept (which are otherwise left out)
  size_t limit = 0;
};

// Keeps the refs matching bauplan's filters: a name substring, a user's zone ("alice" keeps
// "alice.*"), at most `limit`.
json FilterRefs(const json& refs, const RefListArgs& args) {
  json out = json::array();
  std::string name = args.name.empty() ? args.filter : args.name;
  for (const auto& ref : refs) {
    std::string ref_name = ref.at("name");
    if (!name.empty() && ref_name.find(name) == std::string::npos) continue;
    if (!args.user.empty() && ref_name.rfind(args.user + ".", 0) != 0) continue;
    if (ref.value("is_branch", true) && IsRunBranch(ref_name) != args.runs) continue;
    out.push_back(ref);
    if (args.limit && out.size() >= args.limit) break;
  }
  return out;
}

}  // namespace

void AddBranchCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* branch = app.add_subcommand("branch", "Create, list, merge and delete branches");
  branch->require_subcommand(1);

  auto* ls = branch->add_subcommand("ls", "List branches")->alias("list");
  auto ls_args = std::make_shared<RefListArgs>();
  ls->add_option("branch_name", ls_args->filter, "Only branches whose name contains this");
  ls->add_option("-n,--name", ls_args->name, "Only branches whose name contains this");
  ls->add_option("-u,--user", ls_args->user, "Only the branches of this user's zone (user.*)");
  ls->add_flag("-a,--all-zones", ls_args->all_zones, "Every user's branches (the default here)");
  ls->add_option("--limit", ls_args->limit, "Show at most this many");
  ls->add_flag("--runs", ls_args->runs,
               "Only the branches failed runs kept for inspection (deleted by `sluice gc` after a week)");
  ls->callback(WithBackend(context, exit_code, [&context, ls_args](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(json refs, backend.Call("GET", "branches"));
    return ListRefs(context, FilterRefs(refs, *ls_args), true);
  }));

  auto* create = branch->add_subcommand("create", "Create a branch (no data is copied)");
  auto create_name = std::make_shared<std::string>();
  auto create_from = std::make_shared<std::string>();
  auto create_if_not_exists = std::make_shared<bool>(false);
  create->add_option("name", *create_name, "Branch name, e.g. alice.dev")->required();
  create->add_option("--from-ref", *create_from, "Ref to branch from (default: the active branch)");
  create->add_flag("--if-not-exists", *create_if_not_exists, "Succeed when the branch already exists");
  create->callback(WithBackend(
      context, exit_code, [&context, create_name, create_from, create_if_not_exists](Backend& backend) -> Status {
        std::string from = create_from->empty() ? context.ActiveBranch() : *create_from;
        auto answer = backend.Call("POST", "branches", {{"name", *create_name}, {"from_ref", from}});
        // Only an existing branch is tolerated: a tag of that name is still an error.
        bool tolerate = *create_if_not_exists;
        if (tolerate && !answer.ok() && KindOf(answer.status()) == ErrorKind::kAlreadyExists) {
          auto existing = backend.Call("GET", "branches/" + EncodePathPart(*create_name));
          tolerate = existing.ok() && existing->value("is_branch", false);
        }
        SLUICE_ASSIGN_OR_RAISE(auto ref, Tolerating(answer, tolerate, ErrorKind::kAlreadyExists,
                                                    "Branch \"" + *create_name + "\" already exists"));
        if (ref) Done(context, *ref, "created branch '" + *create_name + "' from '" + from + "'");
        if (!ref && context.json()) context.PrintJson({{"name", *create_name}, {"created", false}});
        return Status::OK();
      }));

  auto* get = branch->add_subcommand("get", "Show a branch and the tables on it");
  auto get_name = std::make_shared<std::string>();
  auto get_namespace = std::make_shared<std::string>();
  get->add_option("name", *get_name)->required();
  get->add_option("-n,--namespace", *get_namespace, "Only the tables of this namespace");
  get->callback(WithBackend(context, exit_code, [&context, get_name, get_namespace](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(json ref, backend.Call("GET", "branches/" + EncodePathPart(*get_name)));
    if (!get_namespace->empty()) {
      json tables = json::object();
      for (const auto& [table, location] : ref.at("tables").items()) {
        if (table.substr(0, table.find('.')) == *get_namespace) tables[table] = location;
      }
      ref["tables"] = tables;
    }
    if (context.json()) {
      context.PrintJson(ref);
      return Status::OK();
    }
    std::cout << "branch " << *get_name << " at " << ref.at("commit").at("id").get<std::string>().substr(0, 12) << "\n";
    for (const auto& [table, _] : ref.at("tables").items()) std::cout << "  " << table << "\n";
    return Status::OK();
  }));

  auto* rm = branch->add_subcommand("rm", "Delete a branch")->alias("delete");
  auto rm_name = std::make_shared<std::string>();
  auto rm_if_exists = std::make_shared<bool>(false);
  rm->add_option("name", *rm_name)->required();
  rm->add_flag("--if-exists", *rm_if_exists, "Succeed when the branch does not exist");
  rm->callback(WithBackend(context, exit_code, [&context, rm_name, rm_if_exists](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(auto answer,
                           Tolerating(backend.Call("DELETE", "branches/" + EncodePathPart(*rm_name)), *rm_if_exists,
                                      ErrorKind::kNotFound, "Branch \"" + *rm_name + "\" does not exist"));
    if (!answer) {
      if (context.json()) context.PrintJson({{"deleted", nullptr}});
      return Status::OK();
    }
    if (context.ActiveBranch() == *rm_name) SLUICE_RETURN_NOT_OK(context.SetActiveBranch("main"));
    Done(context, *answer, "deleted branch '" + *rm_name + "'");
    return Status::OK();
  }));

  auto* rename = branch->add_subcommand("rename", "Rename a branch");
  auto rename_from = std::make_shared<std::string>();
  auto rename_to = std::make_shared<std::string>();
  rename->add_option("name", *rename_from)->required();
  rename->add_option("new_name", *rename_to)->required();
  rename->callback(WithBackend(context, exit_code, [&context, rename_from, rename_to](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(json answer, backend.Call("POST", "branches/" + EncodePathPart(*rename_from) + "/rename",
                                                     {{"new_name", *rename_to}}));
    if (context.ActiveBranch() == *rename_from) SLUICE_RETURN_NOT_OK(context.SetActiveBranch(*rename_to));
    Done(context, answer, "renamed branch '" + *rename_from + "' to '" + *rename_to + "'");
    return Status::OK();
  }));

  auto* merge = branch->add_subcommand("merge", "Merge a ref into the active branch (or --into-branch)");
  auto merge_source = std::make_shared<std::string>();
  auto merge_into = std::make_shared<std::string>();
  auto merge_message = std::make_shared<std::string>();
  merge->add_option("source_ref", *merge_source)->required();
  merge->add_option("--into-branch", *merge_into, "Target branch (default: the active branch)");
  merge->add_option("--commit-message", *merge_message, "Message of the merge commit");
  merge->callback(
      WithBackend(context, exit_code, [&context, merge_source, merge_into, merge_message](Backend& backend) {
        return Merge(context, backend, *merge_source, *merge_into, *merge_message);
      }));

  auto* diff = branch->add_subcommand("diff", "Tables added, removed and changed between two refs");
  auto diff_from = std::make_shared<std::string>();
  auto diff_to = std::make_shared<std::string>();
  auto diff_namespace = std::make_shared<std::string>();
  diff->add_option("from_ref", *diff_from)->required();
  diff->add_option("to_ref", *diff_to, "Default: the active branch");
  diff->add_option("-n,--namespace", *diff_namespace, "Only the tables of this namespace");
  diff->callback(WithBackend(context, exit_code, [&context, diff_from, diff_to, diff_namespace](Backend& backend) {
    return ShowDiff(context, backend, *diff_from, *diff_to, *diff_namespace);
  }));

  // `sluice checkout NAME [-b]` and bauplan's `sluice branch checkout NAME [-b]`.
  for (CLI::App* parent : {&app, branch}) {
    auto* checkout = parent->add_subcommand("checkout", "Switch the active branch (-b creates it)");
    auto checkout_name = std::make_shared<std::string>();
    auto checkout_create = std::make_shared<bool>(false);
    auto checkout_from = std::make_shared<std::string>();
    checkout->add_option("name", *checkout_name)->required();
    checkout->add_flag("-b,--branch", *checkout_create, "Create the branch first");
    checkout->add_option("--from-ref", *checkout_from, "With -b: ref to branch from");
    checkout->callback(
        WithBackend(context, exit_code, [&context, checkout_name, checkout_create, checkout_from](Backend& backend) {
          return Checkout(context, backend, *checkout_name, *checkout_create, *checkout_from);
        }));
  }

  auto* commit = app.add_subcommand("commit", "Show the commit log of a ref (default: the active branch)");
  auto log_args = std::make_shared<LogArgs>();
  commit->add_option("ref", log_args->ref);
  commit->add_option("-n,--max-count,--limit", log_args->limit,
                     "Show at most this many commits (default: 10; all with -O json)");
  commit->add_option("--message", log_args->message, "Only commits whose message matches this regex");
  commit->add_option("--author", log_args->author, "Only commits by exactly this author");
  commit->add_option("--author-name", log_args->author_name, "Only commits whose author's name matches this regex");
  commit->add_option("--author-username", log_args->author_username,
                     "Only commits whose author's username matches this regex");
  commit->add_option("--author-email", log_args->author_email, "Only commits whose author's email matches this regex");
  commit->add_option("--since", log_args->since, "Only commits at or after this date (UTC)");
  commit->add_option("--until", log_args->until, "Only commits at or before this date (UTC)");
  commit->add_option("--property", log_args->properties, "Only commits with this property, key=value");
  commit->add_option("--format,--pretty", log_args->format, "oneline, short, medium (default), full or fuller");
  commit->callback(WithBackend(
      context, exit_code, [&context, log_args](Backend& backend) { return ShowLog(context, backend, *log_args); }));

  auto* tag = app.add_subcommand("tag", "Create, list, rename and delete tags");
  tag->require_subcommand(1);
  auto* tag_ls = tag->add_subcommand("ls", "List tags")->alias("list");
  auto tag_ls_args = std::make_shared<RefListArgs>();
  tag_ls->add_option("--name", tag_ls_args->name, "Only tags whose name contains this");
  tag_ls->add_option("--limit", tag_ls_args->limit, "Show at most this many");
  tag_ls->callback(WithBackend(context, exit_code, [&context, tag_ls_args](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(json refs, backend.Call("GET", "tags"));
    return ListRefs(context, FilterRefs(refs, *tag_ls_args), false);
  }));
  auto* tag_create = tag->add_subcommand("create", "Tag a ref");
  auto tag_name = std::make_shared<std::string>();
  auto tag_from = std::make_shared<std::string>();
  auto tag_if_not_exists = std::make_shared<bool>(false);
  tag_create->add_option("name", *tag_name)->required();
  tag_create->add_option("--from-ref", *tag_from, "Ref to tag (default: the active branch)");
  tag_create->add_flag("--if-not-exists", *tag_if_not_exists, "Succeed when the tag already exists");
  tag_create->callback(
      WithBackend(context, exit_code, [&context, tag_name, tag_from, tag_if_not_exists](Backend& backend) -> Status {
        std::string from = tag_from->empty() ? context.ActiveBranch() : *tag_from;
        auto answer = backend.Call("POST", "tags", {{"name", *tag_name}, {"from_ref", from}});
        bool tolerate = *tag_if_not_exists;
        if (tolerate && !answer.ok() && KindOf(answer.status()) == ErrorKind::kAlreadyExists) {
          auto tags = backend.Call("GET", "tags");
          tolerate = false;
          if (tags.ok()) {
            for (const auto& t : *tags) tolerate = tolerate || t.value("name", "") == *tag_name;
          }
        }
        SLUICE_ASSIGN_OR_RAISE(auto ref, Tolerating(answer, tolerate, ErrorKind::kAlreadyExists,
                                                    "Tag \"" + *tag_name + "\" already exists"));
        if (ref) Done(context, *ref, "created tag '" + *tag_name + "'");
        if (!ref && context.json()) context.PrintJson({{"name", *tag_name}, {"created", false}});
        return Status::OK();
      }));
  auto* tag_rename = tag->add_subcommand("rename", "Rename a tag");
  auto tag_old = std::make_shared<std::string>();
  auto tag_new = std::make_shared<std::string>();
  tag_rename->add_option("name", *tag_old)->required();
  tag_rename->add_option("new_name", *tag_new)->required();
  tag_rename->callback(WithBackend(context, exit_code, [&context, tag_old, tag_new](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(
        json answer, backend.Call("POST", "tags/" + EncodePathPart(*tag_old) + "/rename", {{"new_name", *tag_new}}));
    Done(context, answer, "renamed tag '" + *tag_old + "' to '" + *tag_new + "'");
    return Status::OK();
  }));
  auto* tag_rm = tag->add_subcommand("rm", "Delete a tag")->alias("delete");
  auto tag_rm_name = std::make_shared<std::string>();
  auto tag_if_exists = std::make_shared<bool>(false);
  tag_rm->add_option("name", *tag_rm_name)->required();
  tag_rm->add_flag("--if-exists", *tag_if_exists, "Succeed when the tag does not exist");
  tag_rm->callback(WithBackend(context, exit_code, [&context, tag_rm_name, tag_if_exists](Backend& backend) -> Status {
    SLUICE_ASSIGN_OR_RAISE(auto answer,
                           Tolerating(backend.Call("DELETE", "tags/" + EncodePathPart(*tag_rm_name)), *tag_if_exists,
                                      ErrorKind::kNotFound, "Tag \"" + *tag_rm_name + "\" does not exist"));
    if (answer) Done(context, *answer, "deleted tag '" + *tag_rm_name + "'");
    if (!answer && context.json()) context.PrintJson({{"deleted", nullptr}});
    return Status::OK();
  }));

  auto* info =
      app.add_subcommand("info", "Show the data home, the active branch, the Python used and how workers are run");
  info->callback([&context, exit_code] {
    Status sandbox = SandboxAvailable();
    auto profile = context.profile();
    nlohmann::json out = {{"version", kSluiceVersion},
                          {"profile", profile.ok() ? (*profile)->name : profile.status().message()},
                          {"config_file", ConfigFilePath()},
                          {"data_home", DataHome()},
                          {"catalog", CatalogUri().empty() ? DataHome() + "/catalog.db" : CatalogUri()},
                          {"endpoint", context.endpoint},
                          {"active_branch", context.ActiveBranch()},
                          {"python", PythonExecutable()},
                          {"shared_memory", SharedMemoryRoot()},
                          {"package_store", DefaultPackageStore()},
                          {"sandbox", sandbox.ok() ? "on (" + SandboxLauncher() + ")" : sandbox.message()},
                          {"zygotes", ZygotePool::Enabled() ? "on" : "off (SLUICE_ZYGOTES=0)"}};
    std::string huge = SharedHugePagesSetting();
    out["shared_huge_pages"] = huge == "never" || huge == "deny" || huge == "unknown"
                                   ? "off (shmem_enabled=" + huge +
                                         ": hand-offs grow with size; echo advise > "
                                         "/sys/kernel/mm/transparent_hugepage/shmem_enabled)"
                                   : "on (shmem_enabled=" + huge + ")";
    // The object store's memory budget (data/memory_budget.h) and what is in shared memory now.
    std::string home = AbsolutePath(DataHome());
    auto budget = ResolveMemoryBudget(home, SharedMemoryRoot());
    int64_t live = ObjectStore::LiveBytesIn(SharedMemoryRoot());
    if (context.json()) {
      out["memory_budget_bytes"] = budget.ok() ? nlohmann::json(budget->bytes) : nlohmann::json(nullptr);
      out["memory_budget_source"] = budget.ok() ? budget->source : budget.status().message();
      out["shared_memory_live_bytes"] = live;
      out["spill_dir"] = home + "/spill";
      context.PrintJson(out);
    } else {
      for (auto& [key, value] : out.items()) std::cout << key << ": " << value.get<std::string>() << "\n";
      std::cout << "memory_budget: "
                << (!budget.ok()         ? budget.status().message()
                    : budget->bytes == 0 ? "none (" + budget->source + ")"
                                         : FormatBytes(budget->bytes) + " (" + budget->source + ")")
                << "\n"
                << "shared_memory_live: " << FormatBytes(live) << "\n"
                << "spill_dir: " << home << "/spill\n";
    }
    *exit_code = 0;
  });
}

}  // namespace sluice::cli
