// sluice key create|ls|rm: the API keys a data home's server checks (catalog/key_store.h).
// They act on the local data home's catalog, never through a server: whoever can open the
// catalog already owns the data home, and a key is shown in clear only here, once.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "common/clock.h"

namespace sluice::cli {
namespace {

struct KeyArgs {
  std::string user, role = "writer", id;
};

nlohmann::json KeyJson(const ApiKeyRecord& key) {
  return {{"id", key.id}, {"user", key.user}, {"role", key.role}, {"created_ms", key.created_ms}};
}

// Key commands need the data home itself: refuse an endpoint rather than act elsewhere.
Result<KeyStore*> LocalKeys(CliContext& context) {
  SLUICE_ASSIGN_OR_RAISE(const Profile* profile, context.profile());
  if (!context.endpoint.empty() || !profile->endpoint.empty()) {
    return WithHint(InvalidInput("sluice key manages the keys of the local data home, not of a server"),
                    "run it where the server's data home is (with its SLUICE_HOME), without --endpoint");
  }
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  return &lake->catalog().keys();
}

}  // namespace

void AddKeyCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* key = app.add_subcommand("key", "Create, list and remove the API keys of this data home's server");
  key->require_subcommand(1);
  auto args = std::make_shared<KeyArgs>();

  auto* create = key->add_subcommand("create", "Make a key for a user and role; prints it, once");
  create->add_option("--user,-u", args->user, "Who the key is: the author of what it writes")->required();
  create->add_option("--role,-r", args->role, "reader, writer (default) or admin (may merge into main)");
  create->callback([&context, exit_code, args] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(KeyStore * keys, LocalKeys(context));
      SLUICE_ASSIGN_OR_RAISE(std::string made, keys->Create(args->user, args->role, NowMillis()));
      if (context.json()) {
        context.PrintJson({{"key", made}, {"user", args->user}, {"role", args->role}});
      } else {
        std::cout << made << "\n";
        std::cerr << "the key of '" << args->user << "' (" << args->role
                  << "): it is not stored in clear and cannot be shown again\n";
      }
      return Status::OK();
    }());
  });

  auto* ls = key->add_subcommand("ls", "List the keys (ids, users and roles; never the keys)");
  ls->alias("list");
  ls->callback([&context, exit_code] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(KeyStore * keys, LocalKeys(context));
      SLUICE_ASSIGN_OR_RAISE(auto listed, keys->List());
      if (context.json()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& k : listed) out.push_back(KeyJson(k));
        context.PrintJson(out);
        return Status::OK();
      }
      std::cout << std::left << std::setw(14) << "ID" << std::setw(8) << "ROLE"
                << "USER\n";
      for (const auto& k : listed) std::cout << std::setw(14) << k.id << std::setw(8) << k.role << k.user << "\n";
      return Status::OK();
    }());
  });

  auto* rm = key->add_subcommand("rm", "Remove a key by its id (from: sluice key ls)");
  rm->alias("delete");
  rm->add_option("id", args->id, "The key's id, or a unique prefix of it")->required();
  rm->callback([&context, exit_code, args] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(KeyStore * keys, LocalKeys(context));
      SLUICE_ASSIGN_OR_RAISE(ApiKeyRecord removed, keys->Remove(args->id));
      if (context.json()) {
        context.PrintJson(KeyJson(removed));
      } else {
        std::cout << "removed key " << removed.id << " of '" << removed.user << "' (" << removed.role << ")\n";
      }
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
