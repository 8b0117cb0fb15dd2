// Fuzz target: what parses an incoming REST request into Sluice's structures.
//
// The routes themselves (IcebergRestCatalog::Route, SluiceApi) are private and need a whole
// Lakehouse (catalog database, object store, runner), so this target drives the public pieces
// they are made of, in the order Route uses them, under the same guard (HandleGuarded in
// server/rest_request.h, which turns exceptions such as malformed JSON into a 400):
//   SplitPath and Param on the path and query; json::parse of the body; RequestAuthor,
//   Field and CommitNoteOf (server/request_fields.h, bauplan's commit_body and
//   commit_properties); and for an Iceberg commit (POST .../tables/{t}) CommitTableUpdates
//   (format/iceberg_table.h), which checks the body's "requirements" and applies its
//   "updates" (add-snapshot with its manifest list, manifests and data files, refs,
//   properties, schemas) to a real table made at start-up.
//
// Input: the request line "METHOD /path?k=v&k2=v2", a newline, then the body. In the body,
// "@TABLE@" becomes the table's location and "@LIST@" the manifest list of its snapshot, so
// an add-snapshot can name files of the table.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <nlohmann/json.hpp>

#include "common/bounded_json.h"
#include "common/file_util.h"
#include "format/iceberg_table.h"
#include "server/request_fields.h"
#include "server/rest_request.h"
#include "storage/storage_uri.h"

namespace sluice {
// The real one lives in exec/lakehouse.cc (the whole exec layer); the author's name is
// not what is fuzzed.
std::string CurrentAuthor() { return "fuzz"; }
}  // namespace sluice

namespace {

using nlohmann::json;

std::string g_metadata;  // the table's metadata file
std::string g_table;     // its location, "file:///tmp/..."
std::string g_list;      // the manifest list of its current snapshot

void Die(const std::string& what) {
  std::fprintf(stderr, "rest_fuzzer: %s\n", what.c_str());
  std::abort();
}

void ReplaceAll(std::string* text, const std::string& from, const std::string& to) {
  for (size_t pos = text->find(from); pos != std::string::npos; pos = text->find(from, pos + to.size())) {
    text->replace(pos, from.size(), to);
  }
}

// "k=v&k2=v2" -> query (httplib decodes %xx before the server sees it; not fuzzed here).
std::map<std::string, std::string> ParseQuery(const std::string& text) {
  std::map<std::string, std::string> query;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('&', start);
    if (end == std::string::npos) end = text.size();
    std::string pair = text.substr(start, end - start);
    size_t eq = pair.find('=');
    if (!pair.empty()) query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    start = end + 1;
  }
  return query;
}

struct Response {
  int status = 200;
  std::string text;
};

sluice::Result<Response> Route(const sluice::RestRequest& request) {
  auto parts = sluice::SplitPath(request.path);
  std::string ref = sluice::Param(request, "warehouse", parts.size() > 1 ? parts[1] : "main");
  json body = request.body.empty() ? json::object() : sluice::ParseBoundedJson(request.body);
  std::string author = sluice::RequestAuthor(request, body);
  std::string name = sluice::Field(body, "name", sluice::Field(body, "branch", ref));
  SLUICE_ASSIGN_OR_RAISE(sluice::CommitNote note, sluice::CommitNoteOf(request, body));
  std::string message = note.Message("fuzz commit by " + author + " on " + name);
  if (request.method == "POST" && parts.size() == 6 && parts[2] == "namespaces" && parts[4] == "tables") {
    // IcebergRestCatalog::CommitTable
    SLUICE_ASSIGN_OR_RAISE(std::string location,
                           sluice::CommitTableUpdates(g_metadata, body.value("requirements", json::array()),
                                                      body.value("updates", json::array())));
    std::string actions;
    for (const auto& update : body.value("updates", json::array())) {
      actions += (actions.empty() ? "" : ", ") + update.value("action", std::string("?"));
    }
    auto metadata = sluice::ReadTableMetadata(location);
    std::remove(sluice::LocalPathFromUri(location).ValueOr(location).c_str());  // keep the table as it was
    SLUICE_RETURN_NOT_OK(metadata.status());
    return Response{200, metadata->dump() + actions + message};
  }
  return Response{200, message};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  static char dir[] = "/tmp/sluice-fuzz-rest-XXXXXX";
  if (!mkdtemp(dir)) Die("no temporary directory");
  std::atexit([] { std::filesystem::remove_all(dir); });
  g_table = std::string("file://") + dir + "/table";
  // A small table with one snapshot: a Parquet file, its manifest, the manifest list.
  auto data =
      arrow::Table::Make(arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())}),
                         {*arrow::json::ArrayFromJSONString(arrow::int64(), "[1, 2, 3]"),
                          *arrow::json::ArrayFromJSONString(arrow::utf8(), R"(["a", "b", null])")});
  sluice::TableWriteOptions options;
  options.table_location = g_table;
  auto written = sluice::WriteTableSnapshot(data, options);
  if (!written.ok()) Die(written.status().ToString());
  g_metadata = *written;
  auto metadata = sluice::ReadTableMetadata(g_metadata);
  if (!metadata.ok()) Die(metadata.status().ToString());
  g_list = (*metadata)["snapshots"][0]["manifest-list"].get<std::string>();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string line = input.substr(0, newline);
  sluice::RestRequest request;
  request.body = newline == std::string::npos ? "" : input.substr(newline + 1);
  ReplaceAll(&request.body, "@TABLE@", g_table);
  ReplaceAll(&request.body, "@LIST@", g_list);
  size_t space = line.find(' ');
  request.method = line.substr(0, space);
  std::string target = space == std::string::npos ? "" : line.substr(space + 1);
  size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) request.query = ParseQuery(target.substr(question + 1));
  Response response = sluice::HandleGuarded([&] { return Route(request); },
                                            [](const sluice::Status& status) {
                                              return Response{sluice::HttpStatusFor(status), status.message()};
                                            });
  (void)response;
  return 0;
}
