#!/usr/bin/env bash
# Builds and runs every test: the normal build with ctest, then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), then each libFuzzer target for a bounded time
# (scripts/fuzz.sh; FUZZ_SECONDS per target, default 60). IOTW_SKIP_SANITIZERS=1 / IOTW_SKIP_FUZZ=1 skip a stage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 --timeout 600
echo "stage normal: $(( $(date +%s) - start )) s"
if [ "${IOTW_SKIP_SANITIZERS:-0}" != 1 ]; then
  start=$(date +%s)
  # -O1, as the ASan docs advise: half the compile time of -O2 under instrumentation, still fast enough to run.
  BUILD_DIR=build-asan bash scripts/build.sh -DIOTW_SANITIZE=ON -DIOTW_BUILD_BENCH=OFF \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j 2 --timeout 900
  echo "stage sanitizers: $(( $(date +%s) - start )) s"
fi
if [ "${IOTW_SKIP_FUZZ:-0}" != 1 ]; then
  start=$(date +%s)
  FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh
  echo "stage fuzz: $(( $(date +%s) - start )) s"
fi
