// The `sluice` command line: git-like catalog commands, imports, runs and queries over the
// embedded lakehouse in $SLUICE_HOME.
#include <arrow/compute/initialize.h>

#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "storage/s3_config.h"

namespace {

// S3 support starts when a command first touches an s3:// location; the AWS SDK must be
// stopped before the process exits, however main returns.
struct StopS3AtExit {
  ~StopS3AtExit() {
    auto stopped = sluice::FinalizeS3Support();
    if (!stopped.ok()) std::cerr << "warning: stopping S3 support: " << stopped.ToString() << std::endl;
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto init = arrow::compute::Initialize();
  if (!init.ok()) {
    std::cerr << "error: cannot initialize Arrow compute: " << init.ToString() << std::endl;
    return 3;
  }
  StopS3AtExit stop_s3;  // destroyed after `context` and everything the commands made
  sluice::cli::CliContext context;
  int exit_code = 0;
  CLI::App app{"Sluice: a zero-copy function runtime for data pipelines over a versioned lakehouse"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string output = "tty";
  app.add_option("-O,--output", output, "Output format: tty or json")->check(CLI::IsMember({"tty", "json"}));
  app.add_flag("-v,--verbose", context.verbose, "More detail");
  std::string endpoint;
  app.add_option("--endpoint", endpoint, "Use the `sluice serve` at this URL (or $SLUICE_ENDPOINT)");
  if (const char* env = std::getenv("SLUICE_ENDPOINT")) context.endpoint = env;
  std::string profile;
  app.add_option("-P,--profile", profile, "Profile of the config file to use (or $SLUICE_PROFILE)");
  app.set_version_flag("--version", std::string("sluice ") + sluice::cli::kSluiceVersion);
  app.add_option("--client-timeout", context.client_timeout_seconds,
                 "Seconds to wait for a remote server's answer (-1: no limit)");
  // Commands run from CLI11 callbacks, which may fire before the root's options are
  // stored, so the output format is read from argv up front.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if ((arg == "-O" || arg == "--output") && i + 1 < argc) value = argv[i + 1];
    if (arg.rfind("--output=", 0) == 0) value = arg.substr(9);
    if (arg.rfind("-O", 0) == 0 && arg.size() > 2) value = arg.substr(2);
    if (value == "json") context.output = sluice::cli::OutputFormat::kJson;
    if (arg == "--endpoint" && i + 1 < argc) context.endpoint = argv[i + 1];
    if (arg.rfind("--endpoint=", 0) == 0) context.endpoint = arg.substr(11);
    if ((arg == "-P" || arg == "--profile") && i + 1 < argc) context.profile_name = argv[i + 1];
    if (arg.rfind("--profile=", 0) == 0) context.profile_name = arg.substr(10);
  }
  sluice::cli::SetJsonErrors(context.json());
  sluice::cli::AddBranchCommands(app, context, &exit_code);
  sluice::cli::AddTableCommands(app, context, &exit_code);
  sluice::cli::AddRunCommand(app, context, &exit_code);
  sluice::cli::AddQueryCommand(app, context, &exit_code);
  sluice::cli::AddServeCommand(app, context, &exit_code);
  sluice::cli::AddCacheCommands(app, context, &exit_code);
  sluice::cli::AddVersionCommand(app, context, &exit_code);
  sluice::cli::AddInitCommand(app, context, &exit_code);
  sluice::cli::AddParameterCommands(app, context, &exit_code);
  sluice::cli::AddConfigCommands(app, context, &exit_code);
  sluice::cli::AddJobCommands(app, context, &exit_code);
  sluice::cli::AddServerCommands(app, context, &exit_code);
  sluice::cli::AddKeyCommands(app, context, &exit_code);
  sluice::cli::AddGcCommand(app, context, &exit_code);
  sluice::cli::AddApiCommand(app, context, &exit_code);
  sluice::cli::AddExecutorCommand(app, context, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
