#pragma once
// The batched factorisation's kernel for small matrices: a pack of seeds trained side by side, seed
// l in vector lane l of every array (16 in float32, 8 in float64), on the residual form.
//
//   A: m x n (shared by every seed)   U: m x r   V: n x r   each a lane vector an entry
//   per row i:  R_i = U_i V^T - A_i,  loss += ||R_i||^2,  G_i = 2 R_i (/ m n for the mean)
//               dU_i = G_i V,  dV += G_i^T U_i,  then U_i <- U_i - lr dU_i
//   at the end: V <- V - lr dV
// U_i's update needs only row i's residual and the old V, and dV takes row i's old U_i before it
// changes, so one pass over A's rows is a whole epoch of full-batch gradient descent. The lanes
// never mix and the file is compiled without FMA contraction: a seed's numbers depend neither on its
// lane or pack nor on the CPU's vector width.

#include "lanes.hpp"

#include <cstdint>
#include <type_traits>
#include <vector>

namespace labrun::detail {

template <typename T>
struct FactorisePack {
  static constexpr int kLanes = 64 / static_cast<int>(sizeof(T));
  int64_t m = 0, n = 0, r = 0;
  std::vector<T, CacheAligned<T>> U;  // m x r x kLanes
  std::vector<T, CacheAligned<T>> V;  // n x r x kLanes
  // The factors before the last epoch's update (the epoch writes U, V anew and keeps these).
  std::vector<T, CacheAligned<T>> U_before, V_before;
  std::vector<T, CacheAligned<T>> scratch;  // an epoch's dV (n x r), G (n + r) and losses (1)
  using Bits = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  std::vector<Bits, CacheAligned<Bits>> active = std::vector<Bits, CacheAligned<Bits>>(kLanes, -1);  // 0: frozen
};

// One epoch for every lane: its loss, the sum of squares / `divisor` (1 for the sum, m n for the
// mean), into loss[l], then the update of the active lanes, their gradients those of that loss.
// The factors before the update go to U_before and V_before. A: m x n, row-major.
template <typename T>
void factorise_pack_epoch(FactorisePack<T>& pack, const T* A, T lr, T divisor, T* loss);

}  // namespace labrun::detail
