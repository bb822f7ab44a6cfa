#!/usr/bin/env bash
# A TAP rig without CAP_NET_ADMIN (issue 4): `iotw rig run rigs/esp_tap.toml` as an unprivileged user is refused
# with a clear message and exit code 3 (could not run: a missing capability, docs/cli.md) before anything is created or started (no run folder, no namespace, no
# child). As root the test drops to nobody with no capabilities (setpriv); as a non-root user it runs directly.
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
set +e
"${drop[@]}" "$IOTW" rig run "$RIG" --out "$WORK/run" >"$WORK/out" 2>"$WORK/err"
code=$?
set -e
cat "$WORK/out" "$WORK/err"
[ "$code" -eq 3 ] || fail "exit code $code, expected 3"
grep -q "has 6 link = \"tap\" device(s)" "$WORK/err" || fail "the message does not name the TAP devices"
grep -q "needs CAP_NET_ADMIN and CAP_SYS_ADMIN" "$WORK/err" || fail "the message does not name the capabilities"
grep -q "lacks CAP_NET_ADMIN" "$WORK/err" || fail "the message does not say what is missing"
grep -q "nothing was started" "$WORK/err" || fail "the message does not say nothing was started"
[ ! -e "$WORK/run" ] || fail "a run folder was created"
grep -q "^seed: " "$WORK/out" || fail "the seed line is missing"
! grep -q "network namespace" "$WORK/out" || fail "a namespace was announced"
after=$(ip netns list 2>/dev/null | grep -c '^iotw-' || true)
[ "$after" -le "$before" ] || fail "a network namespace was created"
echo "PASS: refused with exit 3"
