#pragma once
// SHA-256 (FIPS 180-4), for recording which data a run read: OpenSSL's EVP digest (libcrypto, which
// libtorch's dependencies load into the process anyway), on the CPU's SHA instructions where it
// has them.

#include <memory>
#include <string>
#include <string_view>

namespace labrun {

// A digest of bytes given in pieces, for data read a block at a time.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view bytes);
  // The digest of every byte given so far, as 64 lowercase hexadecimal digits; call once.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// The digest of `bytes` as 64 lowercase hexadecimal digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace labrun
