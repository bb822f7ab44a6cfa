#!/usr/bin/env bash
# The nemesis soak (docs/reliability.md): runs a soak rig (default rigs/soak.toml, 30 min) and samples the RSS of
# the run's processes (iotw, iotw-trust-node, iotw-emu) every INTERVAL seconds into OUT/rss.csv. At the end it prints
# the rig's verdict and, per process, the RSS at the end of the first quarter and at the end; "memory flat" means no
# process grew by more than 25 % (MAX_GROWTH_PCT) between them (the first quarter is the warm-up). Exit: the rig's
# exit code, or 1 if memory was not flat.
#   scripts/soak.sh [RIG] [SEED] [OUT]     (env: IOTW=build/bin/iotw, INTERVAL=10, MAX_GROWTH_PCT=25)
set -uo pipefail
cd "$(dirname "$0")/.."
RIG=${1:-rigs/soak.toml}
SEED=${2:-15}
OUT=${3:-runs/soak-$(date -u +%Y%m%dT%H%M%SZ)}
IOTW=${IOTW:-build/bin/iotw}
INTERVAL=${INTERVAL:-10}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-25}
mkdir -p "$(dirname "$OUT")"
"$IOTW" rig run "$RIG" --seed "$SEED" --out "$OUT" > "$OUT.log" 2>&1 &
RUN=$!
RSS="$OUT.rss.csv"
echo "t_s,pid,comm,rss_kib" > "$RSS"
start=$(date +%s)
while kill -0 "$RUN" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  for pid in $RUN $(ps -o pid= --ppid "$RUN" 2>/dev/null); do
    [ -r /proc/$pid/status ] || continue
    comm=$(cat /proc/$pid/comm 2>/dev/null) || continue
    rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status 2>/dev/null)
    [ -n "$rss" ] && echo "$now,$pid,$comm,$rss" >> "$RSS"
  done
  sleep "$INTERVAL"
done
wait "$RUN"
rc=$?
echo "rig exit code: $rc (run folder $OUT, log $OUT.log)"
# Per process name: RSS at the end of the first quarter vs the last sample (a restarted trust node is a new pid:
# compare by name over the samples of its last pid).
python3 - "$RSS" "$MAX_GROWTH_PCT" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
limit = float(sys.argv[2])
flat = True
for comm in sorted({r["comm"] for r in rows}):
    mine = [r for r in rows if r["comm"] == comm]
    last_pid = mine[-1]["pid"]
    mine = [(int(r["t_s"]), int(r["rss_kib"])) for r in mine if r["pid"] == last_pid]
    if len(mine) < 4:
        print(f"{comm}: {len(mine)} samples, too few to judge")
        continue
    warm = mine[len(mine) // 4][1]
    end = mine[-1][1]
    peak = max(v for _, v in mine)
    growth = 100.0 * (end - warm) / warm
    ok = growth <= limit
    flat &= ok
    print(f"{comm} (pid {last_pid}, {len(mine)} samples over {mine[-1][0] - mine[0][0]} s): RSS {warm} KiB after "
          f"warm-up, {end} KiB at the end, peak {peak} KiB, growth {growth:+.1f} % -> {'flat' if ok else 'GROWING'}")
print("memory flat" if flat else "memory NOT flat")
sys.exit(0 if flat else 1)
PY
mem=$?
[ "$rc" -ne 0 ] && exit "$rc"
exit "$mem"
