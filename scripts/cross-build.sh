#!/usr/bin/env bash
# Builds the firmware's cross targets (firmware_stub/cross/, docs/firmware.md) into build/cross/<target>/ and prints
# the size report of each against its chip profiles' budgets (tools/firmware_size_report.py; docs/firmware.md
# "Size report and budgets"). Exit 1 when a budget is exceeded or a stack has no bound; a target whose toolchain
# is missing is skipped with a line naming its Debian packages (exit 0 when nothing else failed).
#   scripts/cross-build.sh                      every target
#   scripts/cross-build.sh cortex-m3 lx106      some targets
#   scripts/cross-build.sh --json               the report as JSON (the only thing on stdout; the build on stderr)
#   scripts/cross-build.sh --write-footprint    also rewrite emulators/common/firmware_footprint.hpp (commit it)
# BUILD_DIR (default build) is the main build folder; the targets go to $BUILD_DIR/cross/<target>/. When the main
# build has the cross build in it (its target IOTW_CROSS_BUILD_TARGET, default iotw_cross), that target builds them;
# otherwise each is configured here as the standalone project it is, with its toolchain file.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CROSS_TARGET=${IOTW_CROSS_BUILD_TARGET:-iotw_cross}
SRC_CACHE=${IOTW_SRC_CACHE:-/var/cache/iotw/src}
targets=() report_args=()
for a in "$@"; do
  case "$a" in
    cortex-m3 | cortex-m4 | lx106) targets+=("$a") ;;
    --json | --write-footprint) report_args+=("$a") ;;
    *) echo "cross-build: unknown argument '$a' (targets: cortex-m3 cortex-m4 lx106; --json, --write-footprint)" >&2
       exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(cortex-m3 cortex-m4 lx106)

# toolchain_missing TARGET: prints the skip line and returns 0 when TARGET's compiler or C library is missing.
toolchain_missing() {
  case "$1" in
    cortex-m3 | cortex-m4)
      if ! command -v arm-none-eabi-gcc >/dev/null || [ ! -f /usr/lib/picolibc/arm-none-eabi/picolibc.specs ]; then
        echo "cross-build: $1 SKIPPED: arm-none-eabi-gcc with picolibc not found" \
             "(Debian: apt-get install gcc-arm-none-eabi picolibc-arm-none-eabi; scripts/setup.sh installs them)"
        return 0
      fi ;;
    lx106)
      if ! command -v xtensa-lx106-elf-gcc >/dev/null || [ ! -f /usr/lib/xtensa-lx106-elf/picolibc.specs ]; then
        echo "cross-build: $1 SKIPPED: xtensa-lx106-elf-gcc with picolibc not found" \
             "(Debian: apt-get install gcc-xtensa-lx106 picolibc-xtensa-lx106-elf; scripts/setup.sh installs them)"
        return 0
      fi ;;
  esac
  return 1
}

ready=()
for t in "${targets[@]}"; do
  toolchain_missing "$t" || ready+=("$t")
done
if [ ${#ready[@]} -eq 0 ]; then
  echo "cross-build: no target has its toolchain; nothing built"
  exit 0
fi
if ! ls -d "$SRC_CACHE"/libsodium-* "$SRC_CACHE"/nanopb-* >/dev/null 2>&1; then
  echo "cross-build: SKIPPED: Debian's libsodium and nanopb sources are not under $SRC_CACHE (run scripts/setup.sh)"
  exit 0
fi

jobs=${JOBS:-2}
if [ -f "$BUILD_DIR/build.ninja" ] && ninja -C "$BUILD_DIR" -t targets all 2>/dev/null | grep -q "^$CROSS_TARGET:"; then
  echo "cross-build: cmake --build $BUILD_DIR --target $CROSS_TARGET" >&2
  cmake --build "$BUILD_DIR" --target "$CROSS_TARGET" -j "$jobs" >&2
else
  for t in "${ready[@]}"; do
    echo "cross-build: $t -> $BUILD_DIR/cross/$t" >&2
    cmake -S firmware_stub/cross -B "$BUILD_DIR/cross/$t" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel \
          -DCMAKE_TOOLCHAIN_FILE="$PWD/firmware_stub/cross/toolchains/$t.cmake" -DIOTW_CROSS_TARGET="$t" \
          -DIOTW_SRC_CACHE="$SRC_CACHE" >/dev/null
    cmake --build "$BUILD_DIR/cross/$t" -j "$jobs" >&2
  done
fi

args=()
for t in "${ready[@]}"; do args+=(--target "$t"); done
exec python3 tools/firmware_size_report.py --cross-dir "$BUILD_DIR/cross" "${args[@]}" ${report_args[@]+"${report_args[@]}"}
