#!/usr/bin/env bash
# A [hosts] rig without the capabilities to make network namespaces (issue 17): `iotw rig run rigs/two_hosts.toml` as
# an unprivileged user is skipped with a clear message and exit code 0 before anything is created or started (no
# namespace, no child; the run folder holds only junit.xml, testcase "run" <skipped>); with --require-all it is an
# error, exit 3 (could not run, docs/cli.md), the testcase an <error>. As root the test drops to nobody with no
# capabilities (setpriv); as a non-root user it runs directly.
# Usage: hosts_refusal_test.sh IOTW_EXE RIG_FILE
set -euo pipefail
WORK=$(mktemp -d /tmp/iotw-hosts-refusal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
# The unprivileged user may not reach the build or source tree: it runs copies of the binary and the rig.
cp "$1" "$WORK/iotw" && chmod 755 "$WORK/iotw"
cp "$2" "$WORK/two_hosts.toml" && chmod 644 "$WORK/two_hosts.toml"
IOTW="$WORK/iotw"
RIG="$WORK/two_hosts.toml"
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
grep -q "^skipped: rig 'two_hosts' has \[hosts\] lab and remote: the harness must create a network namespace per host" \
  "$WORK/skip.err" || fail "the message does not name the hosts"
grep -q "needs CAP_NET_ADMIN and CAP_SYS_ADMIN, but this process lacks CAP_NET_ADMIN" "$WORK/skip.err" \
  || fail "the message does not say what is missing"
grep -q "nothing was started (--require-all makes this an error)" "$WORK/skip.err" || fail "no 'nothing was started'"
! grep -q "^hosts: " "$WORK/skip.out" || fail "namespaces were announced"
[ "$(ls "$WORK/run")" = "junit.xml" ] || fail "the run folder holds more than junit.xml: $(ls "$WORK/run")"
grep -q "<skipped message=\"rig 'two_hosts' has \[hosts\]" "$WORK/run/junit.xml" || fail "the run testcase is not skipped"

run required 3 --out "$WORK/required" --require-all
grep -q "^error: rig 'two_hosts' has \[hosts\] lab and remote" "$WORK/required.err" || fail "--require-all: not an error"
[ "$(ls "$WORK/required")" = "junit.xml" ] || fail "--require-all: the run folder holds more than junit.xml"
grep -q "<error message=\"rig 'two_hosts' has \[hosts\]" "$WORK/required/junit.xml" || fail "--require-all: no <error>"

after=$(ip netns list 2>/dev/null | grep -c '^iotw-' || true)
[ "$after" -le "$before" ] || fail "a network namespace was created"
echo "PASS: skipped with exit 0, an error with exit 3 under --require-all"
