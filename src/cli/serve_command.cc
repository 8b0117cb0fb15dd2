// sluice serve: the Iceberg REST catalog of the data home over HTTP.
#include <iostream>

#include "cli/commands.h"
#include "server/http_server.h"

namespace sluice::cli {

void AddServeCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand("serve", "Serve the Iceberg REST catalog and the API of this data home over HTTP");
  serve->add_option("--host", options->host, "Address to listen on (default 127.0.0.1; any other needs keys and TLS)");
  serve->add_option("--port", options->port, "Port (default 8181; 0 picks a free one)");
  serve->add_option("--tls-cert", options->tls_certificate, "PEM certificate (chain): serve HTTPS");
  serve->add_option("--tls-key", options->tls_private_key, "PEM private key of the certificate");
  serve->callback([&context, exit_code, options] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      std::string scheme = options->tls_certificate.empty() ? "http" : "https";
      return ServeHttp(lake, *options, [&](int bound) {
        // One line tests and scripts can wait for.
        std::cout << "serving Iceberg REST catalog on " << scheme << "://" << options->host << ":" << bound
                  << " (ref = warehouse property, default main)" << std::endl;
      });
    }());
  });
}

}  // namespace sluice::cli
