#pragma once
// A training loss recorded at an epoch: what both trainings (factorisation, MLP) report.

#include <cstdint>

namespace labrun {

struct LossPoint {
  int64_t epoch = 0;  // from 0; the loss of the parameters before that epoch's update
  double loss = 0.0;  // in the training reduction; NaN or Inf once diverged
};

// The points a run's loss curve holds: every record_every epochs and the last one (0: none), for
// memory estimates.
inline double curve_points(int64_t epochs, int64_t record_every) {
  return record_every > 0 ? static_cast<double>((epochs > 0 ? epochs : 0) / record_every) + 2.0 : 0.0;
}

}  // namespace labrun
