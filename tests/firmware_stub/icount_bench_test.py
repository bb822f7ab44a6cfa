#!/usr/bin/python3
"""bench/firmware_icount.py works: QEMU -icount counts the calibration loop of 200,000 instructions within the
clock reads' few dozen, and every operation of the bench image reports a count in a plausible range for its
work (so a bench that silently measures nothing, or counts time instead of instructions, fails).
usage: icount_bench_test.py SOURCE_DIR BUILD_DIR   (exit 77 = skip when qemu-system-arm is missing)"""
import json
import shutil
import subprocess
import sys

src, build = sys.argv[1], sys.argv[2]
if not shutil.which("qemu-system-arm"):
    print("SKIP: qemu-system-arm is missing (Debian package qemu-system-arm; scripts/setup.sh installs it)")
    sys.exit(77)
out = subprocess.run(["/usr/bin/python3", f"{src}/bench/firmware_icount.py", "--build", build, "--json"],
                     capture_output=True, text=True, timeout=240)
if out.returncode != 0:
    sys.exit(f"FAIL: firmware_icount.py exited {out.returncode}: {out.stdout}{out.stderr}")
ops = {k: v["instructions"] for k, v in json.loads(out.stdout).items()}
# operation: (at least, at most) instructions; wide bounds: a 10x change means something broke.
bounds = {
    "calibration_200000_instructions": (200000, 200100),
    "block_hash_sha256_120B": (2000, 60000),
    "ed25519_sign": (100000, 5000000),
    "ed25519_verify": (200000, 10000000),
    "boot_identity_and_hello": (100000, 5000000),
    "challenge_to_prove": (100000, 5000000),
    "attestation_request_to_signed_answer": (600000, 30000000),
    "vrf_claim_tai_seed_to_proof": (1000000, 80000000),
}
bad = [f"{k}: {ops.get(k)} not in [{lo}, {hi}]" for k, (lo, hi) in bounds.items()
       if not (lo <= ops.get(k, -1) <= hi)]
if ops["ed25519_verify"] <= ops["ed25519_sign"]:
    bad.append("a verification should cost more than a signature (two scalar multiplications)")
for line in bad:
    print("FAIL " + line)
print(json.dumps(ops))
sys.exit(1 if bad else 0)
