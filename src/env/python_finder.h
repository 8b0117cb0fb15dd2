// Finds the interpreter a model's @python("3.12") asks for, through uv: one already installed
// (`uv python find`: the PATH, uv's own installs), else one uv installs (`uv python install`)
// where downloads are allowed and the machine can reach them. Interpreters found are kept per
// process; a failure is looked up again next time.
#pragma once

#include <string>

#include "common/status.h"

namespace sluice {

struct FoundPython {
  std::string path;     // absolute path of the interpreter
  std::string version;  // "3.12.1"
};

// `wanted`: "3.12" or "3.12.1". NotFound, when no interpreter can be had, names what is
// installed (`uv python list --only-installed`) and carries the command that installs one as
// its hint. Downloads are not tried when $SLUICE_PYTHON_DOWNLOADS or $UV_PYTHON_DOWNLOADS is
// "never".
Result<FoundPython> FindPython(const std::string& uv, const std::string& wanted);

// True when `version` ("3.12.1") is the release `wanted` ("3.12" or "3.12.1") names.
bool PythonVersionMatches(const std::string& version, const std::string& wanted);

}  // namespace sluice
