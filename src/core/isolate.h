// Runs a piece of parsing in a forked child process with resource limits, so that a library
// that is not memory-safe on crafted input (HDF5 1.10) cannot take weightbridge down with it.
//
// The child runs `body` under an address-space and CPU-time limit with stderr closed and reports
// back through a pipe: success, or the wb::Error the body threw (kind, file, place, message),
// which the caller then rethrows unchanged. A child that dies instead (a signal, a sanitizer
// report, a limit) becomes one Malformed error naming the file. Only when the child succeeded
// does the caller repeat the work in-process: the same deterministic steps that just completed
// within the limits.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace wb {

struct IsolationLimits {
  uint64_t extra_address_space;  // bytes the child may map beyond what the parent already has
  unsigned cpu_seconds;
  unsigned wall_seconds = 0;  // wall-clock limit (a sleeping, e.g. deadlocked, child); 0: 2 x CPU + 30 s
};

// The limits for parsing a file of `file_size` bytes: 384 MiB + 2 x the file of new mappings,
// 60 s + 1 s per 20 MB of CPU time.
IsolationLimits limits_for_file(uint64_t file_size);

// False when WB_ISOLATE=0 is set in the environment (debugging: run the parser in-process).
bool isolation_enabled();

// Runs body() in a child as described above. `file` names the input and `parser` the library
// doing the work ("the HDF5 library") in the error messages.
void run_isolated(const std::function<void()>& body, const IsolationLimits& limits, const std::string& file,
                  const std::string& parser);

}  // namespace wb
