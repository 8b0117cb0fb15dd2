#include "server/unix_http_server.h"
#include "server/unix_socket_address.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

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
    ASSERT_OK_AND_ASSIGN(
        server_,
        UnixHttpServer::Bind(
            path_,
            [](const RestRequest& request) {
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
              response.body =
                  nlohmann::json{
                      {"echo",
                       {{"method", request.method}, {"path", request.path}, {"query", query}, {"body", request.body}}}}
                      .dump();
              return response;
            },
            Limits()));
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
  virtual UnixHttpServer::Limits Limits() const { return {}; }
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
  EXPECT_NE(answer.find("HTTP/1.1 431"), std::string::npos) << answer.substr(0, 200);
  ::close(fd);
}

// One request on a fresh connection; the whole answer.
std::string Ask(const std::string& path, const std::string& request) {
  int fd = Connect(path);
  if (fd < 0) return "(cannot connect)";
  std::string answer = Exchange(fd, request);
  ::close(fd);
  return answer;
}

TEST_F(UnixHttpServerTest, ContentLengthMustBeOneExactByteCount) {
  // std::stoull would read these as 12, 2^64-1 and 5: each is a smuggling or overflow vector.
  for (const std::string length : {"12abc", "-1", "+5", "0x10", "", "99999999999999999999999"}) {
    std::string answer = Ask(path_, "POST /x HTTP/1.1\r\nContent-Length: " + length + "\r\n\r\n");
    EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << "'" << length << "': " << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  }
  std::string twice = Ask(path_, "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_NE(twice.find("HTTP/1.1 400"), std::string::npos) << twice;
  EXPECT_NE(twice.find("two different Content-Length"), std::string::npos) << twice;
  std::string both = Ask(path_,
                         "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n");
  EXPECT_NE(both.find("HTTP/1.1 400"), std::string::npos) << both;
  std::string gzip = Ask(path_, "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_NE(gzip.find("HTTP/1.1 501"), std::string::npos) << gzip;
  // The same length twice is allowed (RFC 9112), and a tab around the value is whitespace.
  std::string same = Ask(path_, "POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:\t2 \r\n\r\nab");
  EXPECT_NE(same.find("\"body\":\"ab\""), std::string::npos) << same;
}

TEST_F(UnixHttpServerTest, ChunkSizesCannotOverflowOrLie) {
  // 2^64-1 + the 1 byte before it wraps a size_t sum to 0: must be 413, not a short read.
  std::string huge = Ask(path_,
                         "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "1\r\na\r\nffffffffffffffff\r\n");
  EXPECT_NE(huge.find("HTTP/1.1 413"), std::string::npos) << huge;
  std::string not_hex = Ask(path_, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_NE(not_hex.find("HTTP/1.1 400"), std::string::npos) << not_hex;
  // A chunk longer than its size line says.
  std::string lying = Ask(path_, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n");
  EXPECT_NE(lying.find("HTTP/1.1 400"), std::string::npos) << lying;
  // Extensions are allowed and ignored.
  std::string ext = Ask(path_, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nab\r\n0\r\n\r\n");
  EXPECT_NE(ext.find("\"body\":\"ab\""), std::string::npos) << ext;
}

TEST_F(UnixHttpServerTest, TooManyHeaderFieldsIs431) {
  std::string request = "GET /x HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) request += "X-" + std::to_string(i) + ": y\r\n";
  std::string answer = Ask(path_, request + "\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 431"), std::string::npos) << answer;
  EXPECT_NE(answer.find("over 100 header fields"), std::string::npos) << answer;
}

TEST_F(UnixHttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  std::string first = Exchange(fd,
                               "GET /one HTTP/1.1\r\n\r\n"
                               "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                               "GET /three HTTP/1.1\r\nConnection: close\r\n\r\n");
  // Exchange stops after one answer; the others follow on the same stream.
  std::string rest;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) rest.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  std::string all = first + rest;
  size_t one = all.find("\"path\":\"/one\""), two = all.find("\"path\":\"/two\""),
         three = all.find("\"path\":\"/three\"");
  ASSERT_NE(one, std::string::npos) << all;
  ASSERT_NE(two, std::string::npos) << all;
  ASSERT_NE(three, std::string::npos) << all;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_NE(all.find("\"body\":\"abc\""), std::string::npos);
}

TEST_F(UnixHttpServerTest, AHalfSentRequestHoldsUpNobodyElse) {
  int slow = Connect(path_);
  ASSERT_GE(slow, 0);
  std::string half = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
  ASSERT_EQ(::send(slow, half.data(), half.size(), MSG_NOSIGNAL), static_cast<ssize_t>(half.size()));
  auto start = std::chrono::steady_clock::now();
  std::string answer = Ask(path_, "GET /other HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(answer.find("\"path\":\"/other\""), std::string::npos) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ::close(slow);
}

// Small limits, to see each one act within a test's time.
class UnixHttpServerLimitsTest : public UnixHttpServerTest {
 protected:
  UnixHttpServer::Limits Limits() const override {
    UnixHttpServer::Limits limits;
    limits.request_seconds = 0.5;
    limits.idle_connection_seconds = 0.5;
    return limits;
  }
};

TEST_F(UnixHttpServerLimitsTest, ATricklingRequestIsDroppedAtItsDeadline) {
  // A byte every 100 ms never trips a per-read timeout; the request's deadline ends it.
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  std::string request = "GET /x HTTP/1.1\r\nX-Slow: " + std::string(30, 'a');
  auto start = std::chrono::steady_clock::now();
  bool dropped = false;
  for (char c : request) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      dropped = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char byte;
      if (::recv(fd, &byte, 1, 0) == 0) {
        dropped = true;
        break;
      }
    }
  }
  EXPECT_TRUE(dropped);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ::close(fd);
}

TEST_F(UnixHttpServerLimitsTest, AnIdleConnectionIsClosed) {
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // closed, nothing said
  ::close(fd);
}

// A cap of 3, with connections kept long enough to hold it however loaded the machine.
class UnixHttpServerCapTest : public UnixHttpServerTest {
 protected:
  UnixHttpServer::Limits Limits() const override {
    UnixHttpServer::Limits limits;
    limits.max_connections = 3;
    return limits;
  }
};

// Waits (at most 2 s) for the server to count `n` open connections.
bool WaitForConnections(const UnixHttpServer& server, int n) {
  for (int i = 0; i < 200 && server.connections() != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return server.connections() == n;
}

TEST_F(UnixHttpServerCapTest, ConnectionsPastTheCapGet503) {
  ASSERT_TRUE(WaitForConnections(*server_, 0));  // SetUp's probe has gone
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(Connect(path_));
    ASSERT_GE(held.back(), 0);
    ASSERT_TRUE(WaitForConnections(*server_, i + 1));
  }
  // The server answers 503 as it accepts, and may close before a request could be sent:
  // read without sending.
  int refused = Connect(path_);
  ASSERT_GE(refused, 0);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(refused, buffer, sizeof(buffer), 0)) > 0;) answer.append(buffer, static_cast<size_t>(n));
  ::close(refused);
  EXPECT_NE(answer.find("HTTP/1.1 503"), std::string::npos) << answer;
  for (int fd : held) ::close(fd);
  // Once they are gone, new connections are served again.
  ASSERT_TRUE(WaitForConnections(*server_, 0));
  answer = Ask(path_, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
}

TEST_F(UnixHttpServerTest, StopRemovesTheSocket) {
  server_->Stop(1);
  struct stat info {};
  EXPECT_NE(::stat(path_.c_str(), &info), 0);
  EXPECT_LT(Connect(path_), 0);
}

TEST(UnixHttpServerBind, ADeepPathIsBoundThroughItsDirectory) {
  std::string dir = "/tmp/sluice-uhs-" + NewShortId(8) + "/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  ASSERT_OK(MakeDirs(dir));
  std::string path = dir + "/server.sock";
  ASSERT_GT(path.size(), sizeof(sockaddr_un{}.sun_path));
  ASSERT_OK_AND_ASSIGN(auto server, UnixHttpServer::Bind(path, [](const RestRequest&) { return ApiResponse{}; }));
  std::thread serving([&] { server->Serve(); });
  bool accepted = false;
  for (int i = 0; i < 200 && !(accepted = UnixSocketAccepts(path)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(accepted);
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);  // the file is where it was asked for
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  server->Stop(1);
  serving.join();
  EXPECT_FALSE(UnixSocketAccepts(path));
  ASSERT_OK(RemoveAll(dir.substr(0, dir.find('/', 5))));
}

TEST(UnixHttpServerBind, RefusesAPathTooLongForASocket) {
  auto bound = UnixHttpServer::Bind("/tmp/" + std::string(200, 'x'), nullptr);
  EXPECT_EQ(KindOf(bound.status()), ErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace sluice
