// sluice version (and --version on the root): the release of this binary and the bauplan
// surface it accepts.
#include <iostream>

#include "cli/commands.h"

namespace sluice::cli {

const char* const kSluiceVersion = "0.1.0";

namespace {
// The bauplan release whose project, SDK and CLI surface Sluice follows.
constexpr const char* kBauplanSurface = "0.2.0-rc.2";
}  // namespace

void AddVersionCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([&context, exit_code] {
    if (context.json()) {
      context.PrintJson({{"version", kSluiceVersion}, {"bauplan_compatible", kBauplanSurface}});
    } else {
      std::cout << "sluice " << kSluiceVersion << " (bauplan " << kBauplanSurface << " compatible)\n";
    }
    *exit_code = 0;
  });
}

}  // namespace sluice::cli
