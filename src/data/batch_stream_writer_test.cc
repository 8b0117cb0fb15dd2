#include "data/batch_stream_writer.h"

#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/test_util.h"

namespace sluice {
namespace {

// `count` batches of `rows` int64s (0, 1, 2, ... across batches), then the end; or, with
// `fail_after` >= 0, an IOError in place of batch number `fail_after`.
class CountingBatches : public arrow::RecordBatchReader {
 public:
  CountingBatches(int count, int64_t rows, int fail_after = -1) : count_(count), rows_(rows), fail_after_(fail_after) {}
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    batch->reset();
    if (made_ == fail_after_) return arrow::Status::IOError("storage went away");
    if (made_ == count_) return arrow::Status::OK();
    arrow::Int64Builder values;
    ARROW_RETURN_NOT_OK(values.Reserve(rows_));
    for (int64_t i = 0; i < rows_; ++i) values.UnsafeAppend(made_ * rows_ + i);
    ARROW_ASSIGN_OR_RAISE(auto array, values.Finish());
    *batch = arrow::RecordBatch::Make(schema_, rows_, {array});
    ++made_;
    return arrow::Status::OK();
  }
  int made() const { return made_; }

 private:
  std::shared_ptr<arrow::Schema> schema_ = arrow::schema({arrow::field("Value", arrow::int64())});
  int count_;
  int64_t rows_;
  int fail_after_;
  int made_ = 0;
};

// Everything the consumer's end yields until the writer closes its end.
std::string ReadAll(int fd) {
  std::string out;
  char buffer[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

// The bytes as an Arrow IPC stream: the rows, or the reader's error.
Result<int64_t> RowsOfStream(const std::string& bytes) {
  auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes));
  SLUICE_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(input));
  SLUICE_ASSIGN_OR_RAISE(auto table, reader->ToTable());
  return table->num_rows();
}

// Runs with SIGPIPE's default action (killing the process), as a server would if nothing
// ignored it: the writer must never raise it.
class BatchStreamWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { previous_ = ::signal(SIGPIPE, SIG_DFL); }
  void TearDown() override { ::signal(SIGPIPE, previous_); }
  sighandler_t previous_;
};

TEST_F(BatchStreamWriterTest, WritesEveryBatchThenTheEnd) {
  auto batches = std::make_shared<CountingBatches>(20, 1000);
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "table 't'"));
  OwnedFd read_end = writer->TakeReadEnd();
  ASSERT_GE(read_end.get(), 0);
  std::string bytes = ReadAll(read_end.get());
  ASSERT_OK(writer->Finish());
  EXPECT_EQ(writer->ended(), BatchStreamWriter::Ended::kComplete);
  EXPECT_EQ(writer->rows_written(), 20000);
  ASSERT_OK_AND_ASSIGN(int64_t rows, RowsOfStream(bytes));
  EXPECT_EQ(rows, 20000);
}

TEST_F(BatchStreamWriterTest, TheSchemaComesBeforeTheFirstBatch) {
  // Batches that never come (the first is still being read from storage): the consumer can
  // already open the stream and plan.
  class Stalled : public CountingBatches {
   public:
    Stalled() : CountingBatches(1, 1) {}
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return CountingBatches::ReadNext(batch);
    }
  };
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(std::make_shared<Stalled>(), "t"));
  OwnedFd read_end = writer->TakeReadEnd();
  pollfd fd = {read_end.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&fd, 1, 200), 1) << "nothing to read before the first batch";
  ASSERT_OK(writer->Finish());
}

TEST_F(BatchStreamWriterTest, AReaderThatClosesEarlyEndsItQuietly) {
  // Far more than the socket holds: the writer is blocked when the reader goes.
  auto batches = std::make_shared<CountingBatches>(1000, 100000);
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "t"));
  OwnedFd read_end = writer->TakeReadEnd();
  char some[4096];
  ASSERT_GT(::read(read_end.get(), some, sizeof(some)), 0);
  read_end = OwnedFd();
  ASSERT_OK(writer->Finish());  // the process is still here: no SIGPIPE
  EXPECT_EQ(writer->ended(), BatchStreamWriter::Ended::kReaderClosed);
  // It stopped scanning too, long before the end.
  EXPECT_LT(batches->made(), 100);
}

TEST_F(BatchStreamWriterTest, AReaderThatNeverReadsIsCancelledAtOnce) {
  auto batches = std::make_shared<CountingBatches>(1000, 100000);
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "t"));
  OwnedFd read_end = writer->TakeReadEnd();  // held, never read
  // Let it fill the socket and block.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  writer->Cancel();
  ASSERT_OK(writer->Finish());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(writer->ended(), BatchStreamWriter::Ended::kCancelled);
  EXPECT_LT(batches->made(), 1000);
}

TEST_F(BatchStreamWriterTest, DroppedUnfinishedItJoinsItsThread) {
  auto batches = std::make_shared<CountingBatches>(1000, 100000);
  OwnedFd read_end;
  {
    ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "t"));
    read_end = writer->TakeReadEnd();
  }  // no hang: the destructor cancels
  int made = batches->made();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(batches->made(), made) << "still scanning after the writer is gone";
}

TEST_F(BatchStreamWriterTest, AFailedScanIsTheErrorAndTheReaderSeesACutStream) {
  auto batches = std::make_shared<CountingBatches>(10, 1000, /*fail_after=*/3);
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "table 'bauplan.trips' at ref 'main'"));
  OwnedFd read_end = writer->TakeReadEnd();
  std::string bytes = ReadAll(read_end.get());
  Status ended = writer->Finish();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(writer->ended(), BatchStreamWriter::Ended::kBatchesFailed);
  EXPECT_TRUE(ended.IsIOError()) << ended.ToString();
  EXPECT_EQ(ended.message(), "table 'bauplan.trips' at ref 'main': storage went away");
  // Not a shorter table that looks whole: the consumer's reader fails.
  auto rows = RowsOfStream(bytes);
  EXPECT_FALSE(rows.ok()) << "read " << *rows << " rows of a cut stream as a whole one";
}

TEST_F(BatchStreamWriterTest, AFailureBeforeAnyBatchReachesTheReaderToo) {
  auto batches = std::make_shared<CountingBatches>(10, 1000, /*fail_after=*/0);
  ASSERT_OK_AND_ASSIGN(auto writer, BatchStreamWriter::Start(batches, "t"));
  OwnedFd read_end = writer->TakeReadEnd();
  std::string bytes = ReadAll(read_end.get());
  EXPECT_FALSE(writer->Finish().ok());
  EXPECT_FALSE(RowsOfStream(bytes).ok());
}

}  // namespace
}  // namespace sluice
