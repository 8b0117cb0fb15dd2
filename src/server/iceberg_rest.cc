#include "server/iceberg_rest.h"

#include "common/bounded_json.h"
#include "format/iceberg_table.h"
#include "server/request_fields.h"
#include "storage/s3_config.h"

namespace sluice {
namespace {

using nlohmann::json;

// The Iceberg REST error model: the exception type clients map to their own errors.
RestResponse ErrorResponse(const Status& status) {
  int code = HttpStatusFor(status);
  std::string type = "ServiceFailureException";
  if (code == 400) type = "BadRequestException";
  if (code == 409)
    type = KindOf(status) == ErrorKind::kAlreadyExists ? "AlreadyExistsException" : "CommitFailedException";
  if (code == 404) {
    type = status.message().find("table") != std::string::npos       ? "NoSuchTableException"
           : status.message().find("namespace") != std::string::npos ? "NoSuchNamespaceException"
                                                                     : "NotFoundException";
  }
  return {code, {{"error", {{"message", status.message()}, {"type", type}, {"code", code}}}}};
}

Status RequireNamespace(const ResolvedRef& ref, const std::string& ns) {
  if (ref.tree.namespaces.count(ns)) return Status::OK();
  for (const auto& [table, _] : ref.tree.tables) {
    if (table.substr(0, table.find('.')) == ns) return Status::OK();
  }
  return NotFound("namespace '", ns, "' does not exist at '", ref.text, "'");
}

// The FileIO properties a client needs to read the warehouse's files itself (pyiceberg's
// s3.* names): where the objects are, and the server's own S3 credentials only to a caller
// that could read everything anyway: the owner of a home without keys, or an admin. Readers
// and writers get the endpoint and region and bring their own credentials (docs/decisions.md).
json FileIoDefaults(const Lakehouse& lake, const RestRequest& request) {
  json defaults = json::object();
  if (!lake.warehouse().is_s3()) return defaults;
  S3Config s3 = S3Config::FromEnvironment();
  if (!s3.endpoint_url.empty()) defaults["s3.endpoint"] = s3.endpoint_url;
  defaults["s3.region"] = s3.region.empty() ? "us-east-1" : s3.region;
  bool trusted = request.role.empty() || request.role == "admin";
  if (trusted && !s3.access_key_id.empty()) {
    defaults["s3.access-key-id"] = s3.access_key_id;
    defaults["s3.secret-access-key"] = s3.secret_access_key;
    if (!s3.session_token.empty()) defaults["s3.session-token"] = s3.session_token;
  }
  return defaults;
}

}  // namespace

RestResponse IcebergRestCatalog::Handle(const RestRequest& request) {
  return HandleGuarded([&] { return Route(request); }, ErrorResponse);
}

Result<RestResponse> IcebergRestCatalog::Route(const RestRequest& request) {
  auto parts = SplitPath(request.path);
  if (parts.size() < 2 || parts[0] != "v1") return NotFound("no route for ", request.path);
  if (parts[1] == "config" && parts.size() == 2) {
    auto warehouse = request.query.find("warehouse");
    std::string ref = warehouse != request.query.end() && !warehouse->second.empty() ? warehouse->second : "main";
    SLUICE_RETURN_NOT_OK(lake_->catalog().Resolve(ref).status());
    return RestResponse{200, {{"defaults", FileIoDefaults(*lake_, request)}, {"overrides", {{"prefix", ref}}}}};
  }
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake_->catalog().Resolve(parts[1]));
  if (parts.size() < 3 || parts[2] != "namespaces") return NotFound("no route for ", request.path);
  if (parts.size() == 3) {
    if (request.method != "GET") return InvalidInput("namespaces are created with sluice namespace create");
    std::set<std::string> names = ref.tree.namespaces;
    for (const auto& [table, _] : ref.tree.tables) names.insert(table.substr(0, table.find('.')));
    json out = json::array();
    auto parent = request.query.find("parent");
    if (parent == request.query.end() || parent->second.empty()) {
      for (const auto& name : names) out.push_back(json::array({name}));
    }
    return RestResponse{200, {{"namespaces", out}}};
  }
  const std::string& ns = parts[3];
  SLUICE_RETURN_NOT_OK(RequireNamespace(ref, ns));
  if (parts.size() == 4) {
    if (request.method == "HEAD") return RestResponse{204, nullptr};
    return RestResponse{200, {{"namespace", json::array({ns})}, {"properties", json::object()}}};
  }
  if (parts[4] != "tables") return NotFound("no route for ", request.path);
  if (parts.size() == 5) {
    json identifiers = json::array();
    for (const auto& [table, _] : ref.tree.tables) {
      auto dot = table.find('.');
      if (table.substr(0, dot) == ns) {
        identifiers.push_back({{"namespace", json::array({ns})}, {"name", table.substr(dot + 1)}});
      }
    }
    return RestResponse{200, {{"identifiers", identifiers}}};
  }
  std::string table = ns + "." + parts[5];
  if (parts.size() != 6) return NotFound("no route for ", request.path);
  if (request.method == "GET") return LoadTable(ref, table);
  if (request.method == "HEAD") {
    if (!ref.tree.tables.count(table)) return NotFound("table '", table, "' does not exist");
    return RestResponse{204, nullptr};
  }
  if (request.method == "POST")
    return CommitTable(ref, table, ParseBoundedJson(request.body), RequestAuthor(request, json::object()));
  return InvalidInput(request.method, " is not supported on tables here");
}

Result<RestResponse> IcebergRestCatalog::LoadTable(const ResolvedRef& ref, const std::string& table) {
  auto it = ref.tree.tables.find(table);
  if (it == ref.tree.tables.end()) {
    return NotFound("table '", table, "' does not exist at '", ref.text, "'");
  }
  SLUICE_ASSIGN_OR_RAISE(json metadata, ReadTableMetadata(it->second));
  return RestResponse{200, {{"metadata-location", it->second}, {"metadata", metadata}, {"config", json::object()}}};
}

Result<RestResponse> IcebergRestCatalog::CommitTable(const ResolvedRef& ref, const std::string& table, const json& body,
                                                     const std::string& author) {
  if (ref.branch.empty()) return InvalidInput("'", ref.text, "' is not a branch: commits need a branch");
  auto it = ref.tree.tables.find(table);
  if (it == ref.tree.tables.end()) return NotFound("table '", table, "' does not exist at '", ref.text, "'");
  // An external table's files are not ours to write next to (and its metadata may lie anywhere).
  if (lake_->TableKind(it->second) == kExternalTable) {
    return InvalidInput("table '", table, "' is an external table: it is read-only");
  }
  SLUICE_ASSIGN_OR_RAISE(std::string location, CommitTableUpdates(it->second, body.value("requirements", json::array()),
                                                                  body.value("updates", json::array())));
  std::string actions;
  for (const auto& update : body.value("updates", json::array())) {
    actions += (actions.empty() ? "" : ", ") + update.value("action", std::string("?"));
  }
  CommitRequest request;
  request.branch = ref.branch;
  request.changes[table] = location;
  request.author = author;
  request.message = "iceberg commit to " + table + " (" + actions + ")";
  request.properties["sluice.operation"] = "iceberg-rest";
  request.expected_head = ref.commit.id;
  SLUICE_RETURN_NOT_OK(lake_->catalog().CommitChanges(request).status());
  SLUICE_ASSIGN_OR_RAISE(json metadata, ReadTableMetadata(location));
  return RestResponse{200, {{"metadata-location", location}, {"metadata", metadata}}};
}

}  // namespace sluice
