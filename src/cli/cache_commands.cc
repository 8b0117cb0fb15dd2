// sluice cache ls / prune / budget: the package store that model environments are assembled
// from, and the data home's column cache (data/column_cache.h) that scans read through.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "common/byte_size.h"
#include "common/clock.h"
#include "common/config.h"
#include "env/package_store.h"

namespace sluice::cli {
namespace {

// "0", "1500", "500M", "2G" -> bytes.
Result<int64_t> ParseSize(const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double scale = unit.empty() || unit == "B"   ? 1
                 : unit == "K" || unit == "KB" ? 1e3
                 : unit == "M" || unit == "MB" ? 1e6
                 : unit == "G" || unit == "GB" ? 1e9
                                               : -1;
  if (end == text.c_str() || scale < 0 || value < 0) {
    return InvalidInput("--max-size '", text, "': expected a size such as 0, 500M or 2G");
  }
  return static_cast<int64_t>(value * scale);
}

std::string Megabytes(int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << bytes / 1e6 << " MB";
  return out.str();
}

nlohmann::json PackagesJson(const std::vector<PackageStore::StoredPackage>& packages) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : packages) {
    out.push_back({{"name", p.name},
                   {"directory", p.directory},
                   {"bytes", p.bytes},
                   {"last_used_ms", p.last_used_ms},
                   {"in_use", p.in_use}});
  }
  return out;
}

Result<std::unique_ptr<PackageStore>> OpenStore() {
  return PackageStore::Open(DefaultPackageStore(), UvExecutable(), PythonExecutable());
}

// The column cache is the data home's: asked of its API (in-process, or the server's).
Result<nlohmann::json> ColumnCacheUsage(CliContext& context) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  return backend->Call("GET", "cache/columns");
}

// Which caches a command is about: --packages, --columns, or (neither) both.
struct CacheSelection {
  bool packages = false, columns = false;
  bool both() const { return packages == columns; }
  bool wants_packages() const { return packages || both(); }
  bool wants_columns() const { return columns || both(); }
};

void AddSelectors(CLI::App* command, CacheSelection* selection) {
  command->add_flag("--packages", selection->packages, "Only the package store of model environments");
  command->add_flag("--columns", selection->columns, "Only the column cache of table scans");
}

}  // namespace

void AddCacheCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* cache = app.add_subcommand(
      "cache", "Show and prune the package store of model environments and the column cache of scans");
  cache->require_subcommand(1);
  auto* ls = cache->add_subcommand(
      "ls",
      "List stored packages (least recently used first) and the column cache's usage; -O json: the packages, "
      "or the column cache with --columns");
  auto ls_selection = std::make_shared<CacheSelection>();
  AddSelectors(ls, ls_selection.get());
  ls->callback([&context, exit_code, ls_selection] {
    *exit_code = ReportError([&]() -> Status {
      const CacheSelection& selection = *ls_selection;
      if (context.json()) {
        if (selection.columns && !selection.packages) {
          SLUICE_ASSIGN_OR_RAISE(nlohmann::json usage, ColumnCacheUsage(context));
          context.PrintJson(usage);
          return Status::OK();
        }
        SLUICE_ASSIGN_OR_RAISE(auto store, OpenStore());
        SLUICE_ASSIGN_OR_RAISE(auto packages, store->List());
        context.PrintJson(PackagesJson(packages));
        return Status::OK();
      }
      if (selection.wants_packages()) {
        SLUICE_ASSIGN_OR_RAISE(auto store, OpenStore());
        SLUICE_ASSIGN_OR_RAISE(auto packages, store->List());
        int64_t total = 0;
        for (const auto& p : packages) {
          total += p.bytes;
          std::cout << std::left << std::setw(40) << p.name << std::right << std::setw(12) << Megabytes(p.bytes) << "  "
                    << FormatIsoTime(p.last_used_ms) << (p.in_use ? "  in use" : "") << "\n";
        }
        std::cout << packages.size() << " package(s), " << Megabytes(total) << " in " << store->root() << "\n";
      }
      if (selection.wants_columns()) {
        SLUICE_ASSIGN_OR_RAISE(nlohmann::json usage, ColumnCacheUsage(context));
        std::cout << "column cache: " << FormatCount(usage.value("entries", int64_t{0})) << " chunk(s), "
                  << Megabytes(usage.value("bytes", int64_t{0})) << " of a "
                  << Megabytes(usage.value("budget", int64_t{0})) << " budget in " << usage.value("directory", "")
                  << "\n";
      }
      return Status::OK();
    }());
  });
  auto* prune = cache->add_subcommand(
      "prune",
      "Remove unused packages and column chunks, least recently used first; -O json: the packages "
      "removed, or the column cache's with --columns");
  auto max_size = std::make_shared<std::string>("0");
  auto dry_run = std::make_shared<bool>(false);
  auto prune_selection = std::make_shared<CacheSelection>();
  prune->add_option("--max-size", *max_size, "Keep each cache under this size (default 0: all unused)");
  prune->add_flag("--dry-run", *dry_run, "Only show what would be removed");
  AddSelectors(prune, prune_selection.get());
  prune->callback([&context, exit_code, max_size, dry_run, prune_selection] {
    *exit_code = ReportError([&]() -> Status {
      const CacheSelection& selection = *prune_selection;
      SLUICE_ASSIGN_OR_RAISE(int64_t limit, ParseSize(*max_size));
      std::vector<PackageStore::StoredPackage> removed;
      if (selection.wants_packages()) {
        SLUICE_ASSIGN_OR_RAISE(auto store, OpenStore());
        SLUICE_ASSIGN_OR_RAISE(removed, store->Prune(limit, *dry_run));
      }
      nlohmann::json columns_removed = nlohmann::json::object();
      if (selection.wants_columns()) {
        SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
        SLUICE_ASSIGN_OR_RAISE(columns_removed, backend->Call("POST", "cache/columns/prune",
                                                              {{"max_bytes", limit}, {"dry_run", *dry_run}}));
      }
      if (context.json()) {
        context.PrintJson(selection.columns && !selection.packages ? columns_removed : PackagesJson(removed));
        return Status::OK();
      }
      int64_t freed = 0;
      for (const auto& p : removed) {
        freed += p.bytes;
        std::cout << (*dry_run ? "would remove " : "removed ") << p.name << "  " << Megabytes(p.bytes) << "\n";
      }
      if (selection.wants_columns()) {
        int64_t bytes = columns_removed.value("bytes", int64_t{0});
        freed += bytes;
        std::cout << (*dry_run ? "would remove " : "removed ")
                  << FormatCount(columns_removed.value("entries", int64_t{0})) << " column chunk(s)  "
                  << Megabytes(bytes) << "\n";
      }
      std::cout << (*dry_run ? "would free " : "freed ") << Megabytes(freed) << "\n";
      return Status::OK();
    }());
  });
  auto* budget = cache->add_subcommand(
      "budget",
      "Show or set the column cache's byte budget (e.g. 20G; 'default': min(10 GiB, a quarter of the "
      "free disk)); $SLUICE_COLUMN_CACHE_BYTES overrides it");
  auto size = std::make_shared<std::string>();
  budget->add_option("size", *size, "The new budget");
  budget->callback([&context, exit_code, size] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      std::string directory = Lakehouse::ColumnCacheDirectory(lake->home());
      if (!size->empty()) {
        int64_t bytes = 0;
        if (*size != "default") {
          SLUICE_ASSIGN_OR_RAISE(bytes, ParseByteSize(*size, "budget"));
        }
        SLUICE_RETURN_NOT_OK(SetColumnCacheBudget(directory, bytes));
      }
      SLUICE_ASSIGN_OR_RAISE(int64_t bytes, ColumnCacheBudget(directory));
      if (context.json()) {
        context.PrintJson({{"directory", directory}, {"budget", bytes}});
      } else {
        std::cout << "column cache budget: " << Megabytes(bytes) << " (" << directory << ")\n";
      }
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
