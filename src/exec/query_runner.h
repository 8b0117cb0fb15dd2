// Ad-hoc SQL over the lake (`sluice query`, the SDK, the server). A query worker (a sandboxed
// Python with DuckDB: python/sluice/_query.py) parses the SQL and asks for the tables it
// names; each comes as the table's own Parquet data files, by descriptor, which DuckDB reads
// with its own filter and projection pushdown (local warehouse tables), or else scanned here
// with column and row-group pushdown: streamed batch by batch into a socket DuckDB reads as
// the scan goes (data/batch_stream_writer.h) when the SQL reads the table once, scanned whole
// into shared memory when it reads it more than once (S3, external tables). With a zygote pool (a
// server's), the worker is a fork of a warm DuckDB zygote: no interpreter start-up per query;
// with a pool of persistent workers too, the principal's worker serves query after query in
// one warm DuckDB database.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "exec/lakehouse.h"

namespace sluice {

class QueryWorkerPool;
class ZygotePool;

struct QueryRequest {
  std::string sql;
  std::string ref;                         // required
  std::string namespace_name = "bauplan";  // of bare table names
  std::optional<int64_t> max_rows;         // none = all; the rest is counted, never held
  // tty, json (lines to on_line), arrow (an IPC file) or arrow_stream (an IPC stream, written
  // batch by batch and ended at max_rows); both Arrow kinds into output_fd, from its start.
  std::string output = "tty";
  int output_fd = -1;  // with an Arrow output: the caller's file, left open
  bool cache = true;   // false: scans bypass the column cache
  // Whose query this is: the API key's id, empty for the data home's owner. A server's
  // persistent query worker serves one principal only (exec/query_worker_pool.h).
  std::string principal;
  // The query's time limit, from when its worker gets it; 0: none. Past it the worker is
  // killed (its process group) and the query fails (ResourceExceeded naming the limit).
  double timeout_seconds = 0;
  // Said in that error, on how to change the limit.
  std::string timeout_hint;
};

// InvalidInput "line N: ..." when DuckDB cannot parse the SQL or it is not one query;
// InvalidInput "query failed: <DuckDB's message>" when it fails to run; NotFound for an
// unknown table; IOError naming the worker's end when it was killed or crashed mid-query;
// ResourceExceeded "... time limit of N s ..." when it ran past request.timeout_seconds (its
// worker is gone then, and the objects it was handed released).
// `zygotes` may be null (a one-shot CLI): the worker is then a fresh process. With `workers`
// (a server), the query runs in its principal's persistent worker when that one is free, else
// in a worker forked for it alone. Until the query zygote serves, a query gets a fresh worker
// (which imports DuckDB only); when the zygote has not been started at all, it is started in
// the background once this query's worker has ended, never before (a server's first query).
Status RunQuery(Lakehouse& lake, const QueryRequest& request, const std::function<void(const std::string&)>& on_line,
                ZygotePool* zygotes = nullptr, QueryWorkerPool* workers = nullptr);

// Starts the query zygote of `lake` in `zygotes` (its imports go on in the background), so
// that a server's first query finds DuckDB loaded. Best effort.
void WarmUpQueryWorkers(Lakehouse& lake, ZygotePool* zygotes);

}  // namespace sluice
