#include "labrun/sweep.hpp"

#include "check.hpp"
#include "labrun/resources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

namespace labrun {

std::string to_string(const AxisValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  // The shortest text that reads back as the same double: 0.1, not 0.10000000000000001.
  const double d = std::get<double>(value);
  char buffer[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, d);
    if (std::strtod(buffer, nullptr) == d) break;
  }
  return buffer;
}

int64_t StudyPlan::settings() const {
  int64_t n = 1;
  for (const Axis& axis : axes) {
    if (axis.name != "epochs") n *= static_cast<int64_t>(axis.values.size());
  }
  return n;
}

std::vector<std::pair<std::string, AxisValue>> StudyPlan::setting(int64_t index) const {
  std::vector<std::pair<std::string, AxisValue>> values;
  // Mixed radix, the last axis fastest.
  for (auto axis = axes.rbegin(); axis != axes.rend(); ++axis) {
    if (axis->name == "epochs") continue;
    const auto size = static_cast<int64_t>(axis->values.size());
    values.emplace_back(axis->name, axis->values[static_cast<std::size_t>(index % size)]);
    index /= size;
  }
  std::reverse(values.begin(), values.end());
  return values;
}

std::string StudyPlan::key(int64_t index) const {
  std::string key;
  for (const auto& [name, value] : setting(index)) key += (key.empty() ? "" : " ") + name + "=" + to_string(value);
  return key;
}

bool StudyPlan::operator==(const StudyPlan& other) const {
  return part == other.part && axes == other.axes && epochs == other.epochs && metrics == other.metrics &&
         repeats == other.repeats && seed == other.seed && resamples == other.resamples;
}

namespace {

constexpr const char* kPlan = "plan_sweep";

// An axis of the values given, or none for an empty list; refuses repeated values.
template <class T, class Convert>
void add_axis(StudyPlan& plan, const std::string& name, const std::vector<T>& values, Convert convert) {
  if (values.empty()) return;
  Axis axis{name, {}};
  std::set<std::string> seen;
  for (const T& v : values) {
    const AxisValue value = convert(v);
    if (!seen.insert(to_string(value)).second) {
      throw OptionError(kPlan, name, "lists " + to_string(value) + " twice: each value of an axis once");
    }
    axis.values.push_back(value);
  }
  plan.axes.push_back(std::move(axis));
}

const auto kInteger = [](int64_t v) { return AxisValue(v); };
const auto kReal = [](double v) { return AxisValue(v); };
const auto kName = [](auto v) { return AxisValue(std::string(to_string(v))); };

// The values a setting can take: the list swept, or the base's one value.
template <class T>
std::vector<T> values_or(const std::vector<T>& swept, T base) {
  return swept.empty() ? std::vector<T>{base} : swept;
}

// The epochs axis's values, ascending, or the one value not swept.
std::vector<int64_t> checkpoints(const std::vector<int64_t>& swept, int64_t base) {
  std::vector<int64_t> epochs = values_or(swept, base);
  std::sort(epochs.begin(), epochs.end());
  for (const int64_t e : epochs) require_at_least(kPlan, "epochs", e, 0);
  return epochs;
}

template <class Enum>
Enum enum_value(const std::string& name, std::initializer_list<Enum> values) {
  for (const Enum v : values) {
    if (name == to_string(v)) return v;
  }
  throw std::logic_error("no value named " + name);
}

}  // namespace

namespace {

// A list of one value: its value into `base`, the list emptied.
template <class T, class Base>
void fold(std::vector<T>& values, Base& base) {
  if (values.size() != 1) return;
  base = values.front();
  values.clear();
}

}  // namespace

MlpSweep fold_single_values(MlpSweep sweep) {
  fold(sweep.lr, sweep.base.training.lr);
  fold(sweep.epochs, sweep.base.training.epochs);
  fold(sweep.hidden, sweep.base.hidden);
  fold(sweep.train_size, sweep.base.train_size);
  fold(sweep.normalise, sweep.base.normalise);
  fold(sweep.engine, sweep.base.engine);
  fold(sweep.shuffle, sweep.base.shuffle);
  return sweep;
}

FactoriseSweep fold_single_values(FactoriseSweep sweep) {
  fold(sweep.rank, sweep.base.gd.rank);
  fold(sweep.lr, sweep.base.gd.lr);
  fold(sweep.epochs, sweep.base.gd.epochs);
  fold(sweep.reduction, sweep.base.gd.reduction);
  fold(sweep.form, sweep.base.gd.form);
  fold(sweep.dtype, sweep.base.dtype);
  fold(sweep.normalise, sweep.base.normalise);
  fold(sweep.engines, sweep.engine);
  return sweep;
}

Sweep fold_single_values(Sweep sweep) {
  return std::visit([](auto& s) -> Sweep { return fold_single_values(std::move(s)); }, sweep);
}

StudyPlan plan_sweep(const Dataset& data, const Sweep& sweep) {
  return std::visit([&](const auto& s) { return plan_sweep(data, s); }, sweep);
}

StudyPlan plan_sweep(const Dataset& data, const MlpSweep& given) {
  const MlpSweep sweep = fold_single_values(given);
  StudyPlan plan;
  plan.part = "mlp";
  plan.repeats = sweep.base.repeats;
  plan.seed = sweep.base.seed;
  plan.metrics = {"train_accuracy", "val_accuracy", "loss"};
  plan.resamples = sweep.base.resamples;
  require_labels(data);  // before anything is written
  require_at_least(kPlan, "repeats", plan.repeats, 1);
  require_resamples(kPlan, "resamples", plan.resamples);
  add_axis(plan, "lr", sweep.lr, kReal);
  add_axis(plan, "epochs", sweep.epochs, kInteger);
  add_axis(plan, "hidden", sweep.hidden, kInteger);
  add_axis(plan, "train_size", sweep.train_size, kInteger);
  add_axis(plan, "normalise", sweep.normalise, kName);
  add_axis(plan, "engine", sweep.engine, kName);
  add_axis(plan, "shuffle", sweep.shuffle, kName);
  plan.epochs = checkpoints(sweep.epochs, sweep.base.training.epochs);
  for (const double lr : values_or(sweep.lr, sweep.base.training.lr)) require_lr(kPlan, "lr", lr, Dtype::float32);
  for (const int64_t h : values_or(sweep.hidden, sweep.base.hidden)) require_at_least(kPlan, "hidden", h, 1);
  for (const int64_t t : values_or(sweep.train_size, sweep.base.train_size)) {
    require_train_size(kPlan, t, data.rows(), data.source);
  }
  return plan;
}

StudyPlan plan_sweep(const Dataset& data, const FactoriseSweep& given) {
  const FactoriseSweep sweep = fold_single_values(given);
  StudyPlan plan;
  plan.part = "factorise";
  plan.repeats = sweep.repeats;
  plan.seed = sweep.seed;
  plan.metrics = {"loss", "gap", "relative_gap"};
  plan.resamples = sweep.resamples;
  require_at_least(kPlan, "repeats", plan.repeats, 1);
  require_resamples(kPlan, "resamples", plan.resamples);
  // Seeds seed .. seed + repeats - 1 must stay below 2^53 (the seeds labrun takes and reports).
  if (sweep.seed + static_cast<uint64_t>(plan.repeats) - 1 >= (uint64_t{1} << 53)) {
    throw OptionError(kPlan, "seed", std::to_string(sweep.seed) + " + repeats must stay below 2^53");
  }
  add_axis(plan, "rank", sweep.rank, kInteger);
  add_axis(plan, "lr", sweep.lr, kReal);
  add_axis(plan, "epochs", sweep.epochs, kInteger);
  add_axis(plan, "reduction", sweep.reduction, kName);
  add_axis(plan, "loss_form", sweep.form, kName);
  add_axis(plan, "dtype", sweep.dtype, kName);
  add_axis(plan, "engine", sweep.engines, kName);
  add_axis(plan, "normalise", sweep.normalise, kName);
  require_at_least(kPlan, "chunk", sweep.chunk, 1);
  plan.epochs = checkpoints(sweep.epochs, sweep.base.gd.epochs);
  const bool float32 = sweep.dtype.empty() ? sweep.base.dtype == Dtype::float32
                                           : std::count(sweep.dtype.begin(), sweep.dtype.end(), Dtype::float32) > 0;
  for (const double lr : values_or(sweep.lr, sweep.base.gd.lr)) {
    require_lr(kPlan, "lr", lr, float32 ? Dtype::float32 : Dtype::float64);
  }
  // A scaling the data cannot take is refused now, not after the settings before it have run.
  for (const Normalise n : values_or(sweep.normalise, sweep.base.normalise)) {
    try {
      normalised_columns(data, n);
    } catch (const DataError& e) {
      throw OptionError(kPlan, "normalise", std::string(to_string(n)) + " cannot scale " + e.what());
    }
  }
  for (const int64_t r : values_or(sweep.rank, sweep.base.gd.rank)) {
    require_rank(kPlan, r, data.rows(), data.columns(), data.source);
  }
  return plan;
}

MlpStudyOptions setting_options(const MlpSweep& sweep, const StudyPlan& plan, int64_t setting) {
  MlpStudyOptions options = fold_single_values(sweep).base;
  for (const auto& [name, value] : plan.setting(setting)) {
    if (name == "lr") options.training.lr = std::get<double>(value);
    if (name == "hidden") options.hidden = std::get<int64_t>(value);
    if (name == "train_size") options.train_size = std::get<int64_t>(value);
    const auto* text = std::get_if<std::string>(&value);
    if (name == "normalise") options.normalise = enum_value(*text, {Normalise::var, Normalise::std, Normalise::none});
    if (name == "engine") options.engine = enum_value(*text, {Engine::sequential, Engine::batched});
    if (name == "shuffle") options.shuffle = enum_value(*text, {Shuffle::once, Shuffle::per_repeat, Shuffle::none});
  }
  options.training.epochs = plan.epochs.back();
  options.training.checkpoints = plan.epochs;
  options.training.record_every = 0;
  return options;
}

FactoriseStudyOptions setting_options(const FactoriseSweep& sweep, const StudyPlan& plan, int64_t setting) {
  FactoriseStudyOptions options = fold_single_values(sweep).base;
  for (const auto& [name, value] : plan.setting(setting)) {
    if (name == "rank") options.gd.rank = std::get<int64_t>(value);
    if (name == "lr") options.gd.lr = std::get<double>(value);
    const auto* text = std::get_if<std::string>(&value);
    if (name == "reduction") options.gd.reduction = enum_value(*text, {Reduction::sum, Reduction::mean});
    if (name == "loss_form") options.gd.form = enum_value(*text, {LossForm::residual, LossForm::gram});
    if (name == "dtype") options.dtype = enum_value(*text, {Dtype::float64, Dtype::float32});
    if (name == "normalise") options.normalise = enum_value(*text, {Normalise::var, Normalise::std, Normalise::none});
  }
  options.gd.epochs = plan.epochs.back();
  options.gd.checkpoints = plan.epochs;
  options.gd.record_every = 0;
  options.gd.observer = nullptr;
  options.gd.generator.reset();
  options.pca = false;
  return options;
}

RunSpan shard_span(const StudyPlan& plan, int64_t index, int64_t count) {
  if (count < 1 || index < 1 || index > count) {
    detail::invalid("shard_span", "shard " + std::to_string(index) + "/" + std::to_string(count) +
                                      ": shards are numbered 1 to N, N >= 1");
  }
  const int64_t runs = plan.runs();
  // i T / N without overflow: (q N + r) i / N = q i + r i / N, with r i < N^2.
  if (count > (int64_t{1} << 31)) detail::invalid("shard_span", "at most 2^31 shards");
  const auto bound = [runs, count](int64_t i) { return runs / count * i + runs % count * i / count; };
  return {bound(index - 1), bound(index)};
}

namespace {

// The spans cut at settings: (setting, first repeat, end repeat) in order.
template <class Visit>
void for_each_setting_share(const StudyPlan& plan, const std::vector<RunSpan>& spans, Visit visit) {
  for (const RunSpan& span : spans) {
    for (int64_t run = span.begin; run < span.end;) {
      const int64_t setting = run / plan.repeats;
      const int64_t end = std::min(span.end, (setting + 1) * plan.repeats);
      visit(setting, run - setting * plan.repeats, end - setting * plan.repeats);
      run = end;
    }
  }
}

int64_t span_runs(const std::vector<RunSpan>& spans) {
  int64_t n = 0;
  for (const RunSpan& s : spans) n += s.end - s.begin;
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void run_sweep(const Dataset& data, const MlpSweep& sweep, const StudyPlan& plan, const std::vector<RunSpan>& spans,
               const SweepHooks& hooks) {
  require_memory(sweep_memory(data, sweep, plan), "the MLP sweep on " + data.source);
  const int64_t total = span_runs(spans);
  int64_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for_each_setting_share(plan, spans, [&](int64_t setting, int64_t first, int64_t end) {
    MlpStudyOptions options = setting_options(sweep, plan, setting);
    options.first_repeat = first;
    options.end_repeat = end;
    options.generator.reset();
    MlpStudyHooks study;
    study.on_run = [&](int64_t repeat, MlpResult&& result) {
      RunRecord run{setting, repeat, plan.seed, {}};
      for (const MlpCheckpoint& c : result.checkpoints) {
        run.checkpoints.push_back({c.epochs, c.diverged, {c.train_accuracy, c.val_accuracy, c.loss}});
      }
      if (hooks.on_run) hooks.on_run(std::move(run));
    };
    study.on_progress = [&](const Progress& p) {
      if (hooks.on_progress) hooks.on_progress({done + p.done, total, seconds_since(start)});
    };
    mlp_study(data, options, study);
    done += end - first;
  });
}

void run_sweep(const Dataset& data, const FactoriseSweep& sweep, const StudyPlan& plan,
               const std::vector<RunSpan>& spans, const SweepHooks& hooks) {
  require_memory(sweep_memory(data, sweep, plan), "the factorisation sweep on " + data.source);
  const int64_t total = span_runs(spans);
  int64_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for_each_setting_share(plan, spans, [&](int64_t setting, int64_t first, int64_t end) {
    const FactoriseStudyOptions options = setting_options(sweep, plan, setting);
    // The setting's matrix and optimum once (factorise_study checks the data as one run would).
    FactoriseStudyOptions once = options;
    once.gd.epochs = 0;
    once.gd.checkpoints = {0};
    once.gd.seed = plan.seed;
    const FactoriseStudyResult prepared = factorise_study(data, once);
    Engine engine = fold_single_values(sweep).engine;
    for (const auto& [name, value] : plan.setting(setting)) {
      if (name == "engine") engine = enum_value(std::get<std::string>(value), {Engine::sequential, Engine::batched});
    }
    const auto emit = [&](int64_t repeat, const FactoriseResult& result) {
      RunRecord run{setting, repeat, plan.seed + static_cast<uint64_t>(repeat), {}};
      FactoriseStudyResult view;  // for relative_gap's rounding test
      view.A = prepared.A;
      view.svd = prepared.svd;
      for (const FactoriseCheckpoint& c : result.checkpoints) {
        view.gd.loss = c.loss;
        const std::optional<double> relative = view.relative_gap();
        run.checkpoints.push_back(
            {c.epochs,
             c.diverged,
             {c.loss, c.loss - prepared.svd.loss, relative.value_or(std::numeric_limits<double>::quiet_NaN())}});
      }
      if (hooks.on_run) hooks.on_run(std::move(run));
    };
    const int64_t chunk = engine == Engine::batched ? sweep.chunk : 1;
    for (int64_t begin = first; begin < end; begin += chunk) {
      const int64_t count = std::min(chunk, end - begin);
      if (engine == Engine::batched) {
        std::vector<uint64_t> seeds;
        for (int64_t r = begin; r < begin + count; ++r) seeds.push_back(plan.seed + static_cast<uint64_t>(r));
        const std::vector<FactoriseResult> results = gd_factorise_batched(prepared.A, options.gd, seeds);
        for (int64_t i = 0; i < count; ++i) emit(begin + i, results[static_cast<std::size_t>(i)]);
      } else {
        FactoriseOptions gd = options.gd;
        gd.seed = plan.seed + static_cast<uint64_t>(begin);
        emit(begin, gd_factorise_ad(prepared.A, gd));
      }
      done += count;
      if (hooks.on_progress) hooks.on_progress({done, total, seconds_since(start)});
    }
  });
}

double sweep_memory(const Dataset& data, const MlpSweep& sweep, const StudyPlan& plan) {
  double most = 0.0;
  for (int64_t s = 0; s < plan.settings(); ++s) {
    most = std::max(most, estimate(data, setting_options(sweep, plan, s), /*keeps_runs=*/false).bytes);
  }
  return most;
}

double sweep_memory(const Dataset& data, const FactoriseSweep& sweep, const StudyPlan& plan) {
  double most = 0.0;
  for (int64_t s = 0; s < plan.settings(); ++s) {
    const FactoriseStudyOptions options = setting_options(sweep, plan, s);
    // A batched chunk holds, per seed, its factors and the m x n products of the residual form.
    const double element = options.dtype == Dtype::float32 ? 4.0 : 8.0;
    const double per_seed = (static_cast<double>(data.rows()) + static_cast<double>(data.columns())) *
                                static_cast<double>(options.gd.rank) * element * 8.0 +
                            static_cast<double>(data.rows()) * static_cast<double>(data.columns()) * element * 4.0;
    const double seeds = static_cast<double>(std::min(sweep.chunk, plan.repeats));
    most = std::max(most, estimate(data.rows(), data.columns(), options).bytes + seeds * per_seed);
  }
  return most;
}

void run_sweep(const Dataset& data, const Sweep& sweep, const StudyPlan& plan, const std::vector<RunSpan>& spans,
               const SweepHooks& hooks) {
  std::visit([&](const auto& s) { run_sweep(data, s, plan, spans, hooks); }, sweep);
}

double sweep_memory(const Dataset& data, const Sweep& sweep, const StudyPlan& plan) {
  return std::visit([&](const auto& s) { return sweep_memory(data, s, plan); }, sweep);
}

double sweep_flops_per_run(const Dataset& data, const Sweep& sweep, const StudyPlan& plan) {
  double flops = 0.0;
  for (int64_t setting = 0; setting < plan.settings(); ++setting) {
    if (const auto* mlp = std::get_if<MlpSweep>(&sweep)) {
      flops += estimate(data, setting_options(*mlp, plan, setting)).flops / static_cast<double>(plan.repeats);
    } else {
      flops +=
          estimate(data.rows(), data.columns(), setting_options(std::get<FactoriseSweep>(sweep), plan, setting)).flops;
    }
  }
  return flops / static_cast<double>(plan.settings());
}

StudySummary::StudySummary(const StudyPlan& plan) : plan_(plan) {
  const auto runs = static_cast<std::size_t>(plan.runs());
  const std::size_t checkpoints = plan.epochs.size();
  values_.assign(runs * checkpoints * plan.metrics.size(), std::numeric_limits<double>::quiet_NaN());
  present_.assign(runs, false);
  diverged_.assign(runs * checkpoints, false);
}

double StudySummary::memory(const StudyPlan& plan) {
  const auto runs = static_cast<double>(plan.runs());
  const auto checkpoints = static_cast<double>(plan.epochs.size());
  return runs * checkpoints * (static_cast<double>(plan.metrics.size()) * 8.0 + 0.125) + runs * 0.125;
}

void StudySummary::add(const RunRecord& run) {
  constexpr const char* kFunction = "StudySummary::add";
  if (run.setting < 0 || run.setting >= plan_.settings() || run.repeat < 0 || run.repeat >= plan_.repeats) {
    detail::invalid(kFunction, "run (setting " + std::to_string(run.setting) + ", repeat " +
                                   std::to_string(run.repeat) + ") is not in the study's grid");
  }
  const auto index = static_cast<std::size_t>(run.run(plan_));
  if (present_[index]) {
    detail::invalid(kFunction, "run (setting " + std::to_string(run.setting) + ", repeat " +
                                   std::to_string(run.repeat) + ") is there twice");
  }
  if (run.checkpoints.size() != plan_.epochs.size()) {
    detail::invalid(kFunction, "run (setting " + std::to_string(run.setting) + ", repeat " +
                                   std::to_string(run.repeat) + ") has " + std::to_string(run.checkpoints.size()) +
                                   " checkpoints for " + std::to_string(plan_.epochs.size()) + " epochs values");
  }
  const std::size_t checkpoints = plan_.epochs.size(), metrics = plan_.metrics.size();
  for (std::size_t c = 0; c < checkpoints; ++c) {
    const Checkpoint& point = run.checkpoints[c];
    if (point.epochs != plan_.epochs[c] || point.values.size() != metrics) {
      detail::invalid(kFunction, "run (setting " + std::to_string(run.setting) + ", repeat " +
                                     std::to_string(run.repeat) + ")'s checkpoints do not match the study's epochs");
    }
    std::copy(point.values.begin(), point.values.end(),
              values_.begin() + static_cast<std::ptrdiff_t>((index * checkpoints + c) * metrics));
    diverged_[index * checkpoints + c] = point.diverged;
  }
  present_[index] = true;
  ++count_;
}

double StudySummary::seconds(const StudyPlan& plan) {
  double per_cell = 0.0;
  for (const std::string& metric : plan.metrics) {
    const bool counts = metric.find("accuracy") != std::string::npos;  // at most one value per row
    per_cell += static_cast<double>(plan.resamples) * (counts ? 1e-6 : 10e-9 * static_cast<double>(plan.repeats));
  }
  return per_cell * static_cast<double>(plan.cells());
}

std::vector<CellSummary> StudySummary::cells() const {
  const std::size_t checkpoints = plan_.epochs.size(), metrics = plan_.metrics.size();
  const auto repeats = static_cast<std::size_t>(plan_.repeats);
  std::vector<CellSummary> cells;
  for (int64_t setting = 0; setting < plan_.settings(); ++setting) {
    for (std::size_t c = 0; c < checkpoints; ++c) {
      CellSummary cell{setting, plan_.epochs[c], 0, 0, {}};
      std::vector<std::vector<double>> figures(metrics);
      for (std::size_t r = 0; r < repeats; ++r) {
        const std::size_t run = static_cast<std::size_t>(setting) * repeats + r;
        if (!present_[run]) continue;
        ++cell.runs;
        if (diverged_[run * checkpoints + c]) {
          ++cell.diverged;
          continue;
        }
        for (std::size_t m = 0; m < metrics; ++m) figures[m].push_back(values_[(run * checkpoints + c) * metrics + m]);
      }
      for (std::size_t m = 0; m < metrics; ++m) {
        const Bootstrap bootstrap{plan_.resamples, derived_seed(plan_.seed, {static_cast<uint64_t>(setting), c, m})};
        cell.metrics.push_back(summarise(std::move(figures[m]), bootstrap));
      }
      cells.push_back(std::move(cell));
    }
  }
  return cells;
}

std::vector<double> StudySummary::figure(int64_t setting, std::size_t checkpoint, std::size_t metric) const {
  const std::size_t checkpoints = plan_.epochs.size(), metrics = plan_.metrics.size();
  const auto repeats = static_cast<std::size_t>(plan_.repeats);
  std::vector<double> values(repeats, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t r = 0; r < repeats; ++r) {
    const std::size_t run = static_cast<std::size_t>(setting) * repeats + r;
    if (present_[run] && !diverged_[run * checkpoints + checkpoint]) {
      values[r] = values_[(run * checkpoints + checkpoint) * metrics + metric];
    }
  }
  return values;
}

bool draws_shared(const StudyPlan& plan, int64_t a, int64_t b) {
  const auto sa = plan.setting(a), sb = plan.setting(b);
  const std::vector<std::string> drawn =
      plan.part == "mlp" ? std::vector<std::string>{"hidden", "shuffle"} : std::vector<std::string>{"rank", "dtype"};
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (std::find(drawn.begin(), drawn.end(), sa[i].first) != drawn.end() && sa[i].second != sb[i].second) return false;
  }
  return true;
}

std::vector<SettingComparison> compare_settings(const StudyPlan& plan, const StudySummary& runs,
                                                const CompareOptions& options) {
  constexpr const char* kFunction = "compare_settings";
  const auto metric = std::find(plan.metrics.begin(), plan.metrics.end(), options.metric);
  if (metric == plan.metrics.end()) {
    std::string known;
    for (const std::string& m : plan.metrics) known += (known.empty() ? "" : ", ") + m;
    throw OptionError(kFunction, "metric", options.metric + " is not the study's: it has " + known);
  }
  const int64_t epochs = options.epochs.value_or(plan.epochs.back());
  const auto checkpoint = std::find(plan.epochs.begin(), plan.epochs.end(), epochs);
  if (checkpoint == plan.epochs.end()) {
    std::string known;
    for (const int64_t e : plan.epochs) known += (known.empty() ? "" : ", ") + std::to_string(e);
    throw OptionError(kFunction, "epochs",
                      std::to_string(epochs) + " is not a checkpoint of the study: it has " + known);
  }
  if (options.baseline && (*options.baseline < 0 || *options.baseline >= plan.settings())) {
    throw OptionError(kFunction, "baseline", std::to_string(*options.baseline) + " is not a setting of the study");
  }
  require_resamples(kFunction, "resamples", options.resamples);
  const auto m = static_cast<std::size_t>(metric - plan.metrics.begin());
  const auto c = static_cast<std::size_t>(checkpoint - plan.epochs.begin());
  const bool higher = options.metric.find("accuracy") != std::string::npos;
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t a = 0; a < plan.settings(); ++a) {
    if (options.baseline) {
      if (a != *options.baseline) pairs.emplace_back(a, *options.baseline);
      continue;
    }
    for (int64_t b = a + 1; b < plan.settings(); ++b) pairs.emplace_back(b, a);
  }
  std::vector<SettingComparison> out;
  std::vector<double> p;
  for (const auto& [a, b] : pairs) {
    std::vector<double> x = runs.figure(a, c, m), y = runs.figure(b, c, m);
    // P(better) is P(X > Y) on the figure as it is when higher is better, on its negation otherwise.
    if (!higher) {
      for (double& v : x) v = -v;
      for (double& v : y) v = -v;
    }
    const uint64_t seed =
        derived_seed(plan.seed, {0xC0A7ULL, static_cast<uint64_t>(a), static_cast<uint64_t>(b), c, m});
    Comparison result = compare(x, y, draws_shared(plan, a, b), {options.resamples, seed});
    if (!higher) {
      result.difference = -result.difference;
      result.difference_bootstrap = {-result.difference_bootstrap.high, -result.difference_bootstrap.low};
    }
    out.push_back({a, b, higher, result});
    p.push_back(result.p_value);
  }
  const std::vector<double> adjusted = holm(p);
  for (std::size_t i = 0; i < out.size(); ++i) out[i].result.p_holm = adjusted[i];
  return out;
}

std::vector<RunSpan> missing_runs(const std::vector<RunSpan>& spans, const StudySummary& done) {
  std::vector<RunSpan> missing;
  for (const RunSpan& span : spans) {
    for (int64_t run = span.begin; run < span.end; ++run) {
      if (done.has(run)) continue;
      if (!missing.empty() && missing.back().end == run) {
        ++missing.back().end;
      } else {
        missing.push_back({run, run + 1});
      }
    }
  }
  return missing;
}

}  // namespace labrun
