#include "labrun/exercise.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

namespace labrun {

namespace {

// The factorisation as the exercise runs it: with PCA.
FactoriseStudyOptions with_pca(const ExerciseOptions& options) {
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  return factorise;
}

}  // namespace

void check_options(const Dataset& data, const ExerciseOptions& options) {
  check_options(data, with_pca(options));
  check_options(data, options.mlp);
}

ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options, const ExerciseHooks& hooks) {
  check_options(data, options);  // both parts' before either starts
  // One stream, as the exercise's script after one torch.manual_seed: U and V, then the MLP's weights.
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  FactoriseStudyOptions factorise = with_pca(options);
  factorise.gd.generator = generator;
  MlpStudyOptions mlp = options.mlp;
  mlp.seed = options.seed;
  mlp.generator = generator;
  ExerciseResult result;
  result.factorise = factorise_study(data, factorise);
  if (hooks.on_factorised) hooks.on_factorised(result.factorise);
  result.mlp = mlp_study(data, mlp, hooks.mlp);
  return result;
}

Cost estimate(const Dataset& data, const ExerciseOptions& options, bool keeps_runs) {
  const Cost factorise = estimate(data.rows(), data.columns(), with_pca(options));
  const Cost mlp = estimate(data, options.mlp, keeps_runs);
  return {factorise.flops + mlp.flops, std::max(factorise.bytes, mlp.bytes)};
}

}  // namespace labrun
