#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang + AddressSanitizer in build-fuzz/ and runs each for
# a bounded time, starting from the checked-in corpus. Fails (exit 1) on a crash, leak or sanitizer report.
# Usage: scripts/fuzz.sh [target...]   env: FUZZ_SECONDS (default 60 per target), FUZZ_SEED (default: random,
# printed so a run can be repeated).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
seconds="${FUZZ_SECONDS:-60}"
seed="${FUZZ_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decoder tn_dispatch tx_request)
cc="$(command -v clang || command -v clang-14)"
cxx="$(command -v clang++ || command -v clang++-14)"
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOTW_FUZZ=ON \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"
echo "fuzz: seed $seed, ${seconds}s per target"
status=0
for t in "${targets[@]}"; do
  work="$build/fuzz-work/$t"
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp "$root/tests/fuzz/corpus/$t/"* "$work/corpus/"
  echo "fuzz: $t"
  if ! (cd "$work" && "$build/bin/fuzz_$t" -seed="$seed" -max_total_time="$seconds" -max_len=4096 \
        -print_final_stats=1 corpus >"$work/log.txt" 2>&1); then
    echo "fuzz: $t FAILED (crash input and log in $work)"; tail -40 "$work/log.txt"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/log.txt" | tail -2
  fi
done
exit $status
