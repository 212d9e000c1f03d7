#!/usr/bin/env bash
# Configures and builds weightbridge into ./build (Release, warnings as errors).
#   scripts/build.sh            every target (library, CLI, tests, benchmarks)
#   scripts/build.sh TARGET...  only those targets (the demo builds just `weightbridge`)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWB_WERROR=ON >/dev/null
if (($#)); then
  for t in "$@"; do cmake --build build -j"$(nproc)" --target "$t"; done
else
  cmake --build build -j"$(nproc)"
fi
