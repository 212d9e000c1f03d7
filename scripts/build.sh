#!/usr/bin/env bash
# Configures and builds weightbridge into ./build (Release, warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWB_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
