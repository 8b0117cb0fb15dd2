// sluice gc [--dry-run]: gives back the shared memory of data homes deleted since, of runs
// killed before they could release theirs, and of abandoned queries (exec/shared_memory_gc.h).
#include <iostream>

#include "cli/commands.h"
#include "exec/shared_memory_gc.h"

namespace sluice::cli {

void AddGcCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto dry_run = std::make_shared<bool>(false);
  auto* gc = app.add_subcommand("gc", "Remove shared memory no run or data home will read again");
  gc->add_flag("--dry-run", *dry_run, "Only list what would be removed");
  gc->callback([&context, exit_code, dry_run] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(SharedMemoryGcReport report, CollectSharedMemory(*lake, *dry_run));
      if (context.json()) {
        context.PrintJson(
            {{"removed", report.removed}, {"unknown", report.unknown}, {"bytes", report.bytes}, {"dry_run", *dry_run}});
        return Status::OK();
      }
      for (const auto& dir : report.removed) std::cout << (*dry_run ? "would remove " : "removed ") << dir << "\n";
      for (const auto& dir : report.unknown) {
        std::cout << "kept " << dir << " (it names no data home: made by an older release; remove it by hand)\n";
      }
      std::cout << (*dry_run ? "would free " : "freed ") << FormatCount(report.bytes) << " bytes\n";
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
