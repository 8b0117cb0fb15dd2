// sluice cache ls / prune: the package store that model environments are assembled from.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
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

}  // namespace

void AddCacheCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* cache = app.add_subcommand("cache", "Show and prune the package store of model environments");
  cache->require_subcommand(1);
  auto* ls = cache->add_subcommand("ls", "List stored packages, least recently used first");
  ls->callback([&context, exit_code] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(auto store, OpenStore());
      SLUICE_ASSIGN_OR_RAISE(auto packages, store->List());
      if (context.json()) {
        context.PrintJson(PackagesJson(packages));
        return Status::OK();
      }
      int64_t total = 0;
      for (const auto& p : packages) {
        total += p.bytes;
        std::cout << std::left << std::setw(40) << p.name << std::right << std::setw(12) << Megabytes(p.bytes) << "  "
                  << FormatIsoTime(p.last_used_ms) << (p.in_use ? "  in use" : "") << "\n";
      }
      std::cout << packages.size() << " package(s), " << Megabytes(total) << " in " << store->root() << "\n";
      return Status::OK();
    }());
  });
  auto* prune = cache->add_subcommand("prune", "Remove unused packages, least recently used first");
  auto max_size = std::make_shared<std::string>("0");
  auto dry_run = std::make_shared<bool>(false);
  prune->add_option("--max-size", *max_size, "Keep the store under this size (default 0: all unused)");
  prune->add_flag("--dry-run", *dry_run, "Only show what would be removed");
  prune->callback([&context, exit_code, max_size, dry_run] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(int64_t limit, ParseSize(*max_size));
      SLUICE_ASSIGN_OR_RAISE(auto store, OpenStore());
      SLUICE_ASSIGN_OR_RAISE(auto removed, store->Prune(limit, *dry_run));
      if (context.json()) {
        context.PrintJson(PackagesJson(removed));
        return Status::OK();
      }
      int64_t freed = 0;
      for (const auto& p : removed) {
        freed += p.bytes;
        std::cout << (*dry_run ? "would remove " : "removed ") << p.name << "  " << Megabytes(p.bytes) << "\n";
      }
      std::cout << (*dry_run ? "would free " : "freed ") << Megabytes(freed) << "\n";
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
