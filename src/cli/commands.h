// Registers the CLI's command groups on the root app. Each command stores its exit code in
// *exit_code when it runs.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_context.h"

namespace sluice::cli {

void AddBranchCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddTableCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddRunCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddQueryCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddServeCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddCacheCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddVersionCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddInitCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddParameterCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddConfigCommands(CLI::App& app, CliContext& context, int* exit_code);

// "0.1.0": the release of this binary (python/sluice's __version__ is the same).
extern const char* const kSluiceVersion;
void AddJobCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddServerCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddApiCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddKeyCommands(CLI::App& app, CliContext& context, int* exit_code);
void AddGcCommand(CLI::App& app, CliContext& context, int* exit_code);
void AddExecutorCommand(CLI::App& app, CliContext& context, int* exit_code);

}  // namespace sluice::cli
