#include "exec/query_worker.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>

namespace sluice {
namespace {

// Lines of the worker's stderr kept to explain its end (a traceback's last lines).
constexpr size_t kStderrLinesKept = 20;

}  // namespace

Result<std::unique_ptr<QueryWorker>> QueryWorker::Start(const ForkFn& fork) {
  std::unique_ptr<QueryWorker> worker(new QueryWorker());
  QueryWorker* self = worker.get();
  SubprocessOptions output;
  output.argv = {"sluice query worker"};  // how errors name it
  // A query worker prints nothing of a query's: rows go to the task's output file.
  output.on_stdout_line = [](const std::string&) {};
  output.on_stderr_line = [self](const std::string& line) { self->KeepStderr(line); };
  SLUICE_ASSIGN_OR_RAISE(worker->process_, fork(output));
  worker->pid_ = worker->process_->pid();
  worker->socket_ = OwnedFd(worker->process_->DupStdin());
  if (worker->socket_.get() < 0) return IOError("the query worker has no socket to send tasks on");
  worker->process_->OnStdinLine([self](int socket_fd, const std::string& line) { self->OnLine(socket_fd, line); });
  worker->pump_ = std::thread([self] { self->Pump(); });
  return worker;
}

QueryWorker::~QueryWorker() {
  if (pump_.joinable()) {
    bool ended;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ended = ended_;
    }
    if (!ended) Kill();
    pump_.join();
  }
}

void QueryWorker::Kill() const {
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
}

bool QueryWorker::alive() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !ended_ && ::kill(pid_, 0) == 0;
}

void QueryWorker::KeepStderr(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  stderr_tail_.push_back(line);
  if (stderr_tail_.size() > kStderrLinesKept) stderr_tail_.pop_front();
}

void QueryWorker::OnLine(int socket_fd, const std::string& line) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (serving_ && !done_) {
    if (line == "done") {
      done_ = true;
      changed_.notify_all();
      return;
    }
    // The handler runs unlocked: it reads the catalog and may take a while. Serve keeps
    // on_request_ until done_ or ended_, both set on this thread.
    auto handler = on_request_;
    lock.unlock();
    handler(socket_fd, line);
    return;
  }
  // A line no task asked for: this is not the worker we started any more.
  Kill();
}

void QueryWorker::Pump() {
  auto waited = process_->Wait();
  std::lock_guard<std::mutex> lock(mutex_);
  ended_ = true;
  if (waited.ok()) end_ = std::move(*waited);
  if (!waited.ok()) end_.stderr_text = waited.status().message();
  for (const auto& line : stderr_tail_) end_.stderr_text += line + "\n";
  changed_.notify_all();
}

Result<std::optional<SubprocessResult>> QueryWorker::Serve(
    const std::vector<int>& task_fds, const std::function<void(int, const std::string&)>& on_request,
    double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ended_) return std::optional<SubprocessResult>(end_);
  on_request_ = on_request;
  serving_ = true;
  done_ = false;
  bool timed_out = false;
  Status sent = SendWithDescriptors(socket_.get(), "task\n", task_fds);
  if (!sent.ok()) {
    // A worker that cannot take its task is of no use: it goes, and the next query gets another.
    Kill();
  } else if (timeout_seconds > 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    if (!changed_.wait_until(lock, deadline, [&] { return done_ || ended_; })) {
      // Past the query's time limit: whatever it runs is abandoned with its worker.
      timed_out = true;
      Kill();
    }
  }
  // Until it says done or has ended (and been reaped: nothing of it runs any more).
  changed_.wait(lock, [&] { return (done_ && !timed_out) || ended_; });
  serving_ = false;
  on_request_ = nullptr;
  if (done_ && !timed_out) return std::optional<SubprocessResult>();
  SubprocessResult end = end_;
  end.timed_out = timed_out;
  return std::optional<SubprocessResult>(std::move(end));
}

}  // namespace sluice
