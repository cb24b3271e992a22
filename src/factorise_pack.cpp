#include "factorise_pack.hpp"

// Lane vectors as in mlp_pack.cpp: GCC's and Clang's vector extension, lowered to AVX-512, AVX2 or
// SSE2 by the clones (lanes.hpp); -ffp-contract=off keeps every build's numbers the same.

namespace labrun::detail {
namespace {

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  using V = float __attribute__((vector_size(64), aligned(4), may_alias));
  using Mask = int32_t __attribute__((vector_size(64), aligned(4), may_alias));
};
template <>
struct Lanes<double> {
  using V = double __attribute__((vector_size(64), aligned(8), may_alias));
  using Mask = int64_t __attribute__((vector_size(64), aligned(8), may_alias));
};

template <typename T>
LABRUN_INLINE typename Lanes<T>::V splat(T value) {
  typename Lanes<T>::V v;
  for (int l = 0; l < FactorisePack<T>::kLanes; ++l) v[l] = value;
  return v;
}

// The shapes kN x kR known when compiled (Iris at rank 2: every loop unrolled), or at run time (0).
// U, V: the factors (read); U_out, V_out: the updated ones (written).
template <typename T, int kN, int kR>
LABRUN_VECTOR_CLONES void epoch_kernel(int64_t m, int64_t columns, int64_t rank, const T* A,
                                       const typename Lanes<T>::V* U, const typename Lanes<T>::V* V,
                                       typename Lanes<T>::V* U_out, typename Lanes<T>::V* V_out,
                                       typename Lanes<T>::V* dV, typename Lanes<T>::V* G,
                                       const typename Lanes<T>::Mask* active, const T* lr_divisor,
                                       typename Lanes<T>::V* loss) {
  using Vec = typename Lanes<T>::V;
  using Mask = typename Lanes<T>::Mask;
  const int64_t n = kN > 0 ? kN : columns, r = kR > 0 ? kR : rank;
  const Vec zero = splat<T>(0), lr = splat<T>(lr_divisor[0]), divisor = splat<T>(lr_divisor[1]);
  const Vec scale = splat<T>(1) / divisor;
  const Mask keep = ~*active;
  for (int64_t i = 0; i < n * r; ++i) dV[i] = zero;
  Vec total = zero;
  for (int64_t i = 0; i < m; ++i, A += n) {
    const Vec* Ui = U + i * r;
    Vec* Ui_out = U_out + i * r;
    // R_i = U_i V^T - A_i; G_i = (2 R_i) scale
    for (int64_t j = 0; j < n; ++j) {
      Vec p = Ui[0] * V[j * r];
      for (int64_t k = 1; k < r; ++k) p = p + Ui[k] * V[j * r + k];
      const Vec R = p - splat<T>(A[j]);
      total = total + R * R;
      G[j] = scale * (R + R);
    }
    // dV += G_i^T U_i (the old U_i); dU_i = G_i V; U_i <- U_i - lr dU_i where active
    for (int64_t k = 0; k < r; ++k) {
      Vec d = G[0] * V[k];
      for (int64_t j = 1; j < n; ++j) d = d + G[j] * V[j * r + k];
      for (int64_t j = 0; j < n; ++j) dV[j * r + k] = dV[j * r + k] + G[j] * Ui[k];
      G[n + k] = d;
    }
    for (int64_t k = 0; k < r; ++k) {
      const Vec updated = Ui[k] - lr * G[n + k];
      Ui_out[k] = (Vec)(((Mask)updated & *active) | ((Mask)Ui[k] & keep));
    }
  }
  for (int64_t i = 0; i < n * r; ++i) {
    const Vec updated = V[i] - lr * dV[i];
    V_out[i] = (Vec)(((Mask)updated & *active) | ((Mask)V[i] & keep));
  }
  *loss = total / divisor;
}

}  // namespace

template <typename T>
void factorise_pack_epoch(FactorisePack<T>& pack, const T* A, T lr, T divisor, T* loss) {
  using Vec = typename Lanes<T>::V;
  pack.scratch.resize(static_cast<std::size_t>(pack.n * pack.r + pack.n + pack.r + 1) * FactorisePack<T>::kLanes);
  const auto lanes = [](auto& a) { return reinterpret_cast<Vec*>(a.data()); };
  Vec* dV = lanes(pack.scratch);
  Vec* sum = dV + pack.n * pack.r + pack.n + pack.r;
  const T lr_divisor[2] = {lr, divisor};
  const auto kernel = pack.n == 4 && pack.r == 2 ? epoch_kernel<T, 4, 2> : epoch_kernel<T, 0, 0>;
  pack.U_before.resize(pack.U.size());
  pack.V_before.resize(pack.V.size());
  pack.U.swap(pack.U_before);
  pack.V.swap(pack.V_before);
  kernel(pack.m, pack.n, pack.r, A, lanes(pack.U_before), lanes(pack.V_before), lanes(pack.U), lanes(pack.V), dV,
         dV + pack.n * pack.r, reinterpret_cast<const typename Lanes<T>::Mask*>(pack.active.data()), lr_divisor, sum);
  for (int l = 0; l < FactorisePack<T>::kLanes; ++l) loss[l] = (*sum)[l];
}

template void factorise_pack_epoch<float>(FactorisePack<float>&, const float*, float, float, float*);
template void factorise_pack_epoch<double>(FactorisePack<double>&, const double*, double, double, double*);

}  // namespace labrun::detail
