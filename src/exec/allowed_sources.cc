#include "exec/allowed_sources.h"

#include <algorithm>
#include <sstream>

#include "common/file_util.h"
#include "data/source_reader.h"

namespace sluice {
namespace {

std::string SettingFile(const std::string& home) { return home + "/allowed-sources"; }

std::string Trimmed(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

Result<StorageUri> ParsePrefix(const std::string& entry) {
  auto bad = [&](const std::string& why) {
    return WithHint(InvalidInput(kAllowedSourcesSetting, ": '", entry, "' ", why),
                    "give s3:// prefixes separated by commas, e.g. s3://bucket/raw,s3://other-bucket");
  };
  if (entry.rfind("s3://", 0) != 0) return bad("is not an s3:// location (local files follow $SLUICE_IMPORT_ROOTS)");
  if (entry.find_first_of("%\\*?[") != std::string::npos) return bad("holds '%', '\\' or a glob character");
  auto parsed = StorageUri::Parse(entry);
  if (!parsed.ok()) return bad("is not a valid location: " + parsed.status().message());
  return parsed->Normalized();
}

}  // namespace

Result<std::vector<StorageUri>> ReadAllowedSources(const std::string& home) {
  std::vector<StorageUri> out;
  const std::string file = SettingFile(home);
  if (!PathExists(file)) return out;
  SLUICE_ASSIGN_OR_RAISE(std::string text, ReadFile(file));
  std::stringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = Trimmed(line);
    if (line.empty()) continue;
    SLUICE_ASSIGN_OR_RAISE(StorageUri prefix, WithContext(ParsePrefix(line), "'" + file + "'"));
    out.push_back(std::move(prefix));
  }
  return out;
}

Result<std::vector<StorageUri>> SetAllowedSources(const std::string& home, const std::string& text) {
  std::vector<StorageUri> out;
  std::stringstream entries(text);
  std::string entry;
  std::string contents;
  while (std::getline(entries, entry, ',')) {
    entry = Trimmed(entry);
    if (entry.empty()) continue;
    SLUICE_ASSIGN_OR_RAISE(StorageUri prefix, ParsePrefix(entry));
    if (std::find(out.begin(), out.end(), prefix) != out.end()) continue;
    contents += prefix.ToString() + "\n";
    out.push_back(std::move(prefix));
  }
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(SettingFile(home), contents));
  return out;
}

}  // namespace sluice
