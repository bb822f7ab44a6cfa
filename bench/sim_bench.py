#!/usr/bin/env python3
"""Simulation-mode benchmarks (bench/RESULTS.md "Simulation mode"): `iotw rig run --mode sim` at scale.

  sim_bench.py --iotw BIN speed [--rig bench/rigs/sim_1000.toml] [--seed 1]
      simulated seconds per wall second of the 1,000-device rig, and (with perf installed, from a second run under
      perf) the share of the run's CPU samples in libsodium (Ed25519, SHA-256, and the BLAKE2b / ChaCha20 of the seeds and the verification memo)
  sim_bench.py --iotw BIN size [--devices 1000000] [--baseline 1000] [--seconds 120] [--seed 1]
      memory per device: the resident memory at the end of the simulated run (sim.json rss_kib) at --devices against
      --baseline devices, per added device, and beyond its keys and NVS image
  sim_bench.py --iotw BIN montecarlo [--devices 1000000] [--colluders 333334] [--witnesses 2] [--seconds 600]
      the collusion Monte Carlo: a colluding group (behaviour "collude", Monte Carlo mode: blacklists lifted at once)
      among --devices; the captured-round rate with its Wilson 95 % interval against the whitepaper's model
      (report.json collusion: per-round hypergeometric and binomial p^n)

Each prints one JSON line. Rigs are generated into a temporary folder (groups of 250 esp32, the rig format's limit
per group); runs go to a temporary folder that is removed. Exit 0, 1 when a run failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

KEYS_AND_NVS = 32 + 64 + 32 + 8 * (24 + 64 + 8)  # pk, sk, seed (iotw_fw) + ports/sim's NVS table (8 slots)


def rig_text(name, devices, seconds, colluders=0, witnesses=3, monte_carlo=False, block_interval_ms=1000):
    groups = []
    left_h, left_c = devices - colluders, colluders
    i = 0
    for count, behaviour in ((left_h, "honest"), (left_c, "collude")):
        while count > 0:
            n = min(250, count)
            groups.append(f'[[devices]]\nname_prefix = "{"c" if behaviour != "honest" else "h"}{i:05d}"\n'
                          f'model = "esp32"\nbehaviour = "{behaviour}"\ncount = {n}\n')
            count -= n
            i += 1
    return (f'[rig]\nname = "{name}"\ndeadline_s = {seconds}\nmonte_carlo = {"true" if monte_carlo else "false"}\n'
            f'[trust_node]\nwitnesses = {witnesses}\nblock_interval_ms = {block_interval_ms}\n'
            f'device_timeout_ms = 60000\n\n' + "\n".join(groups) +
            '\n[traffic]\ntx_per_s = 10\n[target]\nblocks = 100000\n[pass]\nledger_valid = true\n')


def run_sim(iotw, rig, seed, work, name, perf=False):
    out = os.path.join(work, name)
    cmd = [iotw, "rig", "run", "--mode", "sim", rig, "--seed", str(seed), "--out", out]
    perf_data = os.path.join(work, name + ".perf")
    if perf:
        cmd = ["perf", "record", "-q", "-o", perf_data, "--"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 1):  # 1: a criterion failed, still a finished run
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-2000:])
        raise SystemExit(f"sim_bench.py: {name}: iotw exited {p.returncode}")
    with open(os.path.join(out, "sim.json")) as f:
        sim = json.load(f)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    share = None
    if perf:
        r = subprocess.run(["perf", "report", "-i", perf_data, "--sort", "dso", "--stdio", "-q"],
                           capture_output=True, text=True)
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[-1].startswith("libsodium"):
                share = float(parts[0].rstrip("%")) / 100
    return sim, report, share


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iotw", required=True)
    ap.add_argument("--seed", type=int, default=1)
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--rig", default=os.path.join(os.path.dirname(__file__), "rigs", "sim_1000.toml"))
    sz = sub.add_parser("size")
    sz.add_argument("--devices", type=int, default=1_000_000)
    sz.add_argument("--baseline", type=int, default=1000)
    sz.add_argument("--seconds", type=int, default=120)
    mc = sub.add_parser("montecarlo")
    mc.add_argument("--devices", type=int, default=1_000_000)
    mc.add_argument("--colluders", type=int, default=333_334)
    mc.add_argument("--witnesses", type=int, default=2)
    mc.add_argument("--seconds", type=int, default=600)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="iotw-sim-bench-")
    try:
        if a.what == "speed":
            sim, report, _ = run_sim(a.iotw, a.rig, a.seed, work, "speed")  # the speed: a run as users run it
            share = None
            if shutil.which("perf"):  # the libsodium share: a second run, under perf (which slows it ~25 %)
                _, _, share = run_sim(a.iotw, a.rig, a.seed, work, "speed-perf", perf=True)
            print(json.dumps(dict(what="speed", devices=sim["devices"], virtual_s=sim["virtual_s"],
                                  wall_s=sim["wall_s"], speed=sim["speed"], actions=sim["actions"],
                                  blocks=report["blocks_finalized"], libsodium_share=share)))
        elif a.what == "size":
            rows = {}
            for n in (a.baseline, a.devices):
                rig = os.path.join(work, f"size_{n}.toml")
                with open(rig, "w") as f:
                    f.write(rig_text(f"sim_size_{n}", n, a.seconds))
                sim, report, _ = run_sim(a.iotw, rig, a.seed, work, f"size_{n}")
                rows[n] = dict(rss_kib=sim["rss_kib"], hwm_kib=sim["hwm_kib"], wall_s=sim["wall_s"],
                               blocks=report["blocks_finalized"], rounds=report["rounds"])
                shutil.rmtree(os.path.join(work, f"size_{n}"), ignore_errors=True)
            per = (rows[a.devices]["rss_kib"] - rows[a.baseline]["rss_kib"]) * 1024 / (a.devices - a.baseline)
            print(json.dumps(dict(what="size", devices=a.devices, baseline=a.baseline, seconds=a.seconds,
                                  runs=rows, bytes_per_device=per, keys_and_nvs=KEYS_AND_NVS,
                                  beyond_keys_and_nvs=per - KEYS_AND_NVS)))
        else:
            rig = os.path.join(work, "montecarlo.toml")
            with open(rig, "w") as f:
                f.write(rig_text("sim_montecarlo", a.devices, a.seconds, colluders=a.colluders,
                                 witnesses=a.witnesses, monte_carlo=True, block_interval_ms=0))
            sim, report, _ = run_sim(a.iotw, rig, a.seed, work, "montecarlo")
            c = report["collusion"]
            print(json.dumps(dict(what="montecarlo", devices=a.devices, colluders=a.colluders, witnesses=a.witnesses,
                                  virtual_s=sim["virtual_s"], wall_s=sim["wall_s"], rss_kib=sim["rss_kib"],
                                  collusion={k: c[k] for k in ("pool", "witnesses", "p", "rounds", "captured_rounds",
                                                               "captured_rate", "captured_rate_ci", "model",
                                                               "model_per_round_in_captured_ci", "won", "lost")})))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
