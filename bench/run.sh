#!/usr/bin/env bash
# The benchmark gate (bench/RESULTS.md "Benchmark gate"): runs every benchmark that has a goal, in one run, and
# prints one table: metric, value, the peer or limit it is compared with in the same run, the ratio, the goal,
# and PASS or SHORT (info rows have no goal; "not measured" rows say why). Not a test: timings on a shared host
# are noisy, so nothing here fails on a SHORT.
#
#   bench/run.sh [--quick] [--only NAME]... [--json FILE] [--build DIR]
#
# NAME: tps, sig, modbus, proxy, smoke, firmware, mesh (the etcd store against SQLite, and a mesh failover),
#       poolmem (memory per emulated device of a real-time iotw-emu pool, bench/pool_memory_bench.py),
#       devices (100,000 UDP devices on one trust node through the load driver, bench/load_driver.cpp),
#       sim (simulation mode, bench/sim_bench.py: speed with 1,000 devices, memory per device at 1,000,000, the
#       collusion Monte Carlo at 1,000,000).
# --quick  shorter runs (one round each; for trying the script, not for the record)
# --json   also write the rows, the machine load before and after, the commit, the date and every benchmark's
#          own output (raw_output: NAME.RUN -> text) to FILE
# --build  build folder whose bin/ holds the benchmarks (default build; binaries from the normal build)
# Exit 0, whatever the verdicts; 1 when a benchmark could not run or failed (each one named on stderr), 2 for
# bad arguments.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

QUICK=0 JSON="" BUILD="$ROOT/build" ONLY=()
ALL=(tps sig modbus proxy smoke firmware mesh poolmem devices sim)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) shift; ONLY+=("${1:?--only needs a NAME}") ;;
    --json) shift; JSON="${1:?--json needs a FILE}" ;;
    --build) shift; BUILD="${1:?--build needs a DIR}" ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
  shift
done
for n in "${ONLY[@]}"; do
  [[ " ${ALL[*]} " == *" $n "* ]] || { echo "bench/run.sh: unknown benchmark '$n' (one of: ${ALL[*]})" >&2; exit 2; }
done
[ ${#ONLY[@]} -eq 0 ] && ONLY=("${ALL[@]}")
# FILE and DIR are taken from the caller's folder; everything runs from the checkout's root.
[ -n "$JSON" ] && JSON=$(realpath -m -- "$JSON")
BUILD=$(realpath -m -- "$BUILD")
cd "$ROOT" || exit 2
wanted() { [[ " ${ONLY[*]} " == *" $1 "* ]]; }

BIN="$BUILD/bin"
OUT=$(mktemp -d /tmp/iotw-bench-gate.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
FAILED=()

# Rounds and sizes: the full run repeats the noisy benchmarks and reports medians.
if [ $QUICK = 1 ]; then
  TPS_RUNS=1 TPS_SECONDS=3 SIG_MIN_TIME=0.2 SIG_REPS=1 MB_REQUESTS=5000 MB_ROUNDS=1 PROXY_RUNS=1 PROXY_MSGS=5000 SMOKE_RUNS=1
  MB_SAT_REQUESTS=20000 MB_SAT_ROUNDS=1
  POOL_DEVICES=1000 POOL_HOLD_S=10
else
  TPS_RUNS=3 TPS_SECONDS=10 SIG_MIN_TIME=1 SIG_REPS=3 MB_REQUESTS=10000 MB_ROUNDS=5 PROXY_RUNS=5 PROXY_MSGS=10000 SMOKE_RUNS=3
  MB_SAT_REQUESTS=200000 MB_SAT_ROUNDS=5
  POOL_DEVICES=10000 POOL_HOLD_S=30
fi

# need BINARY TARGET: the benchmark's binary must exist; else it is named with the target that builds it.
need() {
  if [ ! -x "$BIN/$1" ]; then
    echo "bench/run.sh: $BIN/$1 is missing; build it: cmake --build $BUILD --target $2" >&2
    return 1
  fi
}
# run NAME I CMD...: one run of a benchmark, its output in $OUT/NAME.I.out; a failure is recorded and named.
run() {
  local name=$1 i=$2
  shift 2
  echo "  $name (run $i): $*" >&2
  "$@" >"$OUT/$name.$i.out" 2>"$OUT/$name.$i.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "bench/run.sh: $name failed (exit $rc): $*" >&2
    tail -5 "$OUT/$name.$i.err" >&2
    return 1
  fi
}
fail() { FAILED+=("$1"); echo "fail" >"$OUT/$1.failed"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/run.sh: $(date -u '+%F %T') UTC, load average before: $LOAD_BEFORE ($(nproc) CPUs)" >&2

if wanted tps; then
  if need iotw_load_driver iotw_load_driver && need iotw-trust-node iotw-trust-node; then
    for i in $(seq 1 $TPS_RUNS); do
      # the binary batch encoding, 5,000 txs per request, 3 requests in flight (bench/RESULTS.md "A million
      # transactions a second": the deepest pipeline that still helped on 2 cores)
      run tps "$i" "$BIN/iotw_load_driver" --node "$BIN/iotw-trust-node" --seconds "$TPS_SECONDS" --witnesses 3 \
        --batch 5000 --clients 3 || { fail tps; break; }
    done
  else fail tps; fi
fi

if wanted sig; then
  if need iotw_sig_bench iotw_sig_bench; then
    run sig 1 "$BIN/iotw_sig_bench" --benchmark_filter='BM_RawVerify|BM_CoreUsageVerify' \
      --benchmark_min_time="$SIG_MIN_TIME" --benchmark_repetitions="$SIG_REPS" --benchmark_format=json || fail sig
  else fail sig; fi
fi

if wanted modbus; then
  if need iotw_modbus_bench iotw_modbus_bench && need iotw-emu iotw-emu; then
    # The goal: capacity, both servers kept busy by the same load (8 connections x 8 requests in flight); then
    # one request in flight on each of 16 connections; then one poller (round trip; info rows).
    run modbus-sat 1 "$BIN/iotw_modbus_bench" --emu "$BIN/iotw-emu" --clients 8 --pipeline 8 \
      --requests "$MB_SAT_REQUESTS" --rounds "$MB_SAT_ROUNDS" || fail modbus-sat
    run modbus-conns 1 "$BIN/iotw_modbus_bench" --emu "$BIN/iotw-emu" --clients 16 --pipeline 1 \
      --requests $((MB_SAT_REQUESTS / 2)) --rounds "$MB_SAT_ROUNDS" || fail modbus-conns
    run modbus 1 "$BIN/iotw_modbus_bench" --emu "$BIN/iotw-emu" --requests "$MB_REQUESTS" --rounds "$MB_ROUNDS" \
      --floor || fail modbus
  else fail modbus-sat; fail modbus-conns; fail modbus; fi
fi

if wanted proxy; then
  if need iotw_link_proxy_bench iotw_link_proxy_bench; then
    # The gate's runs give both bridges the same CPUs (relays on the second, driver and echoes on the first); the
    # runs where the scheduler places them (an info row) alternate with them (bench/RESULTS.md, "Serial fault proxy
    # vs socat: why the ratio was bimodal"). A single CPU: no pinning.
    PIN=()
    [ "$(nproc)" -ge 2 ] && PIN=(--relay-cpu 1 --ends-cpu 0)
    for i in $(seq 1 $PROXY_RUNS); do
      run proxy "$i" "$BIN/iotw_link_proxy_bench" --messages "$PROXY_MSGS" "${PIN[@]}" || { fail proxy; break; }
      run proxyfree "$i" "$BIN/iotw_link_proxy_bench" --messages "$PROXY_MSGS" || { fail proxyfree; break; }
    done
  else fail proxy; fi
fi

# timed_rig FOLDER RIG: `iotw rig run`, then its wall time as a user sees it (start of the children to the judged
# run) on a last line "wall_s S"; the rig's exit code.
# shellcheck disable=SC2317  # called through run "$@"
timed_rig() {
  local t0=$EPOCHREALTIME rc
  "$BIN/iotw" rig run "$2" --out "$1"
  rc=$?
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "wall_s %.2f\n", b - a }'
  return "$rc"
}

if wanted smoke; then
  if need iotw iotw && need iotw-emu iotw-emu && need iotw-trust-node iotw-trust-node; then
    for i in $(seq 1 $SMOKE_RUNS); do
      run smoke "$i" timed_rig "$OUT/smoke-run-$i" rigs/smoke.toml || { fail smoke; break; }
    done
  else fail smoke; fi
fi

if wanted firmware; then
  if [ -f "$BUILD/cross/cortex-m3/iotw_fw_icount_lm3s6965.elf" ]; then
    run firmware 1 python3 bench/firmware_icount.py --build "$BUILD" --json || fail firmware
  else
    echo "bench/run.sh: $BUILD/cross/cortex-m3/iotw_fw_icount_lm3s6965.elf is missing; build it:" \
      "cmake --build $BUILD --target iotw_cross" >&2
    fail firmware
  fi
fi

# The trust-node mesh (docs/trust-node.md "Mesh"): the same load driver on the SQLite store and on the etcd store of a
# 3-member cluster, alternating, same settings; then the mesh failover rig, whose report gives the time from the
# assigning node's death to the next finalized block.
if wanted mesh; then
  if need iotw_load_driver iotw_load_driver && need iotw-trust-node iotw-trust-node && need iotw iotw; then
    for i in $(seq 1 $TPS_RUNS); do
      for store in 0 3; do
        run "mesh-store$store" "$i" "$BIN/iotw_load_driver" --node "$BIN/iotw-trust-node" --seconds "$TPS_SECONDS" \
          --witnesses 3 --batch 500 --max-txs-per-block 2000 --etcd-members "$store" || { fail mesh; break 2; }
      done
    done
    if run mesh-failover 1 timed_rig "$OUT/mesh-run" rigs/mesh_failover.toml; then
      cp "$OUT/mesh-run/report.json" "$OUT/mesh-failover.report.json"
    else fail mesh-failover; fi
  else fail mesh; fi
fi

# One iotw-emu pool of SoC modules over UDP against a real trust node (bench/pool_memory_bench.py): RSS at N devices,
# all attached and held, against the same pool with one device.
if wanted poolmem; then
  if need iotw-emu iotw-emu && need iotw-trust-node iotw-trust-node; then
    run poolmem 1 python3 bench/pool_memory_bench.py --build "$BUILD" --devices "$POOL_DEVICES" --hold "$POOL_HOLD_S" \
      || fail poolmem
  else fail poolmem; fi
fi

# Issue 17: devices over UDP on one trust node, each its own Ed25519 key, heartbeating, mining and witnessing
# (bench/RESULTS.md "A hundred thousand devices on one trust node"); a light tx load keeps blocks coming.
if wanted devices; then
  if [ $QUICK = 1 ]; then DEV_N=10000 DEV_SECONDS=10; else DEV_N=100000 DEV_SECONDS=60; fi
  if need iotw_load_driver iotw_load_driver && need iotw-trust-node iotw-trust-node; then
    run devices-node 1 "$BIN/iotw_load_driver" --node "$BIN/iotw-trust-node" --devices "$DEV_N" \
      --seconds "$DEV_SECONDS" --device-timeout-ms 30000 --max-heartbeats-per-s 5000 --clients 1 --batch 100 \
      --attach-timeout 900 \
      || fail devices-node
  else fail devices-node; fi
fi

if wanted sim; then
  if [ $QUICK = 1 ]; then SIM_N=20000 SIM_MC_S=120; else SIM_N=1000000 SIM_MC_S=600; fi
  if need iotw iotw; then
    run sim-speed 1 python3 bench/sim_bench.py --iotw "$BIN/iotw" speed || fail sim-speed
    run sim-size 1 python3 bench/sim_bench.py --iotw "$BIN/iotw" size --devices "$SIM_N" || fail sim-size
    run sim-mc 1 python3 bench/sim_bench.py --iotw "$BIN/iotw" montecarlo --devices "$SIM_N" \
      --colluders $((SIM_N / 3 + 1)) --seconds "$SIM_MC_S" || fail sim-mc
  else fail sim-speed; fail sim-size; fail sim-mc; fi
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/run.sh: load average after: $LOAD_AFTER" >&2

python3 - "$OUT" "$JSON" "$LOAD_BEFORE" "$LOAD_AFTER" "$QUICK" "${ONLY[*]}" "$(nproc)" <<'PY'
import glob, json, os, re, statistics, subprocess, sys, datetime

out, json_file, load_before, load_after, quick, only, cpus = sys.argv[1:8]
only = only.split()
rows = []


def row(metric, value, peer, ratio, goal, verdict, bench):
    rows.append(dict(bench=bench, metric=metric, value=value, peer=peer, ratio=ratio, goal=goal, verdict=verdict))


def info(metric, value, peer, ratio, bench):  # a row without a goal
    row(metric, value, peer, ratio, "— (info)", "info", bench)


def outputs(name):
    if os.path.exists(f"{out}/{name}.failed"):
        return None
    return [open(p).read() for p in sorted(glob.glob(f"{out}/{name}.*.out"))]


def failed(name, metric):
    row(metric, "—", "—", "—", "—", "NOT RUN (failed: see stderr)", name)


def n(x, d=0):
    return f"{x:,.{d}f}"


med = statistics.median

def bench_tps():
    o = outputs("tps")
    if o is None:
        failed("tps", "transactions/s finalized")
    else:
        runs = [json.loads(t) for t in o]
        tps = med(r["tx_per_s"] for r in runs)
        each = " / ".join(n(r["tx_per_s"]) for r in runs)
        row(f"transactions/s finalized (hash-only, n = 3, {runs[0]['devices']} devices, batch {runs[0]['batch']}, "
            f"{runs[0]['clients']} clients; median of {len(runs)}: {each})", n(tps), "goal 1,000,000 tx/s",
            f"{tps / 1e6:.2f}", "≥ 1,000,000", "PASS" if tps >= 1e6 else "SHORT", "tps")
        info("node CPU per finalized transaction (all threads; the io thread's share in the next row)",
             n(med(r["node_cpu_us_per_tx"] for r in runs), 2) + " µs", "—", "—", "tps")
        info("io-thread CPU per finalized transaction (intake commit, store, consensus, UDP: one thread)",
             n(med(r["node_io_thread_cpu_s"] * 1e6 / max(r["txs_finalized"], 1) for r in runs), 2) + " µs", "—", "—",
             "tps")
        info("load-driver CPU per finalized transaction (same cores)",
             n(med(r["driver_cpu_s"] * 1e6 / max(r["txs_finalized"], 1) for r in runs), 2) + " µs", "—", "—", "tps")
        lim = med(r["sha256_limit_tx_per_s"] for r in runs)
        row("fraction of the SHA-256 limit reached (one core hashing only: payload digest + tx_root input per tx, "
            f"{n(med(r['sha256_ns_per_payload'] for r in runs), 0)} + {n(med(r['sha256_ns_per_root_entry'] for r in runs), 1)} ns)",
            f"{tps / lim:.3f}", f"SHA-256 limit {n(lim)} tx/s", f"{tps / lim:.3f}", "— (info)", "info", "tps")
        info("devices detached during the runs", str(sum(r["device_detached_events"] for r in runs)), "—", "—",
            "tps")

def bench_sig():
    o = outputs("sig")
    if o is None:
        failed("sig", "signature verification inside the node")
    else:
        bms = json.loads(o[0])["benchmarks"]

        def rate(name):  # verifications/s per repetition (CPU time), median over repetitions
            v = [b["items_per_second"] for b in bms
                 if b.get("run_name", b["name"]) == name and b.get("run_type", "iteration") == "iteration"]
            return med(v)
        raw, core = rate("BM_RawVerify"), rate("BM_CoreUsageVerify")
        row("signature verification inside the node (USAGE through TrustNodeCore, verifications/s)", n(core),
            f"raw libsodium {n(raw)}/s", f"{core / raw:.2f}", "≥ 0.80", "PASS" if core / raw >= 0.8 else "SHORT", "sig")

def modbus_result(name):  # the "result k=v ..." line of an iotw_modbus_bench run, as numbers; None if it failed
    o = outputs(name)
    if o is None:
        return None
    return {k: float(v) for k, v in (x.split("=") for x in o[0].strip().splitlines()[-1].split()[1:])}


def bench_modbus():
    s = modbus_result("modbus-sat")
    if s is None:
        failed("modbus", "Modbus TCP capacity (requests/s saturated)")
    else:
        rounds = int(s["rounds"])
        shape = f"{int(s['clients'])} connections × {int(s['pipeline'])} requests in flight"
        row(f"Modbus TCP capacity: requests/s of the DPS emulator kept busy ({shape}, FC03 × 10 registers, every "
            f"reply checked; median of {rounds} interleaved rounds)", n(s["emu_req_per_s"]),
            f"pymodbus server {n(s['py_req_per_s'])}/s", f"{s['req_per_s_ratio']:.2f}", "≥ 3×",
            "PASS" if s["req_per_s_ratio"] >= 3 else "SHORT", "modbus")
        info(f"Modbus TCP saturated ({shape}): server CPU per request (ratio = pymodbus / emulator)",
             n(s["emu_cpu_us_per_req"], 2) + " µs", f"pymodbus {n(s['py_cpu_us_per_req'], 1)} µs",
             f"{s['cpu_ratio']:.2f}", "modbus")
        info(f"Modbus TCP saturated ({shape}): server cores busy (CPU s per s; below 1: waited for a CPU on the "
             "shared host)", f"{s['emu_busy']:.2f}", f"pymodbus {s['py_busy']:.2f}", "—", "modbus")
        info(f"Modbus TCP saturated ({shape}): latency p50 / p99 (ratio = pymodbus / emulator, p50)",
             f"{n(s['emu_p50_us'])} / {n(s['emu_p99_us'])} µs", f"pymodbus {n(s['py_p50_us'])} / {n(s['py_p99_us'])} µs",
             f"{s['p50_ratio']:.2f}", "modbus")
    c = modbus_result("modbus-conns")
    if c is None:
        failed("modbus", "Modbus TCP requests/s, one request in flight per connection")
    else:
        info(f"Modbus TCP requests/s, {int(c['clients'])} connections × 1 request in flight (one client thread; the "
             f"emulator's CPU per request {n(c['emu_cpu_us_per_req'], 1)} µs against pymodbus's "
             f"{n(c['py_cpu_us_per_req'], 1)} µs, cores busy {c['emu_busy']:.2f} against {c['py_busy']:.2f})",
             n(c["emu_req_per_s"]), f"pymodbus server {n(c['py_req_per_s'])}/s", f"{c['req_per_s_ratio']:.2f}",
             "modbus")
    f = modbus_result("modbus")
    if f is None:
        failed("modbus", "Modbus TCP requests/s, one poller")
    else:
        rounds = int(f["rounds"])
        info(f"Modbus TCP requests/s, one poller, one request at a time (= 1 / round trip; median of {rounds} "
             f"interleaved rounds)", n(f["emu_req_per_s"]), f"pymodbus server {n(f['py_req_per_s'])}/s",
             f"{f['req_per_s_ratio']:.2f}", "modbus")
        info("Modbus TCP one poller: the most any server reaches here (zero-work server, same poller, same rounds)",
             n(f["floor_req_per_s"]), f"pymodbus server {n(f['py_req_per_s'])}/s",
             f"{f['floor_req_per_s'] / f['py_req_per_s']:.2f}", "modbus")
        info("Modbus TCP one poller: DPS emulator requests/s as a share of that ceiling", n(f["emu_req_per_s"]),
             f"zero-work server {n(f['floor_req_per_s'])}/s", f"{f['emu_req_per_s'] / f['floor_req_per_s']:.2f}",
             "modbus")
        info("Modbus TCP one poller: server CPU per request (ratio = pymodbus / emulator)",
             n(f["emu_cpu_us_per_req"], 1) + " µs", f"pymodbus {n(f['py_cpu_us_per_req'], 1)} µs",
             f"{f['cpu_ratio']:.2f}", "modbus")
        info("Modbus TCP one poller: median round trip (ratio = pymodbus / emulator)", n(f["emu_p50_us"]) + " µs",
             f"pymodbus {n(f['py_p50_us'])} µs", f"{f['p50_ratio']:.2f}", "modbus")

def proxy_runs(o):  # (proxy p50 µs, socat p50 µs, CPUs line) of each run
    runs = []
    for t in o:
        p = re.search(r"\| iotw fault proxy[^|]*\| \d+ \| (\d+) \| (\d+) \|", t)
        s = re.search(r"\| socat[^|]*\| \d+ \| (\d+) \| (\d+) \|", t)
        runs.append((float(p.group(2)), float(s.group(2))))
    return runs


def bench_proxy():
    o = outputs("proxy")
    if o is None:
        failed("proxy", "serial proxy median round trip")
    else:
        runs = proxy_runs(o)
        cpus = re.search(r"CPUs: relays (\S+), driver and echoes (\S+)", o[0])
        where = f"relays on CPU {cpus.group(1)}, driver and echoes on CPU {cpus.group(2)}" if cpus and \
            cpus.group(1) != "any" else "CPUs as the scheduler places them"
        each = " / ".join(f"{a / b:.2f}" for a, b in runs)
        a, b = sorted(runs, key=lambda r: r[0] / r[1])[(len(runs) - 1) // 2]  # the run with the median ratio
        row(f"serial fault proxy median round trip, 64-byte frames over PTY pairs, the two bridges carrying alternate "
            f"messages, {where} (the run with the median ratio of {len(runs)}: {each})", n(a) + " µs",
            f"socat {n(b)} µs", f"{a / b:.2f}", "≤ 1.2×", "PASS" if a / b <= 1.2 else "SHORT", "proxy")
    o = outputs("proxyfree")
    if o:
        runs = proxy_runs(o)
        each = " / ".join(f"{a / b:.2f}" for a, b in runs)
        a, b = sorted(runs, key=lambda r: r[0] / r[1])[(len(runs) - 1) // 2]
        info(f"serial fault proxy median round trip, same runs with CPUs as the scheduler places them (each bridge's "
             f"placement a lottery on a shared host; median ratio of {len(runs)}: {each})", n(a) + " µs",
             f"socat {n(b)} µs", f"{a / b:.2f}", "proxy")

def bench_smoke():
    o = outputs("smoke")
    if o is None:
        failed("smoke", "smoke rig wall time")
    else:
        walls = [float(re.search(r"^wall_s ([\d.]+)", t, re.M).group(1)) for t in o]
        w = med(walls)
        row(f"smoke rig wall time (`iotw rig run rigs/smoke.toml`: 8 PTY devices, 20 blocks; median of {len(walls)}: "
            + " / ".join(f"{x:.1f}" for x in walls) + ")", f"{w:.1f} s", "limit 10 s", f"{w / 10:.2f}", "< 10 s",
            "PASS" if w < 10 else "SHORT", "smoke")

def bench_mesh():
    if os.path.exists(f"{out}/mesh.failed"):
        return failed("mesh", "etcd store transactions/s")
    sq = [json.loads(t) for t in outputs("mesh-store0")]
    et = [json.loads(t) for t in outputs("mesh-store3")]
    a, b = med(r["tx_per_s"] for r in et), med(r["tx_per_s"] for r in sq)
    info(f"transactions/s finalized on the etcd store, 3 members (n = 3, {et[0]['devices']} devices, batch "
        f"{et[0]['batch']}; median of {len(et)}: " + " / ".join(n(r["tx_per_s"]) for r in et) + ")", n(a),
        f"SQLite store {n(b)} (same driver, alternating runs)", f"{a / b:.2f}", "mesh")
    la, lb = med(r["block_latency_ms_p50"] for r in et), med(r["block_latency_ms_p50"] for r in sq)
    info("block latency p50 (assignment sent to block finalized) on the etcd store, 3 members", f"{la:.0f} ms",
        f"SQLite store {lb:.0f} ms", f"{la / max(lb, 1):.2f}", "mesh")
    info("node CPU per finalized transaction on the etcd store", n(med(r["node_cpu_us_per_tx"] for r in et), 1) + " µs",
        f"SQLite store {n(med(r['node_cpu_us_per_tx'] for r in sq), 1)} µs", "—", "mesh")
    info("etcd CPU per finalized transaction (all 3 members, same runs)", n(med(r["etcd_cpu_us_per_tx"] for r in et), 1)
        + " µs", f"{n(med(r['etcd_cpu_s'] / r['seconds'] for r in et), 2)} cores busy", "—", "mesh")
    rep = f"{out}/mesh-failover.report.json"
    if not os.path.exists(rep):
        failed("mesh", "mesh failover time (rigs/mesh_failover.toml)")
    else:
        s = json.load(open(rep))
        info("mesh failover: assigning trust node killed to the next finalized block (rigs/mesh_failover.toml, 3 nodes, "
            "3 etcd members, lease 2 s)", f"{s.get('failover_ms', float('nan')):.0f} ms", "lease TTL 2,000 ms", "—",
            "mesh")

def bench_firmware():
    o = outputs("firmware")
    if o is None:
        failed("firmware", "firmware instructions per operation")
    else:
        for op, v in json.loads(o[0]).items():
            if not op.startswith("calibration"):
                info(f"firmware instructions per operation, Cortex-M3 under QEMU -icount: {op}", n(v["instructions"]),
                    "—", "—", "firmware")

def bench_poolmem():
    metric = "memory per emulated device in a real-time pool at 10,000 devices, beyond the process baseline"
    o = outputs("poolmem")
    if o is None:
        return failed("poolmem", metric)
    runs = [json.loads(line) for line in o[0].splitlines() if line.startswith("{")]
    base = next(r for r in runs if r.get("baseline"))
    r = max((r for r in runs if not r.get("baseline")), key=lambda r: r["devices"])
    per = r["bytes_per_device"]
    ok = per <= 8192 and r["detached"] == 0 and r["attached_min_during_hold"] == r["devices"]
    if r["devices"] != 10000:
        metric = metric.replace("10,000", f"{r['devices']:,} (--quick)")
    row(f"{metric} (SoC modules over UDP, RSS {r['rss_kib'] / 1024:.1f} MiB at {r['devices']:,} against "
        f"{base['rss_kib'] / 1024:.1f} MiB with one; all attached, held {r['hold_s']:.0f} s, {r['blocks_during_hold']} "
        f"blocks)", f"{per / 1024:.2f} KiB", "limit 8 KiB", f"{per / 8192:.2f}", "≤ 8 KiB", "PASS" if ok else "SHORT",
        "poolmem")
    info("devices detached while the pool was held (must be 0)", str(r["detached"]), "—", "—", "poolmem")
    info(f"iotw-emu CPU while holding {r['devices']:,} devices (cores busy)", f"{r['emu_cpu_share']:.2f}", "—", "—",
        "poolmem")

def bench_devices():
    metric = "devices in real time on one trust node (UDP, each its own key, ≥ 60 s, none detached)"
    o = outputs("devices-node")
    if o is None:
        failed("devices", metric)
    else:
        r = json.loads(o[0])
        gone = r["device_detached_after_attach"]  # once all had attached (retries while attaching are not counted)
        held = r["devices_attached_end"] if gone == 0 and r["seconds"] >= 60 and r["blocks"] else 0
        row(metric + f": {n(r['devices_attached_end'])} of {n(r['devices'])} attached after {r['seconds']:.0f} s, "
            f"{gone} detached ({r['device_detached_events']} while attaching), {n(r['blocks'])} blocks; "
            f"attach {r['attach_s']:.0f} s; "
            f"node {r['node_rss_kib_end'] / 1024:.0f} MiB RSS, {n(r['node_bytes_per_device'])} B per device; "
            f"node CPU {r['node_cpu_s'] / r['seconds']:.2f} cores; value: devices held ≥ 60 s with none detached",
            n(held), "goal 100,000", f"{held / 1e5:.2f}", "≥ 100,000", "PASS" if held >= 100000 else "SHORT", "devices")

def sim_speed_row(metric, r):
    share = "not measured (no perf)" if r["libsodium_share"] is None else f"{r['libsodium_share']:.2f}"
    row(f"{metric}: {r['virtual_s']:.0f} s in {r['wall_s']:.2f} s, {n(r['blocks'])} blocks, {n(r['actions'])} "
        f"actions; share of CPU samples in libsodium (Ed25519, SHA-256, BLAKE2b, ChaCha20): {share}",
        n(r["speed"]), "goal 1,000", f"{r['speed'] / 1000:.2f}", "≥ 1,000", "PASS" if r["speed"] >= 1000 else "SHORT",
        "sim")

def sim_size_row(metric, r):
    big, base = r["runs"][str(r["devices"])], r["runs"][str(r["baseline"])]
    per = r["beyond_keys_and_nvs"]
    row(f"{metric} ({n(r['devices'])} devices mining and witnessing for {r['seconds']} simulated s: RSS "
        f"{big['rss_kib'] / 1024:,.0f} MiB against {base['rss_kib'] / 1024:,.0f} MiB at {n(r['baseline'])}; "
        f"{n(r['bytes_per_device'])} B per device, {r['keys_and_nvs']} B of it keys and NVS; {big['blocks']} blocks; "
        f"wall {big['wall_s']:.0f} s)", f"{per / 1024:.2f} KiB", "limit 4 KiB", f"{per / 4096:.2f}", "≤ 4 KiB",
        "PASS" if per <= 4096 and r["devices"] >= 1_000_000 else "SHORT", "sim")

def sim_mc_row(metric, r):
    c = r["collusion"]
    lo, hi = c["captured_rate_ci"]["low"], c["captured_rate_ci"]["high"]
    inside = c["model_per_round_in_captured_ci"]
    row(f"{metric} ({n(r['devices'])} devices, {n(r['colluders'])} colluding, n = {r['witnesses']}: "
        f"{n(c['captured_rounds'])} of {n(c['rounds'])} rounds captured, rate {c['captured_rate']:.4f} (95 % CI "
        f"{lo:.4f}..{hi:.4f}); model per round {c['model']['per_round_mean']:.4f}, binomial p^n "
        f"{c['model']['binomial']:.4f}; {r['virtual_s']:.0f} simulated s in {r['wall_s']:.0f} s)",
        "inside" if inside else "outside", "the model", "—", "model inside the CI, ≥ 1,000,000 devices",
        "PASS" if inside and r["devices"] >= 1_000_000 else "SHORT", "sim")

def bench_sim():  # bench/sim_bench.py: one JSON line per run, one row each
    for name, metric, make in [
        ("sim-speed", "simulation mode: simulated seconds per wall second, 1,000 devices (bench/rigs/sim_1000.toml, "
                      "crypto included)", sim_speed_row),
        ("sim-size", "simulation mode: memory per device beyond its keys and NVS image", sim_size_row),
        ("sim-mc", "simulation mode: collusion Monte Carlo, captured-round rate against the model", sim_mc_row)]:
        o = outputs(name)
        if o is None:
            failed("sim", metric)
        else:
            make(metric, json.loads(o[0]))

unreadable = []
for name in ["tps", "sig", "modbus", "proxy", "smoke", "firmware", "mesh", "poolmem", "devices", "sim"]:
    if name in only:
        try:
            globals()["bench_" + name]()
        except Exception as e:  # a benchmark's output changed shape: its row says so, the others still print
            unreadable.append(name)
            row(f"{name}: output not understood ({type(e).__name__}: {e})", "—", "—", "—", "—",
                "NOT RUN (output not understood)", name)

heads = ["metric", "value", "peer or limit (same run)", "ratio", "goal", "verdict"]
keys = ["metric", "value", "peer", "ratio", "goal", "verdict"]
print("| " + " | ".join(heads) + " |")
print("|" + "---|" * len(heads))
for r in rows:
    print("| " + " | ".join(str(r[k]) for k in keys) + " |")
print(f"\nload average before {load_before}, after {load_after} ({cpus} CPUs); "
      f"{'--quick' if quick == '1' else 'full'} run")
if json_file:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    with open(json_file, "w") as f:
        raw = {os.path.basename(p)[:-4]: open(p).read() for p in sorted(glob.glob(f"{out}/*.out"))}
        json.dump(dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), commit=commit,
                       quick=quick == "1", cpus=int(cpus), load_before=load_before, load_after=load_after,
                       rows=rows, raw_output=raw),
                  f, indent=1)
if unreadable:
    print("bench/run.sh: output not understood: " + " ".join(unreadable), file=sys.stderr)
    sys.exit(3)
PY
PY_RC=$?

if [ ${#FAILED[@]} -gt 0 ] || [ $PY_RC -ne 0 ]; then
  [ $PY_RC -ne 0 ] && [ $PY_RC -ne 3 ] && echo "bench/run.sh: the table could not be made (exit $PY_RC)" >&2
  [ ${#FAILED[@]} -gt 0 ] && echo "bench/run.sh: could not run: ${FAILED[*]}" >&2
  exit 1
fi
exit 0
