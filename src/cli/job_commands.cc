// sluice job ls|get|logs|stop: the job history of the data home (bauplan's `job` group,
// with its names and aliases). Answers come from the JSON API's job routes (api_jobs.h),
// so jobs run by the background server or another CLI are seen the same way.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "exec/json_views.h"
#include "exec/lakehouse.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct LsArgs {
  bool all_users = false, utc = false;
  std::vector<std::string> ids, users, kinds, statuses;
  std::string created_after, created_before;
  int64_t max_count = 0;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::string Text(const json& value, const std::string& fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return fallback;
  return value.dump();
}

// "2026-11-30T09:00:00.123Z" -> "2026-11-30 09:00:00"
std::string ShortTime(const json& value) {
  if (!value.is_string()) return "-";
  std::string text = value.get<std::string>();
  if (text.size() >= 19) text = text.substr(0, 10) + " " + text.substr(11, 8);
  return text;
}

std::string Duration(const json& job) {
  if (!job["duration_seconds"].is_number()) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << job["duration_seconds"].get<double>() << "s";
  return out.str();
}

Status List(CliContext& context, const LsArgs& args) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  std::map<std::string, std::string> query;
  std::vector<std::string> users = args.users;
  if (users.empty() && !args.all_users) users.push_back(CurrentAuthor());
  if (!users.empty()) query["user"] = Join(users);
  if (!args.ids.empty()) query["id"] = Join(args.ids);
  if (!args.kinds.empty()) query["kind"] = Join(args.kinds);
  if (!args.statuses.empty()) query["status"] = Join(args.statuses);
  if (!args.created_after.empty()) query["created_after"] = args.created_after;
  if (!args.created_before.empty()) query["created_before"] = args.created_before;
  if (args.max_count > 0) query["limit"] = std::to_string(args.max_count);
  SLUICE_ASSIGN_OR_RAISE(json jobs, backend->Call("GET", "jobs", nullptr, query));
  if (context.json()) {
    context.PrintJson(jobs);
    return Status::OK();
  }
  if (jobs.empty()) {
    std::cerr << "no jobs" << (args.all_users ? "" : " of user '" + users.front() + "' (all users: --all-users)")
              << "\n";
    return Status::OK();
  }
  std::cout << std::left << std::setw(14) << "ID" << std::setw(25) << "KIND" << std::setw(13) << "STATUS"
            << std::setw(12) << "USER" << std::setw(24) << "REF" << std::setw(21) << "CREATED (UTC)"
            << "DURATION\n";
  for (const auto& job : jobs) {
    std::cout << std::setw(14) << Text(job["id"]) << std::setw(25) << Text(job["kind"]) << std::setw(13)
              << Text(job["status"]) << std::setw(12) << Text(job["user"]) << std::setw(24) << Text(job["ref"])
              << std::setw(21) << ShortTime(job["created_at"]) << Duration(job) << "\n";
  }
  return Status::OK();
}

Status Get(CliContext& context, const std::string& id) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  SLUICE_ASSIGN_OR_RAISE(json job, backend->Call("GET", "jobs/" + EncodePathPart(id)));
  if (context.json()) {
    context.PrintJson(job);
    return Status::OK();
  }
  auto row = [](const char* key, const std::string& value) {
    std::cout << std::left << std::setw(11) << key << value << "\n";
  };
  row("id", Text(job["id"]));
  row("kind", Text(job["kind"]));
  row("status", Text(job["status"]));
  row("user", Text(job["user"]));
  row("ref", Text(job["ref"]));
  if (!job["project_name"].is_null()) row("project", Text(job["project_name"]));
  row("created", ShortTime(job["created_at"]) + " UTC");
  row("finished", ShortTime(job["finished_at"]));
  row("duration", Duration(job));
  row("runner", Text(job["runner"]));
  if (!job["commit_id"].is_null()) row("commit", Text(job["commit_id"]).substr(0, 12));
  if (!job["tx_ref"].is_null()) row("tx_ref", Text(job["tx_ref"]));
  if (!job["args"].empty()) row("args", job["args"].dump());
  if (!job["priority"].is_null()) row("priority", Text(job["priority"]));
  row("cache", Text(job["cache"]));
  if (job["error"].is_object()) row("error", Text(job["error"]["message"]));
  if (!job["models"].empty()) {
    std::cout << "models:\n";
    for (const auto& model : job["models"]) {
      std::ostringstream seconds;
      if (model["seconds"].is_number()) {
        seconds << std::fixed << std::setprecision(2) << model["seconds"].get<double>() << "s";
      }
      std::cout << "  " << std::setw(10) << Text(model["status"]) << std::setw(28) << Text(model["name"])
                << std::setw(9) << seconds.str();
      if (model["rows"].is_number()) std::cout << FormatCount(model["rows"].get<int64_t>()) << " rows";
      std::string table = model.value("output_table", "");
      if (!table.empty()) std::cout << "  -> " << table;
      std::cout << "\n";
      for (const auto& scan : ModelReportFromJson(model).scans)
        std::cout << "      reads " << ScanSummary(scan) << "\n";
    }
  }
  return Status::OK();
}

void PrintLogLine(const json& line) {
  std::string model = line["model"].is_string() ? line["model"].get<std::string>() : "";
  std::string level = line.value("level", "INFO");
  std::string message = line.value("message", "");
  if (line.value("type", "user") == "system") {
    std::cout << "system: " << message << "\n";
  } else if (level == "ERROR") {
    std::cout << "error: " << (model.empty() ? "" : "[" + model + "] ") << message << "\n";
  } else if (level == "WARN") {
    std::cout << "warning: " << message << "\n";
  } else {
    std::cout << (model.empty() ? "" : "[" + model + "] ") << message << "\n";
  }
}

bool IsFinal(const std::string& status) { return status == "COMPLETE" || status == "FAIL" || status == "ABORT"; }

Status Logs(CliContext& context, const std::string& id, bool follow, bool system) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  int64_t after = 0;
  json collected = json::array();
  std::string status;
  while (true) {
    std::map<std::string, std::string> query = {{"after", std::to_string(after)}, {"limit", "10000"}};
    if (system) query["system"] = "true";
    SLUICE_ASSIGN_OR_RAISE(json page, backend->Call("GET", "jobs/" + EncodePathPart(id) + "/logs", nullptr, query));
    for (const auto& line : page["logs"]) {
      if (context.json()) {
        collected.push_back(line);
      } else {
        PrintLogLine(line);
      }
    }
    std::cout << std::flush;
    after = page.value("next_after", after);
    status = page.value("status", "");
    if (!page["logs"].empty()) continue;  // more may be waiting
    if (!follow || IsFinal(status)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (context.json()) {
    context.PrintJson({{"job_id", id}, {"status", status}, {"logs", collected}});
  } else if (follow) {
    std::cerr << "job " << id << ": " << status << "\n";
  }
  return Status::OK();
}

Status Stop(CliContext& context, const std::string& id, double wait_seconds) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  SLUICE_ASSIGN_OR_RAISE(json answer, backend->Call("POST", "jobs/" + EncodePathPart(id) + "/cancel", json::object()));
  std::string status = answer.value("status", "");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  while (!IsFinal(status) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    SLUICE_ASSIGN_OR_RAISE(json job, backend->Call("GET", "jobs/" + EncodePathPart(id)));
    status = job.value("status", "");
  }
  json out = {{"job_id", id}, {"status", status}, {"cancel_requested", true}};
  if (context.json()) {
    context.PrintJson(out);
  } else if (IsFinal(status)) {
    std::cout << "job " << id << " stopped: " << status << "\n";
  } else {
    std::cout << "job " << id << ": stop requested (still " << status << ")\n";
  }
  return Status::OK();
}

}  // namespace

void AddJobCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* job = app.add_subcommand("job", "Jobs: every run, import, table plan and query of this data home");
  job->require_subcommand(1);

  auto ls_args = std::make_shared<LsArgs>();
  auto* ls = job->add_subcommand("ls", "List jobs, newest first (yours unless --all-users)");
  ls->alias("list");
  ls->add_flag("--all-users", ls_args->all_users, "Jobs of every user");
  ls->add_option("-i,--id", ls_args->ids, "Only this job id (repeatable)");
  ls->add_option("-u,--user", ls_args->users, "Only jobs of this user (repeatable)");
  ls->add_option("-k,--kind", ls_args->kinds,
                 "Only this kind: run, query, table-import, table-plan-create, table-plan-apply, "
                 "import-plan-create, import-plan-apply (repeatable)");
  ls->add_option("-s,--status", ls_args->statuses,
                 "Only this status: not-started, running, complete, abort, "
                 "fail (repeatable)");
  ls->add_option("--created-after", ls_args->created_after,
                 "Created after this date (2026-01-15 or "
                 "2026-01-15T10:30:00Z)");
  ls->add_option("--created-before", ls_args->created_before, "Created before this date");
  ls->add_option("-n,--max-count,--limit", ls_args->max_count, "At most this many jobs (max 500; default 100)");
  ls->add_flag("-z,--utc", ls_args->utc, "Times in UTC (they always are)");
  ls->callback([&context, exit_code, ls_args] { *exit_code = ReportError(List(context, *ls_args)); });

  auto id = std::make_shared<std::string>();
  auto* get = job->add_subcommand("get", "A job's details: status, timings, models");
  get->add_option("job_id", *id, "Job id")->required();
  get->callback([&context, exit_code, id] { *exit_code = ReportError(Get(context, *id)); });

  auto logs_id = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  auto system = std::make_shared<bool>(false);
  auto* logs = job->add_subcommand("logs", "What a job's models printed, its warnings and errors");
  logs->add_option("job_id", *logs_id, "Job id")->required();
  logs->add_flag("-f,--follow", *follow, "Keep printing until the job ends");
  logs->add_flag("--system,--all", *system, "Include system lines (models starting and finishing)");
  logs->callback([&context, exit_code, logs_id, follow, system] {
    *exit_code = ReportError(Logs(context, *logs_id, *follow, *system));
  });

  auto stop_id = std::make_shared<std::string>();
  auto wait = std::make_shared<double>(30);
  auto* stop = job->add_subcommand("stop", "Stop a running job: its models are killed, nothing is merged");
  stop->alias("kill");
  stop->alias("cancel");
  stop->add_option("job_id", *stop_id, "Job id")->required();
  stop->add_option("--wait", *wait, "Seconds to wait for the job to end (default 30; 0: do not wait)");
  stop->callback([&context, exit_code, stop_id, wait] { *exit_code = ReportError(Stop(context, *stop_id, *wait)); });
}

}  // namespace sluice::cli
