#!/usr/bin/env bash
# The nemesis soak (docs/reliability.md): runs a soak rig (default rigs/soak.toml, 30 min) and samples the RSS of
# the run's processes (iotw, iotw-trust-node, iotw-emu) every INTERVAL seconds into OUT.rss.csv. At the end it prints
# the rig's verdict and, per process, the RSS at the middle of the run and at its end; "memory flat" means no
# process grew by more than 25 % (MAX_GROWTH_PCT) over the second half (the first half is the warm-up: the
# harness's event list fills its 16 MiB bound in about 15 minutes at the soak's event rate, the trust node's
# SQLite page cache its 2 MiB in about 7; docs/reliability.md). Exit: the rig's exit code, or 1 if memory was not
# flat.
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
# Per process name: RSS at the middle of the run vs the last sample of the run. "The run" ends
# at the harness's last progress line ("[ T s] height ..."): after it the harness exports the ledger and scores
# events.jsonl, a one-shot whose memory is proportional to the run's files (about 11 bytes per byte of
# events.jsonl today, docs/reliability.md), so its peak is printed beside the verdict but not judged as growth.
# A restarted trust node is a new pid: compare by name over the samples of its last pid.
RUN_END=$(grep -oE '^\[ *[0-9.]+s\] height' "$OUT.log" | tail -1 | grep -oE '[0-9.]+' | head -1)
python3 - "$RSS" "$MAX_GROWTH_PCT" "${RUN_END:-0}" "$OUT/events.jsonl" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
limit = float(sys.argv[2])
run_end = float(sys.argv[3]) or float("inf")
events = sys.argv[4]
flat = True
for comm in sorted({r["comm"] for r in rows}):
    mine = [r for r in rows if r["comm"] == comm]
    last_pid = mine[-1]["pid"]
    every = [(int(r["t_s"]), int(r["rss_kib"])) for r in mine if r["pid"] == last_pid]
    mine = [s for s in every if s[0] <= run_end]
    if len(mine) < 4:
        print(f"{comm}: {len(mine)} samples during the run, too few to judge")
        continue
    warm = mine[len(mine) // 2][1]
    end = mine[-1][1]
    peak = max(v for _, v in mine)
    growth = 100.0 * (end - warm) / warm
    ok = growth <= limit
    flat &= ok
    print(f"{comm} (pid {last_pid}, {len(mine)} samples over {mine[-1][0] - mine[0][0]} s of run): RSS {warm} KiB "
          f"at mid-run, {end} KiB at the end of the run, peak {peak} KiB, growth {growth:+.1f} % -> "
          f"{'flat' if ok else 'GROWING'}")
    after = [v for t, v in every if t > run_end]
    if after:
        size = os.path.getsize(events) if os.path.exists(events) else 0
        ratio = f", {1024.0 * max(after) / size:.1f} bytes per byte of events.jsonl ({size} bytes)" if size else ""
        print(f"  after the run (ledger export and scoring, not judged): peak {max(after)} KiB{ratio}")
print("memory flat" if flat else "memory NOT flat")
sys.exit(0 if flat else 1)
PY
mem=$?
[ "$rc" -ne 0 ] && exit "$rc"
exit "$mem"
