#!/usr/bin/env bash
# A [hosts] rig without the capabilities to make network namespaces (issue 17): `iotw rig run rigs/two_hosts.toml` as
# an unprivileged user is skipped with a clear message and exit code 0 before anything is created or started (no
# namespace, no child; the run folder holds only junit.xml, testcase "run" <skipped>); with --require-all it is an
# error, exit 3 (could not run, docs/cli.md), the testcase an <error>. As root the test drops to nobody with no
# capabilities (setpriv); as a non-root user it runs directly.
# Usage: hosts_refusal_test.sh IOTW_EXE RIG_FILE
set -euo pipefail
source "$(dirname "$0")/unprivileged_rig.sh" "$1" "$2"  # WORK, IOTW, RIG, fail, run, NETNS_BEFORE
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
[ "$after" -le "$NETNS_BEFORE" ] || fail "a network namespace was created"
echo "PASS: skipped with exit 0, an error with exit 3 under --require-all"
