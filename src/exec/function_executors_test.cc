#include "exec/function_executors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace sluice {
namespace {

TEST(FunctionExecutorsTest, EachWorkerGetsItsShareOfTheMathLibrariesThreads) {
  ::unsetenv("OMP_NUM_THREADS");
  ::unsetenv("OPENBLAS_NUM_THREADS");
  long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  auto limits = MathThreadLimits(0, 2);
  EXPECT_EQ(limits.at("OPENBLAS_NUM_THREADS"), std::to_string(std::max(1L, cores / 2)));
  EXPECT_EQ(limits.at("OMP_NUM_THREADS"), limits.at("OPENBLAS_NUM_THREADS"));
  EXPECT_EQ(MathThreadLimits(0, 1000).at("MKL_NUM_THREADS"), "1");      // never 0
  EXPECT_EQ(MathThreadLimits(1.5, 2).at("OPENBLAS_NUM_THREADS"), "2");  // cpus=, rounded up
  // What the user set is theirs.
  ::setenv("OPENBLAS_NUM_THREADS", "7", 1);
  limits = MathThreadLimits(0, 2);
  EXPECT_EQ(limits.count("OPENBLAS_NUM_THREADS"), 0u);
  EXPECT_EQ(limits.count("OMP_NUM_THREADS"), 1u);
  ::unsetenv("OPENBLAS_NUM_THREADS");
}

}  // namespace
}  // namespace sluice
