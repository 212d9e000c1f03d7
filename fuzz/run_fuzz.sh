#!/usr/bin/env bash
# Runs the libFuzzer targets of a -DWB_FUZZ=ON build for a fixed time each and fails on any
# finding (crash, sanitizer report, leak, timeout, out-of-memory, failed oracle).
#   fuzz/run_fuzz.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]   (default: every target)
# Seeds come from fuzz/make_seeds.py (fixtures + generated files) into BUILD_DIR/fuzz-seeds; the
# growing corpus is kept in BUILD_DIR/fuzz-corpus/<target>, crash inputs in BUILD_DIR/fuzz-artifacts.
# FUZZ_JOBS=N runs N targets at a time (default 1).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "$1" && pwd)"
secs="$2"
shift 2
targets=("$@")
((${#targets[@]})) || targets=(params_list npz npy symbol keras_h5 keras_archive keras_json)
fixtures="${WB_FIXTURES:-$src/../shared/fixtures/real}"
python="${WB_PYTHON:-/usr/bin/python3}"

if [ ! -d "$build/fuzz-seeds" ]; then
  "$python" "$src/fuzz/make_seeds.py" --fixtures "$fixtures" --bin "$build/weightbridge" --out "$build/fuzz-seeds"
fi
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
  local t="$1" corpus="$build/fuzz-corpus/$1" log="$build/fuzz-logs/$1.log"
  mkdir -p "$corpus" "$build/fuzz-artifacts/$t"
  # Readers must not need more than the HDF5 library's own working set: 2 GB RSS is a finding.
  if ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:halt_on_error=1" \
     UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
     LSAN_OPTIONS="suppressions=$src/fuzz/lsan.supp:print_suppressions=0" \
     "$build/fuzz/fuzz_$t" "$corpus" "$build/fuzz-seeds/$t" \
       -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=1048576 \
       -dict="$src/fuzz/dict/$t.dict" -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$t/" >"$log" 2>&1; then
    local stats
    stats="$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/ +/ /g')"
    echo "fuzz $t: ok, ${secs}s: ${stats}"
  else
    echo "fuzz $t: FINDING (see $log and $build/fuzz-artifacts/$t/)"
    grep -E 'ERROR|FUZZ FINDING|runtime error|SUMMARY' "$log" | head -5
    return 1
  fi
}

jobs="${FUZZ_JOBS:-1}"
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
