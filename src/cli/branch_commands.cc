// sluice branch / checkout / commit / tag / namespace / info.
#include <iostream>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/config.h"

namespace sluice::cli {
namespace {

nlohmann::json CommitJson(const Commit& commit) {
  return {{"id", commit.id},          {"parents", commit.parents},
          {"author", commit.author},  {"message", commit.message},
          {"timestamp_ms", commit.timestamp_ms}, {"properties", commit.properties}};
}

nlohmann::json RefJson(const Ref& ref) {
  return {{"name", ref.name},
          {"kind", ref.kind == RefKind::kBranch ? "branch" : "tag"},
          {"commit", ref.commit_id}};
}

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

Status ShowLog(CliContext& context, const std::string& ref_text, size_t limit) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref = ref_text.empty() ? context.ActiveBranch() : ref_text;
  SLUICE_ASSIGN_OR_RAISE(auto commits, lake->catalog().Log(ref, limit));
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : commits) out.push_back(CommitJson(c));
    context.PrintJson(out);
    return Status::OK();
  }
  for (const auto& c : commits) {
    std::cout << "commit " << c.id << (c.parents.size() > 1 ? "  (merge)" : "") << "\n"
              << "Author: " << c.author << "\n"
              << "Date:   " << FormatIsoTime(c.timestamp_ms) << "\n\n    " << c.message << "\n\n";
  }
  return Status::OK();
}

Status Merge(CliContext& context, const std::string& source, const std::string& into) {
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string target = into.empty() ? context.ActiveBranch() : into;
  SLUICE_ASSIGN_OR_RAISE(MergeResult merge,
                         lake->catalog().Merge(source, target, CurrentAuthor(),
                                               "merge " + source + " into " + target));
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
  auto commit_ref = std::make_shared<std::string>();
  auto commit_limit = std::make_shared<size_t>(0);
  commit->add_option("ref", *commit_ref);
  commit->add_option("-n,--max-count", *commit_limit, "Show at most this many commits");
  commit->callback([&context, exit_code, commit_ref, commit_limit] {
    *exit_code = ReportError(ShowLog(context, *commit_ref, *commit_limit));
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
