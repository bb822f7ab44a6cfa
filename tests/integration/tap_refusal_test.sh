#!/usr/bin/env bash
# A TAP rig without CAP_NET_ADMIN (issues 4 and 11): `iotw rig run rigs/esp_tap.toml` as an unprivileged user is
# skipped with a clear message and exit code 0, before anything is created or started (no namespace, no child):
# the run folder holds only a junit.xml whose testcase "run" is <skipped> with that message. With --require-all
# the same run is an error: exit 3 (could not run, docs/cli.md), the testcase an <error>. As root the test drops to nobody with no
# capabilities (setpriv); as a non-root user it runs directly.
# Usage: tap_refusal_test.sh IOTW_EXE RIG_FILE
set -euo pipefail
IOTW=$1
RIG=$2
WORK=$(mktemp -d /tmp/iotw-tap-refusal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
# The unprivileged user may not reach the build or source tree (a fresh clone under a 0700 mktemp dir): it runs
# copies of the binary and the rig from the work folder.
cp "$IOTW" "$WORK/iotw" && chmod 755 "$WORK/iotw"
cp "$RIG" "$WORK/esp_tap.toml" && chmod 644 "$WORK/esp_tap.toml"
IOTW="$WORK/iotw"
RIG="$WORK/esp_tap.toml"
fail() { echo "FAIL: $*" >&2; exit 1; }
drop=()
if [ "$(id -u)" -eq 0 ]; then
  drop=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
fi
before=$(ip netns list 2>/dev/null | grep -c '^iotw-' || true)
run() { # run NAME EXPECTED_EXIT ARGS...
  local name=$1 expected=$2 code
  shift 2
  set +e
  "${drop[@]}" "$IOTW" rig run "$RIG" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  code=$?
  set -e
  cat "$WORK/$name.out" "$WORK/$name.err"
  [ "$code" -eq "$expected" ] || fail "$name: exit code $code, expected $expected"
}
run skip 0 --out "$WORK/run"
grep -q "^skipped: rig 'esp_tap' has 6 link = \"tap\" device(s)" "$WORK/skip.err" || fail "the message does not name the TAP devices"
grep -q "needs CAP_NET_ADMIN and CAP_SYS_ADMIN" "$WORK/skip.err" || fail "the message does not name the capabilities"
grep -q "lacks CAP_NET_ADMIN" "$WORK/skip.err" || fail "the message does not say what is missing"
grep -q "nothing was started" "$WORK/skip.err" || fail "the message does not say nothing was started"
grep -q -- "--require-all makes this an error" "$WORK/skip.err" || fail "the message does not name --require-all"
grep -q "^seed: " "$WORK/skip.out" || fail "the seed line is missing"
grep -q "^run folder: $WORK/run$" "$WORK/skip.out" || fail "the run folder is not named"
! grep -q "network namespace" "$WORK/skip.out" || fail "a namespace was announced"
[ "$(ls "$WORK/run")" = "junit.xml" ] || fail "the run folder holds more than junit.xml: $(ls "$WORK/run")"
grep -q '<testcase name="run" classname="rig.esp_tap"' "$WORK/run/junit.xml" || fail "no run testcase"
grep -q "<skipped message=\"rig 'esp_tap' has 6 link" "$WORK/run/junit.xml" || fail "the run testcase is not skipped"
! grep -q "<error" "$WORK/run/junit.xml" || fail "a skipped rig has an error"

run required 3 --out "$WORK/required" --require-all
grep -q "^error: rig 'esp_tap' has 6 link" "$WORK/required.err" || fail "--require-all: not an error"
[ "$(ls "$WORK/required")" = "junit.xml" ] || fail "--require-all: the run folder holds more than junit.xml"
grep -q "<error message=\"rig 'esp_tap' has 6 link" "$WORK/required/junit.xml" || fail "--require-all: no <error>"
! grep -q "<skipped message=\"rig" "$WORK/required/junit.xml" || fail "--require-all: the run is still skipped"

after=$(ip netns list 2>/dev/null | grep -c '^iotw-' || true)
[ "$after" -le "$before" ] || fail "a network namespace was created"
echo "PASS: skipped with exit 0, an error with exit 3 under --require-all"
