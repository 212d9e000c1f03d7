#!/usr/bin/env bash
# Conversion throughput and peak memory on a generated ~1 GiB model, both directions, beside
# `cp` of the same bytes in the same run. Usage: bench/convert_bench.sh [SIZE_MIB] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
WORK=${2:-build/bench-work}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWB_BUILD_BENCH=ON >/dev/null
cmake --build build -j"$(nproc)" --target weightbridge wb_gen_large >/dev/null
rm -rf "$WORK" && mkdir -p "$WORK"
./build/bench/wb_gen_large "$WORK/big.h5" "$SIZE"
bytes=$(stat -c %s "$WORK/big.h5")
sync

measure() {  # label, command...
  local label=$1; shift
  local out
  out=$( { /usr/bin/time -f "%e %M" "$@" >/dev/null; } 2>&1 | tail -1)
  local secs=${out% *} kb=${out#* }
  awk -v l="$label" -v s="$secs" -v kb="$kb" -v b="$bytes" \
    'BEGIN { printf "%-28s %8.2f s %9.1f MB/s   peak RSS %8.1f MiB\n", l, s, (b/1e6)/(s>0?s:0.001), kb/1024 }'
}

echo "model: $bytes bytes"
measure "cp (baseline)" cp "$WORK/big.h5" "$WORK/copy.h5"
# weightbridge fsyncs its outputs before renaming them into place; this baseline does the same.
measure "cp + fsync (baseline)" sh -c 'cp "$1" "$2" && sync "$2"' sh "$WORK/big.h5" "$WORK/copy2.h5"
measure "keras .h5 -> mxnet" ./build/weightbridge convert "$WORK/big.h5" --to mxnet -o "$WORK/big"
# The cost of reading HDF5 first in the isolated child process (src/core/isolate.h).
measure "  same, in-process HDF5" env WB_ISOLATE=0 ./build/weightbridge convert "$WORK/big.h5" --to mxnet -o "$WORK/big-inproc"
measure "mxnet -> keras .h5" ./build/weightbridge convert "$WORK/big-symbol.json" "$WORK/big-0000.params" --to keras -o "$WORK/back.h5"
measure "inspect (sha256 of all)" ./build/weightbridge inspect "$WORK/big-0000.params"
rm -rf "$WORK"
