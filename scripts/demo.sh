#!/usr/bin/env bash
# Set-up command (1): install, build, and run the main job on the embedded sample model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh weightbridge
./build/weightbridge demo build/demo
