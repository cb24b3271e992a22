#pragma once
// SHA-256 (FIPS 180-4), for recording which data a run read.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace labrun {

// A digest of bytes given in pieces, for data read a block at a time.
class Sha256 {
 public:
  // With the CPU's SHA instructions where it has them, unless `portable`; the digest is the same.
  explicit Sha256(bool portable = false);
  void update(std::string_view bytes);
  // The digest of every byte given so far, as 64 lowercase hexadecimal digits; call once.
  std::string hex();

 private:
  std::array<uint32_t, 8> state_;
  std::array<unsigned char, 64> block_{};
  std::size_t pending_ = 0;  // bytes of block_ in use
  std::size_t length_ = 0;   // bytes given in all
  // The block function chosen for this CPU: `blocks` 64-byte blocks into the state.
  void (*compress_)(std::array<uint32_t, 8>& state, const unsigned char* data, std::size_t blocks) = nullptr;
};

// The digest of `bytes` as 64 lowercase hexadecimal digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace labrun
