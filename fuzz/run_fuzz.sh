#!/usr/bin/env bash
# Runs the libFuzzer targets of a -DWB_FUZZ=ON build for a fixed time each and fails on any
# finding (crash, sanitizer report, leak, timeout, out-of-memory, failed oracle).
#   fuzz/run_fuzz.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]   (default: every target)
# Seeds come from fuzz/make_seeds.py (fixtures + generated files) into BUILD_DIR/fuzz-seeds; the
# growing corpus is kept in BUILD_DIR/fuzz-corpus/<target>, finding inputs in
# BUILD_DIR/fuzz-artifacts/<target>/. FUZZ_JOBS=N runs N targets at a time (default 1).
#
# libFuzzer runs in fork mode and keeps going after a crash, so one run collects every finding.
# Each finding is replayed and classified by the first stack frame that is not a sanitizer
# interceptor: inside libhdf5 it is a bug of the HDF5 library (1.10 is not memory-safe on
# crafted files; see fuzz/README.md), anywhere else it is weightbridge's. weightbridge findings
# always fail; HDF5-internal ones fail unless WB_FUZZ_ALLOW_HDF5=1.
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

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$src/fuzz/lsan.supp:print_suppressions=0"

# "hdf5" when the report's first frame outside the sanitizer runtime and libc is in libhdf5.
classify() {
  local report="$1"
  local frame
  frame="$(grep -E '^ +#[0-9]+ ' "$report" | grep -vE 'in (__interceptor_|__asan|__sanitizer|__lsan|malloc|calloc|realloc|free|fuzzer::)|libc\.so|/libFuzzer|AlarmCallback|PrintStackTrace' | head -1)"
  if [[ "$frame" == *libhdf5* ]]; then echo hdf5; else echo ours; fi
}

# libFuzzer's malloc limit, per target. The HDF5 targets parse in weightbridge's isolated reader
# process (src/core/isolate.h), which has its own address-space limit; libFuzzer's malloc hook
# would otherwise report the child's refused allocation as the parent's out-of-memory finding.
# The parent process stays under -rss_limit_mb.
malloc_limit() {
  case "$1" in
    keras_h5 | keras_archive) echo 1048576 ;;
    *) echo 2048 ;;
  esac
}

run_one() {
  local t="$1" corpus="$build/fuzz-corpus/$1" log="$build/fuzz-logs/$1.log" art="$build/fuzz-artifacts/$1"
  local mlimit
  mlimit="$(malloc_limit "$t")"
  mkdir -p "$corpus" "$art"
  "$build/fuzz/fuzz_$t" "$corpus" "$build/fuzz-seeds/$t" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb="$mlimit" -max_len=1048576 \
    -dict="$src/fuzz/dict/$t.dict" -artifact_prefix="$art/" >"$log" 2>&1 || true
  local stats ours=0 hdf5=0 contained=0 f kind
  stats="$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/ +/ /g')"
  for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
    [ -e "$f" ] || continue
    # Replayed 20 times in one process: some HDF5 faults need state left by an earlier pass. A
    # finding that still does not reproduce (or a binary rebuilt since) counts as weightbridge's
    # until someone looks at it.
    if timeout 300 "$build/fuzz/fuzz_$t" -runs=20 -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb="$mlimit" "$f" >"$f.report" 2>&1; then
      kind="not reproduced"
    else
      kind="$(classify "$f.report")"
    fi
    # A timeout while weightbridge waits for its isolated HDF5 reader (the child parses slowly, much
    # more so under the sanitizers) is replayed once with a libFuzzer timeout beyond the reader's own
    # CPU and wall-clock limits: when the run then ends normally, the reader's limits stopped it.
    if [[ "$(basename "$f")" == timeout-* ]] && [ "$kind" != "not reproduced" ] && grep -q "run_isolated" "$f.report" &&
      timeout 600 "$build/fuzz/fuzz_$t" -runs=1 -timeout=400 -rss_limit_mb=2048 -malloc_limit_mb="$mlimit" "$f" >"$f.long" 2>&1; then
      kind="contained: the isolated reader's limits stopped it"
    fi
    if [ "$kind" = hdf5 ]; then hdf5=$((hdf5 + 1))
    elif [[ "$kind" == contained* ]]; then contained=$((contained + 1))
    else ours=$((ours + 1)); fi
    echo "fuzz $t: finding $(basename "$f") ($kind): $(grep -m1 -E 'ERROR|FUZZ FINDING|runtime error' "$f.report" || true)"
  done
  echo "fuzz $t: ${secs}s: ${stats}; findings: $ours weightbridge, $hdf5 inside libhdf5, $contained contained by the isolated reader"
  if ((ours > 0)) || { ((hdf5 > 0)) && [ "${WB_FUZZ_ALLOW_HDF5:-0}" != 1 ]; }; then return 1; fi
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
