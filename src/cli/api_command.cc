// sluice api METHOD PATH [--query k=v]...: one request to the JSON API of the local data home,
// answered in-process, with the body read from stdin. Prints "HTTP <status> <content-type>"
// on one line, then the answer's bytes. The SDK's fallback transport when the data home's
// background server cannot start; also handy to look at what the API answers.
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "server/sluice_api.h"

namespace sluice::cli {

void AddApiCommand(CLI::App& app, CliContext& context, int* exit_code) {
  struct Args {
    std::string method, path;
    std::vector<std::string> query;
  };
  auto args = std::make_shared<Args>();
  auto* api = app.add_subcommand("api", "Send one request to this data home's JSON API (body on stdin)");
  api->group("");  // plumbing: not listed in --help
  api->add_option("method", args->method, "GET, POST or DELETE")->required();
  api->add_option("path", args->path, "Path under /api/v1/, e.g. branches")->required();
  api->add_option("--query", args->query, "A query parameter, key=value (repeatable)");
  api->callback([&context, exit_code, args] {
    *exit_code = ReportError([&]() -> Status {
      if (args->method != "GET" && args->method != "POST" && args->method != "DELETE") {
        return InvalidInput("method must be GET, POST or DELETE, not '", args->method, "'");
      }
      RestRequest request{args->method, "/api/v1/" + args->path, {}, {}};
      for (const auto& pair : args->query) {
        size_t eq = pair.find('=');
        if (eq == std::string::npos) return InvalidInput("--query wants key=value, not '", pair, "'");
        request.query[pair.substr(0, eq)] = pair.substr(eq + 1);
      }
      request.body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) request.body.clear();
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      SLUICE_ASSIGN_OR_RAISE(ServerLimits limits, ServerLimitsFromEnvironment());
      SluiceApi handler(lake, limits);
      ApiResponse response = handler.Handle(request);
      std::cout << "HTTP " << response.status << " " << response.content_type << "\n";
      if (response.stream) {
        response.stream([](std::string_view chunk) {
          std::cout.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
          std::cout.flush();
          return static_cast<bool>(std::cout);
        });
      } else {
        std::cout.write(response.body.data(), static_cast<std::streamsize>(response.body.size()));
      }
      std::cout.flush();
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
