// Factorises the embedded Iris data at rank 2 from seed 0, as `labrun pca --seed 0` does, through
// the installed library, and prints the losses and the principal angles.
#include <labrun/studies.hpp>

#include <cstdio>

int main() {
  labrun::FactoriseStudyOptions options;
  options.gd.rank = 2;
  options.gd.seed = 0;
  options.pca = true;
  const labrun::FactoriseStudyResult study = labrun::factorise_study(labrun::load_embedded_iris(), options);
  std::printf("gd_loss %.17g\nsvd_loss %.17g\n", study.gd.loss, study.svd.loss);
  if (study.comparison) {
    for (const double angle : study.comparison->principal_angles) std::printf("principal_angle %.6g\n", angle);
  }
  return 0;
}
