// What a long-lived server was started with, as one hash: the code it runs (the sluice
// binary, the sandbox launcher, the confinement library and the Python packages every
// worker imports, each by path, size and modification time) and the process environment
// variables that change what a run does or which secrets and warehouse it uses (the list
// and the reasons are in docs/decisions.md, "Warm local runs"). A client whose fingerprint
// differs from the data home's server must not have its command run there. Thread-safe.
#pragma once

#include <string>
#include <vector>

namespace sluice {

// The names of the environment variables that enter the fingerprint, as they are set in
// this process, sorted. Values never leave the process: only their hash does.
std::vector<std::string> FingerprintVariables();

// Lower-case hex SHA-256 over the code identities and the variables above (names and
// values) of this process. Two processes of one user in the same environment, started from
// the same build, agree.
std::string ProcessFingerprint();

}  // namespace sluice
