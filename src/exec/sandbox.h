// The isolation a model's worker runs under. For now: no network unless the model asks for
// it (`internet_access=True`), by starting the worker in a fresh network namespace (only a
// loopback that is down), through util-linux `unshare --net`.
#pragma once

#include <string>
#include <vector>

namespace sluice {

// Whether this machine lets us create network namespaces (checked once per process).
bool NetworkIsolationAvailable();

// The command prefix that starts a worker in its sandbox; empty when there is nothing to do
// or the machine cannot do it.
std::vector<std::string> SandboxPrefix(bool internet_access);

}  // namespace sluice
