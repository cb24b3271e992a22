#pragma once
// The rules an option's value must meet, one function each, and the error that names the option.
//
// Every library call that takes options checks them with these functions, and the labrun command
// checks its options with the same ones: a rule is written once. An OptionError carries the field
// it is about as the options struct names it ("train_size", "record_every"), so that a caller can
// name it its own way: the command turns "train_size 150 must ..." into "--train-size 150 must ...".
// A plain std::invalid_argument from the library is a broken invariant (a caller's bug), not an
// option out of range.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace labrun {

enum class Dtype;

class OptionError : public std::invalid_argument {
 public:
  // what(): "<function>: <option> <rest>".
  OptionError(std::string function, std::string option, std::string rest);
  // The call that refused it ("mlp_study"), the field ("train_size") and what follows the field's
  // name in the message ("150 must leave rows to train on and to validate: ...").
  const std::string& function() const noexcept { return function_; }
  const std::string& option() const noexcept { return option_; }
  const std::string& rest() const noexcept { return rest_; }

 private:
  std::string function_, option_, rest_;
};

// A number as briefly as it reads back exactly: 0.1, 1e+39, inf.
std::string shortest(double value);

// option >= minimum.
void require_at_least(const char* function, const char* option, int64_t value, int64_t minimum);

// A learning rate for training in `dtype`: finite and > 0; in float32 also at most float32's largest
// number (3.4e38) and not so small that it rounds to 0 there (below 1.4e-45), where no update would
// change a weight.
void require_lr(const char* function, const char* option, double lr, Dtype dtype);

// A rank for a rows x columns matrix: 1 <= rank < min(rows, columns); `of` names the matrix in the
// message ("iris.data"), or is empty.
void require_rank(const char* function, int64_t rank, int64_t rows, int64_t columns, const std::string& of);

// The first rows that train, the rest validating: 1 <= train_size < rows; `of` names the data.
void require_train_size(const char* function, int64_t train_size, int64_t rows, const std::string& of);

// Bootstrap resamples: 0 (none) to kMaxResamples (labrun/statistics.hpp).
void require_resamples(const char* function, const char* option, int64_t resamples);

}  // namespace labrun
