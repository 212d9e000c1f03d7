#!/usr/bin/env bash
# The clang jobs of CI: (1) every test under ASan+UBSan, any sanitizer report failing the test;
# (2) a short fuzz run of every target (FUZZ_SECONDS each, default 20), failing on any finding in
# weightbridge's code (findings inside libhdf5 are printed, see fuzz/README.md).
# Build trees: build-asan, build-fuzz. Prints the time each stage took.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
jobs="$(nproc)"
stamp() { date +%s; }

t0=$(stamp)
CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
t1=$(stamp)
# halt_on_error + abort_on_error: a report kills the process, so the test sees a failure (the
# python oracle tests check exit codes); leaks inside libhdf5's own error paths are suppressed.
(
  cd build-asan
  ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  LSAN_OPTIONS="suppressions=$src/fuzz/lsan.supp:print_suppressions=0" \
    ctest --output-on-failure -j"$jobs"
)
t2=$(stamp)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_FUZZ=ON -DWB_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
t3=$(stamp)
FUZZ_JOBS="$jobs" bash fuzz/run_fuzz.sh build-fuzz "${FUZZ_SECONDS:-20}"
t4=$(stamp)
echo "ci_sanitize: asan build $((t1 - t0)) s, asan tests $((t2 - t1)) s, fuzz build $((t3 - t2)) s, fuzz runs $((t4 - t3)) s"
