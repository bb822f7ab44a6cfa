#!/usr/bin/python3
"""Instructions per firmware operation on a Cortex-M3, counted by QEMU (issue 18; bench/RESULTS.md).

Runs build/cross/cortex-m3/iotw_fw_icount_lm3s6965.elf (firmware_stub/ports/lm3s6965/icount_bench.c) under
`qemu-system-arm -M lm3s6965evb -icount shift=0,sleep=off`: QEMU's virtual clock then advances 1 ns per guest
instruction, which the image reads through its core clock (20 ns ticks). Prints instructions per operation and the
time they imply at each chip profile's clock at one instruction per cycle, next to the cycle estimates the chip
profiles use today (docs/emulators.md "Chip profiles"). Exit 0, or 1 when QEMU or the image fails or is missing.

usage: bench/firmware_icount.py [--build DIR] [--json]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

# docs/emulators.md "Chip profiles": clock (MHz), SHA-256 cycles per 64-byte block, Ed25519 sign / verify cycles.
PROFILES = [
    ("esp8266", "Xtensa LX106", 80, 4000, 2.66e6, 9.26e6),
    ("esp32", "Xtensa LX6", 240, 400, 1.01e6, 3.51e6),
    ("rtl8710", "Cortex-M4F", 125, 3000, 0.67e6, 2.34e6),
    ("rtl8195", "Cortex-M3", 166, 3000, 1.01e6, 3.51e6),
]


def run(image):
    qemu = shutil.which("qemu-system-arm")
    if not qemu:
        sys.exit("firmware_icount: qemu-system-arm is missing (Debian package qemu-system-arm; scripts/setup.sh)")
    if not os.path.exists(image):
        sys.exit(f"firmware_icount: {image} is missing (build it: cmake --build build --target iotw_cross)")
    with tempfile.TemporaryDirectory() as cwd:  # the image's NVS files land here
        out = subprocess.run([qemu, "-M", "lm3s6965evb", "-display", "none", "-monitor", "none", "-serial", "null",
                              "-serial", "null", "-icount", "shift=0,sleep=off", "-kernel", os.path.abspath(image),
                              "-semihosting-config", "enable=on,target=native"],
                             cwd=cwd, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr  # QEMU writes the semihosting console to stderr
    ops = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "icount":
            ops[f[1]] = {"repetitions": int(f[2]), "instructions": int(f[3])}
        elif f[:2] == ["icount", "error"]:
            sys.exit("firmware_icount: " + line)
    if out.returncode != 0 or "icount done" not in text:
        sys.exit(f"firmware_icount: QEMU exited {out.returncode}: {text}")
    return ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ops = run(os.path.join(a.build, "cross", "cortex-m3", "iotw_fw_icount_lm3s6965.elf"))
    if a.json:
        print(json.dumps(ops, indent=2))
        return
    cal = ops["calibration_200000_instructions"]["instructions"]
    print(f"calibration: a loop of 200,000 instructions counted {cal:,}")
    print(f"{'operation (Cortex-M3, -Os)':40} {'instructions':>13}  " +
          "  ".join(f"{p[0] + ' @' + str(p[2]) + ' MHz':>17}" for p in PROFILES))
    for name, v in ops.items():
        if name.startswith("calibration"):
            continue
        n = v["instructions"]
        times = "  ".join(f"{n / p[2] / 1000:>14.2f} ms" for p in PROFILES)
        print(f"{name:40} {n:>13,}  {times}")
    print("(time = instructions / MHz, at one instruction per cycle; the Cortex-M3 count stands in for the Xtensa "
          "cores, which run another instruction set)")
    print("\nthe chip profiles' estimates today (cycles; docs/emulators.md), against the measured instructions:")
    sha = ops["block_hash_sha256_120B"]["instructions"]
    sign = ops["ed25519_sign"]["instructions"]
    verify = ops["ed25519_verify"]["instructions"]
    print(f"{'profile':10} {'SHA-256 120 B (2 blocks)':>26} {'Ed25519 sign':>22} {'Ed25519 verify':>22}")
    for p in PROFILES:
        print(f"{p[0]:10} {2 * p[3]:>12,.0f} vs {sha:>9,} {p[4]:>11,.0f} vs {sign:>8,} {p[5]:>11,.0f} vs {verify:>8,}")


if __name__ == "__main__":
    main()
