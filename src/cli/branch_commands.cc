// sluice branch / checkout / commit / tag / namespace / info.
#include <ctime>
#include <iostream>
#include <regex>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/config.h"
#include "exec/json_views.h"

namespace sluice::cli {
namespace {

Status ListRefs(CliContext& context, const std::vector<Ref>& refs, bool mark_active) {
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& ref : refs) out.push_back(RefJson(ref));
    context.PrintJson(out);
    return Status::OK();
  }
  std::string active = context.ActiveBranch();
  for (const auto& ref : refs) {
    std::cout << (mark_active && ref.name == active ? "* " : "  ") << ref.name << "  "
              << ref.commit_id.substr(0, 12) << "\n";
  }
  return Status::OK();
}

Status Checkout(CliContext& context, const std::string& name, bool create, const std::string& from) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  if (create) {
    SLUICE_RETURN_NOT_OK(lake->catalog().CreateBranch(name, from.empty() ? context.ActiveBranch() : from));
  } else {
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(name));
    if (ref.branch.empty()) {
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
  std::vector<std::string> properties;
  size_t limit = 0;
};

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

Status ShowLog(CliContext& context, const LogArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  if (args.format != "oneline" && args.format != "medium" && args.format != "full") {
    return InvalidInput("--format '", args.format, "': expected oneline, medium or full");
  }
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
  SLUICE_ASSIGN_OR_RAISE(auto all, lake->catalog().Log(ref));
  std::vector<Commit> commits;
  for (const auto& c : all) {
    if (message && !std::regex_search(c.message, *message)) continue;
    if (!args.author.empty() && c.author != args.author) continue;
    if (since && c.timestamp_ms < *since) continue;
    if (until && c.timestamp_ms > *until) continue;
    bool properties_match = true;
    for (const auto& [k, v] : wanted) {
      auto it = c.properties.find(k);
      properties_match = properties_match && it != c.properties.end() && it->second == v;
    }
    if (!properties_match) continue;
    commits.push_back(c);
    if (args.limit && commits.size() >= args.limit) break;
  }
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : commits) out.push_back(CommitJson(c));
    context.PrintJson(out);
    return Status::OK();
  }
  for (const auto& c : commits) {
    if (args.format == "oneline") {
      std::cout << c.id.substr(0, 12) << " " << c.message << "\n";
      continue;
    }
    std::cout << "commit " << c.id << (c.parents.size() > 1 ? "  (merge)" : "") << "\n";
    if (args.format == "full") {
      for (const auto& parent : c.parents) std::cout << "Parent: " << parent << "\n";
    }
    std::cout << "Author: " << c.author << "\n"
              << "Date:   " << FormatIsoTime(c.timestamp_ms) << "\n";
    if (args.format == "full") {
      for (const auto& [k, v] : c.properties) std::cout << "Property: " << k << "=" << v << "\n";
    }
    std::cout << "\n    " << c.message << "\n\n";
  }
  return Status::OK();
}

Status ShowDiff(CliContext& context, const std::string& from, const std::string& to_arg) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string to = to_arg.empty() ? context.ActiveBranch() : to_arg;
  SLUICE_ASSIGN_OR_RAISE(auto changes, lake->DiffRefs(from, to));
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : changes) out.push_back(TableChangeJson(c));
    context.PrintJson(out);
    return Status::OK();
  }
  if (changes.empty()) std::cout << "no differences between '" << from << "' and '" << to << "'\n";
  for (const auto& c : changes) {
    std::cout << (c.kind == "added" ? "+ " : c.kind == "removed" ? "- " : "~ ") << c.table;
    if (c.from_records && c.to_records) {
      int64_t delta = *c.to_records - *c.from_records;
      std::cout << "  rows " << FormatCount(*c.from_records) << " -> " << FormatCount(*c.to_records)
                << " (" << (delta >= 0 ? "+" : "") << FormatCount(delta) << ")";
    } else if (c.to_records) {
      std::cout << "  rows " << FormatCount(*c.to_records);
    } else if (c.from_records) {
      std::cout << "  rows " << FormatCount(*c.from_records);
    }
    std::cout << "\n";
    for (const auto& change : c.schema_changes) std::cout << "    " << change << "\n";
  }
  return Status::OK();
}

Status Merge(CliContext& context, const std::string& source, const std::string& into) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string target = into.empty() ? context.ActiveBranch() : into;
  SLUICE_ASSIGN_OR_RAISE(MergeResult merge,
                         lake->catalog().Merge(source, target, CurrentAuthor(),
                                               "merge " + source + " into " + target,
                                               IcebergAppendMerger()));
  if (context.json()) {
    context.PrintJson({{"commit", CommitJson(merge.commit)},
                       {"fast_forward", merge.fast_forward},
                       {"no_op", merge.no_op}});
  } else if (merge.no_op) {
    std::cout << "'" << target << "' already contains '" << source << "'\n";
  } else {
    std::cout << "merged '" << source << "' into '" << target << "'"
              << (merge.fast_forward ? " (fast-forward)" : "") << ": "
              << merge.commit.id.substr(0, 12) << "\n";
  }
  return Status::OK();
}

}  // namespace

void AddBranchCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* branch = app.add_subcommand("branch", "Create, list, merge and delete branches");
  branch->require_subcommand(1);

  auto* ls = branch->add_subcommand("ls", "List branches");
  auto ls_filter = std::make_shared<std::string>();
  ls->add_option("--name", *ls_filter, "Only branches whose name contains this");
  ls->callback([&context, exit_code, ls_filter] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(auto refs, lake->catalog().ListBranches(*ls_filter));
      return ListRefs(context, refs, true);
    }());
  });

  auto* create = branch->add_subcommand("create", "Create a branch (no data is copied)");
  auto create_name = std::make_shared<std::string>();
  auto create_from = std::make_shared<std::string>();
  create->add_option("name", *create_name, "Branch name, e.g. alice.dev")->required();
  create->add_option("--from-ref", *create_from, "Ref to branch from (default: the active branch)");
  create->callback([&context, exit_code, create_name, create_from] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      std::string from = create_from->empty() ? context.ActiveBranch() : *create_from;
      SLUICE_RETURN_NOT_OK(lake->catalog().CreateBranch(*create_name, from));
      if (!context.json()) std::cout << "created branch '" << *create_name << "' from '" << from << "'\n";
      return Status::OK();
    }());
  });

  auto* get = branch->add_subcommand("get", "Show a branch and the tables on it");
  auto get_name = std::make_shared<std::string>();
  get->add_option("name", *get_name)->required();
  get->callback([&context, exit_code, get_name] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(*get_name));
      if (context.json()) {
        context.PrintJson({{"name", *get_name}, {"commit", CommitJson(ref.commit)},
                           {"tables", ref.tree.tables}});
        return Status::OK();
      }
      std::cout << "branch " << *get_name << " at " << ref.commit.id.substr(0, 12) << "\n";
      for (const auto& [table, _] : ref.tree.tables) std::cout << "  " << table << "\n";
      return Status::OK();
    }());
  });

  auto* rm = branch->add_subcommand("rm", "Delete a branch");
  auto rm_name = std::make_shared<std::string>();
  rm->add_option("name", *rm_name)->required();
  rm->callback([&context, exit_code, rm_name] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_RETURN_NOT_OK(lake->catalog().DeleteBranch(*rm_name));
      if (context.ActiveBranch() == *rm_name) SLUICE_RETURN_NOT_OK(context.SetActiveBranch("main"));
      if (!context.json()) std::cout << "deleted branch '" << *rm_name << "'\n";
      return Status::OK();
    }());
  });

  auto* rename = branch->add_subcommand("rename", "Rename a branch");
  auto rename_from = std::make_shared<std::string>();
  auto rename_to = std::make_shared<std::string>();
  rename->add_option("name", *rename_from)->required();
  rename->add_option("new_name", *rename_to)->required();
  rename->callback([&context, exit_code, rename_from, rename_to] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_RETURN_NOT_OK(lake->catalog().RenameBranch(*rename_from, *rename_to));
      if (context.ActiveBranch() == *rename_from) SLUICE_RETURN_NOT_OK(context.SetActiveBranch(*rename_to));
      if (!context.json()) std::cout << "renamed branch '" << *rename_from << "' to '" << *rename_to << "'\n";
      return Status::OK();
    }());
  });

  auto* merge = branch->add_subcommand("merge", "Merge a ref into the active branch (or --into-branch)");
  auto merge_source = std::make_shared<std::string>();
  auto merge_into = std::make_shared<std::string>();
  merge->add_option("source_ref", *merge_source)->required();
  merge->add_option("--into-branch", *merge_into, "Target branch (default: the active branch)");
  merge->callback([&context, exit_code, merge_source, merge_into] {
    *exit_code = ReportError(Merge(context, *merge_source, *merge_into));
  });

  auto* checkout = app.add_subcommand("checkout", "Switch the active branch (-b creates it)");
  auto checkout_name = std::make_shared<std::string>();
  auto checkout_create = std::make_shared<bool>(false);
  auto checkout_from = std::make_shared<std::string>();
  checkout->add_option("name", *checkout_name)->required();
  checkout->add_flag("-b,--branch", *checkout_create, "Create the branch first");
  checkout->add_option("--from-ref", *checkout_from, "With -b: ref to branch from");
  checkout->callback([&context, exit_code, checkout_name, checkout_create, checkout_from] {
    *exit_code = ReportError(Checkout(context, *checkout_name, *checkout_create, *checkout_from));
  });

  auto* commit = app.add_subcommand("commit", "Show the commit log of a ref (default: the active branch)");
  auto log_args = std::make_shared<LogArgs>();
  commit->add_option("ref", log_args->ref);
  commit->add_option("-n,--max-count", log_args->limit, "Show at most this many commits");
  commit->add_option("--message", log_args->message, "Only commits whose message matches this regex");
  commit->add_option("--author", log_args->author, "Only commits by this author");
  commit->add_option("--since", log_args->since, "Only commits at or after this date (UTC)");
  commit->add_option("--until", log_args->until, "Only commits at or before this date (UTC)");
  commit->add_option("--property", log_args->properties, "Only commits with this property, key=value");
  commit->add_option("--format", log_args->format, "oneline, medium (default) or full");
  commit->callback([&context, exit_code, log_args] { *exit_code = ReportError(ShowLog(context, *log_args)); });

  auto* diff = branch->add_subcommand("diff", "Tables added, removed and changed between two refs");
  auto diff_from = std::make_shared<std::string>();
  auto diff_to = std::make_shared<std::string>();
  diff->add_option("from_ref", *diff_from)->required();
  diff->add_option("to_ref", *diff_to, "Default: the active branch");
  diff->callback([&context, exit_code, diff_from, diff_to] {
    *exit_code = ReportError(ShowDiff(context, *diff_from, *diff_to));
  });

  auto* tag = app.add_subcommand("tag", "Create, list and delete tags");
  tag->require_subcommand(1);
  auto* tag_ls = tag->add_subcommand("ls", "List tags");
  tag_ls->callback([&context, exit_code] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(auto refs, lake->catalog().ListTags());
      return ListRefs(context, refs, false);
    }());
  });
  auto* tag_create = tag->add_subcommand("create", "Tag a ref");
  auto tag_name = std::make_shared<std::string>();
  auto tag_from = std::make_shared<std::string>();
  tag_create->add_option("name", *tag_name)->required();
  tag_create->add_option("--from-ref", *tag_from, "Ref to tag (default: the active branch)");
  tag_create->callback([&context, exit_code, tag_name, tag_from] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      std::string from = tag_from->empty() ? context.ActiveBranch() : *tag_from;
      SLUICE_RETURN_NOT_OK(lake->catalog().CreateTag(*tag_name, from));
      if (!context.json()) std::cout << "created tag '" << *tag_name << "'\n";
      return Status::OK();
    }());
  });
  auto* tag_rename = tag->add_subcommand("rename", "Rename a tag");
  auto tag_old = std::make_shared<std::string>();
  auto tag_new = std::make_shared<std::string>();
  tag_rename->add_option("name", *tag_old)->required();
  tag_rename->add_option("new_name", *tag_new)->required();
  tag_rename->callback([&context, exit_code, tag_old, tag_new] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      return lake->catalog().RenameTag(*tag_old, *tag_new);
    }());
  });
  auto* tag_rm = tag->add_subcommand("rm", "Delete a tag");
  auto tag_rm_name = std::make_shared<std::string>();
  tag_rm->add_option("name", *tag_rm_name)->required();
  tag_rm->callback([&context, exit_code, tag_rm_name] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      return lake->catalog().DeleteTag(*tag_rm_name);
    }());
  });

  auto* info = app.add_subcommand("info", "Show the data home, the active branch and the Python used");
  info->callback([&context, exit_code] {
    nlohmann::json out = {{"data_home", DataHome()},
                          {"catalog", CatalogUri().empty() ? DataHome() + "/catalog.db" : CatalogUri()},
                          {"active_branch", context.ActiveBranch()},
                          {"python", PythonExecutable()},
                          {"shared_memory", SharedMemoryRoot()}};
    if (context.json()) {
      context.PrintJson(out);
    } else {
      for (auto& [key, value] : out.items()) std::cout << key << ": " << value.get<std::string>() << "\n";
    }
    *exit_code = 0;
  });
}

}  // namespace sluice::cli
