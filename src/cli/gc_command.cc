// sluice gc [--dry-run] [--run-retention DURATION] [--orphan-age DURATION]: gives back the
// shared memory of data homes deleted since, of runs killed before they could release theirs,
// and of abandoned queries (exec/shared_memory_gc.h); deletes the run branches of runs that
// ended longer ago than the retention (exec/run_branch_gc.h); then deletes the warehouse's
// files no commit reaches any more, once older than the age (exec/orphan_file_gc.h).
#include <cctype>
#include <iostream>

#include "cli/commands.h"
#include "exec/garbage_collection.h"

namespace sluice::cli {
namespace {

// "7d", "12h", "30m", "45s", "0": seconds. InvalidInput naming `flag` otherwise.
Result<int64_t> ParseDuration(const std::string& flag, const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (digits == 0 || digits > 9 || scale == 0) {
    return InvalidInput(flag, " '", text, "' is not a duration such as 7d, 12h, 30m or 0");
  }
  return std::stoll(text.substr(0, digits)) * scale;
}

}  // namespace

void AddGcCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto dry_run = std::make_shared<bool>(false);
  auto retention = std::make_shared<std::string>("7d");
  auto orphan_age = std::make_shared<std::string>("3d");
  auto* gc = app.add_subcommand("gc", "Remove shared memory and run branches no one will read again");
  gc->add_flag("--dry-run", *dry_run, "Only list what would be removed");
  gc->add_option("--run-retention", *retention,
                 "Keep the branches of failed runs this long after they ended (7d, 12h, 0; default 7d)");
  gc->add_option("--orphan-age", *orphan_age,
                 "Delete warehouse files no commit reaches once this old (default 3d, as Iceberg's "
                 "remove_orphan_files: younger ones may belong to a write in flight)");
  gc->callback([&context, exit_code, dry_run, retention, orphan_age] {
    *exit_code = ReportError([&]() -> Status {
      GarbageCollectionOptions options;
      SLUICE_ASSIGN_OR_RAISE(options.run_retention_seconds, ParseDuration("--run-retention", *retention));
      SLUICE_ASSIGN_OR_RAISE(options.orphan_age_seconds, ParseDuration("--orphan-age", *orphan_age));
      options.dry_run = *dry_run;
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(GarbageCollectionReport collected, CollectGarbage(*lake, options));
      const SharedMemoryGcReport& report = collected.shared_memory;
      const RunBranchGcReport& branches = collected.run_branches;
      const OrphanFileGcReport& orphans = collected.orphan_files;
      if (context.json()) {
        context.PrintJson({{"removed", report.removed},
                           {"unknown", report.unknown},
                           {"bytes", report.bytes},
                           {"run_branches_removed", branches.removed},
                           {"run_branches_kept", branches.kept},
                           {"orphan_files_removed", orphans.removed},
                           {"orphan_bytes", orphans.bytes},
                           {"orphan_files_too_young", orphans.too_young},
                           {"dry_run", *dry_run}});
        return Status::OK();
      }
      for (const auto& dir : report.removed) std::cout << (*dry_run ? "would remove " : "removed ") << dir << "\n";
      for (const auto& dir : report.unknown) {
        std::cout << "kept " << dir << " (it names no data home: made by an older release; remove it by hand)\n";
      }
      for (const auto& branch : branches.removed) {
        std::cout << (*dry_run ? "would delete run branch " : "deleted run branch ") << branch << "\n";
      }
      for (const auto& file : orphans.removed) std::cout << (*dry_run ? "would delete " : "deleted ") << file << "\n";
      std::cout << (*dry_run ? "would free " : "freed ") << FormatCount(report.bytes + orphans.bytes) << " bytes; "
                << branches.kept << " run branch" << (branches.kept == 1 ? "" : "es") << " kept; " << orphans.too_young
                << " unreferenced file" << (orphans.too_young == 1 ? "" : "s") << " younger than " << *orphan_age
                << " kept\n";
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
