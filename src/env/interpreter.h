// Where a Python interpreter lives, found without running it.
#pragma once

#include <string>
#include <vector>

namespace sluice {

// The prefixes of `python`: the venv its path is in (bin/python beside pyvenv.cfg), if any,
// then the installation its binary resolves to. Each holds lib/pythonX.Y/site-packages.
// Empty when the path does not resolve.
std::vector<std::string> InterpreterPrefixes(const std::string& python);

}  // namespace sluice
