# Sourced by the refusal tests (tap_refusal_test.sh, hosts_refusal_test.sh): runs a rig as a user without
# capabilities. `source unprivileged_rig.sh IOTW_EXE RIG_FILE` sets WORK (a temporary folder, removed on exit)
# holding copies of the binary and the rig (the unprivileged user may not reach the build or source tree, e.g. a
# fresh clone under a 0700 mktemp dir), IOTW and RIG (those copies) and NETNS_BEFORE (iotw- namespaces now), and
# defines fail MESSAGE and run NAME EXPECTED_EXIT ARGS... (`iotw rig run RIG ARGS` as nobody with no capabilities
# (setpriv) when root, directly otherwise; output in $WORK/NAME.out and .err; fails on another exit code).
WORK=$(mktemp -d /tmp/iotw-refusal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
cp "$1" "$WORK/iotw" && chmod 755 "$WORK/iotw"
cp "$2" "$WORK/$(basename "$2")" && chmod 644 "$WORK/$(basename "$2")"
IOTW="$WORK/iotw"
RIG="$WORK/$(basename "$2")"
fail() { echo "FAIL: $*" >&2; exit 1; }
drop=()
if [ "$(id -u)" -eq 0 ]; then
  drop=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
fi
NETNS_BEFORE=$(ip netns list 2>/dev/null | grep -c '^iotw-' || true)
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
