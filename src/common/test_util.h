// GoogleTest helpers for Status/Result (the wheel ships no libarrow_testing).
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)

#define ASSERT_OK(expr)                            \
  do {                                             \
    ::arrow::Status _st = ::arrow::ToStatus(expr); \
    ASSERT_TRUE(_st.ok()) << _st.ToString();       \
  } while (false)

#define EXPECT_OK(expr)                            \
  do {                                             \
    ::arrow::Status _st = ::arrow::ToStatus(expr); \
    EXPECT_TRUE(_st.ok()) << _st.ToString();       \
  } while (false)

#define ASSERT_OK_AND_ASSIGN_IMPL(result_name, lhs, rexpr)          \
  auto result_name = (rexpr);                                       \
  ASSERT_TRUE(result_name.ok()) << result_name.status().ToString(); \
  lhs = std::move(result_name).ValueUnsafe();

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) ASSERT_OK_AND_ASSIGN_IMPL(SLUICE_CONCAT(_result_, __COUNTER__), lhs, rexpr)
