// Factorises the embedded Iris data at rank 2 from seed 0, as `labrun factorise --seed 0` does, and
// prints the loss with the truncated SVD's beside it.
#include <labrun/dataset.hpp>
#include <labrun/decomposition.hpp>
#include <labrun/factorise.hpp>

#include <cstdio>

int main() {
  const torch::Tensor A = labrun::centre_columns(labrun::load_embedded_iris().features);
  labrun::FactoriseOptions options;
  options.rank = 2;
  options.seed = 0;
  const labrun::FactoriseResult gd = labrun::gd_factorise_ad(A, options);
  const labrun::TruncatedSvd svd = labrun::truncated_svd(A, options.rank);
  std::printf("gd_loss %.17g\nsvd_loss %.17g\n", gd.loss, svd.loss);
  return 0;
}
