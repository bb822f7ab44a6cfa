#!/usr/bin/env python3
"""Writes the nemesis soak rig (rigs/soak.toml, docs/reliability.md): a mixed pool (ESP PTY devices, DPS chips,
AT-mode appliances) under every fault kind of docs/faults.md, drawn at random from --seed: one fault every
--gap-s seconds on average (exponential gaps), each on random target devices of a kind that takes it, with a
random duration and parameters, healing within its recover_within_s. The same seed writes the same rig.

  tools/gen_soak_rig.py --seed 15 --minutes 30 > rigs/soak.toml
"""
import argparse
import random

PTY = [f"esp32-{i:02d}" for i in range(1, 5)] + [f"esp8266-{i:02d}" for i in range(1, 3)]
DPS = [f"dps-{i:02d}" for i in range(1, 3)]
AT = [f"esp8266-at-{i:02d}" for i in range(1, 4)]
SERIAL_TARGETS = PTY + DPS   # every PTY link
FIRMWARE_TARGETS = PTY + DPS  # a firmware on its own chip: reboot, hang, clock_skew


def fault(rng, kind):
    """The [[steps]] keys of one fault of this kind, or None for a kind that takes all devices."""
    d = round(rng.uniform(2, 8), 1)
    one = lambda pool: [rng.choice(pool)]
    some = lambda pool: sorted(rng.sample(pool, rng.randint(1, 2)))
    if kind in ("corrupt", "bit_flip", "drop_bytes", "drop_frames"):
        return {"devices": some(SERIAL_TARGETS), "rate": round(rng.uniform(0.001, 0.02), 4), "duration_s": d,
                "recover_within_s": 30}
    if kind == "garbage":
        return {"devices": some(SERIAL_TARGETS), "rate": round(rng.uniform(0.01, 0.1), 3),
                "bytes": rng.randint(1, 64), "duration_s": d, "recover_within_s": 30}
    if kind in ("stall", "baud_mismatch", "partition"):
        return {"devices": one(SERIAL_TARGETS + (AT if kind == "partition" else [])), "duration_s": d,
                "recover_within_s": 30}
    if kind == "delay":
        return {"devices": some(SERIAL_TARGETS), "delay_ms": rng.randint(10, 300), "jitter_ms": rng.randint(0, 100),
                "duration_s": d, "recover_within_s": 30}
    if kind in ("udp_loss", "udp_duplicate", "udp_reorder"):
        return {"devices": some(AT), "rate": round(rng.uniform(0.01, 0.1), 3), "duration_s": d,
                "recover_within_s": 30}
    if kind == "udp_delay":
        return {"devices": some(AT), "delay_ms": rng.randint(10, 300), "jitter_ms": rng.randint(0, 100),
                "duration_s": d, "recover_within_s": 30}
    if kind == "trust_node_kill":
        return {"duration_s": round(rng.uniform(0.5, 2), 1), "recover_within_s": 30}
    if kind == "trust_node_stop":
        return {"duration_s": round(rng.uniform(0.5, 2), 1), "recover_within_s": 30}
    if kind == "brownout":
        return {"devices": one(DPS), "vin": round(rng.uniform(3, 6), 1), "duration_s": round(rng.uniform(0.5, 2), 1),
                "recover_within_s": 30}
    if kind == "power_loss":
        return {"devices": one(DPS), "duration_s": round(rng.uniform(0.5, 2), 1),
                "ramp_v_per_s": round(rng.uniform(5, 50), 1), "recover_within_s": 30}
    if kind in ("reboot", "hang"):
        return {"devices": one(FIRMWARE_TARGETS), "recover_within_s": 30}
    if kind == "clock_skew":
        return {"devices": one(FIRMWARE_TARGETS), "offset_ms": rng.choice([-1, 1]) * rng.randint(1, 2000),
                "ppm": rng.randint(-200, 200)}
    if kind == "ap_rssi":
        return {"devices": one(AT), "rssi": rng.randint(-90, -60), "duration_s": d, "recover_within_s": 30}
    if kind == "ap_down":
        return {"devices": one(AT), "duration_s": d, "recover_within_s": 30}
    raise ValueError(kind)


KINDS = ["corrupt", "bit_flip", "drop_bytes", "drop_frames", "garbage", "stall", "baud_mismatch", "delay",
         "partition", "trust_node_kill", "trust_node_stop", "brownout", "power_loss", "udp_loss", "udp_duplicate",
         "udp_reorder", "udp_delay", "reboot", "hang", "clock_skew", "ap_rssi", "ap_down"]


def toml_value(v):
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' for x in v) + "]"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--gap-s", type=float, default=20, help="mean seconds between fault injections")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    end_s = a.minutes * 60
    out = [f"""# soak: the nemesis soak (docs/reliability.md). Written by tools/gen_soak_rig.py --seed {a.seed} \
--minutes {a.minutes:g} --gap-s {a.gap_s:g}:
# every fault kind of docs/faults.md at random (seeded) over {a.minutes:g} minutes on a mixed pool; at the end nothing
# acknowledged may be lost, no honest device blacklisted, and the ledger must verify. scripts/soak.sh runs it and
# samples the processes' RSS. Not in CI. Keys: docs/rig-format.md.

[rig]
name = "soak"
description = "nemesis soak: {len(KINDS)} fault kinds at random (seed {a.seed}) for {a.minutes:g} min"
deadline_s = {int(end_s + 120)}

[trust_node]
witnesses = 3
block_interval_ms = 100
witness_timeout_ms = 1000
assignment_timeout_ms = 1000
device_timeout_ms = 3000

[[devices]]
name_prefix = "esp32"
model = "esp32"
link = "pty"
count = 4

[[devices]]
name_prefix = "esp8266"
model = "esp8266"
link = "pty"
count = 2

[[devices]]
name_prefix = "dps"
model = "dps"
link = "pty"
count = 2

[[devices]]
name_prefix = "esp8266-at"
model = "esp8266"
link = "at"
count = 3

[traffic]
tx_per_s = 20
payload_bytes = 48

[target]
blocks = 100000              # not reached: the run lasts until the deadline ends the script

[pass]
ledger_valid = true
acked_tx_lost_max = 0       # nothing answered 202 is lost
false_blacklist_max = 0     # no honest device blacklisted
"""]
    # Every kind once in a shuffled first pass, then uniformly at random: each kind is exercised.
    order = KINDS[:]
    rng.shuffle(order)
    t = 10.0
    n = 0
    while t < end_s - 60:
        kind = order[n] if n < len(order) else rng.choice(KINDS)
        n += 1
        keys = fault(rng, kind)
        out.append(f"\n[[steps]]\nname = \"nemesis {n}: {kind}\"\nat_s = {t:.1f}\nfault = \"{kind}\"\n" +
                   "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items()))
        t += rng.expovariate(1 / a.gap_s)
    print("".join(out), end="")


if __name__ == "__main__":
    main()
