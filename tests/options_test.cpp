// The options' rules (labrun/options.hpp): each one's message, field and bounds.

#include "labrun/options.hpp"
#include "labrun/factorise.hpp"
#include "labrun/statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>

namespace labrun {
namespace {

// The message of the OptionError `rule` throws, or "" when it accepts.
std::string refusal(const std::function<void()>& rule, const std::string& field) {
  try {
    rule();
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), field) << e.what();
    EXPECT_EQ(e.function(), "f");
    EXPECT_EQ(std::string(e.what()), "f: " + e.option() + " " + e.rest());
    return e.rest();
  }
  return "";
}

TEST(Options, EachRuleSaysTheValueAndItsBound) {
  EXPECT_EQ(refusal([] { require_at_least("f", "epochs", -1, 0); }, "epochs"), "-1 must be >= 0");
  EXPECT_EQ(refusal([] { require_at_least("f", "epochs", 0, 0); }, "epochs"), "");

  EXPECT_EQ(refusal([] { require_lr("f", "lr", 0.0, Dtype::float64); }, "lr"), "0 must be a finite number > 0");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", std::nan(""), Dtype::float64); }, "lr"),
            "nan must be a finite number > 0");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", -INFINITY, Dtype::float64); }, "lr"),
            "-inf must be a finite number > 0");
  // float32's range bounds the lr only where training is in float32.
  EXPECT_EQ(refusal([] { require_lr("f", "lr", 1e39, Dtype::float64); }, "lr"), "");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", 1e39, Dtype::float32); }, "lr"),
            "1e+39 must be <= 3.4e38, float32's largest number, where training is in float32");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", std::numeric_limits<float>::max(), Dtype::float32); }, "lr"), "");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", 1e-46, Dtype::float32); }, "lr"),
            "1e-46 is 0 in float32 (below 1.4e-45), where training is: no update would change a weight");
  EXPECT_EQ(refusal([] { require_lr("f", "lr", 1e-45, Dtype::float32); }, "lr"), "");  // the smallest subnormal

  EXPECT_EQ(refusal([] { require_rank("f", 0, 150, 4, "iris"); }, "rank"), "0 must be >= 1");
  EXPECT_EQ(refusal([] { require_rank("f", 3, 150, 4, "iris"); }, "rank"), "");
  EXPECT_EQ(refusal([] { require_rank("f", 4, 150, 4, "iris"); }, "rank"),
            "4 must be < min(rows, columns) = 4 of iris (150 x 4)");
  EXPECT_EQ(refusal([] { require_rank("f", 3, 3, 10, ""); }, "rank"), "3 must be < min(rows, columns) = 3 (3 x 10)");

  EXPECT_EQ(refusal([] { require_train_size("f", 0, 150, "iris"); }, "train_size"),
            "0 must leave rows to train on and to validate: 1 <= it < 150, the rows of iris");
  EXPECT_EQ(refusal([] { require_train_size("f", 150, 150, "iris"); }, "train_size"),
            "150 must leave rows to train on and to validate: 1 <= it < 150, the rows of iris");
  EXPECT_EQ(refusal([] { require_train_size("f", 149, 150, "iris"); }, "train_size"), "");

  EXPECT_EQ(refusal([] { require_resamples("f", "resamples", -1); }, "resamples"),
            "-1 must be 0 (no bootstrap) to 1000000 resamples");
  EXPECT_EQ(refusal([] { require_resamples("f", "resamples", kMaxResamples + 1); }, "resamples"),
            "1000001 must be 0 (no bootstrap) to 1000000 resamples");
  EXPECT_EQ(refusal([] { require_resamples("f", "resamples", 0); }, "resamples"), "");
  EXPECT_EQ(refusal([] { require_resamples("f", "resamples", kMaxResamples); }, "resamples"), "");
}

TEST(Options, NumbersAreWrittenAsBrieflyAsTheyReadBack) {
  EXPECT_EQ(shortest(0.1), "0.1");
  EXPECT_EQ(shortest(1e39), "1e+39");
  EXPECT_EQ(shortest(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(shortest(-2.5), "-2.5");
  EXPECT_EQ(shortest(INFINITY), "inf");
  for (const double x : {0.01, 3.4028234663852886e38, 5e-324, 123456789.125}) {
    EXPECT_EQ(std::strtod(shortest(x).c_str(), nullptr), x) << shortest(x);
  }
}

}  // namespace
}  // namespace labrun
