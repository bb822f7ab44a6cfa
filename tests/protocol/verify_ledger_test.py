#!/usr/bin/python3
"""tools/verify_ledger.py (independent, PyNaCl) on a ledger exported by a real byzantine_witness run before the
ledger-binding format (no finalization records, no tip): it is reported "unbound" (every rule holds, nothing is
signed by the node), and each kind of tampering is "invalid" with its rule number (docs/protocol.md §8)."""
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
    return r.returncode, r.stdout


def tampered(mutate):
    copy = json.loads(json.dumps(blocks))
    mutate(copy)
    return copy


def flip_hex(s, i=0):
    return s[:i] + ("1" if s[i] == "0" else "0") + s[i + 1:]


failures = []
code, out = run(blocks)
if code != 1 or not out.startswith("unbound: 23 blocks, heights 1..22 carry no finalization record") or len(blocks) < 21:
    failures.append(f"old-format ledger not reported unbound: {code} {out}")
cases = {  # name: (mutation, rule, height)
    "header byte": (lambda c: c[5].__setitem__("header", flip_hex(c[5]["header"], 30)), 4, 5),
    "miner signature": (lambda c: c[3].__setitem__("miner_signature", flip_hex(c[3]["miner_signature"])), 9, 3),
    "attestation signature": (lambda c: c[7]["attestations"][0].__setitem__("signature", flip_hex(c[7]["attestations"][0]["signature"])), 10, 7),
    "tx payload": (lambda c: c[2]["transactions"][0].__setitem__("payload_hex", "00" + c[2]["transactions"][0]["payload_hex"][2:]), 6, 2),
    "verdict": (lambda c: c[4]["attestations"][1].__setitem__("verdict", "invalid"), 10, 4),
    "dropped block": (lambda c: c.pop(9), 2, 9),
    "no attestations": (lambda c: c[6].__setitem__("attestations", []), 11, 6),
    "witness is miner": (lambda c: c[8]["attestations"][0].__setitem__("witness", c[8]["miner"]), 10, 8),
    "upper-case hex": (lambda c: c[8].__setitem__("hash", c[8]["hash"].upper()), 1, 8),
    "same tx in two blocks": (lambda c: c[3]["transactions"].__setitem__(0, c[2]["transactions"][0]), 6, 3),
}
for name, (mutate, rule, height) in cases.items():
    code, out = run(tampered(mutate))
    if code != 1 or not out.startswith(f"invalid: rule {rule} at height {height}:"):
        failures.append(f"tampering '{name}': {code} {out!r}, want rule {rule} at height {height}")
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:  # a duplicate key is refused
    lines = [json.dumps(b) for b in blocks]
    lines[4] = '{"round_id": 0, ' + lines[4][1:]
    f.write("\n".join(lines) + "\n")
r = subprocess.run(["/usr/bin/python3", VERIFIER, f.name], capture_output=True, text=True)
os.unlink(f.name)
if r.returncode != 1 or not r.stdout.startswith("invalid: rule 1 at height 4: not valid JSON, or an object repeats a key"):
    failures.append(f"duplicate key: {r.returncode} {r.stdout!r}")
for f in failures:
    print("FAIL:", f)
print(f"{len(cases) + 2 - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
