#!/usr/bin/env bash
# Every junit.xml the harness writes validates against tests/data/junit.xsd (xmllint), in each way a run can
# end (issue 11): a real rig run that passes, a rig that cannot start (no iotw-trust-node beside iotw), a run
# interrupted by SIGINT, a TAP rig run as an unprivileged user (skipped, exit 0; with --require-all an error,
# exit 3), and the batch merge of a folder holding a passing, a skipped and an invalid rig.
# As root the runs drop to nobody with no capabilities (setpriv), as tap_refusal_test.sh does, so the TAP rig
# meets a host without CAP_NET_ADMIN; as a non-root user they run directly.
# Usage: junit_schema_test.sh BIN_DIR RIGS_DIR XSD   (BIN_DIR holds iotw, iotw-trust-node and iotw-emu)
set -euo pipefail
BIN=$1
RIGS=$2
XSD=$3
WORK=$(mktemp -d /tmp/iotw-junit-schema.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v xmllint >/dev/null || fail "xmllint is missing (Debian package libxml2-utils; scripts/setup.sh installs it)"
# The unprivileged user may not reach the build or source tree: it runs copies from the work folder.
mkdir -m 755 "$WORK/bin" "$WORK/lonely" "$WORK/rigs"
for b in iotw iotw-trust-node iotw-emu; do cp "$BIN/$b" "$WORK/bin/$b" && chmod 755 "$WORK/bin/$b"; done
cp "$BIN/iotw" "$WORK/lonely/iotw" && chmod 755 "$WORK/lonely/iotw"  # iotw without the daemons: cannot start
# A small copy of the smoke rig (3 blocks) and the TAP rig.
sed -e 's/^name = "smoke"/name = "small_smoke"/' -e 's/^blocks = 20 /blocks = 3 /' \
    -e 's/^blocks_finalized_min = 20/blocks_finalized_min = 3/' "$RIGS/smoke.toml" >"$WORK/rigs/small_smoke.toml"
grep -q '^blocks = 3 ' "$WORK/rigs/small_smoke.toml" || fail "could not shorten rigs/smoke.toml"
cp "$RIGS/esp_tap.toml" "$WORK/rigs/esp_tap.toml"
chmod 644 "$WORK/rigs/"*.toml
drop=()
if [ "$(id -u)" -eq 0 ]; then
  drop=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
fi
run() { # run NAME EXPECTED_EXIT ARGS... : iotw ARGS as the unprivileged user, output in $WORK/NAME.{out,err}
  local name=$1 expected=$2 code
  shift 2
  set +e
  "${drop[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null
  code=$?
  set -e
  [ "$code" -eq "$expected" ] || { cat "$WORK/$name.out" "$WORK/$name.err"; fail "$name: exit $code, expected $expected"; }
}
valid() { # valid FILE: exists and validates against the schema
  [ -f "$1" ] || fail "$1 was not written"
  xmllint --noout --schema "$XSD" "$1" || fail "$1 does not validate against $XSD"
}
has() { grep -q -- "$2" "$1" || { cat "$1"; fail "$1 lacks $2"; }; }

# 1. A real run that passes: a run testcase and one testcase per criterion, no failure, no error.
run pass 0 "$WORK/bin/iotw" rig run "$WORK/rigs/small_smoke.toml" --seed 5 --out "$WORK/pass"
valid "$WORK/pass/junit.xml"
has "$WORK/pass/junit.xml" '<testsuite name="small_smoke" tests="6" failures="0" errors="0" skipped="0" time="'
has "$WORK/pass/junit.xml" 'measured blocks_finalized = '

# 2. A rig that cannot start: iotw-trust-node is not beside iotw. The run folder still gets a junit.xml.
run nostart 3 "$WORK/lonely/iotw" rig run "$WORK/rigs/small_smoke.toml" --seed 5 --out "$WORK/nostart"
valid "$WORK/nostart/junit.xml"
has "$WORK/nostart/junit.xml" '<error message="iotw-trust-node not found next to iotw'
has "$WORK/nostart/junit.xml" 'type="not_started"'

# 3. Interrupted once the chain grows (waits for progress, not for a time; bounded at 60 s).
sed -e 's/^name = "small_smoke"/name = "long_smoke"/' -e 's/^blocks = 3 /blocks = 100000 /' \
    "$WORK/rigs/small_smoke.toml" >"$WORK/long_smoke.toml"
chmod 644 "$WORK/long_smoke.toml"
"${drop[@]}" "$WORK/bin/iotw" rig run "$WORK/long_smoke.toml" --seed 5 --out "$WORK/int" \
  >"$WORK/int.out" 2>"$WORK/int.err" </dev/null &
pid=$!
for _ in $(seq 600); do
  grep -qs block_finalized "$WORK/int/trust_node.events.jsonl" && break
  sleep 0.1
done
kill -INT "$pid"
set +e
wait "$pid"
code=$?
set -e
[ "$code" -eq 130 ] || { cat "$WORK/int.out" "$WORK/int.err"; fail "interrupted run: exit $code, expected 130"; }
valid "$WORK/int/junit.xml"
has "$WORK/int/junit.xml" 'type="interrupted"'
has "$WORK/int/junit.xml" '<skipped message="not judged: the run did not complete (interrupted)"'

# 4. The TAP rig without CAP_NET_ADMIN: skipped (exit 0), or with --require-all an error (exit 3).
run tap 0 "$WORK/bin/iotw" rig run "$WORK/rigs/esp_tap.toml" --out "$WORK/tap"
valid "$WORK/tap/junit.xml"
has "$WORK/tap/junit.xml" '<testsuite name="esp_tap" tests="'
has "$WORK/tap/junit.xml" "<skipped message=\"rig 'esp_tap' has 6 link = &quot;tap&quot; device(s)"
has "$WORK/tap.err" '^skipped: rig'
run tap_required 3 "$WORK/bin/iotw" rig run "$WORK/rigs/esp_tap.toml" --out "$WORK/tap_required" --require-all
valid "$WORK/tap_required/junit.xml"
has "$WORK/tap_required/junit.xml" "<error message=\"rig 'esp_tap' has 6 link"

# 5. The batch merge of a folder: a pass, a skip (TAP) and a rig file that does not load (no junit.xml of its own).
printf '[rig]\nname = "bad"\n[[devices]]\nmodel = "esp33"\n' >"$WORK/rigs/bad.toml"
chmod 644 "$WORK/rigs/bad.toml"
run batch 2 "$WORK/bin/iotw" rig run "$WORK/rigs" --seed 5 --out "$WORK/batch"
valid "$WORK/batch/junit.xml"
has "$WORK/batch/junit.xml" '<testsuite name="small_smoke"'
has "$WORK/batch/junit.xml" '<testsuite name="bad" tests="1" failures="0" errors="1"'
has "$WORK/batch/junit.xml" '<testsuite name="esp_tap"'
has "$WORK/batch/junit.xml" "<skipped message=\"rig 'esp_tap'"
has "$WORK/batch.out" 'esp_tap  *skipped (exit 0'
echo "PASS: every junit.xml validates against $XSD"
