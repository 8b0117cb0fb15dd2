#include "server/server_fingerprint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "common/config.h"
#include "common/hash.h"

extern char** environ;

namespace sluice {
namespace {

// Every variable of the environment counts (a model may read any: DATABASE_URL, HF_TOKEN,
// OMP_NUM_THREADS), except these. Read only by the client before it picks where a command
// runs, or fixed by the server's location: they never change what the server does.
constexpr std::string_view kClientOnly[] = {"SLUICE_HOME",    "SLUICE_SERVER",      "SLUICE_ENDPOINT",
                                            "SLUICE_PROFILE", "SLUICE_CONFIG_PATH", "SLUICE_API_KEY"};
// The shell's and the terminal's own, which differ between two windows of one user without
// changing anything a run does: counted, they would replace the server at every switch.
constexpr std::string_view kTerminalNames[] = {"_",
                                               "PWD",
                                               "OLDPWD",
                                               "SHLVL",
                                               "TERM",
                                               "COLORTERM",
                                               "DISPLAY",
                                               "WINDOWID",
                                               "COLUMNS",
                                               "LINES",
                                               "LS_COLORS",
                                               "PS1",
                                               "PS2",
                                               "PROMPT_COMMAND",
                                               "HISTFILE",
                                               "HISTSIZE",
                                               "HISTCONTROL",
                                               "MAIL",
                                               "GPG_TTY",
                                               "STY",
                                               "WINDOW",
                                               "INVOCATION_ID",
                                               "JOURNAL_STREAM",
                                               "DBUS_SESSION_BUS_ADDRESS",
                                               "XDG_SESSION_ID",
                                               "MOTD_SHOWN",
                                               "EDITOR",
                                               "VISUAL",
                                               "PAGER",
                                               "LESS"};
constexpr std::string_view kTerminalPrefixes[] = {"SSH_",        "TERM_",  "TMUX", "VSCODE_",  "ITERM_",
                                                  "LC_TERMINAL", "KITTY_", "WT_",  "KONSOLE_", "GNOME_TERMINAL_"};

bool Fingerprinted(std::string_view name) {
  for (auto client_only : kClientOnly) {
    if (name == client_only) return false;
  }
  for (auto prefix : kTerminalPrefixes) {
    if (name.substr(0, prefix.size()) == prefix) return false;
  }
  return std::find(std::begin(kTerminalNames), std::end(kTerminalNames), name) == std::end(kTerminalNames);
}

// "NAME=value" of every fingerprinted variable, sorted.
std::vector<std::string> FingerprintedEntries() {
  std::vector<std::string> entries;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos || !Fingerprinted(text.substr(0, eq))) continue;
    entries.emplace_back(text);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return path + " missing";
  return path + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ino);
}

std::string OwnBinary() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

// The Python packages every worker and zygote imports: a file edited, added or removed
// changes the newest modification time, the count or the total size.
std::string PackageIdentity(const std::string& dir) {
  namespace fs = std::filesystem;
  int64_t files = 0, bytes = 0;
  fs::file_time_type newest{};
  std::error_code error;
  for (const char* package : {"sluice", "bauplan"}) {
    for (fs::recursive_directory_iterator it(fs::path(dir) / package, error), end; !error && it != end;
         it.increment(error)) {
      if (it->path().extension() != ".py" || !it->is_regular_file(error)) continue;
      ++files;
      bytes += static_cast<int64_t>(it->file_size(error));
      newest = std::max(newest, it->last_write_time(error));
    }
    error.clear();
  }
  return dir + " " + std::to_string(files) + " " + std::to_string(bytes) + " " +
         std::to_string(newest.time_since_epoch().count());
}

}  // namespace

std::vector<std::string> FingerprintVariables() {
  std::vector<std::string> names;
  for (const auto& entry : FingerprintedEntries()) names.push_back(entry.substr(0, entry.find('=')));
  return names;
}

std::string ProcessFingerprint() {
  std::string text = "sluice-fingerprint-v1\n";
  for (const std::string& code : {FileIdentity(OwnBinary()), FileIdentity(SandboxLauncher()),
                                  FileIdentity(ConfinementLibrary()), PackageIdentity(PythonPackageDir())}) {
    text += code + "\n";
  }
  // Length-prefixed, so no value can pass for two.
  for (const auto& entry : FingerprintedEntries()) text += std::to_string(entry.size()) + ":" + entry + "\n";
  return Sha256Hex(text);
}

}  // namespace sluice
