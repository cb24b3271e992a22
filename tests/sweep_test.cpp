#include "labrun/sweep.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun {
namespace {

MlpSweep small_mlp_sweep() {
  MlpSweep sweep;
  sweep.base.seed = 7;
  sweep.base.repeats = 5;
  sweep.base.chunk = 2;
  sweep.lr = {0.1, 0.5};
  sweep.epochs = {20, 5};  // any order: the checkpoints ascend
  sweep.hidden = {4, 12};
  return sweep;
}

std::vector<RunRecord> run_all(const Dataset& data, const MlpSweep& sweep, const StudyPlan& plan,
                               const std::vector<RunSpan>& spans) {
  std::vector<RunRecord> runs;
  SweepHooks hooks;
  hooks.on_run = [&runs](RunRecord&& run) { runs.push_back(std::move(run)); };
  run_sweep(data, sweep, plan, spans, hooks);
  return runs;
}

TEST(Sweep, PlanIsTheGridInTheOrderGiven) {
  const Dataset iris = load_embedded_iris();
  const StudyPlan plan = plan_sweep(iris, small_mlp_sweep());
  EXPECT_EQ(plan.settings(), 4);  // lr x hidden; epochs are checkpoints
  EXPECT_EQ(plan.runs(), 20);
  EXPECT_EQ(plan.cells(), 8);
  EXPECT_EQ(plan.epochs, (std::vector<int64_t>{5, 20}));
  EXPECT_EQ(plan.key(0), "lr=0.1 hidden=4");
  EXPECT_EQ(plan.key(1), "lr=0.1 hidden=12");  // the last axis varies fastest
  EXPECT_EQ(plan.key(3), "lr=0.5 hidden=12");
  const MlpStudyOptions options = setting_options(small_mlp_sweep(), plan, 2);
  EXPECT_EQ(options.training.lr, 0.5);
  EXPECT_EQ(options.hidden, 4);
  EXPECT_EQ(options.training.epochs, 20);
  EXPECT_EQ(to_string(AxisValue(0.1)), "0.1");
  EXPECT_EQ(to_string(AxisValue(1e-5)), "1e-05");
}

TEST(Sweep, RefusesGridsThatCannotRun) {
  const Dataset iris = load_embedded_iris();
  const auto refused = [&iris](MlpSweep sweep, const std::string& says) {
    try {
      plan_sweep(iris, sweep);
      ADD_FAILURE() << "not refused: " << says;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  MlpSweep sweep = small_mlp_sweep();
  sweep.lr = {0.1, 0.1};
  refused(sweep, "lists 0.1 twice");
  sweep = small_mlp_sweep();
  sweep.train_size = {50, 150};
  refused(sweep, "train_size 150");
  sweep = small_mlp_sweep();
  sweep.lr = {0.1, -1.0};
  refused(sweep, "lr -1");
  sweep = small_mlp_sweep();
  sweep.epochs = {-5};
  refused(sweep, "epochs -5");
  FactoriseSweep factorise;
  factorise.rank = {1, 4};
  EXPECT_THROW(plan_sweep(iris, factorise), std::invalid_argument);  // 4 columns: rank < 4
  const StudyPlan plan = plan_sweep(iris, small_mlp_sweep());
  EXPECT_THROW(shard_span(plan, 0, 3), std::invalid_argument);
  EXPECT_THROW(shard_span(plan, 4, 3), std::invalid_argument);
}

TEST(Sweep, ARunIsTheMlpStudyOfItsSetting) {
  const Dataset iris = load_embedded_iris();
  const MlpSweep sweep = small_mlp_sweep();
  const StudyPlan plan = plan_sweep(iris, sweep);
  const std::vector<RunRecord> runs = run_all(iris, sweep, plan, {{0, plan.runs()}});
  ASSERT_EQ(runs.size(), 20u);
  // Setting 3 (lr 0.5, hidden 12) at 5 epochs is `labrun mlp --lr 0.5 --hidden 12 --epochs 5`.
  MlpStudyOptions alone = sweep.base;
  alone.training.lr = 0.5;
  alone.hidden = 12;
  alone.training.epochs = 5;
  const MlpStudyResult study = mlp_study(iris, alone);
  for (int64_t r = 0; r < 5; ++r) {
    const RunRecord& run = runs[static_cast<std::size_t>(3 * 5 + r)];
    EXPECT_EQ(run.setting, 3);
    EXPECT_EQ(run.repeat, r);
    EXPECT_EQ(run.checkpoints[0].epochs, 5);
    EXPECT_EQ(run.checkpoints[0].values[1], study.runs[static_cast<std::size_t>(r)].val_accuracy);
    EXPECT_EQ(run.checkpoints[0].values[2], study.runs[static_cast<std::size_t>(r)].final_loss);
  }
}

TEST(Sweep, ShardsTogetherAreTheWholeStudy) {
  const Dataset iris = load_embedded_iris();
  const MlpSweep sweep = small_mlp_sweep();
  const StudyPlan plan = plan_sweep(iris, sweep);
  const std::vector<RunRecord> whole = run_all(iris, sweep, plan, {{0, plan.runs()}});
  StudySummary one(plan), merged(plan);
  for (const RunRecord& run : whole) one.add(run);
  // Three shards, added in reverse order: the summary is made in order of repeat all the same.
  for (int64_t shard = 3; shard >= 1; --shard) {
    const RunSpan span = shard_span(plan, shard, 3);
    const std::vector<RunRecord> part = run_all(iris, sweep, plan, {span});
    ASSERT_EQ(static_cast<int64_t>(part.size()), span.end - span.begin);
    for (const RunRecord& run : part) {
      const RunRecord& same = whole[static_cast<std::size_t>(run.run(plan))];
      for (std::size_t c = 0; c < run.checkpoints.size(); ++c) {
        EXPECT_EQ(run.checkpoints[c].values, same.checkpoints[c].values);  // bit for bit
      }
      merged.add(run);
    }
  }
  EXPECT_THROW(merged.add(whole.front()), std::invalid_argument);  // twice
  const std::vector<CellSummary> a = one.cells(), b = merged.cells();
  ASSERT_EQ(a.size(), 8u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].runs, 5);
    for (std::size_t m = 0; m < 3; ++m) {
      EXPECT_EQ(a[i].metrics[m].mean, b[i].metrics[m].mean);
      EXPECT_EQ(a[i].metrics[m].std, b[i].metrics[m].std);
      EXPECT_EQ(a[i].metrics[m].q1, b[i].metrics[m].q1);
    }
  }
  // A resumed study trains what is missing only.
  StudySummary partial(plan);
  for (std::size_t i = 0; i < 7; ++i) partial.add(whole[i]);
  const std::vector<RunSpan> missing = missing_runs({{0, plan.runs()}}, partial);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].begin, 7);
  EXPECT_EQ(missing[0].end, 20);
}

TEST(Sweep, FactorisationRunsAreSeedsOfFactorise) {
  const Dataset iris = load_embedded_iris();
  FactoriseSweep sweep;
  sweep.seed = 11;
  sweep.repeats = 2;
  sweep.rank = {1, 2};
  sweep.epochs = {10, 100};
  const StudyPlan plan = plan_sweep(iris, sweep);
  std::vector<RunRecord> runs;
  SweepHooks hooks;
  hooks.on_run = [&runs](RunRecord&& run) { runs.push_back(std::move(run)); };
  run_sweep(iris, sweep, plan, {{0, plan.runs()}}, hooks);
  ASSERT_EQ(runs.size(), 4u);
  // Run 3: rank 2, repeat 1, so seed 12: `labrun factorise --rank 2 --seed 12 --epochs 10`.
  FactoriseStudyOptions alone;
  alone.gd.rank = 2;
  alone.gd.seed = 12;
  alone.gd.epochs = 10;
  const FactoriseStudyResult study = factorise_study(iris, alone);
  EXPECT_EQ(runs[3].seed, 12u);
  // The batched engine (the default) sums the squares in another order: within 1e-12 relative
  // after 10 epochs (Studies.BatchedFactorisationsAreTheSingleRunsOfTheirSeeds: 1e-9 after 1000).
  EXPECT_NEAR(runs[3].checkpoints[0].values[0], study.gd.loss, 1e-12 * study.gd.loss);
  EXPECT_NEAR(runs[3].checkpoints[0].values[1], study.gap(), 1e-12 * study.gd.loss);
  EXPECT_NEAR(runs[3].checkpoints[0].values[2], *study.relative_gap(), 1e-12 * study.gd.loss / study.svd.loss);
  // The sequential engine is the single run itself, bit for bit.
  sweep.engine = Engine::sequential;
  runs.clear();
  run_sweep(iris, sweep, plan, {{3, 4}}, hooks);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].checkpoints[0].values[0], study.gd.loss);
  EXPECT_EQ(runs[0].checkpoints[0].values[2], *study.relative_gap());
}

}  // namespace
}  // namespace labrun
