#include "mlp_pack.hpp"

#include <torch/torch.h>

#include <cstring>
#include <limits>

// Every function below works lane by lane on lane vectors (GCC's and Clang's vector extension), which
// the compiler lowers to the CPU's widest vectors: the kernels are built for x86-64-v4 (AVX-512),
// x86-64-v3 (AVX2 and FMA) and the x86-64 baseline (SSE2), the CPU choosing at load time. The file
// is compiled with -ffp-contract=fast: in the v4 and v3 builds a * b + c is one FMA, the same in
// both (one rounding); the baseline build, for CPUs before 2013, rounds twice. So every CPU with
// AVX2 computes the same bits, and an older one differs by rounding (scripts/kernels.sh, run by CI:
// 2000 models of `labrun mlp --seed 0`, v3 alone against the full build the same bits; the SSE2
// kernels alone, final losses within 5.5e-5 relative and every accuracy the same;
// docs/development.md). FMA measured 1.10x faster.

namespace labrun::detail {
namespace {

// Rows a gradient pass takes at once: 4 measured 1.27x faster than 1 (2: 1.10x, 8: as 4).
constexpr int kMlpRowBlock = 4;

// A lane vector, read and written in place in a PackArray or PackLanes (its floats: may_alias; its
// alignment left to the storage, which is 64-byte aligned).
using V = float __attribute__((vector_size(kPackLanes * sizeof(float)), aligned(4), may_alias));
using Mask = int32_t __attribute__((vector_size(kPackLanes * sizeof(int32_t)), aligned(4), may_alias));

LABRUN_INLINE V splat(float value) {
  V v;
  for (int l = 0; l < kPackLanes; ++l) v[l] = value;
  return v;
}

// mask ? a : b, lane by lane (a mask lane is all ones or all zeros).
LABRUN_INLINE V select(Mask mask, V a, V b) { return mask ? a : b; }

LABRUN_INLINE Mask is_nan(V x) { return x != x; }

// e^x for x <= 0, -inf or NaN (the softmax's z - max z): Cephes' expf (S. L. Moshier), within 2 ulp.
// x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its minimax polynomial, 2^n built in the exponent bits.
LABRUN_INLINE V exp_nonpositive(V x) {
  const V lowest = splat(-87.33654475f);      // ln of the smallest normal float, 2^-126
  const V c = select(x > lowest, x, lowest);  // NaN and -inf become `lowest`, mended below
  const V magic = splat(12582912.0f);         // 1.5 * 2^23: adding it rounds to an integer
  const V n = (c * splat(1.44269504088896341f) + magic) - magic;
  V r = c - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  const V r2 = r * r;
  V y = splat(1.9875691500e-4f) * r + splat(1.3981999507e-3f);
  y = y * r + splat(8.3334519073e-3f);
  y = y * r + splat(4.1665795894e-2f);
  y = y * r + splat(1.6666665459e-1f);
  y = y * r + splat(5.0000001201e-1f);
  y = y * r2 + r + splat(1.0f);
  const Mask exponent = (__builtin_convertvector(n, Mask) + 127) << 23;
  const V result = select(x < lowest, splat(0.0f), y * (V)exponent);
  return select(is_nan(x), x, result);
}

// ln x for x >= 1 (a softmax's sum, from 1 to the class count) or NaN: Cephes' logf, within 1 ulp.
// x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln x = e ln 2 + ln m, ln m by its minimax polynomial in m - 1.
LABRUN_INLINE V log_at_least_one(V x) {
  const Mask bits = (Mask)x;
  Mask e = (bits >> 23) - 126;  // x = m 2^e with m in [1/2, 1)
  V m = (V)((bits & 0x007fffff) | 0x3f000000);
  const Mask below = m < splat(0.707106781186547524f);
  e = e + below;  // -1 where below
  m = select(below, m + m, m) - splat(1.0f);
  const V ef = __builtin_convertvector(e, V);
  const V z = m * m;
  V y = splat(7.0376836292e-2f) * m + splat(-1.1514610310e-1f);
  y = y * m + splat(1.1676998740e-1f);
  y = y * m + splat(-1.2420140846e-1f);
  y = y * m + splat(1.4249322787e-1f);
  y = y * m + splat(-1.6668057665e-1f);
  y = y * m + splat(2.0000714765e-1f);
  y = y * m + splat(-2.4999993993e-1f);
  y = y * m + splat(3.3333331174e-1f);
  y = y * m * z;
  y = y + splat(-2.12194440e-4f) * ef;
  y = y + splat(-0.5f) * z;
  V result = m + y;
  result = result + splat(0.693359375f) * ef;
  return select(is_nan(x), x, result);
}

// One row's logits z (C) and hidden pre-activations a (H): the products first, then the bias, in
// the order libtorch's relu(X W1 + b1) W2 + b2 adds them. relu keeps a NaN, as libtorch's does.
LABRUN_INLINE void forward_row(int64_t D, int64_t H, int64_t C, const V* x, const V* W1, const V* b1, const V* W2,
                               const V* b2, V* a, V* h, V* z) {
  for (int64_t j = 0; j < H; ++j) {
    V sum = x[0] * W1[j];
    for (int64_t k = 1; k < D; ++k) sum = sum + x[k] * W1[k * H + j];
    a[j] = sum + *b1;
    h[j] = select(a[j] < splat(0.0f), splat(0.0f), a[j]);
  }
  for (int64_t c = 0; c < C; ++c) {
    V sum = h[0] * W2[c];
    for (int64_t j = 1; j < H; ++j) sum = sum + h[j] * W2[j * C + c];
    z[c] = sum + *b2;
  }
}

// A row's loss into `total` and, in z, its output gradient dz = (softmax(z) - onehot(t)) / B,
// summed into db2: loss = logsumexp(z) - z[t] = ln(sum e^(z - max)) + max - z[t]; `invalid` is NaN
// when a logit is infinite or NaN (the loss is then, as in libtorch), else 0.
LABRUN_INLINE void output_gradient(int64_t C, V* z, V target, V inv_rows, V& total, V& db2) {
  const V zero = splat(0.0f), one = splat(1.0f);
  V top = z[0], at_target = zero, invalid = z[0] - z[0];
  for (int64_t c = 1; c < C; ++c) {
    top = select(z[c] > top, z[c], top);
    invalid = invalid + (z[c] - z[c]);
  }
  V sum = zero;
  for (int64_t c = 0; c < C; ++c) {
    at_target = select(target == splat(static_cast<float>(c)), z[c], at_target);
    z[c] = exp_nonpositive(z[c] - top);
    sum = sum + z[c];
  }
  total = total + ((log_at_least_one(sum) + (top - at_target)) + invalid);
  const V inv_sum = one / sum;
  for (int64_t c = 0; c < C; ++c) {
    const V onehot = select(target == splat(static_cast<float>(c)), one, zero);
    z[c] = (z[c] * inv_sum - onehot) * inv_rows;
    db2 = db2 + z[c];
  }
}

// forward_row for kRows rows at once (x: kRows x D, h: kRows x H, z: kRows x C), each weight
// loaded once for all; relu's output only, as the backward pass needs: h <= 0 exactly where a <= 0
// (h keeps a NaN, and a -0 as -0).
template <int kRows>
LABRUN_INLINE void forward_rows(int64_t D, int64_t H, int64_t C, const V* x, const V* W1, const V* b1, const V* W2,
                                const V* b2, V* h, V* z) {
  for (int64_t j = 0; j < H; ++j) {
    V sum[kRows];
    for (int r = 0; r < kRows; ++r) sum[r] = x[r * D] * W1[j];
    for (int64_t k = 1; k < D; ++k) {
      const V w = W1[k * H + j];
      for (int r = 0; r < kRows; ++r) sum[r] = sum[r] + x[r * D + k] * w;
    }
    for (int r = 0; r < kRows; ++r) {
      const V a = sum[r] + *b1;
      h[r * H + j] = select(a < splat(0.0f), splat(0.0f), a);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    V sum[kRows];
    for (int r = 0; r < kRows; ++r) sum[r] = h[r * H] * W2[c];
    for (int64_t j = 1; j < H; ++j) {
      const V w = W2[j * C + c];
      for (int r = 0; r < kRows; ++r) sum[r] = sum[r] + h[r * H + j] * w;
    }
    for (int r = 0; r < kRows; ++r) z[r * C + c] = sum[r] + *b2;
  }
}

// kRows rows' gradients added to the accumulators, the rows' terms in row order, so that the sums
// are the ones a row at a time makes, to the bit. h: kRows x H, z: the rows' dz, kRows x C; dh
// (kRows x H) is scratch, so that db1 sums row 0's dh before row 1's.
template <int kRows>
LABRUN_INLINE void backward_rows(int64_t D, int64_t H, int64_t C, const V* x, const V* W2, const V* h, const V* z,
                                 V* dh, V* gW1, V* gW2, V& db1) {
  const V zero = splat(0.0f);
  for (int64_t j = 0; j < H; ++j) {
    V d[kRows];
    for (int r = 0; r < kRows; ++r) d[r] = zero;
    for (int64_t c = 0; c < C; ++c) {
      const V w = W2[j * C + c];
      V g = gW2[j * C + c];
      for (int r = 0; r < kRows; ++r) {
        g = g + h[r * H + j] * z[r * C + c];
        d[r] = d[r] + w * z[r * C + c];
      }
      gW2[j * C + c] = g;
    }
    for (int r = 0; r < kRows; ++r) d[r] = select(h[r * H + j] <= zero, zero, d[r]);
    for (int64_t k = 0; k < D; ++k) {
      V g = gW1[k * H + j];
      for (int r = 0; r < kRows; ++r) g = g + x[r * D + k] * d[r];
      gW1[k * H + j] = g;
    }
    for (int r = 0; r < kRows; ++r) dh[r * H + j] = d[r];
  }
  for (int r = 0; r < kRows; ++r) {
    for (int64_t j = 0; j < H; ++j) db1 = db1 + dh[r * H + j];
  }
}

// The shapes kD x kH x kC known when compiled (the exercise's 4 x 12 x 3: every loop unrolled), or
// given at run time (all three 0). Rows go kBlock at a time (the last few one at a time): each
// gradient accumulator is loaded and stored once a block, and the rows' dependent chains (forward,
// softmax, backward) run side by side. h and dh hold kBlock x H, z kBlock x C.
template <int kD, int kH, int kC>
LABRUN_VECTOR_CLONES void gradients_kernel(int64_t d, int64_t hidden, int64_t classes, int64_t B, const V* x,
                                           const V* target, const V* W1, const V* b1, const V* W2, const V* b2, V* gW1,
                                           V* gb1, V* gW2, V* gb2, V* loss, V* dh, V* h, V* z) {
  constexpr int kBlock = kMlpRowBlock;
  const int64_t D = kD > 0 ? kD : d, H = kH > 0 ? kH : hidden, C = kC > 0 ? kC : classes;
  const V zero = splat(0.0f);
  const V inv_rows = splat(1.0f / static_cast<float>(B));
  for (int64_t i = 0; i < D * H; ++i) gW1[i] = zero;
  for (int64_t i = 0; i < H * C; ++i) gW2[i] = zero;
  V db1 = zero, db2 = zero, total = zero;
  int64_t row = 0;
  for (; row + kBlock <= B; row += kBlock, x += kBlock * D, target += kBlock) {
    forward_rows<kBlock>(D, H, C, x, W1, b1, W2, b2, h, z);
    for (int r = 0; r < kBlock; ++r) output_gradient(C, z + r * C, target[r], inv_rows, total, db2);
    backward_rows<kBlock>(D, H, C, x, W2, h, z, dh, gW1, gW2, db1);
  }
  for (; row < B; ++row, x += D, ++target) {
    forward_rows<1>(D, H, C, x, W1, b1, W2, b2, h, z);
    output_gradient(C, z, *target, inv_rows, total, db2);
    backward_rows<1>(D, H, C, x, W2, h, z, dh, gW1, gW2, db1);
  }
  *gb1 = db1;
  *gb2 = db2;
  *loss = total / splat(static_cast<float>(B));
}

LABRUN_VECTOR_CLONES void update_kernel(V* p, const V* g, int64_t n, const V* lr) {
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] - *lr * g[i];
}

template <int kD, int kH, int kC>
LABRUN_VECTOR_CLONES void correct_kernel(int64_t d, int64_t hidden, int64_t classes, int64_t B, const V* x,
                                         const V* target, const V* W1, const V* b1, const V* W2, const V* b2, V* a,
                                         V* h, V* z, Mask* counts) {
  const int64_t D = kD > 0 ? kD : d, H = kH > 0 ? kH : hidden, C = kC > 0 ? kC : classes;
  Mask count{};
  for (int64_t row = 0; row < B; ++row, x += D, ++target) {
    forward_row(D, H, C, x, W1, b1, W2, b2, a, h, z);
    // argmax as libtorch's: the first of equal largest logits, a NaN above any number.
    V best = z[0], index = splat(0.0f);
    for (int64_t c = 1; c < C; ++c) {
      const Mask take = (z[c] > best) | (is_nan(z[c]) & ~is_nan(best));
      best = select(take, z[c], best);
      index = select(take, splat(static_cast<float>(c)), index);
    }
    count = count - (index == *target);  // a true lane is -1
  }
  *counts = count;
}

V* lanes(PackArray& a) { return reinterpret_cast<V*>(a.data()); }
const V* lanes(const PackArray& a) { return reinterpret_cast<const V*>(a.data()); }
V* lanes(PackLanes& a) { return reinterpret_cast<V*>(a.lane); }
const V* lanes(const PackLanes& a) { return reinterpret_cast<const V*>(a.lane); }

bool exercise_shape(const MlpPackShape& shape) { return shape.D == 4 && shape.H == 12 && shape.C == 3; }

}  // namespace

namespace {

// A tensor's values as contiguous float32: the tensor itself when it already is (the draws are),
// else a converted copy, kept alive in `keep`.
const float* float_values(const torch::Tensor& t, torch::Tensor& keep) {
  keep = t.scalar_type() == torch::kFloat32 && t.is_contiguous() ? t : t.detach().to(torch::kFloat32).contiguous();
  return keep.data_ptr<float>();
}

}  // namespace

MlpPackParams pack_params(const std::vector<torch::Tensor>& W1, const std::vector<torch::Tensor>& b1,
                          const std::vector<torch::Tensor>& W2, const std::vector<torch::Tensor>& b2, std::size_t first,
                          std::size_t count) {
  MlpPackParams p;
  p.W1.assign(static_cast<std::size_t>(W1[first].numel()) * kPackLanes, 0.0f);
  p.W2.assign(static_cast<std::size_t>(W2[first].numel()) * kPackLanes, 0.0f);
  torch::Tensor keep;
  for (std::size_t l = 0; l < count; ++l) {
    const auto copy = [l, &keep](const torch::Tensor& from, PackArray& to) {
      const float* values = float_values(from, keep);
      for (std::size_t i = 0; i < to.size() / kPackLanes; ++i) to[i * kPackLanes + l] = values[i];
    };
    copy(W1[first + l], p.W1);
    copy(W2[first + l], p.W2);
    p.b1.lane[l] = *float_values(b1[first + l], keep);
    p.b2.lane[l] = *float_values(b2[first + l], keep);
  }
  return p;
}

PackRows pack_rows(const std::vector<torch::Tensor>& x, const std::vector<torch::Tensor>& y) {
  PackRows rows;
  rows.rows = x.front().size(0);
  const int64_t D = x.front().size(1);
  rows.x.assign(static_cast<std::size_t>(rows.rows * D) * kPackLanes, 0.0f);
  rows.target.assign(static_cast<std::size_t>(rows.rows) * kPackLanes, 0.0f);
  torch::Tensor features, classes;
  for (std::size_t l = 0; l < kPackLanes; ++l) {
    // Lanes past x's repeat lane 0: its values converted once.
    if (l < x.size()) {
      features = x[l].detach().to(torch::kFloat32).contiguous();
      classes = y[l].to(torch::kLong).contiguous();
    }
    const float* values = features.data_ptr<float>();
    const int64_t* labels = classes.data_ptr<int64_t>();
    for (std::size_t i = 0; i < rows.x.size() / kPackLanes; ++i) rows.x[i * kPackLanes + l] = values[i];
    for (std::size_t i = 0; i < rows.target.size() / kPackLanes; ++i) {
      rows.target[i * kPackLanes + l] = static_cast<float>(labels[i]);
    }
  }
  return rows;
}

void mlp_pack_gradients(const MlpPackShape& shape, const MlpPackParams& params, const PackRows& rows,
                        MlpPackParams& grads, PackLanes& loss) {
  grads.W1.resize(params.W1.size());
  grads.W2.resize(params.W2.size());
  // dh, h, z for a block of rows
  PackArray scratch(static_cast<std::size_t>(kMlpRowBlock * (2 * shape.H + shape.C)) * kPackLanes);
  V* dh = lanes(scratch);
  const auto kernel = exercise_shape(shape) ? gradients_kernel<4, 12, 3> : gradients_kernel<0, 0, 0>;
  kernel(shape.D, shape.H, shape.C, rows.rows, lanes(rows.x), lanes(rows.target), lanes(params.W1), lanes(params.b1),
         lanes(params.W2), lanes(params.b2), lanes(grads.W1), lanes(grads.b1), lanes(grads.W2), lanes(grads.b2),
         lanes(loss), dh, dh + kMlpRowBlock * shape.H, dh + 2 * kMlpRowBlock * shape.H);
}

void mlp_pack_update(MlpPackParams& params, const MlpPackParams& grads, float lr) {
  PackLanes rate;
  for (float& r : rate.lane) r = lr;
  update_kernel(lanes(params.W1), lanes(grads.W1), static_cast<int64_t>(params.W1.size() / kPackLanes), lanes(rate));
  update_kernel(lanes(params.W2), lanes(grads.W2), static_cast<int64_t>(params.W2.size() / kPackLanes), lanes(rate));
  update_kernel(lanes(params.b1), lanes(grads.b1), 1, lanes(rate));
  update_kernel(lanes(params.b2), lanes(grads.b2), 1, lanes(rate));
}

std::vector<int64_t> mlp_pack_correct(const MlpPackShape& shape, const MlpPackParams& params, const PackRows& rows) {
  PackArray scratch(static_cast<std::size_t>(2 * shape.H + shape.C) * kPackLanes);
  V* a = lanes(scratch);
  PackLanes counts;  // as int32, in the floats' bits
  const auto kernel = exercise_shape(shape) ? correct_kernel<4, 12, 3> : correct_kernel<0, 0, 0>;
  kernel(shape.D, shape.H, shape.C, rows.rows, lanes(rows.x), lanes(rows.target), lanes(params.W1), lanes(params.b1),
         lanes(params.W2), lanes(params.b2), a, a + shape.H, a + 2 * shape.H, reinterpret_cast<Mask*>(counts.lane));
  std::vector<int64_t> result(kPackLanes);
  for (std::size_t l = 0; l < kPackLanes; ++l) {
    int32_t count = 0;
    std::memcpy(&count, &counts.lane[l], sizeof count);
    result[l] = count;
  }
  return result;
}

std::vector<bool> mlp_pack_finite(const MlpPackParams& params) {
  // x - x is 0 for a finite x and NaN for an infinite or NaN one.
  std::vector<bool> finite(kPackLanes);
  for (std::size_t l = 0; l < kPackLanes; ++l) {
    float sum = (params.b1.lane[l] - params.b1.lane[l]) + (params.b2.lane[l] - params.b2.lane[l]);
    for (std::size_t i = l; i < params.W1.size(); i += kPackLanes) sum += params.W1[i] - params.W1[i];
    for (std::size_t i = l; i < params.W2.size(); i += kPackLanes) sum += params.W2[i] - params.W2[i];
    finite[l] = sum == 0.0f;
  }
  return finite;
}

}  // namespace labrun::detail
