#include "exec/query_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/memory_file.h"
#include "common/subprocess.h"
#include "data/batch_stream_writer.h"
#include "data/table_scanner.h"
#include "env/sandbox.h"
#include "env/zygote.h"
#include "exec/query_worker_pool.h"
#include "exec/sql_pushdown.h"
#include "exec/worker_call.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

using nlohmann::json;

// Descriptors one query may be handed (data files mostly), open at once here and in the worker (a partitioned
// table has one or more per partition). Past this, a table is scanned into shared memory.
constexpr size_t kMaxPassedFiles = 800;
// Tables one query streams at most: each is a thread, a socket and a few row groups read
// ahead in the engine, so a query naming hundreds of tables would take that many; the tables
// past it are scanned into shared memory, under the data home's memory budget.
constexpr size_t kMaxStreamedTables = 16;
// Descriptors in one message (the kernel's SCM_MAX_FD is 253).
constexpr size_t kDescriptorsPerMessage = 240;
constexpr size_t kMaxResultBytes = 1 << 20;
// What `sluice query` prints (tty, json: every row with --all-rows) is read whole.
constexpr size_t kMaxPrintedBytes = size_t{1} << 31;

SandboxSpec QuerySandbox(Lakehouse& lake) {
  // No project: the worker sees nothing but the tables it is handed.
  SandboxSpec sandbox;
  sandbox.outer_uid = SandboxUidFor(lake.objects().root());
  return sandbox;
}

// The zygote every query of this data home forks from: DuckDB loaded, nothing else.
std::string QueryZygoteKey() { return "query\n" + PythonExecutable(); }

Result<ZygoteOptions> QueryZygoteOptions(Lakehouse& lake) {
  ZygoteOptions options;
  options.sandbox = QuerySandbox(lake);
  options.sandbox.role = SandboxRole::kZygote;
  options.duckdb = true;
  SLUICE_RETURN_NOT_OK(ZygotePool::Place(lake.objects().root(), QueryZygoteKey(), &options));
  return options;
}

Result<std::shared_ptr<Zygote>> QueryZygote(Lakehouse& lake, ZygotePool* zygotes) {
  SLUICE_ASSIGN_OR_RAISE(ZygoteOptions options, QueryZygoteOptions(lake));
  return zygotes->Get(QueryZygoteKey(), options);
}

// The query zygote when it runs and has finished its imports; null otherwise (never started
// here: see StartQueryZygoteLater).
std::shared_ptr<Zygote> ServingQueryZygote(ZygotePool* zygotes) {
  if (!zygotes || !ZygotePool::Enabled()) return nullptr;
  std::shared_ptr<Zygote> zygote = zygotes->Find(QueryZygoteKey());
  return zygote && zygote->Serving() ? zygote : nullptr;
}

// A server's first query does not start the query zygote: on two cores its imports (DuckDB,
// pyarrow, pandas: about 2 s) would take half the machine from the fresh worker answering
// that query. Once it has been answered, the zygote starts in the background for the next.
void StartQueryZygoteLater(Lakehouse& lake, ZygotePool* zygotes) {
  if (!zygotes || !ZygotePool::Enabled()) return;
  auto options = QueryZygoteOptions(lake);
  if (options.ok()) zygotes->StartInBackground(QueryZygoteKey(), *options);
}

// A server's query forks from its zygote ahead of need: the fork and DuckDB's start (a new
// database, about 20 ms) are done before the query comes.
Result<std::unique_ptr<Subprocess>> ForkFromQueryZygote(Lakehouse& lake, ZygotePool* zygotes,
                                                        const SubprocessOptions& output) {
  SLUICE_ASSIGN_OR_RAISE(ZygoteOptions options, QueryZygoteOptions(lake));
  return zygotes->ForkAhead(QueryZygoteKey(), options, output);
}

Result<std::unique_ptr<Subprocess>> StartQueryWorker(Lakehouse& lake, ZygotePool* zygotes, SubprocessOptions output) {
  // A zygote not started or still importing (a server's first query, about 2 s here) is not
  // waited for: a fresh worker answers sooner, and the zygote serves the queries after it.
  if (ServingQueryZygote(zygotes)) {
    auto forked = ForkFromQueryZygote(lake, zygotes, output);
    if (forked.ok()) return forked;
  }
  // This thread waits for it (RunQuery): a server killed mid-query takes it along, where it
  // ran on as init's, busy. (Not the zygote's forks: they die with the zygote.)
  SandboxSpec sandbox = QuerySandbox(lake);
  sandbox.die_with_parent = true;
  return StartWorker(sandbox, "query", "", std::move(output));
}

// A data file DuckDB may read itself: one of our own table's files, in the local warehouse.
bool ReadableInPlace(const Lakehouse& lake, const TableInfo& info) {
  if (info.kind == kExternalTable || info.snapshot.data_files.empty() || !lake.warehouse().is_local()) return false;
  std::string root = lake.warehouse().path() + "/";
  for (const auto& file : info.snapshot.data_files) {
    auto uri = StorageUri::Parse(file.path);
    if (!uri.ok() || !uri->is_local() || file.format != "PARQUET") return false;
    const std::string& path = uri->path();
    if (path.rfind(root, 0) != 0 || std::filesystem::path(path).lexically_normal().string() != path) return false;
  }
  return true;
}

Result<OwnedFd> OpenDataFile(const std::string& path) {
  OwnedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return IOError("cannot open data file '", path, "': ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return IOError("data file '", path, "' is not a regular file");
  }
  return fd;
}

// Answers the query worker's one request ("tables {analysis}") with its inputs.
class QueryInputs {
 public:
  QueryInputs(Lakehouse& lake, const QueryRequest& request, const ResolvedRef& ref, std::string prefix)
      : lake_(lake), request_(request), ref_(ref), prefix_(std::move(prefix)) {}

  void Answer(int socket_fd, const std::string& line) {
    if (answered_) {
      (void)SendWithDescriptors(socket_fd, "stop\n", {});
      return;
    }
    answered_ = true;
    status_ = Prepare(line);
    // The inputs' JSON and the first descriptors, then the rest, "fds" at a time; the JSON
    // says how many there are in all.
    std::vector<int> passed;
    for (const auto& file : files_) passed.push_back(file.get());
    for (size_t at = 0; status_.ok() && at < passed.size(); at += kDescriptorsPerMessage) {
      std::vector<int> chunk(passed.begin() + at,
                             passed.begin() + std::min(passed.size(), at + kDescriptorsPerMessage));
      status_ = SendWithDescriptors(socket_fd, at == 0 ? "inputs\n" : "fds\n", chunk);
    }
    if (!status_.ok()) (void)SendWithDescriptors(socket_fd, "stop\n", {});
    files_.clear();
  }

  // The engine's reason to refuse the worker's request, if any.
  const Status& status() const { return status_; }

  // Once the worker is done with the query (answered, crashed, killed): stops the streamed
  // scans (a query may not read a stream to its end: LIMIT) and waits for their threads.
  // The first scan's error, if one failed: it is the query's cause, whatever the worker
  // said of the stream it cut.
  Status FinishStreams() {
    for (auto& stream : streams_) stream->Cancel();
    Status first;
    for (auto& stream : streams_) {
      Status ended = stream->Finish();
      if (first.ok() && !ended.ok()) first = ended;
    }
    streams_.clear();
    return first;
  }

 private:
  Status Prepare(const std::string& line) {
    constexpr std::string_view kTables = "tables ";
    if (line.rfind(kTables, 0) != 0) return Internal("the query worker asked '", line.substr(0, 40), "'");
    SLUICE_ASSIGN_OR_RAISE(SqlAnalysis analysis, SqlAnalysisFromJson(line.substr(kTables.size())));
    json inputs = json::array();
    for (const auto& written : analysis.tables) {
      SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(written, request_.namespace_name));
      SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake_.GetTable(ref_, table));
      SLUICE_ASSIGN_OR_RAISE(std::vector<std::string> columns,
                             WithContext(SqlScanColumns(*info.snapshot.schema, analysis), "table '" + info.name + "'"));
      json spec = {{"sql_names", std::vector<std::string>{written}}};
      if (ReadableInPlace(lake_, info) && files_.size() + info.snapshot.data_files.size() <= kMaxPassedFiles) {
        // The columns' types, for files older than a column: an empty table in the arena.
        SLUICE_ASSIGN_OR_RAISE(auto fields, ResolveColumns(*info.snapshot.schema, columns));
        arrow::FieldVector projected;
        for (const auto& name : fields) projected.push_back(info.snapshot.schema->GetFieldByName(name));
        auto empty = arrow::Table::MakeEmpty(arrow::schema(projected));
        if (!empty.ok()) return Internal("an empty table: ", empty.status().ToString());
        SLUICE_ASSIGN_OR_RAISE(spec["schema"], PassObject(info.name + ".schema", **empty));
        json files = json::array();
        for (const auto& file : info.snapshot.data_files) {
          SLUICE_ASSIGN_OR_RAISE(StorageUri uri, StorageUri::Parse(file.path));
          SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, OpenDataFile(uri.path()));
          files.push_back(Pass(std::move(fd)));
        }
        spec["parquet"] = files;
        // The names too, so that the worker reads the schema (with pyarrow) only for the
        // types of columns the files lack.
        spec["columns"] = fields;
      } else {
        TableReadOptions read;
        read.cache = request_.cache;
        read.columns = columns;
        // The WHERE's conjuncts that a scan can apply (partitions, row-group statistics): a
        // one-day query of a year on S3 reads that day's row groups; DuckDB still filters.
        read.filter = SqlScanFilter(*info.snapshot.schema, analysis, written);
        if (analysis.read_once.count(written) && streams_.size() < kMaxStreamedTables) {
          // Scanned as DuckDB reads it: row groups go from storage (or the column cache)
          // through a socket into the query while later ones are still being fetched.
          SLUICE_ASSIGN_OR_RAISE(auto batches, lake_.ScanTableBatches(ref_, info.name, read));
          SLUICE_ASSIGN_OR_RAISE(
              auto stream,
              BatchStreamWriter::Start(std::move(batches), "table '" + info.name + "' at ref '" + ref_.text + "'"));
          spec["stream"] = Pass(stream->TakeReadEnd());
          streams_.push_back(std::move(stream));
        } else {
          // A table the query may scan twice (a self-join, a CTE used twice): a stream can be
          // read once only, so it is scanned whole into shared memory, which DuckDB re-reads.
          SLUICE_ASSIGN_OR_RAISE(auto data, lake_.ReadTable(ref_, info.name, read));
          SLUICE_ASSIGN_OR_RAISE(spec["arrow"], PassObject(info.name, *data));
        }
      }
      inputs.push_back(std::move(spec));
    }
    json spec = {{"inputs", inputs}, {"descriptors", files_.size()}};
    SLUICE_ASSIGN_OR_RAISE(OwnedFd spec_file, MemoryFile("sluice-query-inputs", spec.dump(), /*seal=*/true));
    files_.insert(files_.begin(), std::move(spec_file));
    return Status::OK();
  }

  // Its index among the descriptors after the inputs' JSON.
  size_t Pass(OwnedFd fd) {
    files_.push_back(std::move(fd));
    return files_.size() - 1;
  }

  Result<size_t> PassObject(const std::string& name, const arrow::Table& table) {
    SLUICE_ASSIGN_OR_RAISE(std::string path, lake_.objects().Put(prefix_ + name, table));
    // Where it lives now: another run's object asking for room may have spilled it already.
    SLUICE_ASSIGN_OR_RAISE(OwnedFd fd, lake_.objects().OpenForReader(path));
    return Pass(std::move(fd));
  }

  Lakehouse& lake_;
  const QueryRequest& request_;
  const ResolvedRef& ref_;
  std::string prefix_;
  bool answered_ = false;
  Status status_;
  std::vector<OwnedFd> files_;  // what goes to the worker, the inputs' JSON first once prepared
  // Streamed tables' writers; their destructors cancel and join them on any path out.
  std::vector<std::unique_ptr<BatchStreamWriter>> streams_;
};

Status ResultStatus(const std::string& text, const SubprocessResult& process, const QueryRequest& request) {
  if (process.timed_out) {
    std::ostringstream limit;
    limit << request.timeout_seconds;
    return WithHint(ResourceExceeded("the query ran past its time limit of ", limit.str(), " s and was stopped"),
                    request.timeout_hint);
  }
  json result;
  try {
    result = json::parse(text);
  } catch (const json::exception&) {
    result = nullptr;
  }
  if (!result.is_object()) {
    std::string message = process.stderr_text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.rfind("error: ", 0) == 0) message = message.substr(7);
    if (process.term_signal != 0) {
      return IOError("the query worker was killed by signal ", process.term_signal, " (",
                     ::strsignal(process.term_signal), ")");
    }
    return IOError("query failed: ", message.empty() ? "the query worker ended without a result" : message);
  }
  if (result.value("ok", false)) return Status::OK();
  const json& error = result.contains("error") && result["error"].is_object() ? result["error"] : json::object();
  std::string message = error.value("message", "the query failed");
  if (error.value("parse", false)) {
    int line = error.value("line", 0);
    return line > 0 ? InvalidInput("line ", line, ": ", message) : InvalidInput(message);
  }
  return InvalidInput("query failed: ", message);
}

// The printed lines of a tty or json answer, from the worker's output file, to `on_line`.
Status SendLines(int output_fd, const std::function<void(const std::string&)>& on_line) {
  SLUICE_ASSIGN_OR_RAISE(std::string text, ReadWrittenFile(output_fd, kMaxPrintedBytes, "the query's printed rows"));
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    on_line(text.substr(start, end - start));
  }
  if (start < text.size()) on_line(text.substr(start));
  return Status::OK();
}

// The principal's persistent worker, when this is a server (a pool of zygotes, the zygote
// serving) and the worker is free; an empty lease otherwise.
QueryWorkerPool::Lease LeaseWorker(Lakehouse& lake, const QueryRequest& request, ZygotePool* zygotes,
                                   QueryWorkerPool* workers) {
  if (!workers || !ServingQueryZygote(zygotes)) return {};
  auto lease = workers->Acquire(
      request.principal, [&](const SubprocessOptions& output) { return ForkFromQueryZygote(lake, zygotes, output); });
  // A worker that cannot be started: the query gets one of its own, which says why if it fails too.
  return lease.ok() ? std::move(*lease) : QueryWorkerPool::Lease();
}

}  // namespace

Status RunQuery(Lakehouse& lake, const QueryRequest& request, const std::function<void(const std::string&)>& on_line,
                ZygotePool* zygotes, QueryWorkerPool* workers) {
  if (request.sql.empty()) return InvalidInput("no query: pass SQL as an argument or a file with -f");
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake.catalog().Resolve(request.ref));
  QueryWorkerPool::Lease lease = LeaseWorker(lake, request, zygotes, workers);
  // Whatever the query's outcome, once its worker has ended: a server with no query zygote
  // yet starts it for the next queries (StartQueryZygoteLater).
  struct WarmLater {
    Lakehouse& lake;
    ZygotePool* zygotes;
    ~WarmLater() { StartQueryZygoteLater(lake, zygotes); }
  } warm_later{lake, zygotes && !zygotes->Find(QueryZygoteKey()) ? zygotes : nullptr};

  std::string prefix = "queries/" + NewShortId(12) + "/";
  // Whatever happens from here on, the query's objects go back to the store.
  struct Release {
    Lakehouse& lake;
    const std::string& prefix;
    ~Release() { (void)lake.objects().ReleaseAll(prefix); }
  } release{lake, prefix};

  json task = {{"kind", "query"},          {"sql", request.sql},
               {"inputs", json::array()},  {"max_rows", request.max_rows ? json(*request.max_rows) : json(nullptr)},
               {"output", request.output}, {"persistent", static_cast<bool>(lease)}};
  SLUICE_ASSIGN_OR_RAISE(OwnedFd task_file, MemoryFile("sluice-query", task.dump(), /*seal=*/true));
  SLUICE_ASSIGN_OR_RAISE(OwnedFd result_file, MemoryFile("sluice-query-result"));
  OwnedFd output_file;
  bool printed = request.output != "arrow" && request.output != "arrow_stream";
  if (!printed) {
    if (request.output_fd < 0) return InvalidInput("an Arrow query answer needs the file to write it into");
    output_file = OwnedFd(::dup(request.output_fd));
    if (output_file.get() < 0) return IOError("cannot pass the query's answer file: ", std::strerror(errno));
  } else {
    SLUICE_ASSIGN_OR_RAISE(output_file, MemoryFile("sluice-query-output"));
  }
  std::vector<int> task_fds = {task_file.get(), result_file.get(), output_file.get()};

  QueryInputs inputs(lake, request, ref, prefix);
  auto answer = [&](int socket_fd, const std::string& line) { inputs.Answer(socket_fd, line); };
  SubprocessResult process;
  if (lease) {
    SLUICE_ASSIGN_OR_RAISE(auto ended, lease.get()->Serve(task_fds, answer, request.timeout_seconds));
    if (ended) process = std::move(*ended);
  } else {
    SubprocessOptions output;
    output.argv = {"sluice query worker"};              // how errors name it
    output.on_stdout_line = [](const std::string&) {};  // the rows come in the output file
    SLUICE_ASSIGN_OR_RAISE(auto worker, StartQueryWorker(lake, zygotes, std::move(output)));
    // Counted from Wait, once the task is sent. Set here: a worker forked ahead was started
    // with options of its own.
    worker->SetTimeout(request.timeout_seconds);
    SLUICE_RETURN_NOT_OK(worker->SendStdin("task\n", task_fds));
    worker->OnStdinLine(answer);
    SLUICE_ASSIGN_OR_RAISE(process, worker->Wait());
  }
  task_file = OwnedFd();
  Status streamed = inputs.FinishStreams();
  if (process.timed_out) return ResultStatus("", process, request);
  SLUICE_RETURN_NOT_OK(inputs.status());
  SLUICE_RETURN_NOT_OK(streamed);
  SLUICE_ASSIGN_OR_RAISE(std::string text, ReadWrittenFile(result_file.get(), kMaxResultBytes, "the query's result"));
  SLUICE_RETURN_NOT_OK(ResultStatus(text, process, request));
  return printed ? SendLines(output_file.get(), on_line) : Status::OK();
}

void WarmUpQueryWorkers(Lakehouse& lake, ZygotePool* zygotes) {
  if (zygotes && ZygotePool::Enabled()) (void)QueryZygote(lake, zygotes);
}

}  // namespace sluice
