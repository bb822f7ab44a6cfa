#!/usr/bin/python3
"""tools/verify_ledger.py (independent, PyNaCl) on a ledger exported by a real byzantine_witness run:
the real ledger verifies, and each kind of tampering is caught."""
import json
import os
import subprocess
import sys
import tempfile

VERIFIER, FIXTURE = sys.argv[1], sys.argv[2]
blocks = [json.loads(line) for line in open(FIXTURE)]


def run(blocks_):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("".join(json.dumps(b) + "\n" for b in blocks_))
    r = subprocess.run(["/usr/bin/python3", VERIFIER, f.name], capture_output=True, text=True)
    os.unlink(f.name)
    return r.returncode, r.stderr


def tampered(mutate):
    copy = json.loads(json.dumps(blocks))
    mutate(copy)
    return copy


def flip_hex(s, i=0):
    return s[:i] + ("1" if s[i] == "0" else "0") + s[i + 1:]


failures = []
code, err = run(blocks)
if code != 0 or len(blocks) < 21:
    failures.append(f"real ledger rejected: {err}")
cases = {
    "header byte": lambda c: c[5].__setitem__("header", flip_hex(c[5]["header"], 30)),
    "miner signature": lambda c: c[3].__setitem__("miner_signature", flip_hex(c[3]["miner_signature"])),
    "attestation signature": lambda c: c[7]["attestations"][0].__setitem__("signature", flip_hex(c[7]["attestations"][0]["signature"])),
    "tx payload": lambda c: c[2]["transactions"][0].__setitem__("payload_hex", "00" + c[2]["transactions"][0]["payload_hex"][2:]),
    "verdict": lambda c: c[4]["attestations"][1].__setitem__("verdict", "invalid"),
    "dropped block": lambda c: c.pop(9),
    "no attestations": lambda c: c[6].__setitem__("attestations", []),
    "witness is miner": lambda c: c[8]["attestations"][0].__setitem__("witness", c[8]["miner"]),
}
for name, mutate in cases.items():
    code, err = run(tampered(mutate))
    if code != 1:
        failures.append(f"tampering '{name}' not detected (exit {code})")
for f in failures:
    print("FAIL:", f)
print(f"{len(cases) + 1 - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
