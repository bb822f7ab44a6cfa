#!/usr/bin/env bash
# A TAP rig without CAP_NET_ADMIN (issues 4 and 11): `iotw rig run rigs/esp_tap.toml` as an unprivileged user is
# skipped with a clear message and exit code 0, before anything is created or started (no namespace, no child):
# the run folder holds only a junit.xml whose testcase "run" is <skipped> with that message. With --require-all
# the same run is an error: exit 3 (could not run, docs/cli.md), the testcase an <error>. As root the test drops to nobody with no
# capabilities (setpriv); as a non-root user it runs directly.
# Usage: tap_refusal_test.sh IOTW_EXE RIG_FILE
set -euo pipefail
source "$(dirname "$0")/unprivileged_rig.sh" "$1" "$2"  # WORK, IOTW, RIG, fail, run, NETNS_BEFORE
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
[ "$after" -le "$NETNS_BEFORE" ] || fail "a network namespace was created"
echo "PASS: skipped with exit 0, an error with exit 3 under --require-all"
