#include "data/batch_stream_writer.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <arrow/io/interfaces.h>
#include <arrow/ipc/writer.h>

namespace sluice {
namespace {

// What the socket may hold ahead of the consumer: a few batches, so that the scan and DuckDB
// overlap, while memory stays bounded (the kernel caps it at net.core.wmem_max).
constexpr int kSocketBuffer = 4 << 20;
// Writes smaller than this (IPC metadata, padding, small buffers) are gathered into one send;
// larger ones, a column's data, go from where they are: copying table data here would be a
// second copy of everything streamed.
constexpr int64_t kGatheredWrite = 64 << 10;

// The socket as an Arrow output stream: blocking writes that a cancel wakes, and a consumer's
// close seen as EPIPE, with no SIGPIPE. Arrow's IPC writer writes each buffer of a batch by
// itself: small writes are gathered and go out at Flush or before the next large one.
class SocketOutputStream : public arrow::io::OutputStream {
 public:
  SocketOutputStream(int fd, int cancel_fd) : fd_(fd), cancel_fd_(cancel_fd) {}

  arrow::Status Write(const void* data, int64_t nbytes) override {
    position_ += nbytes;
    if (nbytes >= kGatheredWrite) {
      ARROW_RETURN_NOT_OK(Flush());
      return Send(static_cast<const char*>(data), nbytes);
    }
    pending_.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
    if (static_cast<int64_t>(pending_.size()) >= kGatheredWrite) return Flush();
    return arrow::Status::OK();
  }

  arrow::Status Flush() override {
    std::string pending;
    pending.swap(pending_);
    return Send(pending.data(), static_cast<int64_t>(pending.size()));
  }

  // What was not flushed is dropped: Run flushes what must go out.
  arrow::Status Close() override {
    closed_ = true;
    pending_.clear();
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

  bool reader_closed() const { return reader_closed_; }
  bool cancelled() const { return cancelled_; }

 private:
  arrow::Status Send(const char* at, int64_t nbytes) {
    while (nbytes > 0) {
      ssize_t n = ::send(fd_, at, static_cast<size_t>(nbytes), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        at += n;
        nbytes -= n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        reader_closed_ = true;
        return arrow::Status::IOError("the reader closed its end");
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        return arrow::Status::IOError("cannot write to the stream's socket: ", std::strerror(errno));
      }
      // Full: wait for room, or for the cancel.
      pollfd fds[2] = {{fd_, POLLOUT, 0}, {cancel_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
        return arrow::Status::IOError("cannot wait on the stream's socket: ", std::strerror(errno));
      }
      if (fds[1].revents & POLLIN) {
        cancelled_ = true;
        return arrow::Status::Cancelled("the stream was cancelled");
      }
      // POLLERR/POLLHUP on our end: the next send says EPIPE.
    }
    return arrow::Status::OK();
  }

  int fd_;
  int cancel_fd_;
  std::string pending_;
  int64_t position_ = 0;
  bool closed_ = false;
  bool reader_closed_ = false;
  bool cancelled_ = false;
};

bool IsCancelled(int cancel_fd) {
  pollfd fd = {cancel_fd, POLLIN, 0};
  return ::poll(&fd, 1, 0) > 0 && (fd.revents & POLLIN);
}

// A message prefix that promises bytes that never come: the consumer's reader fails
// ("expected to read ...") instead of taking the end of the socket for the end of a stream
// that was cut, which Arrow's stream reader would (at a message boundary). It waits for room
// like any write (a consumer that stopped reading, or a cancel, ends the wait).
void CutStream(SocketOutputStream& socket) {
  const uint32_t prefix[2] = {0xFFFFFFFFu, 1u << 20};
  (void)socket.Flush();  // whatever whole messages were gathered, then the cut
  if (socket.Write(prefix, sizeof(prefix)).ok()) (void)socket.Flush();
}

}  // namespace

Result<std::unique_ptr<BatchStreamWriter>> BatchStreamWriter::Start(std::shared_ptr<arrow::RecordBatchReader> batches,
                                                                    std::string what) {
  if (!batches) return Internal("a stream of no batches: ", what);
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return IOError("cannot make the socket of ", what, ": ", std::strerror(errno));
  }
  std::unique_ptr<BatchStreamWriter> writer(new BatchStreamWriter());
  writer->read_end_ = OwnedFd(ends[0]);
  writer->write_end_ = OwnedFd(ends[1]);
  // The reader only reads: its end's writes would go nowhere.
  ::shutdown(ends[0], SHUT_WR);
  int size = kSocketBuffer;
  (void)::setsockopt(ends[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  writer->cancel_ = OwnedFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (writer->cancel_.get() < 0) return IOError("cannot make the cancel event of ", what, ": ", std::strerror(errno));
  writer->batches_ = std::move(batches);
  writer->what_ = std::move(what);
  writer->thread_ = std::thread([w = writer.get()] { w->Run(); });
  return writer;
}

BatchStreamWriter::~BatchStreamWriter() {
  Cancel();
  (void)Finish();
}

OwnedFd BatchStreamWriter::TakeReadEnd() { return std::move(read_end_); }

void BatchStreamWriter::Cancel() {
  if (cancel_.get() < 0) return;
  uint64_t one = 1;
  (void)!::write(cancel_.get(), &one, sizeof(one));
}

Status BatchStreamWriter::Finish() {
  if (!joined_ && thread_.joinable()) thread_.join();
  joined_ = true;
  return status_;
}

void BatchStreamWriter::Run() {
  // Named, so that `top -H` (and the tests, which look for leftovers) can tell it apart.
  ::pthread_setname_np(::pthread_self(), "sluice-stream");
  auto socket = std::make_shared<SocketOutputStream>(write_end_.get(), cancel_.get());
  Status status;
  auto finish = [&](Ended ended, Status st) {
    ended_ = ended;
    status = std::move(st);
  };
  [&] {
    auto writer = arrow::ipc::MakeStreamWriter(socket, batches_->schema());
    // A write's failure: the consumer's close or a cancel end the stream quietly.
    auto failed = [&](const Status& st) {
      if (socket->reader_closed()) return finish(Ended::kReaderClosed, Status::OK());
      if (socket->cancelled()) return finish(Ended::kCancelled, Status::OK());
      finish(Ended::kWriteFailed, st);
    };
    if (!writer.ok()) return failed(writer.status());
    // The schema goes out before the first batch is read (from storage), so the consumer
    // opens the stream and plans its query meanwhile. Arrow's writer sends it with the first
    // batch only: an empty batch, which changes no answer, makes it go now.
    auto empty = arrow::RecordBatch::MakeEmpty(batches_->schema());
    Status started = empty.ok() ? (*writer)->WriteRecordBatch(**empty) : empty.status();
    if (started.ok()) started = socket->Flush();
    if (!started.ok()) return failed(started);
    while (true) {
      if (IsCancelled(cancel_.get())) return finish(Ended::kCancelled, Status::OK());
      std::shared_ptr<arrow::RecordBatch> batch;
      Status read = batches_->ReadNext(&batch);
      if (!read.ok()) return finish(Ended::kBatchesFailed, read);
      if (!batch) break;
      Status wrote = (*writer)->WriteRecordBatch(*batch);
      // Sent now, not when the buffer fills: the consumer computes on each batch as it comes.
      if (wrote.ok()) wrote = socket->Flush();
      if (!wrote.ok()) return failed(wrote);
      ++batches_written_;
      rows_written_ += batch->num_rows();
    }
    Status closed = (*writer)->Close();  // the end-of-stream marker
    if (closed.ok()) closed = socket->Flush();
    if (!closed.ok()) return failed(closed);
    finish(Ended::kComplete, Status::OK());
  }();
  if (ended_ == Ended::kBatchesFailed || ended_ == Ended::kWriteFailed) {
    CutStream(*socket);
    status_ = Status(status.code(), what_ + ": " + status.message());
  }
  // The scan ends here, on this thread, whatever the consumer does next; then the consumer
  // sees the end of the socket.
  (void)batches_->Close();
  batches_.reset();
  write_end_ = OwnedFd();
}

}  // namespace sluice
