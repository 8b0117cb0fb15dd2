// Secret parameter values at rest: AES-256-GCM under a local key, so a project file holds
// only ciphertext. The key is 32 random bytes in a file readable by its owner only
// ($SLUICE_HOME/secret.key by default), created on first use. A sealed value reads
// "sluice-secret:v1:<base64 of nonce(12) | ciphertext | tag(16)>"; the parameter's name is
// bound as associated data, so a ciphertext moved to another parameter does not open.
#pragma once

#include <string>

#include "common/status.h"

namespace sluice {

// $SLUICE_SECRET_KEY_PATH, else DataHome()/secret.key.
std::string DefaultSecretKeyPath();

class SecretBox {
 public:
  // Reads the key at `key_path`; with `create`, makes it (mode 0600) when it is absent.
  // NotFound when absent and not created; InvalidInput when the file is not a key.
  static Result<SecretBox> Open(const std::string& key_path, bool create);

  // Seals `plain` for the parameter `name`.
  Result<std::string> Seal(const std::string& name, const std::string& plain) const;
  // Opens a sealed value. InvalidInput naming the parameter and the key file when the key
  // is not the one it was sealed with, or the value was altered.
  Result<std::string> Unseal(const std::string& name, const std::string& sealed) const;

  const std::string& key_path() const { return key_path_; }

 private:
  std::string key_;  // 32 bytes
  std::string key_path_;
};

// True when `value` has the sealed form (it may still fail to open).
bool IsSealedSecret(const std::string& value);

}  // namespace sluice
