#pragma once
// A training loss recorded at an epoch: what both trainings (factorisation, MLP) report.

#include <cstdint>

namespace labrun {

struct LossPoint {
  int64_t epoch = 0;  // from 0; the loss of the parameters before that epoch's update
  double loss = 0.0;  // in the training reduction; NaN or Inf once diverged
};

}  // namespace labrun
