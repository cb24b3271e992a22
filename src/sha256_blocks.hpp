#pragma once
// SHA-256's two block functions, for tests that check both against the standard's vectors.

#include <string>
#include <string_view>

namespace labrun::detail {

// Whether Sha256 runs on this CPU's SHA instructions (else the portable loop).
bool sha256_uses_cpu_instructions();
// The digest by the portable loop, whatever the CPU.
std::string sha256_hex_portable(std::string_view bytes);

}  // namespace labrun::detail
