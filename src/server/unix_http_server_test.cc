#include "server/unix_http_server.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

// A raw client: the bytes on the wire are what is under test.
int Connect(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` and reads one whole response (by Content-Length, or to the last chunk).
std::string Exchange(int fd, const std::string& request) {
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::string out;
  char buffer[4096];
  while (true) {
    size_t head = out.find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t length = out.find("Content-Length: ");
      if (length != std::string::npos && length < head) {
        size_t body = std::stoul(out.substr(length + 16));
        if (out.size() >= head + 4 + body) return out;
      } else if (out.find("0\r\n\r\n", head) != std::string::npos) {
        return out;
      }
    }
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

class UnixHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-uhs-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
    path_ = dir_ + "/server.sock";
    ASSERT_OK_AND_ASSIGN(server_, UnixHttpServer::Bind(path_, [](const RestRequest& request) {
      ApiResponse response;
      if (request.path == "/stream") {
        response.content_type = "application/x-ndjson";
        response.stream = [](const ChunkWriter& write) {
          write("{\"n\":1}\n");
          write("{\"n\":2}\n");
        };
        return response;
      }
      nlohmann::json query = request.query;
      response.body = nlohmann::json{{"echo", {{"method", request.method}, {"path", request.path},
                                               {"query", query}, {"body", request.body}}}}.dump();
      return response;
    }));
    serving_ = std::thread([this] { server_->Serve(); });
    for (int i = 0; i < 200; ++i) {
      int fd = Connect(path_);
      if (fd >= 0) {
        ::close(fd);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void TearDown() override {
    server_->Stop(1);
    serving_.join();
    server_.reset();
    ASSERT_OK(RemoveAll(dir_));
  }
  std::string dir_, path_;
  std::unique_ptr<UnixHttpServer> server_;
  std::thread serving_;
};

TEST_F(UnixHttpServerTest, SocketIsOwnerOnly) {
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(UnixHttpServerTest, DecodesRequestsAndKeepsTheConnectionAlive) {
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  std::string first = Exchange(fd, "GET /api/v1/jobs?user=al%20ice&kind=table-import HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(first.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(first.find("\"user\":\"al ice\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"kind\":\"table-import\""), std::string::npos);
  EXPECT_NE(first.find("Connection: keep-alive"), std::string::npos);
  // Same connection: a POST with a body, then a chunked body.
  std::string second = Exchange(fd, "POST /x HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  EXPECT_NE(second.find("\"body\":\"{\\\"a\\\":1}\""), std::string::npos) << second;
  std::string third =
      Exchange(fd, "POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(third.find("\"body\":\"abcde\""), std::string::npos) << third;
  ::close(fd);
  // The count drops just after the answer is written, so give it a moment.
  for (int i = 0; i < 100 && server_->in_flight() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(UnixHttpServerTest, StreamsInChunks) {
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  std::string answer = Exchange(fd, "GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(answer.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(answer.find("8\r\n{\"n\":1}\n\r\n8\r\n{\"n\":2}\n\r\n0\r\n\r\n"), std::string::npos) << answer;
  ::close(fd);
}

TEST_F(UnixHttpServerTest, MalformedRequestsGetAnErrorNotACrash) {
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  std::string answer = Exchange(fd, "NONSENSE\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;
  ::close(fd);
  fd = Connect(path_);
  ASSERT_GE(fd, 0);
  answer = Exchange(fd, "POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos) << answer;
  ::close(fd);
  fd = Connect(path_);
  ASSERT_GE(fd, 0);
  answer = Exchange(fd, "GET /" + std::string(70 * 1024, 'a'));
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos);
  ::close(fd);
}

TEST_F(UnixHttpServerTest, StopRemovesTheSocket) {
  server_->Stop(1);
  struct stat info {};
  EXPECT_NE(::stat(path_.c_str(), &info), 0);
  EXPECT_LT(Connect(path_), 0);
}

TEST(UnixHttpServerBind, RefusesAPathTooLongForASocket) {
  auto bound = UnixHttpServer::Bind("/tmp/" + std::string(200, 'x'), nullptr);
  EXPECT_EQ(KindOf(bound.status()), ErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace sluice
