#include "format/table_metadata.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/bounded_json.h"
#include "common/ids.h"
#include "storage/file_io.h"

namespace sluice {
namespace {

using nlohmann::json;

// Field access with errors that name the field: `where` is the file, `path` the field path
// inside it ("snapshots[2]").
class Fields {
 public:
  Fields(const json& object, const std::string& where, std::string path)
      : object_(object), where_(where), path_(std::move(path)) {}

  static Status CheckObject(const json& value, const std::string& where, const std::string& path) {
    if (value.is_object()) return Status::OK();
    return InvalidInput(where, ": ", path.empty() ? std::string("the metadata") : "field '" + path + "'",
                        " must be an object");
  }

  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Status Error(const std::string& key, const char* what) const {
    return InvalidInput(where_, ": field '", Path(key), "' ", what);
  }

  bool Has(const std::string& key) const { return object_.contains(key) && !object_[key].is_null(); }

  Result<int64_t> Long(const std::string& key) const {
    if (!object_.contains(key)) return Error(key, "is missing");
    const json& v = object_[key];
    if (!v.is_number_integer()) return Error(key, "must be an integer");
    return v.get<int64_t>();
  }
  Result<int64_t> Long(const std::string& key, int64_t fallback) const {
    if (!Has(key)) return fallback;
    return Long(key);
  }
  Result<int> Int(const std::string& key) const {
    SLUICE_ASSIGN_OR_RAISE(int64_t v, Long(key));
    if (v < INT32_MIN || v > INT32_MAX) return Error(key, "is out of range");
    return static_cast<int>(v);
  }
  Result<int> Int(const std::string& key, int fallback) const {
    if (!Has(key)) return fallback;
    return Int(key);
  }
  Result<std::optional<int64_t>> OptionalLong(const std::string& key) const {
    if (!Has(key)) return std::optional<int64_t>();
    SLUICE_ASSIGN_OR_RAISE(int64_t v, Long(key));
    return std::optional<int64_t>(v);
  }
  Result<std::string> String(const std::string& key) const {
    if (!object_.contains(key)) return Error(key, "is missing");
    if (!object_[key].is_string()) return Error(key, "must be a string");
    return object_[key].get<std::string>();
  }
  Result<std::string> String(const std::string& key, const std::string& fallback) const {
    if (!Has(key)) return fallback;
    return String(key);
  }
  Result<bool> Bool(const std::string& key, bool fallback) const {
    if (!Has(key)) return fallback;
    if (!object_[key].is_boolean()) return Error(key, "must be true or false");
    return object_[key].get<bool>();
  }
  Result<const json*> Array(const std::string& key, bool required) const {
    static const json kEmpty = json::array();
    if (!Has(key)) {
      if (required) return Error(key, "is missing");
      return &kEmpty;
    }
    if (!object_[key].is_array()) return Error(key, "must be an array");
    return &object_[key];
  }
  Result<std::map<std::string, std::string>> StringMap(const std::string& key) const {
    std::map<std::string, std::string> out;
    if (!Has(key)) return out;
    if (!object_[key].is_object()) return Error(key, "must be an object");
    for (const auto& [k, v] : object_[key].items()) {
      if (!v.is_string()) return InvalidInput(where_, ": field '", Path(key), ".", k, "' must be a string");
      out[k] = v.get<std::string>();
    }
    return out;
  }
  // The keys of the object this model does not know, kept for ToJson.
  json Extra(std::initializer_list<const char*> known) const {
    json extra = json::object();
    for (const auto& item : object_.items()) {
      const std::string& key = item.key();  // not a structured binding: clang cannot capture one
      if (std::none_of(known.begin(), known.end(), [&](const char* name) { return key == name; })) {
        extra[key] = item.value();
      }
    }
    return extra;
  }
  const std::string& where() const { return where_; }
  std::string Item(const std::string& key, size_t i) const { return Path(key) + "[" + std::to_string(i) + "]"; }

 private:
  const json& object_;
  const std::string& where_;
  std::string path_;
};

bool IsPrimitiveType(const std::string& type) {
  static const std::set<std::string> kPlain = {
      "boolean",     "int",          "long",           "float",  "double", "date",   "time",    "timestamp",
      "timestamptz", "timestamp_ns", "timestamptz_ns", "string", "uuid",   "binary", "unknown", "variant"};
  if (kPlain.count(type)) return true;
  if (type.rfind("decimal(", 0) == 0 && type.back() == ')') return true;
  if (type.rfind("fixed[", 0) == 0 && type.back() == ']') return true;
  return type.rfind("geometry", 0) == 0 || type.rfind("geography", 0) == 0;
}

Result<SchemaField> ParseField(const json& value, const std::string& where, const std::string& path);

// Checks an Iceberg type (primitive name or nested object), recursively.
Status CheckType(const json& type, const std::string& where, const std::string& path) {
  if (type.is_string()) {
    if (IsPrimitiveType(type.get<std::string>())) return Status::OK();
    return InvalidInput(where, ": field '", path, "' has an unknown type '", type.get<std::string>(), "'");
  }
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(type, where, path));
  Fields f(type, where, path);
  SLUICE_ASSIGN_OR_RAISE(std::string kind, f.String("type"));
  if (kind == "struct") {
    SLUICE_ASSIGN_OR_RAISE(const json* fields, f.Array("fields", true));
    for (size_t i = 0; i < fields->size(); ++i) {
      SLUICE_RETURN_NOT_OK(ParseField((*fields)[i], where, f.Item("fields", i)).status());
    }
  } else if (kind == "list") {
    SLUICE_RETURN_NOT_OK(f.Int("element-id").status());
    SLUICE_RETURN_NOT_OK(CheckType(type.value("element", json()), where, f.Path("element")));
  } else if (kind == "map") {
    SLUICE_RETURN_NOT_OK(f.Int("key-id").status());
    SLUICE_RETURN_NOT_OK(f.Int("value-id").status());
    SLUICE_RETURN_NOT_OK(CheckType(type.value("key", json()), where, f.Path("key")));
    SLUICE_RETURN_NOT_OK(CheckType(type.value("value", json()), where, f.Path("value")));
  } else {
    return InvalidInput(where, ": field '", f.Path("type"), "' has an unknown nested type '", kind, "'");
  }
  return Status::OK();
}

Result<SchemaField> ParseField(const json& value, const std::string& where, const std::string& path) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, path));
  Fields f(value, where, path);
  SchemaField field;
  SLUICE_ASSIGN_OR_RAISE(field.id, f.Int("id"));
  SLUICE_ASSIGN_OR_RAISE(field.name, f.String("name"));
  SLUICE_ASSIGN_OR_RAISE(field.required, f.Bool("required", false));
  if (!value.contains("type")) return f.Error("type", "is missing");
  field.type = value["type"];
  SLUICE_RETURN_NOT_OK(CheckType(field.type, where, f.Path("type")));
  field.extra = f.Extra({"id", "name", "required", "type"});
  return field;
}

void HighestId(const json& type, int* highest) {
  if (!type.is_object()) return;
  for (const char* key : {"element-id", "key-id", "value-id"}) {
    if (type.contains(key) && type[key].is_number_integer()) *highest = std::max(*highest, type[key].get<int>());
  }
  for (const auto& field : type.value("fields", json::array())) {
    if (field.contains("id") && field["id"].is_number_integer()) *highest = std::max(*highest, field["id"].get<int>());
    HighestId(field.value("type", json()), highest);
  }
  for (const char* key : {"element", "key", "value"}) {
    if (type.contains(key)) HighestId(type[key], highest);
  }
}

json Merge(json out, const json& extra) {
  for (const auto& [k, v] : extra.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  return out;
}

}  // namespace

Result<Schema> ParseSchemaAt(const json& value, const std::string& where, const std::string& path);
Result<PartitionSpec> ParsePartitionSpecAt(const json& value, const std::string& where, const std::string& path);
Result<Snapshot> ParseSnapshotAt(const json& value, const std::string& where, const std::string& path);
Result<SnapshotRef> ParseSnapshotRefAt(const json& value, const std::string& where, const std::string& path);

// ---- Schema ---------------------------------------------------------------------------------

const SchemaField* Schema::FindField(int id) const {
  for (const auto& f : fields) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

const SchemaField* Schema::FindField(const std::string& name) const {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

int Schema::HighestFieldId() const {
  int highest = 0;
  HighestId(ToJson(), &highest);
  return highest;
}

json Schema::ToJson() const {
  json out = {{"type", "struct"}, {"schema-id", schema_id}, {"fields", json::array()}};
  for (const auto& f : fields) {
    out["fields"].push_back(
        Merge({{"id", f.id}, {"name", f.name}, {"required", f.required}, {"type", f.type}}, f.extra));
  }
  if (!identifier_field_ids.empty()) out["identifier-field-ids"] = identifier_field_ids;
  return Merge(out, extra);
}

Result<Schema> Schema::Parse(const json& value, const std::string& where) {
  return ParseSchemaAt(value, where, "schema");
}

Result<Schema> ParseSchemaAt(const json& value, const std::string& where, const std::string& path) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, path));
  Fields f(value, where, path);
  Schema schema;
  SLUICE_ASSIGN_OR_RAISE(schema.schema_id, f.Int("schema-id", 0));
  SLUICE_ASSIGN_OR_RAISE(const json* fields, f.Array("fields", true));
  std::set<int> ids;
  for (size_t i = 0; i < fields->size(); ++i) {
    SLUICE_ASSIGN_OR_RAISE(SchemaField field, ParseField((*fields)[i], where, f.Item("fields", i)));
    if (!ids.insert(field.id).second) {
      return InvalidInput(where, ": field '", f.Item("fields", i), "': id ", field.id, " is used twice");
    }
    schema.fields.push_back(std::move(field));
  }
  SLUICE_ASSIGN_OR_RAISE(const json* identifiers, f.Array("identifier-field-ids", false));
  for (const auto& id : *identifiers) {
    if (!id.is_number_integer()) return f.Error("identifier-field-ids", "must hold integers");
    schema.identifier_field_ids.push_back(id.get<int>());
  }
  schema.extra = f.Extra({"type", "schema-id", "fields", "identifier-field-ids"});
  return schema;
}

// ---- PartitionSpec --------------------------------------------------------------------------

json PartitionSpec::FieldsJson() const {
  json out = json::array();
  for (const auto& f : fields) {
    out.push_back(Merge(
        {{"source-id", f.source_id}, {"field-id", f.field_id}, {"name", f.name}, {"transform", f.transform}}, f.extra));
  }
  return out;
}

json PartitionSpec::ToJson() const { return Merge({{"spec-id", spec_id}, {"fields", FieldsJson()}}, extra); }

Result<PartitionSpec> PartitionSpec::Parse(const json& value, const std::string& where) {
  return ParsePartitionSpecAt(value, where, "partition-spec");
}

Result<PartitionSpec> ParsePartitionSpecAt(const json& value, const std::string& where, const std::string& path) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, path));
  Fields f(value, where, path);
  PartitionSpec spec;
  SLUICE_ASSIGN_OR_RAISE(spec.spec_id, f.Int("spec-id", 0));
  SLUICE_ASSIGN_OR_RAISE(const json* fields, f.Array("fields", true));
  for (size_t i = 0; i < fields->size(); ++i) {
    const json& item = (*fields)[i];
    std::string path = f.Item("fields", i);
    SLUICE_RETURN_NOT_OK(Fields::CheckObject(item, where, path));
    Fields g(item, where, path);
    PartitionField field;
    SLUICE_ASSIGN_OR_RAISE(field.source_id, g.Int("source-id"));
    SLUICE_ASSIGN_OR_RAISE(field.field_id, g.Int("field-id", 1000 + static_cast<int>(i)));
    SLUICE_ASSIGN_OR_RAISE(field.name, g.String("name"));
    SLUICE_ASSIGN_OR_RAISE(field.transform, g.String("transform"));
    field.extra = g.Extra({"source-id", "field-id", "name", "transform"});
    spec.fields.push_back(std::move(field));
  }
  spec.extra = f.Extra({"spec-id", "fields"});
  return spec;
}

// ---- Snapshot -------------------------------------------------------------------------------

std::string Snapshot::operation() const {
  auto it = summary.find("operation");
  return it == summary.end() ? std::string() : it->second;
}

int64_t Snapshot::SummaryCount(const std::string& key) const {
  auto it = summary.find(key);
  if (it == summary.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return 0;
  }
}

json Snapshot::ToJson() const {
  json out = {{"snapshot-id", snapshot_id},
              {"sequence-number", sequence_number},
              {"timestamp-ms", timestamp_ms},
              {"manifest-list", manifest_list},
              {"summary", summary}};
  if (parent_snapshot_id) out["parent-snapshot-id"] = *parent_snapshot_id;
  if (schema_id) out["schema-id"] = *schema_id;
  return Merge(out, extra);
}

Result<Snapshot> Snapshot::Parse(const json& value, const std::string& where) {
  return ParseSnapshotAt(value, where, "snapshot");
}

Result<Snapshot> ParseSnapshotAt(const json& value, const std::string& where, const std::string& path) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, path));
  Fields f(value, where, path);
  Snapshot s;
  SLUICE_ASSIGN_OR_RAISE(s.snapshot_id, f.Long("snapshot-id"));
  SLUICE_ASSIGN_OR_RAISE(s.parent_snapshot_id, f.OptionalLong("parent-snapshot-id"));
  SLUICE_ASSIGN_OR_RAISE(s.sequence_number, f.Long("sequence-number", 0));
  SLUICE_ASSIGN_OR_RAISE(s.timestamp_ms, f.Long("timestamp-ms", 0));
  SLUICE_ASSIGN_OR_RAISE(s.manifest_list, f.String("manifest-list"));
  SLUICE_ASSIGN_OR_RAISE(s.summary, f.StringMap("summary"));
  SLUICE_ASSIGN_OR_RAISE(auto schema_id, f.OptionalLong("schema-id"));
  if (schema_id) s.schema_id = static_cast<int>(*schema_id);
  s.extra = f.Extra({"snapshot-id", "parent-snapshot-id", "sequence-number", "timestamp-ms", "manifest-list", "summary",
                     "schema-id"});
  return s;
}

// ---- SnapshotRef ----------------------------------------------------------------------------

json SnapshotRef::ToJson() const {
  json out = {{"snapshot-id", snapshot_id}, {"type", type}};
  if (max_ref_age_ms) out["max-ref-age-ms"] = *max_ref_age_ms;
  if (max_snapshot_age_ms) out["max-snapshot-age-ms"] = *max_snapshot_age_ms;
  if (min_snapshots_to_keep) out["min-snapshots-to-keep"] = *min_snapshots_to_keep;
  return out;
}

Result<SnapshotRef> SnapshotRef::Parse(const json& value, const std::string& where) {
  return ParseSnapshotRefAt(value, where, "ref");
}

Result<SnapshotRef> ParseSnapshotRefAt(const json& value, const std::string& where, const std::string& path) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, path));
  Fields f(value, where, path);
  SnapshotRef ref;
  SLUICE_ASSIGN_OR_RAISE(ref.snapshot_id, f.Long("snapshot-id"));
  SLUICE_ASSIGN_OR_RAISE(ref.type, f.String("type", "branch"));
  if (ref.type != "branch" && ref.type != "tag") return f.Error("type", "must be 'branch' or 'tag'");
  SLUICE_ASSIGN_OR_RAISE(ref.max_ref_age_ms, f.OptionalLong("max-ref-age-ms"));
  SLUICE_ASSIGN_OR_RAISE(ref.max_snapshot_age_ms, f.OptionalLong("max-snapshot-age-ms"));
  SLUICE_ASSIGN_OR_RAISE(auto keep, f.OptionalLong("min-snapshots-to-keep"));
  if (keep) ref.min_snapshots_to_keep = static_cast<int>(*keep);
  return ref;
}

// ---- TableMetadata --------------------------------------------------------------------------

TableMetadata TableMetadata::NewTable(const std::string& location, const std::string& table_uuid, int64_t now_ms) {
  TableMetadata m;
  m.table_uuid = table_uuid;
  m.location = location;
  m.last_updated_ms = now_ms;
  m.schemas.push_back(Schema{});
  m.partition_specs.push_back(PartitionSpec{});
  m.sort_orders = json::array({{{"order-id", 0}, {"fields", json::array()}}});
  m.properties = {{"write.format.default", "parquet"}};
  return m;
}

const Schema* TableMetadata::FindSchema(int id) const {
  for (const auto& s : schemas) {
    if (s.schema_id == id) return &s;
  }
  return nullptr;
}

const Schema* TableMetadata::current_schema() const { return FindSchema(current_schema_id); }

const PartitionSpec* TableMetadata::FindSpec(int id) const {
  for (const auto& s : partition_specs) {
    if (s.spec_id == id) return &s;
  }
  return nullptr;
}

const Snapshot* TableMetadata::FindSnapshot(int64_t id) const {
  for (const auto& s : snapshots) {
    if (s.snapshot_id == id) return &s;
  }
  return nullptr;
}

const Snapshot* TableMetadata::current_snapshot() const {
  return current_snapshot_id ? FindSnapshot(*current_snapshot_id) : nullptr;
}

std::optional<int64_t> TableMetadata::RefSnapshotId(const std::string& ref) const {
  auto it = refs.find(ref);
  if (it != refs.end()) return it->second.snapshot_id;
  if (ref == "main") return current_snapshot_id;
  return std::nullopt;
}

void TableMetadata::AddSnapshotOnMain(Snapshot snapshot) {
  int64_t id = snapshot.snapshot_id;
  int64_t at = snapshot.timestamp_ms;
  last_sequence_number = std::max(last_sequence_number, snapshot.sequence_number);
  last_updated_ms = at;
  snapshots.push_back(std::move(snapshot));
  current_snapshot_id = id;
  SnapshotRef main;
  main.snapshot_id = id;
  refs["main"] = main;
  snapshot_log.push_back({at, id});
}

json TableMetadata::ToJson() const {
  json out = {{"format-version", format_version},
              {"table-uuid", table_uuid},
              {"location", location},
              {"last-sequence-number", last_sequence_number},
              {"last-updated-ms", last_updated_ms},
              {"last-column-id", last_column_id},
              {"current-schema-id", current_schema_id},
              {"schemas", json::array()},
              {"partition-specs", json::array()},
              {"default-spec-id", default_spec_id},
              {"last-partition-id", last_partition_id},
              {"sort-orders", sort_orders},
              {"default-sort-order-id", default_sort_order_id},
              {"properties", properties},
              {"refs", json::object()},
              {"snapshots", json::array()},
              {"snapshot-log", json::array()},
              {"metadata-log", json::array()}};
  // Absent when there is none, as pyiceberg writes it (Java writes -1; both read either).
  if (current_snapshot_id) out["current-snapshot-id"] = *current_snapshot_id;
  for (const auto& s : schemas) out["schemas"].push_back(s.ToJson());
  for (const auto& s : partition_specs) out["partition-specs"].push_back(s.ToJson());
  for (const auto& [name, ref] : refs) out["refs"][name] = ref.ToJson();
  for (const auto& s : snapshots) out["snapshots"].push_back(s.ToJson());
  for (const auto& e : snapshot_log) {
    out["snapshot-log"].push_back({{"timestamp-ms", e.timestamp_ms}, {"snapshot-id", e.snapshot_id}});
  }
  for (const auto& e : metadata_log) {
    out["metadata-log"].push_back({{"timestamp-ms", e.timestamp_ms}, {"metadata-file", e.metadata_file}});
  }
  return Merge(out, extra);
}

Result<TableMetadata> TableMetadata::Parse(const json& value, const std::string& where) {
  SLUICE_RETURN_NOT_OK(Fields::CheckObject(value, where, ""));
  Fields f(value, where, "");
  TableMetadata m;
  SLUICE_ASSIGN_OR_RAISE(m.format_version, f.Int("format-version"));
  if (m.format_version < 1 || m.format_version > 3) {
    return InvalidInput(where, ": format-version ", m.format_version, " is not one Sluice reads (1, 2 or 3)");
  }
  SLUICE_ASSIGN_OR_RAISE(m.table_uuid, f.String("table-uuid", ""));
  SLUICE_ASSIGN_OR_RAISE(m.location, f.String("location"));
  SLUICE_ASSIGN_OR_RAISE(m.last_sequence_number, f.Long("last-sequence-number", 0));
  SLUICE_ASSIGN_OR_RAISE(m.last_updated_ms, f.Long("last-updated-ms", 0));
  SLUICE_ASSIGN_OR_RAISE(m.last_column_id, f.Int("last-column-id", 0));
  if (f.Has("schemas")) {
    SLUICE_ASSIGN_OR_RAISE(const json* schemas, f.Array("schemas", true));
    for (size_t i = 0; i < schemas->size(); ++i) {
      SLUICE_ASSIGN_OR_RAISE(Schema s, ParseSchemaAt((*schemas)[i], where, f.Item("schemas", i)));
      m.schemas.push_back(std::move(s));
    }
    SLUICE_ASSIGN_OR_RAISE(m.current_schema_id, f.Int("current-schema-id", 0));
  } else if (f.Has("schema")) {  // v1 writers may give only the one schema
    SLUICE_ASSIGN_OR_RAISE(Schema s, ParseSchemaAt(value["schema"], where, "schema"));
    m.current_schema_id = s.schema_id;
    m.schemas.push_back(std::move(s));
  } else {
    return f.Error("schemas", "is missing");
  }
  if (!m.current_schema()) {
    return InvalidInput(where, ": field 'current-schema-id' names schema ", m.current_schema_id,
                        ", which 'schemas' does not hold");
  }
  SLUICE_ASSIGN_OR_RAISE(const json* specs, f.Array("partition-specs", false));
  for (size_t i = 0; i < specs->size(); ++i) {
    SLUICE_ASSIGN_OR_RAISE(PartitionSpec s, ParsePartitionSpecAt((*specs)[i], where, f.Item("partition-specs", i)));
    m.partition_specs.push_back(std::move(s));
  }
  if (m.partition_specs.empty()) m.partition_specs.push_back(PartitionSpec{});
  SLUICE_ASSIGN_OR_RAISE(m.default_spec_id, f.Int("default-spec-id", 0));
  if (!m.default_spec()) {
    return InvalidInput(where, ": field 'default-spec-id' names spec ", m.default_spec_id,
                        ", which 'partition-specs' does not hold");
  }
  SLUICE_ASSIGN_OR_RAISE(m.last_partition_id, f.Int("last-partition-id", 999));
  if (f.Has("sort-orders")) {
    SLUICE_ASSIGN_OR_RAISE(const json* orders, f.Array("sort-orders", true));
    m.sort_orders = *orders;
  }
  SLUICE_ASSIGN_OR_RAISE(m.default_sort_order_id, f.Int("default-sort-order-id", 0));
  SLUICE_ASSIGN_OR_RAISE(m.properties, f.StringMap("properties"));
  SLUICE_ASSIGN_OR_RAISE(m.current_snapshot_id, f.OptionalLong("current-snapshot-id"));
  if (m.current_snapshot_id && *m.current_snapshot_id < 0) m.current_snapshot_id.reset();  // -1: none
  SLUICE_ASSIGN_OR_RAISE(const json* snapshots, f.Array("snapshots", false));
  std::set<int64_t> ids;
  for (size_t i = 0; i < snapshots->size(); ++i) {
    SLUICE_ASSIGN_OR_RAISE(Snapshot s, ParseSnapshotAt((*snapshots)[i], where, f.Item("snapshots", i)));
    if (!ids.insert(s.snapshot_id).second) {
      return InvalidInput(where, ": field '", f.Item("snapshots", i), "': snapshot id ", s.snapshot_id,
                          " is used twice");
    }
    m.snapshots.push_back(std::move(s));
  }
  if (f.Has("refs")) {
    if (!value["refs"].is_object()) return f.Error("refs", "must be an object");
    for (const auto& [name, ref] : value["refs"].items()) {
      SLUICE_ASSIGN_OR_RAISE(m.refs[name], ParseSnapshotRefAt(ref, where, "refs." + name));
    }
  }
  SLUICE_ASSIGN_OR_RAISE(const json* log, f.Array("snapshot-log", false));
  for (size_t i = 0; i < log->size(); ++i) {
    SLUICE_RETURN_NOT_OK(Fields::CheckObject((*log)[i], where, f.Item("snapshot-log", i)));
    Fields g((*log)[i], where, f.Item("snapshot-log", i));
    SnapshotLogEntry e;
    SLUICE_ASSIGN_OR_RAISE(e.timestamp_ms, g.Long("timestamp-ms"));
    SLUICE_ASSIGN_OR_RAISE(e.snapshot_id, g.Long("snapshot-id"));
    m.snapshot_log.push_back(e);
  }
  SLUICE_ASSIGN_OR_RAISE(const json* metadata_log, f.Array("metadata-log", false));
  for (size_t i = 0; i < metadata_log->size(); ++i) {
    SLUICE_RETURN_NOT_OK(Fields::CheckObject((*metadata_log)[i], where, f.Item("metadata-log", i)));
    Fields g((*metadata_log)[i], where, f.Item("metadata-log", i));
    MetadataLogEntry e;
    SLUICE_ASSIGN_OR_RAISE(e.timestamp_ms, g.Long("timestamp-ms"));
    SLUICE_ASSIGN_OR_RAISE(e.metadata_file, g.String("metadata-file"));
    m.metadata_log.push_back(e);
  }
  m.extra = f.Extra({"format-version", "table-uuid", "location", "last-sequence-number", "last-updated-ms",
                     "last-column-id", "schemas", "current-schema-id", "partition-specs", "default-spec-id",
                     "last-partition-id", "sort-orders", "default-sort-order-id", "properties", "current-snapshot-id",
                     "refs", "snapshots", "snapshot-log", "metadata-log"});
  return m;
}

Result<TableMetadata> ReadTableMetadataFile(const std::string& location) {
  SLUICE_ASSIGN_OR_RAISE(std::string text, FileIO::Default().ReadAll(location));
  json value;
  try {
    value = ParseBoundedJson(text);
  } catch (const std::exception& e) {
    return InvalidInput("unreadable table metadata '", location, "': ", e.what());
  }
  return TableMetadata::Parse(value, "malformed table metadata '" + location + "'");
}

int MetadataFileVersion(const std::string& location) {
  std::string name = location.substr(location.find_last_of('/') + 1);
  if (!name.empty() && name[0] == 'v') name = name.substr(1);
  try {
    return std::stoi(name.substr(0, name.find_first_of("-.")));
  } catch (...) {
    return 0;
  }
}

Result<std::string> WriteTableMetadataFile(const TableMetadata& metadata, int version) {
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%05d", version);
  std::string path = metadata.location + "/metadata/" + prefix + "-" + NewUuid() + ".metadata.json";
  SLUICE_RETURN_NOT_OK(FileIO::Default().WriteAtomically(path, metadata.ToJson().dump(2)));
  return path;
}

}  // namespace sluice
