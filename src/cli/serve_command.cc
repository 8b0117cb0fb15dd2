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
  auto max_mb = std::make_shared<size_t>(options->max_request_bytes >> 20);
  serve->add_option("--max-request-mb", *max_mb, "Largest request body, in MiB (default 16)");
  serve->add_option("--threads", options->threads, "Requests served at once (default 64)")->check(CLI::Range(1, 4096));
  // The limits of server/server_limits.h: each flag wins over its environment variable.
  // -1: not given.
  auto workers_per_user = std::make_shared<int>(-1);
  auto query_timeout = std::make_shared<double>(-1);
  auto query_worker_idle = std::make_shared<double>(-1);
  serve->add_option("--workers-per-user", *workers_per_user,
                    "Remote function workers one user may hold (default 8, half the server's 16; "
                    "$SLUICE_REMOTE_WORKERS_PER_USER)");
  serve->add_option("--query-timeout", *query_timeout,
                    "Seconds a query may run before it is stopped (default 600; 0: none; "
                    "$SLUICE_QUERY_TIMEOUT_SECONDS)");
  serve->add_option("--query-worker-idle", *query_worker_idle,
                    "Seconds a user's query worker is kept idle (default 300; 0: for ever; "
                    "$SLUICE_QUERY_WORKER_IDLE_SECONDS)");
  serve->callback([&context, exit_code, options, max_mb, workers_per_user, query_timeout, query_worker_idle] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(options->limits, ServerLimitsFromEnvironment());
      if (*workers_per_user != -1) options->limits.remote_workers_per_user = *workers_per_user;
      if (*query_timeout != -1) options->limits.query_timeout_seconds = *query_timeout;
      if (*query_worker_idle != -1) options->limits.query_worker_idle_seconds = *query_worker_idle;
      SLUICE_RETURN_NOT_OK(CheckServerLimits(options->limits));
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      options->max_request_bytes = *max_mb << 20;
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
