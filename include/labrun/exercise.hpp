#pragma once
// The whole exercise from one seed: one generator through both parts, as the exercise's script runs
// after a single torch.manual_seed.

#include "labrun/factorise_study.hpp"
#include "labrun/mlp_study.hpp"

#include <functional>

namespace labrun {

struct ExerciseOptions {
  FactoriseStudyOptions factorise;  // PCA is always part of it; seeds and generators are set here
  MlpStudyOptions mlp;
  uint64_t seed = 0;
};

struct ExerciseResult {
  FactoriseStudyResult factorise;
  MlpStudyResult mlp;
};

// What the exercise reports as it goes: the factorisation once it is done (before the MLP starts),
// then the MLP's study as MlpStudyHooks says (with mlp.on_run, its runs are handed over and not
// kept: memory does not grow with the repeats).
struct ExerciseHooks {
  std::function<void(const FactoriseStudyResult& factorised)> on_factorised;
  MlpStudyHooks mlp;
};
// Both parts' options are checked (check_options, OptionError naming "factorise_study" or
// "mlp_study") before either part starts.
void check_options(const Dataset& data, const ExerciseOptions& options);
ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options, const ExerciseHooks& hooks = {});
// Its BLAS work and peak memory; keeps_runs: the MLP's runs are kept (no mlp.on_run).
Cost estimate(const Dataset& data, const ExerciseOptions& options, bool keeps_runs = true);

}  // namespace labrun
