// sluice serve: the Iceberg REST catalog of the data home over HTTP.
#include <iostream>

#include "cli/commands.h"
#include "server/http_server.h"

namespace sluice::cli {

void AddServeCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto host = std::make_shared<std::string>("127.0.0.1");
  auto port = std::make_shared<int>(8181);
  auto* serve = app.add_subcommand("serve", "Serve the Iceberg REST catalog of this data home over HTTP");
  serve->add_option("--host", *host, "Address to listen on (default 127.0.0.1)");
  serve->add_option("--port", *port, "Port (default 8181; 0 picks a free one)");
  serve->callback([&context, exit_code, host, port] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      return ServeHttp(lake, *host, *port, [&](int bound) {
        // One line tests and scripts can wait for.
        std::cout << "serving Iceberg REST catalog on http://" << *host << ":" << bound
                  << " (ref = warehouse property, default main)" << std::endl;
      });
    }());
  });
}

}  // namespace sluice::cli
