#include "server/unix_http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "server/unix_socket_address.h"

namespace sluice {
namespace {

constexpr int kPollSliceMs = 250;  // how often a waiting connection looks at stopping_

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 422:
      return "Unprocessable Entity";
    default:
      return status < 500 ? "Error" : "Internal Server Error";
  }
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && Hex(text[i + 1]) >= 0 && Hex(text[i + 2]) >= 0) {
      out += static_cast<char>(Hex(text[i + 1]) * 16 + Hex(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// Reads from a connection into `buffer` until `deadline`, giving up early when `stopping` is
// set. False on end of stream, error or deadline.
bool ReadMore(int fd, std::string* buffer, std::chrono::steady_clock::time_point deadline,
              const std::atomic<bool>& stopping) {
  while (true) {
    // Checked before each read, not only when the client pauses: a byte every so often must
    // not stretch the deadline.
    if (stopping.load() || std::chrono::steady_clock::now() > deadline) return false;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, kPollSliceMs);
    if (ready < 0 && errno != EINTR) return false;
    if (ready > 0) {
      char chunk[64 * 1024];
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer->append(chunk, static_cast<size_t>(n));
      return true;
    }
  }
}

std::chrono::steady_clock::time_point After(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}

// A number of 1..max_digits digits in `base` (10 or 16) and nothing else: what
// Content-Length and a chunk size may be. std::stoull would take "-1", "+5" or "12abc".
std::optional<uint64_t> ParseSize(std::string_view text, int base, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit = base == 16 ? Hex(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
    if (digit < 0) return std::nullopt;
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
  }
  return value;
}

struct ParsedRequest {
  RestRequest request;
  bool keep_alive = true;
  int error_status = 0;  // answer this instead of handling (400, 408, 411, 413, 431, 501)
  std::string error;     // what was wrong, for the answer
};

ParsedRequest Refuse(int status, std::string why) {
  ParsedRequest bad;
  bad.error_status = status;
  bad.error = std::move(why);
  bad.keep_alive = false;  // the stream's framing can no longer be trusted
  return bad;
}

void ParseQuery(const std::string& query, std::map<std::string, std::string>* out) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      (*out)[Decode(pair.substr(0, eq), true)] = eq == std::string::npos ? "" : Decode(pair.substr(eq + 1), true);
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
}

// Reads one request from the connection; nullopt when the client went away, idled out
// between requests, or stopped sending in the middle of one (a request must arrive whole
// within limits.request_seconds of its first byte, however slowly the bytes trickle).
std::optional<ParsedRequest> ReadRequest(int fd, std::string* buffer, const UnixHttpServer::Limits& limits,
                                         const std::atomic<bool>& stopping) {
  if (buffer->empty() && !ReadMore(fd, buffer, After(limits.idle_connection_seconds), stopping)) {
    return std::nullopt;
  }
  auto deadline = After(limits.request_seconds);
  auto read_more = [&] { return ReadMore(fd, buffer, deadline, stopping); };
  size_t end;
  while ((end = buffer->find("\r\n\r\n")) == std::string::npos) {
    if (buffer->size() > limits.max_header_bytes) {
      return Refuse(431, "the request head is over " + std::to_string(limits.max_header_bytes) + " bytes");
    }
    if (!read_more()) return std::nullopt;
  }
  if (end > limits.max_header_bytes) {
    return Refuse(431, "the request head is over " + std::to_string(limits.max_header_bytes) + " bytes");
  }
  ParsedRequest parsed;
  std::string head = buffer->substr(0, end);
  buffer->erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1 || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    return Refuse(400, "the request line is not 'METHOD target HTTP/1.x'");
  }
  parsed.request.method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  parsed.keep_alive = line.substr(sp2 + 1) == "HTTP/1.1";
  size_t question = target.find('?');
  parsed.request.path = Decode(target.substr(0, question), false);
  if (question != std::string::npos) ParseQuery(target.substr(question + 1), &parsed.request.query);

  std::optional<uint64_t> content_length;
  bool chunked = false;
  size_t headers = 0;
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    std::string header = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? head.size() : next + 2;
    if (++headers > limits.max_headers) {
      return Refuse(431, "the request has over " + std::to_string(limits.max_headers) + " header fields");
    }
    size_t colon = header.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(header.substr(0, colon));
    std::string value = header.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    if (name == "content-length") {
      auto length = ParseSize(value, 10, 18);
      if (!length) return Refuse(400, "Content-Length '" + value.substr(0, 40) + "' is not a byte count");
      if (content_length && *content_length != *length) return Refuse(400, "two different Content-Length fields");
      content_length = length;
    } else if (name == "transfer-encoding") {
      if (Lower(value) != "chunked") return Refuse(501, "only the chunked transfer coding is supported");
      chunked = true;
    } else if (name == "connection") {
      std::string v = Lower(value);
      if (v == "close") parsed.keep_alive = false;
      if (v == "keep-alive") parsed.keep_alive = true;
    }
  }
  // Both framings at once is how requests are smuggled past a proxy: refuse, never guess.
  if (chunked && content_length) return Refuse(400, "both Transfer-Encoding and Content-Length");
  if (content_length.value_or(0) > limits.max_body_bytes) {
    return Refuse(413, "the body is over " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (chunked) {
    std::string body;
    while (true) {
      size_t crlf;
      while ((crlf = buffer->find("\r\n")) == std::string::npos) {
        if (buffer->size() > 1024) return Refuse(400, "a chunk size line is over 1024 bytes");
        if (!read_more()) return std::nullopt;
      }
      std::string_view size_line(buffer->data(), crlf);
      auto size = ParseSize(size_line.substr(0, size_line.find(';')), 16, 16);  // (extensions ignored)
      if (!size) return Refuse(400, "a chunk size is not a hex number");
      if (*size > limits.max_body_bytes - body.size()) {
        return Refuse(413, "the body is over " + std::to_string(limits.max_body_bytes) + " bytes");
      }
      size_t chunk_end = crlf + 2 + *size;
      while (buffer->size() < chunk_end + 2) {
        if (!read_more()) return std::nullopt;
      }
      if (buffer->compare(chunk_end, 2, "\r\n") != 0) return Refuse(400, "a chunk does not end with CRLF");
      body.append(*buffer, crlf + 2, *size);
      buffer->erase(0, chunk_end + 2);
      if (*size == 0) break;  // (trailers are not supported; the last chunk ends the body)
    }
    parsed.request.body = std::move(body);
  } else {
    size_t length = content_length.value_or(0);
    while (buffer->size() < length) {
      if (!read_more()) return std::nullopt;
    }
    parsed.request.body = buffer->substr(0, length);
    buffer->erase(0, length);
  }
  return parsed;
}

std::string ErrorBody(const std::string& kind, const std::string& message) {
  return nlohmann::json{{"error", {{"kind", kind}, {"message", message}, {"hint", ""}}}}.dump();
}

bool WriteResponse(int fd, const ApiResponse& response, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + Reason(response.status) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  if (!response.stream) {
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
    return SendAll(fd, head) && SendAll(fd, response.body);
  }
  head += "Transfer-Encoding: chunked\r\n\r\n";
  if (!SendAll(fd, head)) return false;
  bool connected = true;
  response.stream([&](std::string_view chunk) {
    if (!connected || chunk.empty()) return connected;
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    connected = SendAll(fd, size) && SendAll(fd, chunk) && SendAll(fd, "\r\n");
    return connected;
  });
  return connected && SendAll(fd, "0\r\n\r\n");
}

}  // namespace

UnixHttpServer::UnixHttpServer(int fd, std::string path, Handler handler, Limits limits)
    : listen_fd_(fd),
      path_(std::move(path)),
      handler_(std::move(handler)),
      limits_(limits),
      last_request_ms_(NowMillis()) {}

Result<std::unique_ptr<UnixHttpServer>> UnixHttpServer::Bind(const std::string& path, Handler handler, Limits limits) {
  SLUICE_ASSIGN_OR_RAISE(UnixSocketAddress target, UnixSocketAddress::For(path));
  sockaddr_un address = target.address();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IOError("cannot create a unix socket: ", std::strerror(errno));
  ::unlink(path.c_str());
  // The file is created owner-only from the start: no moment where another user could
  // connect. umask is process-wide, so this runs before the server starts any thread.
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    ::close(fd);
    return IOError("cannot bind '", path, "': ", std::strerror(bind_errno));
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return IOError("cannot listen on '", path, "': ", std::strerror(e));
  }
  return std::unique_ptr<UnixHttpServer>(new UnixHttpServer(fd, path, std::move(handler), limits));
}

UnixHttpServer::~UnixHttpServer() {
  Stop(0);
  // Stop's grace may have run out with connections still open; their threads hold `this`.
  while (connections_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::close(listen_fd_);
}

double UnixHttpServer::idle_seconds() const {
  if (in_flight_.load() > 0) return 0;
  return (NowMillis() - last_request_ms_.load()) / 1000.0;
}

void UnixHttpServer::Serve() {
  // Connections are refused until now, so a client that can connect finds it ready.
  if (::listen(listen_fd_, 64) != 0) {
    std::cerr << "cannot listen on '" << path_ << "': " << std::strerror(errno) << std::endl;
    return;
  }
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, kPollSliceMs);
    if (ready <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (connections_.load() >= limits_.max_connections) {
      // One thread per connection: past the cap, answer at once rather than pile threads up.
      ApiResponse busy;
      busy.status = 503;
      busy.body = ErrorBody("io error", "the server has " + std::to_string(limits_.max_connections) +
                                            " connections open already; retry later");
      (void)WriteResponse(fd, busy, false);
      ::close(fd);
      continue;
    }
    ++connections_;
    std::thread([this, fd] {
      ServeConnection(fd);
      ::close(fd);
      --connections_;
    }).detach();
  }
}

void UnixHttpServer::ServeConnection(int fd) {
  ucred peer{};
  socklen_t length = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != ::geteuid()) {
    ApiResponse refused;
    refused.status = 403;
    refused.body = ErrorBody("invalid input", "this server belongs to uid " + std::to_string(::geteuid()) + "; uid " +
                                                  std::to_string(peer.uid) + " may not use it");
    (void)WriteResponse(fd, refused, false);
    return;
  }
  std::string buffer;
  while (!stopping_.load()) {
    auto parsed = ReadRequest(fd, &buffer, limits_, stopping_);
    if (!parsed) return;
    ++in_flight_;
    ApiResponse response;
    if (parsed->error_status) {
      response.status = parsed->error_status;
      response.body = ErrorBody("invalid input", "malformed request: " + parsed->error);
    } else {
      response = handler_(parsed->request);
    }
    bool keep = parsed->keep_alive && !stopping_.load();
    bool sent = WriteResponse(fd, response, keep);
    last_request_ms_.store(NowMillis());
    --in_flight_;
    if (!sent || !keep) return;
  }
}

void UnixHttpServer::Stop(double grace_seconds) {
  if (stopping_.exchange(true)) return;
  ::unlink(path_.c_str());  // new clients find no server at once
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_seconds);
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sluice
