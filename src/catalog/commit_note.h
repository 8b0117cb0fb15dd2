// What a client adds to a commit it causes: bauplan's `commit_body` and `commit_properties`.
// The commit's own message and its `sluice.*` properties stay the catalog's.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace sluice {

struct CommitRequest;

struct CommitNote {
  std::string body;                               // after the message, past a blank line
  std::map<std::string, std::string> properties;  // added to the commit's properties

  // `message`, then the body when there is one.
  std::string Message(const std::string& message) const;

  // Adds the note to `request`: its body to the message, its properties to the properties.
  void ApplyTo(CommitRequest* request) const;

  // InvalidInput when the note would overwrite what Sluice records (`sluice.*` properties) or
  // is large enough to bloat every listing of the log (a client's note is untrusted).
  Status Validate() const;
};

}  // namespace sluice
