// sluice parameter ls / set / rm: the `parameters:` of the project file, as bauplan's
// `parameter` command edits them. Only that block of the file is rewritten; every other
// line stays as the user wrote it. Secret values are sealed with the data home's key
// (common/secret_box.h) before they reach the file, and opened only when a run hands them
// to a model (exec/runner.cc).
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/file_util.h"
#include "common/secret_box.h"
#include "project/project.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

// One entry of `parameters:`, kept as its YAML node plus what the commands read from it.
struct Entry {
  std::string name;
  YAML::Node node;  // a mapping (a bare scalar entry is turned into {default: it})
};

std::string Text(const YAML::Node& node, const std::string& fallback = "") {
  return node && node.IsScalar() ? node.as<std::string>() : fallback;
}

std::string TypeOf(const Entry& entry) { return CanonicalParameterType(Text(entry.node["type"], "str")); }

bool RequiredOf(const Entry& entry) {
  std::string text = Text(entry.node["required"], "false");
  return text == "true" || text == "True" || text == "yes";
}

struct ProjectParameters {
  std::string path;
  std::string text;            // the file as read
  std::vector<Entry> entries;  // in file order
};

Result<ProjectParameters> Load(const std::string& dir) {
  ProjectParameters out;
  SLUICE_ASSIGN_OR_RAISE(out.path, FindProjectFile(AbsolutePath(dir.empty() ? "." : dir)));
  SLUICE_ASSIGN_OR_RAISE(out.text, ReadFile(out.path));
  YAML::Node root;
  try {
    root = YAML::Load(out.text);
  } catch (const YAML::Exception& e) {
    return InvalidInput(out.path, ":", e.mark.line + 1, ": invalid YAML: ", e.msg);
  }
  if (root && !root.IsNull() && !root.IsMap()) return InvalidInput(out.path, ": expected a mapping at the top");
  YAML::Node parameters = root ? root["parameters"] : YAML::Node();
  if (!parameters || parameters.IsNull()) return out;
  if (!parameters.IsMap()) return InvalidInput(out.path, ": parameters must be a mapping");
  for (const auto& item : parameters) {
    Entry entry{item.first.as<std::string>(), item.second};
    if (!entry.node.IsMap()) {
      YAML::Node map(YAML::NodeType::Map);
      if (entry.node.IsScalar()) map["default"] = entry.node;
      entry.node = map;
    }
    out.entries.push_back(std::move(entry));
  }
  return out;
}

// The `parameters:` block in block style. Values of str and secret parameters are always
// double-quoted (newlines and ": " escaped), so no value can add keys to the file.
std::string EmitParameters(const std::vector<Entry>& entries) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "parameters" << YAML::Value;
  if (entries.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  } else {
    out << YAML::BeginMap;
    for (const auto& entry : entries) {
      std::string type = TypeOf(entry);
      bool text_value = type == "str" || type == "secret";
      out << YAML::Key << entry.name << YAML::Value << YAML::BeginMap;
      for (const auto& field : entry.node) {
        std::string key = field.first.as<std::string>();
        out << YAML::Key << key << YAML::Value;
        if (field.second.IsScalar() && (key == "description" || key == "key" || (key == "default" && text_value))) {
          out << YAML::DoubleQuoted << field.second.as<std::string>();
        } else {
          out << field.second;
        }
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// The file with its top-level `parameters:` block (the key's line and the indented lines
// after it) replaced by `block`, or `block` appended when there is none.
std::string ReplaceBlock(const std::string& text, const std::string& block) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  size_t start = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("parameters", 0) == 0) {
      size_t k = 10;
      while (k < lines[i].size() && lines[i][k] == ' ') ++k;
      if (k < lines[i].size() && lines[i][k] == ':') {
        start = i;
        break;
      }
    }
  }
  std::string out;
  if (start == lines.size()) {
    out = text;
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out + block;
  }
  size_t end = start + 1;
  while (end < lines.size()) {
    const std::string& line = lines[end];
    bool inside = line.empty() || line[0] == ' ' || line[0] == '\t' || line[0] == '#';
    if (!inside || line.rfind("---", 0) == 0 || line.rfind("...", 0) == 0) break;
    ++end;
  }
  // Blank lines and column-0 comments closing the block stay with what follows.
  while (end > start + 1 && (lines[end - 1].empty() || lines[end - 1][0] == '#')) --end;
  for (size_t i = 0; i < start; ++i) out += lines[i] + "\n";
  out += block;
  for (size_t i = end; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

Status Save(const ProjectParameters& project, const std::vector<Entry>& entries) {
  std::string text = ReplaceBlock(project.text, EmitParameters(entries));
  try {
    YAML::Load(text);  // never write a file we cannot read back
  } catch (const YAML::Exception& e) {
    return Internal("the edited project file would not parse (", e.msg, "); left unchanged");
  }
  return WriteFileAtomic(project.path, text);
}

// The default for people: secrets masked, control characters escaped so one parameter is
// one line.
std::string DisplayDefault(const Entry& entry) {
  YAML::Node value = entry.node["default"];
  if (!value || value.IsNull()) return "-";
  if (TypeOf(entry) == "secret") return "********";
  std::string out;
  for (unsigned char c : Text(value, "-")) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The default as JSON: typed, the secret masked.
json DefaultJson(const Entry& entry) {
  YAML::Node value = entry.node["default"];
  if (!value || value.IsNull()) return nullptr;
  std::string type = TypeOf(entry), text = Text(value);
  if (type == "secret") return "********";
  ParameterSpec spec;
  spec.name = entry.name;
  spec.type = type;
  auto typed = ParseParameterValue(spec, text);
  if (!typed.ok()) return text;
  return std::visit([](const auto& v) { return json(v); }, *typed);
}

Status Print(CliContext& context, const std::vector<Entry>& entries) {
  if (context.json()) {
    json out = json::array();
    for (const auto& entry : entries) {
      json item = {{"name", entry.name},
                   {"type", TypeOf(entry)},
                   {"required", RequiredOf(entry)},
                   {"description", Text(entry.node["description"])},
                   {"default", DefaultJson(entry)}};
      out.push_back(item);
    }
    context.PrintJson(out);
    return Status::OK();
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"}};
  for (const auto& entry : entries) {
    std::string description = Text(entry.node["description"], "-");
    rows.push_back({entry.name, TypeOf(entry), RequiredOf(entry) ? "required" : "optional", DisplayDefault(entry),
                    description.empty() ? "-" : description});
  }
  std::vector<size_t> width(5, 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  return Status::OK();
}

Status ValidateName(const std::string& name) {
  if (name.empty()) return InvalidInput("empty parameter name");
  for (unsigned char c : name) {
    if (std::isspace(c) || c == '.' || c < 0x20 || c == 0x7f) {
      return WithHint(InvalidInput("invalid parameter name '", name, "'"),
                      "names have no whitespace, dots or control characters, e.g. min_miles");
    }
  }
  return Status::OK();
}

Entry* Find(std::vector<Entry>& entries, const std::string& name) {
  for (auto& entry : entries) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

struct SetArgs {
  std::string name, name_flag, value, value_flag, type, description, file, project_dir;
  bool has_description = false, required = false, optional = false;
};

Status Set(CliContext& context, SetArgs args) {
  if (args.name.empty()) args.name = args.name_flag;
  if (args.value.empty()) args.value = args.value_flag;
  if (!args.name_flag.empty() && args.name_flag != args.name) {
    return InvalidInput("the parameter is named twice: '", args.name, "' and --name '", args.name_flag, "'");
  }
  SLUICE_RETURN_NOT_OK(ValidateName(args.name));
  if (args.required && args.optional) return InvalidInput("--required and --optional exclude each other");
  bool has_value = !args.value.empty() || !args.value_flag.empty();
  if (has_value && !args.file.empty()) return InvalidInput("cannot set both a value and --file");
  if (!args.file.empty()) {
    SLUICE_ASSIGN_OR_RAISE(args.value, ReadFile(args.file));
    has_value = true;
  }
  SLUICE_ASSIGN_OR_RAISE(ProjectParameters project, Load(args.project_dir));
  std::vector<Entry> entries = project.entries;
  Entry* entry = Find(entries, args.name);
  if (!entry) {
    entries.push_back({args.name, YAML::Node(YAML::NodeType::Map)});
    entry = &entries.back();
    entry->node["type"] = args.type.empty() ? "str" : args.type;
  }
  bool had_default = entry->node["default"] && !entry->node["default"].IsNull();
  if (!args.type.empty() && had_default && !has_value && args.type != TypeOf(*entry)) {
    return InvalidInput("cannot change the type of parameter '", args.name,
                        "' without also changing its default value");
  }
  if (has_value) {
    if (!args.type.empty()) entry->node["type"] = args.type;
    std::string type = TypeOf(*entry);
    if (type == "secret") {
      SLUICE_ASSIGN_OR_RAISE(SecretBox box, SecretBox::Open(DefaultSecretKeyPath(), /*create=*/true));
      SLUICE_ASSIGN_OR_RAISE(std::string sealed, box.Seal(args.name, args.value));
      entry->node["default"] = sealed;
      entry->node["key"] = "sluice-local";
    } else {
      ParameterSpec spec;
      spec.name = args.name;
      spec.type = type;
      std::string text = args.value;
      if (type == "bool") {
        std::string lower = text;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        text = lower == "on" ? "true" : lower == "off" ? "false" : lower;
      }
      SLUICE_ASSIGN_OR_RAISE(ParameterValue value, ParseParameterValue(spec, text));
      if (const bool* flag = std::get_if<bool>(&value)) text = *flag ? "true" : "false";
      entry->node["default"] = text;
      entry->node.remove("key");
    }
  }
  if (args.has_description) {
    std::string description = args.description;
    description.erase(0, description.find_first_not_of(" \t\r\n"));
    description.erase(description.find_last_not_of(" \t\r\n") + 1);
    if (description.empty()) {
      entry->node.remove("description");
    } else {
      entry->node["description"] = description;
    }
  }
  if (args.required) entry->node["required"] = true;
  if (args.optional) entry->node["required"] = false;
  SLUICE_RETURN_NOT_OK(Save(project, entries));
  return Print(context, entries);
}

}  // namespace

void AddParameterCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* parameter = app.add_subcommand("parameter", "List, set and remove the project's parameters");
  parameter->require_subcommand(1);

  auto* ls = parameter->add_subcommand("ls", "List the parameters of a project")->alias("list");
  auto ls_dir = std::make_shared<std::string>();
  ls->add_option("-p,--project-dir", *ls_dir, "Project directory (default: the current one)");
  ls->callback([&context, exit_code, ls_dir] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(ProjectParameters project, Load(*ls_dir));
      return Print(context, project.entries);
    }());
  });

  auto* rm = parameter->add_subcommand("rm", "Remove a parameter from a project")->alias("delete");
  auto rm_name = std::make_shared<std::string>();
  auto rm_name_flag = std::make_shared<std::string>();
  auto rm_dir = std::make_shared<std::string>();
  rm->add_option("name", *rm_name, "Parameter name");
  rm->add_option("--name", *rm_name_flag, "Parameter name (older form)");
  rm->add_option("-p,--project-dir", *rm_dir, "Project directory (default: the current one)");
  rm->callback([&context, exit_code, rm_name, rm_name_flag, rm_dir] {
    *exit_code = ReportError([&]() -> Status {
      std::string name = rm_name->empty() ? *rm_name_flag : *rm_name;
      SLUICE_RETURN_NOT_OK(ValidateName(name));
      SLUICE_ASSIGN_OR_RAISE(ProjectParameters project, Load(*rm_dir));
      std::vector<Entry> entries = project.entries;
      if (!Find(entries, name)) {
        std::string known;
        for (const auto& entry : entries) known += (known.empty() ? "" : ", ") + entry.name;
        return WithHint(NotFound("parameter '", name, "' not found in ", project.path),
                        known.empty() ? "the project defines no parameters" : "the project defines: " + known);
      }
      std::erase_if(entries, [&](const Entry& entry) { return entry.name == name; });
      SLUICE_RETURN_NOT_OK(Save(project, entries));
      return Print(context, entries);
    }());
  });

  auto* set = parameter->add_subcommand("set", "Set a parameter's default, type, description or requirement");
  auto args = std::make_shared<SetArgs>();
  set->add_option("name", args->name, "Parameter name");
  set->add_option("default_value", args->value, "Default value");
  set->add_option("--name", args->name_flag, "Parameter name (older form)");
  set->add_option("--value", args->value_flag, "Default value (older form)");
  set->add_option("--type", args->type, "str, int, float, bool or secret")
      ->check(CLI::IsMember({"str", "int", "float", "bool", "secret"}));
  set->add_option("--description", args->description, "Description (empty removes it)")
      ->each([args](const std::string&) { args->has_description = true; });
  set->add_flag("--required", args->required, "Mark the parameter as required");
  set->add_flag("--optional", args->optional, "Mark the parameter as optional");
  set->add_option("-f,--file", args->file, "Read the value from this file");
  set->add_option("-p,--project-dir", args->project_dir, "Project directory (default: the current one)");
  set->callback([&context, exit_code, args] { *exit_code = ReportError(Set(context, *args)); });
}

}  // namespace sluice::cli
