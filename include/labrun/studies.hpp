#pragma once
// The exercise's studies, one call each, as the labrun command runs them: options in, result out.
//
//   factorise_study  parts 1.1-1.3: the data's mean-centred features factorised by gradient
//                    descent, the truncated SVD of the same rank, and optionally PCA of the data
//                    with the comparison of the learned U and the principal component scores
//   mlp_study        part 2: the shared-bias MLP trained `repeats` times from fresh draws, on one
//                    shuffle or one per repeat, by either engine, with the accuracies' summary
//   exercise         both from one seed, one generator through both parts, as the exercise's
//                    script runs after a single torch.manual_seed

#include "labrun/exercise.hpp"
#include "labrun/factorise_study.hpp"
#include "labrun/mlp_study.hpp"
