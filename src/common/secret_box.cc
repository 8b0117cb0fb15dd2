#include "common/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>

#include "common/config.h"
#include "common/file_util.h"

namespace sluice {
namespace {

constexpr const char* kPrefix = "sluice-secret:v1:";
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Result<std::string> Unhex(const std::string& text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() % 2) return InvalidInput("odd number of hex digits");
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return InvalidInput("not a hex digit");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

Result<std::string> Unbase64(const std::string& text) {
  if (text.empty() || text.size() % 4) return InvalidInput("bad base64 length");
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return InvalidInput("bad base64");
  size_t pad = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

std::string DefaultSecretKeyPath() {
  if (const char* path = std::getenv("SLUICE_SECRET_KEY_PATH"); path && *path) return path;
  return DataHome() + "/secret.key";
}

bool IsSealedSecret(const std::string& value) { return value.rfind(kPrefix, 0) == 0; }

Result<SecretBox> SecretBox::Open(const std::string& key_path, bool create) {
  SecretBox box;
  box.key_path_ = key_path;
  auto text = ReadFile(key_path);
  if (!text.ok()) {
    if (KindOf(text.status()) != ErrorKind::kNotFound || !create) {
      return WithHint(NotFound("no secret key at '", key_path, "': secret parameters cannot be decrypted"),
                      "secrets are decrypted with the key of the data home that encrypted them; "
                      "set them again with: sluice parameter set NAME VALUE --type secret");
    }
    std::string key(kKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
      return Internal("cannot draw random bytes for a secret key");
    }
    size_t slash = key_path.rfind('/');
    if (slash != std::string::npos && slash > 0) SLUICE_RETURN_NOT_OK(MakeDirs(key_path.substr(0, slash)));
    SLUICE_RETURN_NOT_OK(WriteFileAtomic(key_path, Hex(key) + "\n", 0600));
    box.key_ = key;
    return box;
  }
  struct stat info {};
  if (::stat(key_path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    return WithHint(InvalidInput("secret key '", key_path, "' is readable by other users"), "chmod 600 " + key_path);
  }
  std::string hex = *text;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
  auto key = Unhex(hex);
  if (!key.ok() || key->size() != kKeyBytes) {
    return InvalidInput("'", key_path, "' is not a secret key (expected 64 hex digits)");
  }
  box.key_ = *key;
  return box;
}

Result<std::string> SecretBox::Seal(const std::string& name, const std::string& plain) const {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
    return Internal("cannot draw random bytes for a nonce");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  auto* k = reinterpret_cast<const unsigned char*>(key_.data());
  auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  std::string cipher(plain.size(), '\0'), tag(kTagBytes, '\0');
  int n = 0, total = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(name.data()),
                        static_cast<int>(name.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &n,
                        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) == 1;
  total = n;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()) + total, &n) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) == 1;
  if (!ok) return Internal("AES-256-GCM encryption failed");
  return std::string(kPrefix) + Base64(nonce + cipher + tag);
}

Result<std::string> SecretBox::Unseal(const std::string& name, const std::string& sealed) const {
  auto fail = [&](const std::string& why) {
    return WithHint(
        InvalidInput("secret parameter '", name, "' cannot be decrypted with the key '", key_path_, "': ", why),
        "secrets open only with the key of the data home that set them; set it again with: "
        "sluice parameter set " +
            name + " VALUE --type secret");
  };
  if (!IsSealedSecret(sealed)) return fail("the value is not an encrypted secret");
  auto bytes = Unbase64(sealed.substr(std::string(kPrefix).size()));
  if (!bytes.ok() || bytes->size() < kNonceBytes + kTagBytes) return fail("the value is damaged");
  std::string nonce = bytes->substr(0, kNonceBytes);
  std::string cipher = bytes->substr(kNonceBytes, bytes->size() - kNonceBytes - kTagBytes);
  std::string tag = bytes->substr(bytes->size() - kTagBytes);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string plain(cipher.size(), '\0');
  int n = 0;
  bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(name.data()),
                        static_cast<int>(name.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n,
                        reinterpret_cast<const unsigned char*>(cipher.data()), static_cast<int>(cipher.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1;
  int tail = 0;
  if (!ok || EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &tail) != 1) {
    return fail("wrong key or altered value");
  }
  return plain;
}

}  // namespace sluice
