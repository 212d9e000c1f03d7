#!/usr/bin/env bash
# Set-up command (2): install, build, and run every test. The real-framework fixtures are read
# from ../shared/fixtures/real (override with WB_FIXTURES); under CI=true a missing folder fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/setup-oracles.sh build/tfjs
cd build
ctest --output-on-failure -j"$(nproc)"
