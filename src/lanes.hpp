#pragma once
// What the lane kernels (mlp_pack.cpp, factorise_pack.cpp) share: 64-byte aligned storage and the
// builds a kernel is cloned into.
//
// A kernel marked LABRUN_VECTOR_CLONES is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 and
// FMA) and the x86-64 baseline (SSE2), the CPU choosing at load time. Whether a * b + c becomes one
// FMA is each file's choice (CMakeLists.txt: -ffp-contract): the MLP's contracts, the
// factorisation's does not. LABRUN_KERNELS (CMake) narrows the builds to compare them on one machine
// (scripts/kernels.sh): v3 (LABRUN_KERNELS_V3: AVX2 and the baseline; an AVX-512 machine runs the
// AVX2 build) or baseline (LABRUN_BASELINE_ONLY: SSE2 alone). Hand-written rather than a library's:
// the models live in vector lanes, which no BLAS or vector library batches at these sizes.

#include <cstddef>
#include <new>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(LABRUN_KERNELS_V3)
#define LABRUN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(LABRUN_BASELINE_ONLY)
#define LABRUN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LABRUN_VECTOR_CLONES
#endif
#define LABRUN_INLINE inline __attribute__((always_inline))

namespace labrun::detail {

// 64-byte aligned storage: a lane vector never straddles two cache lines.
template <typename T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <typename U>
  explicit CacheAligned(const CacheAligned<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, std::size_t) { ::operator delete (p, std::align_val_t{64}); }
  friend bool operator==(const CacheAligned&, const CacheAligned&) { return true; }
  friend bool operator!=(const CacheAligned&, const CacheAligned&) { return false; }
};

}  // namespace labrun::detail
