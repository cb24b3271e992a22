// labrun's benchmarks (Google Benchmark). Not a test: build and run by hand,
//   cmake --build --preset release --target labrun_bench && build/release/tests/bench/labrun_bench
// scripts/bench.sh runs them beside the exercise's Python code and prints the ratios.

#include "labrun/dataset.hpp"
#include "labrun/factorise.hpp"
#include "labrun/mlp.hpp"
#include "labrun/statistics.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <torch/torch.h>

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

using labrun::FactoriseOptions;

// Seconds per `per_iteration` units of work, as a counter.
benchmark::Counter per(double per_iteration) {
  return benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Part 1.1 on Iris, rank 2, 1000 epochs, the exercise's defaults; counter: seconds per epoch.
void BM_FactoriseIris(benchmark::State& state) {
  const torch::Tensor A = labrun::centre_columns(labrun::load_embedded_iris().features);
  FactoriseOptions options;
  options.seed = 0;
  for (auto _ : state) benchmark::DoNotOptimize(labrun::gd_factorise_ad(A, options).loss);
  state.counters["s_per_epoch"] = per(static_cast<double>(options.epochs));
}
BENCHMARK(BM_FactoriseIris)->Unit(benchmark::kMillisecond);

// A 2000 x 500 matrix at rank 32, in float64 (arg 0) or float32 (arg 1).
torch::Tensor big_matrix(torch::ScalarType dtype) {
  torch::manual_seed(1);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor low = torch::randn({2000, 32}, f64).matmul(torch::randn({32, 500}, f64));
  return labrun::centre_columns(low + 0.1 * torch::randn({2000, 500}, f64)).to(dtype);
}

// Counts the bytes of every CPU tensor libtorch allocates while it is installed: the memory the
// tensors take, apart from the malloc heap's own slack.
class CountingAllocator final : public c10::Allocator {
 public:
  CountingAllocator() : base_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this, /*priority=*/100); }
  ~CountingAllocator() override { c10::SetCPUAllocator(base_, /*priority=*/100); }
  CountingAllocator(const CountingAllocator&) = delete;
  CountingAllocator& operator=(const CountingAllocator&) = delete;

  c10::DataPtr allocate(size_t bytes) const override {
    auto* block = new Block{base_->allocate(bytes), bytes, this};
    live_ += bytes;
    peak_ = std::max(peak_.load(), live_.load());
    void* data = block->inner.get();
    return {data, block, &release, block->inner.device()};
  }
  // Peak bytes alive since the last reset, above what was alive then.
  double peak_mib_over_start() const { return static_cast<double>(peak_ - start_) / (1024.0 * 1024.0); }
  void reset() { start_ = peak_ = live_.load(); }

 private:
  struct Block {
    c10::DataPtr inner;
    size_t bytes;
    const CountingAllocator* owner;
  };
  static void release(void* context) {
    auto* block = static_cast<Block*>(context);
    block->owner->live_ -= block->bytes;
    delete block;
  }
  c10::Allocator* base_;
  mutable std::atomic<size_t> live_{0};
  mutable std::atomic<size_t> peak_{0};
  size_t start_ = 0;
};

// Args: dtype (0 float64, 1 float32), loss form (0 residual, the exercise's; 1 gram).
// Counters: seconds per epoch; peak_MiB, the most tensor memory alive at once during training
// beyond the inputs (A); held_MiB, what the form must hold at once beyond its inputs: residual, U V^T and its
// gradient (two m x n); gram, A V, its gradient, dU, and U * A V (four m x r), plus dV.
void BM_FactoriseScale(benchmark::State& state) {
  const torch::Tensor A = big_matrix(state.range(0) ? torch::kFloat32 : torch::kFloat64);
  FactoriseOptions options;
  options.rank = 32;
  options.epochs = 20;
  options.lr = 1e-6;
  options.seed = 0;
  options.form = state.range(1) ? labrun::LossForm::gram : labrun::LossForm::residual;
  CountingAllocator counting;
  counting.reset();
  for (auto _ : state) {
    const auto result = labrun::gd_factorise_ad(A, options);
    if (result.diverged()) state.SkipWithError("diverged");
  }
  const double element = static_cast<double>(A.element_size()) / (1024.0 * 1024.0);  // MiB an element
  const double m = 2000, n = 500, r = 32;
  state.counters["s_per_epoch"] = per(static_cast<double>(options.epochs));
  state.counters["peak_MiB"] = counting.peak_mib_over_start();
  state.counters["held_MiB"] = (options.form == labrun::LossForm::residual ? 2 * m * n : 4 * m * r + n * r) * element;
}
BENCHMARK(BM_FactoriseScale)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"f32", "gram"})->Unit(benchmark::kMillisecond);

// The three GEMMs an epoch needs at that size: U V^T, R V, R^T U.
void BM_ThreeGemms(benchmark::State& state) {
  const auto dtype = state.range(0) ? torch::kFloat32 : torch::kFloat64;
  const torch::Tensor A = big_matrix(dtype);
  const torch::Tensor U = torch::rand({2000, 32}, A.options());
  const torch::Tensor V = torch::rand({500, 32}, A.options());
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    const torch::Tensor R = U.mm(V.t());
    benchmark::DoNotOptimize(R.mm(V).data_ptr());
    benchmark::DoNotOptimize(R.t().mm(U).data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      3.0 * 2 * 2000 * 500 * 32, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_ThreeGemms)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Part 2: N models of the exercise's MLP on Iris, 100 epochs; counter: seconds per model.
std::vector<labrun::MlpParams> models(int64_t count) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(0);
  std::vector<labrun::MlpParams> out;
  for (int64_t r = 0; r < count; ++r) out.push_back(labrun::init_params(4, 12, 3, generator));
  return out;
}

labrun::MlpSplit iris_split() {
  return labrun::prepare_split(labrun::load_embedded_iris(), labrun::RowShuffler(0).permutation(150),
                               labrun::Normalise::var, 100);
}

// Forward and backward multiply-adds of one model-epoch: layer 1 (B D H), layer 2 (B H C), twice
// again for the gradients; 2 flops each.
constexpr double kFlopsPerModelEpoch = 2.0 * 3 * (100 * 4 * 12 + 100 * 12 * 3);

// Args: models, libtorch threads (1: train_mlp_batched runs on the calling thread; mlp_study spreads
// pieces over threads, measured by scripts/bench.sh through the CLI).
void BM_MlpBatched(benchmark::State& state) {
  const labrun::MlpSplit split = iris_split();
  const auto initial = models(state.range(0));
  const int threads = torch::get_num_threads();
  torch::set_num_threads(static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(labrun::train_mlp_batched(split, initial, {}).size());
  torch::set_num_threads(threads);
  state.counters["s_per_model"] = per(static_cast<double>(state.range(0)));
  state.counters["GFLOP/s"] =
      benchmark::Counter(kFlopsPerModelEpoch * 100 * static_cast<double>(state.range(0)),
                         benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_MlpBatched)->ArgsProduct({{1000}, {1}})->ArgNames({"models", "threads"})->Unit(benchmark::kMillisecond);

void BM_MlpSequential(benchmark::State& state) {
  const labrun::MlpSplit split = iris_split();
  const auto initial = models(state.range(0));
  for (auto _ : state) {
    for (const auto& model : initial) benchmark::DoNotOptimize(labrun::train_mlp(split, model, {}).final_loss);
  }
  state.counters["s_per_model"] = per(static_cast<double>(state.range(0)));
}
BENCHMARK(BM_MlpSequential)->Arg(20)->Unit(benchmark::kMillisecond);

// A plain float32 GEMM of the batched engine's first layer size, for its GFLOP/s ceiling.
void BM_Gemm(benchmark::State& state) {
  const torch::Tensor W = torch::randn({12000, 4});
  const torch::Tensor X = torch::randn({4, 100});
  const torch::Tensor big_a = torch::randn({1000, 1000});
  const torch::Tensor big_b = torch::randn({1000, 1000});
  const bool square = state.range(0) == 1;
  for (auto _ : state) benchmark::DoNotOptimize((square ? big_a.mm(big_b) : W.mm(X)).data_ptr());
  const double flops = square ? 2.0 * 1000 * 1000 * 1000 : 2.0 * 12000 * 4 * 100;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Gemm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Reading a numeric CSV of about 10 MB (written once to the temp directory).
// LABRUN_BENCH_CSV names another file to read (scripts/bench.sh's large matrix), else a 10 MB
// one is written once. Reports the process's peak resident memory against the text's size.
void BM_CsvLoad(benchmark::State& state) {
  const char* given = std::getenv("LABRUN_BENCH_CSV");
  const std::string path =
      given ? given : std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/labrun_bench_10mb_v2.csv";
  if (!given) {
    std::ifstream probe(path);
    if (!probe) {
      torch::manual_seed(0);
      const torch::Tensor values = torch::randn({131072, 8}, torch::kFloat64);  // about 10 MB of text
      std::ofstream out(path);
      const double* v = values.data_ptr<double>();
      char cell[32];
      for (int64_t r = 0; r < values.size(0); ++r) {
        for (int64_t c = 0; c < 8; ++c) {
          std::snprintf(cell, sizeof cell, c ? ",%.6f" : "%.6f", v[r * 8 + c]);
          out << cell;
        }
        out << '\n';
      }
    }
  }
  int64_t bytes = 0;
  for (auto _ : state) {
    const labrun::Dataset data = labrun::read_csv(path);
    bytes = data.rows();
  }
  std::ifstream size(path, std::ios::ate | std::ios::binary);
  const auto text_bytes = static_cast<double>(size.tellg());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text_bytes));
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
  state.counters["text_MiB"] = text_bytes / (1024.0 * 1024.0);
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_CsvLoad)->Unit(benchmark::kMillisecond);

}  // namespace

// A summary's statistics with the default 10,000 bootstrap resamples, per value: args n runs and
// whether the values take few distinct values (accuracies of 50 rows: binomial draws per value) or
// as many as runs (losses: one draw per run and resample).
void BM_Summarise(benchmark::State& state) {
  const auto n = static_cast<int64_t>(state.range(0));
  const bool discrete = state.range(1) != 0;
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) {
    const double v = 0.5 + 0.3 * std::sin(static_cast<double>(i) * 12.9898);
    values.push_back(discrete ? std::round(v * 50.0) / 50.0 : v);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(labrun::summarise(values, {labrun::kDefaultResamples, 1}).mean_bootstrap.low);
  }
  state.counters["ns_per_value_resample"] =
      benchmark::Counter(static_cast<double>(n) * labrun::kDefaultResamples * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Summarise)
    ->ArgsProduct({{200, 20000, 1000000}, {0, 1}})
    ->ArgNames({"runs", "discrete"})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
