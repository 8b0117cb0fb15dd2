// Writes a stream of record batches (a scan, data/table_scanner.h: ScanTableBatches) as an
// Arrow IPC stream into one end of a Unix socket pair, on a thread of its own, a batch at a
// time as the batches come: the process holding the other end (a query worker's DuckDB)
// computes while the scan is still reading storage, and neither side holds the whole table.
//
// The consumer is not trusted to read: a full socket blocks only this writer's thread, and
// Cancel wakes it at once; a consumer that closes its end (a query that needed only the first
// rows, a worker that crashed or was killed) ends the stream with EPIPE, never a SIGPIPE
// (writes use MSG_NOSIGNAL). The thread is always joined: by Finish, or by the destructor.
//
// Thread-safety: Cancel may be called from any thread; the rest from one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <arrow/api.h>

#include "common/memory_file.h"
#include "common/status.h"

namespace sluice {

class BatchStreamWriter {
 public:
  // How the writing ended, once Finish has returned.
  enum class Ended {
    kComplete,       // every batch written, then the end-of-stream marker
    kReaderClosed,   // the consumer closed its end first (EPIPE): nothing more was read
    kCancelled,      // Cancel (or the destructor) stopped it
    kBatchesFailed,  // the batches' reader failed (Finish returns its error)
    kWriteFailed,    // the socket failed otherwise (Finish returns the error)
  };

  // Makes the socket pair and starts writing `batches` (their schema first) into it. The
  // consumer's end is taken with TakeReadEnd; this process must not keep a copy of it, or a
  // consumer that goes away would never be noticed. `what` names the stream in errors.
  static Result<std::unique_ptr<BatchStreamWriter>> Start(std::shared_ptr<arrow::RecordBatchReader> batches,
                                                          std::string what);
  // Cancels, then joins the thread.
  ~BatchStreamWriter();
  BatchStreamWriter(const BatchStreamWriter&) = delete;
  BatchStreamWriter& operator=(const BatchStreamWriter&) = delete;

  // The consumer's end (blocking, close-on-exec); invalid after the first call.
  OwnedFd TakeReadEnd();

  // Stops the writing: a write waiting for the consumer returns at once; a batch being read
  // (from storage) is read to its end first. Idempotent.
  void Cancel();

  // Waits for the thread, then: OK when the stream was complete, cut by the consumer or
  // cancelled (ended() says which); the batches' error or the socket's otherwise, prefixed
  // with `what`. Idempotent.
  Status Finish();
  Ended ended() const { return ended_; }
  // Batches and rows written so far (approximate while the thread runs).
  int64_t batches_written() const { return batches_written_.load(); }
  int64_t rows_written() const { return rows_written_.load(); }

 private:
  BatchStreamWriter() = default;
  void Run();

  std::shared_ptr<arrow::RecordBatchReader> batches_;  // the thread's only, once started
  std::string what_;
  OwnedFd write_end_;  // non-blocking; the thread's
  OwnedFd read_end_;   // until taken
  OwnedFd cancel_;     // an eventfd: readable once cancelled
  std::thread thread_;
  bool joined_ = false;
  Status status_;                   // the thread's result; read after the join
  Ended ended_ = Ended::kComplete;  // likewise
  std::atomic<int64_t> batches_written_{0};
  std::atomic<int64_t> rows_written_{0};
};

}  // namespace sluice
