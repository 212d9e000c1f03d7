#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace wbtest {

// Path of a real-framework fixture. Under CI (CI=true) a missing fixture folder is a failure;
// elsewhere the test is skipped with a clear message.
inline std::string fixtures_dir() {
  const char* env = std::getenv("WB_FIXTURES");
  return env && *env ? env : WB_FIXTURES_DIR;
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// A scratch directory unique to the running test.
inline std::string tmp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(WB_TEST_TMP) /
                            (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace wbtest

// Use at the top of a test: sets `var` to the fixture path or skips/fails.
#define WB_FIXTURE(var, rel)                                                              \
  const std::string var = wbtest::fixtures_dir() + "/" + (rel);                          \
  if (!std::filesystem::exists(var)) {                                                    \
    if (wbtest::in_ci()) FAIL() << "missing fixture under CI: " << var;                   \
    GTEST_SKIP() << "fixture not present: " << var;                                       \
  }
