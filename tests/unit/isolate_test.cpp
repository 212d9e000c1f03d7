// The isolated reader process (core/isolate.h): what the parent sees for each way a child ends.
#include <signal.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/isolate.h"
#include "test_util.h"
#include "weightbridge/error.h"

using namespace wb;

namespace {

const IsolationLimits kSmall{256ull << 20, 10};

Error caught(const std::function<void()>& body, const IsolationLimits& limits = kSmall) {
  try {
    run_isolated(body, limits, "model.h5", "the HDF5 library");
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "run_isolated did not throw";
  return Error(ErrorKind::Usage, "none");
}

}  // namespace

TEST(Isolate, SuccessReturnsAndSideEffectsStayInTheChild) {
  int touched = 0;
  run_isolated([&] { touched = 1; }, kSmall, "model.h5", "the HDF5 library");
  EXPECT_EQ(touched, 0);  // the body ran in another address space
}

TEST(Isolate, ErrorOfTheChildIsRethrownUnchanged) {
  const Error e = caught([] { fail(ErrorKind::Mapping, "no weight 'kernel'", "w.h5", "layer dense_1"); });
  EXPECT_EQ(e.kind(), ErrorKind::Mapping);
  EXPECT_EQ(e.format(), "w.h5: layer dense_1: no weight 'kernel'");
}

TEST(Isolate, CrashBecomesOneMalformedErrorNamingTheFile) {
  const Error e = caught([] { ::raise(SIGSEGV); });
  EXPECT_EQ(e.kind(), ErrorKind::Malformed);
  EXPECT_EQ(e.file(), "model.h5");
  EXPECT_NE(e.message().find("the HDF5 library crashed"), std::string::npos) << e.message();
  EXPECT_EQ(e.format().find('\n'), std::string::npos);
}

TEST(Isolate, AddressSpaceLimitStopsAHugeAllocation) {
  // 8 GiB against a 256 MiB allowance: bad_alloc in the child (or, under a sanitizer, its
  // allocator's own out-of-memory stop); either way one Malformed error, not a parent that swaps.
  const Error e = caught([] {
    std::vector<char> v(8ull << 30);
    std::memset(v.data(), 1, v.size());
  });
  EXPECT_EQ(e.kind(), ErrorKind::Malformed);
  EXPECT_EQ(e.file(), "model.h5");
}

TEST(Isolate, CpuLimitStopsAnEndlessLoop) {
  const Error e = caught(
      [] {
        std::atomic<unsigned long> n{0};
        for (;;) n.fetch_add(1, std::memory_order_relaxed);
      },
      IsolationLimits{256ull << 20, 1});
  EXPECT_EQ(e.kind(), ErrorKind::Malformed);
  EXPECT_NE(e.message().find("CPU-time limit"), std::string::npos) << e.message();
}

TEST(Isolate, WallClockLimitStopsASleepingChild) {
  // A child that waits (as a deadlocked one would) uses no CPU time: the wall-clock limit ends it.
  const auto start = std::chrono::steady_clock::now();
  const Error e = caught([] { ::sleep(30); }, IsolationLimits{256ull << 20, 60, 1});
  EXPECT_EQ(e.kind(), ErrorKind::Malformed);
  EXPECT_NE(e.message().find("did not finish within 1 s (wall clock)"), std::string::npos) << e.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Isolate, DisabledByEnvironmentRunsInProcess) {
  ::setenv("WB_ISOLATE", "0", 1);
  int touched = 0;
  run_isolated([&] { touched = 1; }, kSmall, "model.h5", "the HDF5 library");
  ::unsetenv("WB_ISOLATE");
  EXPECT_EQ(touched, 1);
}
