#!/usr/bin/env bash
# Builds and runs every test (docs/ci.md): the normal build with every ctest test; then the sanitizer stage,
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, -DIOTW_TEST_SCOPE=unit: every room's unit tests,
# the fuzz corpora and one short rig of the real daemons); then each libFuzzer target for a bounded time
# (scripts/fuzz.sh; FUZZ_SECONDS per target, default 45). IOTW_SKIP_SANITIZERS=1 / IOTW_SKIP_FUZZ=1 skip a
# stage. Each stage prints its wall time; the last line sums them (a failing stage ends the run there, its time
# and exit code printed).
set -euo pipefail
cd "$(dirname "$0")/.."
total_start=$(date +%s)
timings=()
summary() { echo "== stage times: ${timings[*]}; total $(( $(date +%s) - total_start )) s"; }
stage() {  # stage NAME COMMAND...: runs COMMAND, prints and records its wall time (also when it fails)
  local name=$1 start=$(date +%s) code=0
  shift
  echo "== stage $name"
  "$@" || code=$?
  local took=$(( $(date +%s) - start ))
  if [ "$code" -ne 0 ]; then
    timings+=("$name ${took}s (FAILED, exit $code)")
    echo "== stage $name: ${took} s, FAILED (exit $code)"
    summary
    exit "$code"
  fi
  timings+=("$name ${took}s")
  echo "== stage $name: ${took} s"
}
# -j4 on 2 cores: the end-to-end tests mostly wait on real time (rigs, timeouts), not on the CPU (docs/ci.md).
normal_tests() { ctest --test-dir build --output-on-failure -j 4 --timeout 600; }
asan_build() {
  # -O1, as the ASan docs advise: half the compile time of -O2 under instrumentation, still fast enough to run.
  # -g1: line tables only, all a sanitizer report needs (file:line in every frame); a third less compile time
  # than -g on the heaviest units (docs/ci.md).
  BUILD_DIR=build-asan bash scripts/build.sh -DIOTW_SANITIZE=ON -DIOTW_BUILD_BENCH=OFF -DIOTW_TEST_SCOPE=unit \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
}
asan_tests() {
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j 2 --timeout 900
}
fuzz() { FUZZ_SECONDS="${FUZZ_SECONDS:-45}" bash scripts/fuzz.sh; }

stage setup bash scripts/setup.sh
stage build bash scripts/build.sh
stage tests normal_tests
if [ "${IOTW_SKIP_SANITIZERS:-0}" != 1 ]; then
  stage asan-build asan_build
  stage asan-tests asan_tests
fi
[ "${IOTW_SKIP_FUZZ:-0}" = 1 ] || stage fuzz fuzz
summary
