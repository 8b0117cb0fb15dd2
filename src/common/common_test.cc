#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <sstream>

#include "common/file_util.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "common/test_util.h"

namespace sluice {

TEST(StatusTest, KindAndContextSurviveTheTrip) {
  Status st = NotFound("table 'bauplan.trips' not found");
  EXPECT_EQ(KindOf(st), ErrorKind::kNotFound);
  Status wrapped = WithContext(WithHint(st, "run sluice table ls"), "model 'clean'");
  EXPECT_EQ(wrapped.message(), "model 'clean': table 'bauplan.trips' not found");
  EXPECT_EQ(KindOf(wrapped), ErrorKind::kNotFound);
  EXPECT_EQ(HintOf(wrapped), "run sluice table ls");
  EXPECT_EQ(KindOf(arrow::Status::IOError("x")), ErrorKind::kIOError);
  EXPECT_EQ(KindOf(Status::OK()), ErrorKind::kOk);
}

TEST(HashTest, Sha256OfKnownInput) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(IdsTest, UuidShapeAndUniqueness) {
  std::string a = NewUuid(), b = NewUuid();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(a, b);
  EXPECT_GT(NewSnapshotId(), 0);
  EXPECT_EQ(NewShortId(10).size(), 10u);
}

TEST(FileUtilTest, AtomicWriteThenRead) {
  std::string dir = ::testing::TempDir() + "/sluice_common_" + NewShortId();
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/a.txt", "hello").ok());
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFile(dir + "/a.txt"));
  EXPECT_EQ(text, "hello");
  EXPECT_EQ(KindOf(ReadFile(dir + "/missing").status()), ErrorKind::kNotFound);
  ASSERT_TRUE(RemoveAll(dir).ok());
  EXPECT_FALSE(PathExists(dir));
}

TEST(SubprocessTest, CollectsOutputExitCodeAndStdin) {
  SubprocessOptions options;
  options.argv = {"sh", "-c", "cat; echo err >&2; exit 3"};
  options.stdin_data = "from stdin";
  ASSERT_OK_AND_ASSIGN(auto result, RunSubprocess(options));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.stdout_text, "from stdin");
  EXPECT_EQ(result.stderr_text, "err\n");
}

TEST(SubprocessTest, StreamsLinesAndTimesOut) {
  std::vector<std::string> lines;
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo one; echo two; sleep 5"};
  options.on_stdout_line = [&](const std::string& line) { lines.push_back(line); };
  options.timeout_seconds = 0.5;
  ASSERT_OK_AND_ASSIGN(auto result, RunSubprocess(options));
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST(SubprocessTest, AnswersTheChildsRequestsOnItsStdinSocket) {
  SubprocessOptions options;
  // Two requests on stdin (a socket both ways), each answer read back and printed.
  options.argv = {"sh", "-c", "echo ask one >&0; read a; echo ask two >&0; read b; echo \"$a $b\""};
  options.stdin_socket = true;
  ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start(options));
  std::vector<std::string> asked;
  child->OnStdinLine([&](int socket_fd, const std::string& line) {
    asked.push_back(line);
    ASSERT_TRUE(SendWithDescriptors(socket_fd, "answer-" + std::to_string(asked.size()) + "\n", {}).ok());
  });
  ASSERT_OK_AND_ASSIGN(auto result, child->Wait());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(asked, (std::vector<std::string>{"ask one", "ask two"}));
  EXPECT_EQ(result.stdout_text, "answer-1 answer-2\n");
}

TEST(SubprocessTest, ALineAfterTheChildsOutputClosedIsNotARequest) {
  // As a zygote's fork: once the worker's output has closed, the zygote sends "exit ..." on
  // the same connection, for the reaper. Read as a request, it was lost and the reaper hung.
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo ask >&0; read answer; exec >&- 2>&-; sleep 0.1; echo exit 0 0 >&0"};
  options.stdin_socket = true;
  ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start(options));
  std::vector<std::string> asked;
  child->OnStdinLine([&](int socket_fd, const std::string& line) {
    asked.push_back(line);
    ASSERT_TRUE(SendWithDescriptors(socket_fd, "answer\n", {}).ok());
    // Busy while the child closes its output and the "exit" line arrives.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  });
  ASSERT_OK_AND_ASSIGN(auto result, child->Wait());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(asked, (std::vector<std::string>{"ask"}));
}

TEST(SubprocessTest, TheChildGetsOnlyTheDescriptorsItIsGiven) {
  int leaked[2], given[2];
  ASSERT_EQ(::pipe(leaked), 0);  // without O_CLOEXEC, as careless code opens them
  ASSERT_EQ(::pipe(given), 0);
  SubprocessOptions options;
  options.argv = {"sh", "-c", "ls /proc/self/fd"};
  options.inherit_fds = {given[0]};
  ASSERT_OK_AND_ASSIGN(auto result, RunSubprocess(options));
  // 0, 1, 2, the given one as 3, and the descriptor ls reads /proc/self/fd through.
  std::istringstream listed(result.stdout_text);
  std::vector<int> fds;
  for (int fd; listed >> fd;) fds.push_back(fd);
  EXPECT_LE(fds.size(), 5u) << result.stdout_text;
  for (int fd : fds) EXPECT_TRUE(fd <= 3 || fd == fds.back()) << result.stdout_text;
  for (int fd : {leaked[0], leaked[1], given[0], given[1]}) ::close(fd);
}

TEST(SubprocessTest, MissingProgramIsAnError) {
  SubprocessOptions options;
  options.argv = {"/nonexistent/program"};
  EXPECT_FALSE(RunSubprocess(options).ok());
}

}  // namespace sluice
