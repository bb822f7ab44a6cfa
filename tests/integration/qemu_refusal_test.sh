#!/usr/bin/env bash
# A rig with qemu-cortex-m3 devices on a host that cannot run them (issue 18, "Bad input"): without qemu-system-arm in
# PATH, or without the firmware image next to the binaries, `iotw rig check` refuses it (exit 3, could not run,
# docs/cli.md) naming the Debian package or the missing image and the command that builds it; `iotw rig run` skips it
# before anything starts (exit 0, junit <skipped>), and with --require-all it is an error (exit 3, junit <error>). A rig
# without QEMU devices is not affected.
# Usage: qemu_refusal_test.sh IOTW_EXE RIGS_DIR
set -euo pipefail
IOTW=$1
RIGS=$2
WORK=$(mktemp -d /tmp/iotw-qemu-refusal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect NAME EXPECTED_EXIT CMD...: runs CMD, its stdout/stderr in $WORK/NAME.{out,err}
  local name=$1 expected=$2 code
  shift 2
  set +e
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  code=$?
  set -e
  cat "$WORK/$name.out" "$WORK/$name.err"
  [ "$code" -eq "$expected" ] || fail "$name: exit code $code, expected $expected"
}
NOQEMU=(env PATH=/nonexistent)  # iotw is started by path; nothing else is found

# 1. qemu-system-arm missing.
expect check_noqemu 3 "${NOQEMU[@]}" "$IOTW" rig check "$RIGS/qemu_cortex_m.toml"
grep -q "^error: rig 'qemu_cortex_m' has 2 qemu-cortex-m3 device(s), but qemu-system-arm is not installed" \
  "$WORK/check_noqemu.err" || fail "rig check: the message does not say qemu-system-arm is missing"
grep -q "install the Debian package qemu-system-arm" "$WORK/check_noqemu.err" || fail "rig check: no Debian package named"
expect check_smoke 0 "${NOQEMU[@]}" "$IOTW" rig check "$RIGS/smoke.toml"

expect skip 0 "${NOQEMU[@]}" "$IOTW" rig run "$RIGS/qemu_cortex_m.toml" --out "$WORK/run"
grep -q "^skipped: rig 'qemu_cortex_m' has 2 qemu-cortex-m3 device(s), but qemu-system-arm is not installed" \
  "$WORK/skip.err" || fail "rig run: not skipped with the reason"
grep -q -- "--require-all makes this an error" "$WORK/skip.err" || fail "rig run: --require-all not named"
[ "$(ls "$WORK/run")" = "junit.xml" ] || fail "rig run: the run folder holds more than junit.xml: $(ls "$WORK/run")"
grep -q "<skipped message=\"rig 'qemu_cortex_m' has 2 qemu-cortex-m3 device(s), but qemu-system-arm" "$WORK/run/junit.xml" ||
  fail "rig run: the run testcase is not skipped"
! grep -q "<error" "$WORK/run/junit.xml" || fail "rig run: a skipped rig has an error"

expect required 3 "${NOQEMU[@]}" "$IOTW" rig run "$RIGS/qemu_cortex_m.toml" --out "$WORK/required" --require-all
grep -q "^error: rig 'qemu_cortex_m' has 2 qemu-cortex-m3 device(s)" "$WORK/required.err" || fail "--require-all: not an error"
grep -q "<error message=\"rig 'qemu_cortex_m' has 2 qemu-cortex-m3" "$WORK/required/junit.xml" || fail "--require-all: no <error>"

# 2. The image missing: a copy of iotw in a folder of its own has no ../cross/cortex-m3/ next to it.
if command -v qemu-system-arm >/dev/null; then
  mkdir -p "$WORK/bin" && cp "$IOTW" "$WORK/bin/iotw"
  expect check_noimage 3 "$WORK/bin/iotw" rig check "$RIGS/qemu_cortex_m.toml"
  grep -qF "firmware image $WORK/cross/cortex-m3/iotw_fw_lm3s6965.elf is missing: build it with \`bash scripts/build.sh\`" \
    "$WORK/check_noimage.err" || fail "rig check: the missing image and its build command are not named"
  expect noimage_run 0 "$WORK/bin/iotw" rig run "$RIGS/qemu_cortex_m.toml" --out "$WORK/noimage"
  grep -q "<skipped message=\"rig 'qemu_cortex_m' has 2 qemu-cortex-m3 device(s), but the qemu-cortex-m3 firmware image" \
    "$WORK/noimage/junit.xml" || fail "rig run without the image: not skipped"
fi
echo "PASS: refused by rig check (exit 3), skipped by rig run (exit 0), an error under --require-all (exit 3)"
