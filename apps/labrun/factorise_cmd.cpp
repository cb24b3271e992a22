#include "factorise_cmd.hpp"

#include "document.hpp"
#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "progress.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

namespace labrun::cli {

void add_factorise_options(CLI::App& command, FactoriseStudyOptions& options, Checks& checks,
                           const OptionNames& names) {
  FactoriseOptions& gd = options.gd;
  add_at_least(command, checks, names("rank"), gd.rank, 1, "Rank r of the factors, 1 <= r < min(rows, columns)");
  add_at_least(command, checks, names("epochs", true), gd.epochs, 0, "Gradient-descent epochs, >= 0");
  add_lr(
      command, checks, names("lr", true), gd.lr, [&options] { return options.dtype; },
      "Learning rate, > 0 (and <= 3.4e38 in float32)");
  add_choice(command, names("reduction"), gd.reduction, {Reduction::sum, Reduction::mean},
             "Loss reduction: sum (the exercise's) or mean");
  add_choice(command, names("loss-form"), gd.form, {LossForm::residual, LossForm::gram},
             "How autograd sees the loss: residual, mse_loss(U V^T, A) as the exercise; gram, the expanded "
             "square ||A||^2 - 2<U, A V> + <U^T U, V^T V>, faster for large matrices");
  add_at_least(command, checks, names("loss-every", true), gd.record_every, 0,
               "Record the loss every K epochs (0: no loss curve)")
      ->type_name("K");
  add_choice(command, names("dtype"), options.dtype, {Dtype::float64, Dtype::float32},
             "Floating-point type of the matrix and factors");
  add_choice(command, names("normalise", true), options.normalise, {Normalise::none, Normalise::std, Normalise::var},
             "Divide each centred column by its standard deviation (std) or variance (var) before training, SVD "
             "and PCA; none (the exercise's) leaves the data as it is. For columns of very different scales");
  add_choice(command, names("streaming"), options.streaming,
             {Streaming::automatic, Streaming::always, Streaming::never},
             "Read the matrix a block of rows at a time, never whole (SVD and PCA from the Gram matrix): auto "
             "streams a tall matrix of 2^24 entries or more; always needs rows >= columns and columns <= 4096");
}

CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& command) {
  return add_study_command(app, "factorise",
                           "Factorise the mean-centred data as U V^T by gradient descent (part 1.1) and compare with "
                           "the truncated SVD (part 1.2)",
                           command, add_factorise_options);
}

CLI::App* setup_pca(CLI::App& app, FactoriseCommand& command) {
  return add_study_command(app, "pca",
                           "Factorise as part 1.1 does, run PCA on the same data, and compare the learned U with the "
                           "principal component scores (part 1.3)",
                           command, add_factorise_options);
}

int factorise_exit_code(const Dataset& data, const FactoriseStudyResult& result, const FactoriseStudyOptions& options,
                        const OptionNames& names) {
  const FactoriseResult& gd = result.gd;
  const std::optional<double> stable = stable_lr(result, options.gd);
  // Where one column's scale dwarfs the others', scaling the columns is the answer, not a step
  // small enough for that column alone.
  const auto& s = result.svd.singular_values;
  // A short run is not expected to converge: the warning is for 100 epochs or more.
  const bool slow = gd.epochs_run >= 100 && result.relative_gap().value_or(0.0) > 1.0;
  const bool warned = gd.diverged() || slow;
  const double share = warned && options.normalise == Normalise::none ? largest_column_share(data) : 0.0;
  const std::string scaling = share > 0.9 ? fmt::format(", or {} std: one column holds {:.1f}% of the data's variance",
                                                        names("normalise", true), 100.0 * share)
                                          : "";
  if (gd.diverged()) {
    std::cerr << fmt::format(
        "labrun: warning: training diverged at epoch {} (the loss became NaN or Inf) at {} {}{}{}\n",
        *gd.diverged_at_epoch, names("lr", true), options.gd.lr,
        stable ? fmt::format("; {} {:.2g} is stable on this data (from its largest singular value, {:.4g}, and "
                             "the factors' starting size)",
                             names("lr", true), *stable, s.front())
               : "",
        scaling);
    return kExitDiverged;
  }
  // Far from the optimum at the end: more epochs, or a larger step up to the stable one.
  const std::optional<double> relative = result.relative_gap();
  if (slow) {
    std::cerr << fmt::format(
        "labrun: warning: the loss ended {:.3g} times the truncated SVD's optimum after {} epochs: training had "
        "not converged; more {}{}{}\n",
        1.0 + *relative, gd.epochs_run, names("epochs", true),
        stable && options.gd.lr < *stable / 2.0 ? fmt::format(", or {} up to {:.2g}", names("lr", true), *stable) : "",
        scaling);
  }
  return kExitOk;
}

double factorise_document_numbers(const Dataset& data, const FactoriseStudyOptions& options) {
  // The loss curve, U and V, and with PCA its scores, components and the aligned factor.
  return curve_numbers(options.gd.epochs, options.gd.record_every) +
         3.0 * static_cast<double>(data.rows() + data.columns()) * static_cast<double>(options.gd.rank);
}

std::string factorise_size(const Dataset& data, const FactoriseStudyOptions& options) {
  return fmt::format("a rank-{} factorisation of {} x {} over {} epochs", options.gd.rank, data.rows(), data.columns(),
                     options.gd.epochs);
}

int run_factorise(const FactoriseCommand& command, bool with_pca) {
  const Dataset data = start_command(command.common, command.checks);
  FactoriseStudyOptions options = command.study;
  options.pca = with_pca;
  with_option_names(command.names, [&] { check_options(data, options); });
  const uint64_t seed = admit_work(command.common, estimate(data.rows(), data.columns(), options),
                                   factorise_document_numbers(data, options), factorise_size(data, options),
                                   "use a larger --loss-every or smaller data");
  options.gd.seed = seed;
  // Progress by epochs, for large data (the observer sees each epoch's loss).
  ProgressLine progress(command.common.progress, "epochs");
  if (progress.shown()) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t epochs = options.gd.epochs;
    options.gd.observer = [&progress, start, epochs](int64_t epoch, double) {
      progress({epoch + 1, epochs, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    };
  }

  const FactoriseStudyResult result = factorise_study(data, options);
  progress.finish();
  const Provenance provenance{seed, command.common.seed.has_value()};
  emit(with_pca
           ? document("pca", factorise_config(options, &provenance), describe(data), pca_results(result, data))
           : document("factorise", factorise_config(options, &provenance), describe(data), factorise_results(result)),
       command.common);
  return factorise_exit_code(data, result, options, command.names);
}

}  // namespace labrun::cli
