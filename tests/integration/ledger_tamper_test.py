#!/usr/bin/python3
"""The tamper corpus (docs/protocol.md §8): a short seeded rig run exports a bound VRF ledger; it passes
`iotw ledger verify` and tools/verify_ledger.py with the node key; tools/ledger_tamper.py writes copies that each
break one numbered rule; both verifiers reject every copy and name the same rule (the expected one) at the same
height. The checked-in old-format ledger is reported "unbound" by both.

Usage: ledger_tamper_test.py IOTW_EXE RIG_FILE TOOLS_DIR OLD_LEDGER WORK_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

IOTW, RIG, TOOLS, OLD, WORK = sys.argv[1:6]
sys.path.insert(0, TOOLS)
import verify_ledger  # noqa: E402  (in-process: each VRF proof is verified once for the whole corpus)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def cpp_verify(path, *key):
    r = subprocess.run([IOTW, "ledger", "verify", path, *key], capture_output=True, text=True)
    return r.returncode, r.stdout.strip()


def py_cli(path, *key):
    r = subprocess.run(["/usr/bin/python3", os.path.join(TOOLS, "verify_ledger.py"), path, *key], capture_output=True,
                       text=True)
    return r.returncode, r.stdout.strip()


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
run = os.path.join(WORK, "run")
r = subprocess.run([IOTW, "rig", "run", RIG, "--seed", "11", "--out", run], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr)
    sys.exit(f"the seeded rig run failed (exit {r.returncode})")
ledger, node_key = os.path.join(run, "ledger.jsonl"), os.path.join(run, "node.key")

# The real export is valid under the node's key for both verifiers.
code, out = cpp_verify(ledger, "--node-key-file", node_key)
check(code == 0 and out.startswith("valid: ") and "(pinned)" in out, f"iotw ledger verify on the run's ledger: {code} {out}")
code, out = py_cli(ledger, "--node-key-file", node_key)
check(code == 0 and out.startswith("valid: ") and "(pinned)" in out, f"verify_ledger.py on the run's ledger: {code} {out}")
pub = open(node_key, "rb").read()
pub_hex = verify_ledger.SigningKey(pub).verify_key.encode().hex()
code, out = cpp_verify(ledger, "--node-key", pub_hex)
check(code == 0, f"--node-key HEX: {code} {out}")
code, out = cpp_verify(ledger, "--node-key", "00" * 32)  # another key: the tip names the wrong node
check(code == 1 and out.startswith("invalid: rule 14 at height 1"), f"wrong pinned key: {code} {out}")

# The old-format ledger: every rule holds, nothing is bound.
for name, (code, out) in (("iotw", cpp_verify(OLD)), ("python", py_cli(OLD))):
    check(code == 1 and out.startswith("unbound: "), f"{name} on the old-format ledger: {code} {out}")
code, out = cpp_verify(os.path.join(WORK, "missing.jsonl"))
check(code == 2 and out.startswith("unreadable: "), f"iotw on a missing file: {code} {out}")
code, out = py_cli(os.path.join(WORK, "missing.jsonl"))
check(code == 2 and out.startswith("unreadable: "), f"verify_ledger.py on a missing file: {code} {out}")
code, _ = cpp_verify(ledger, "--node-key", "zz")
check(code == 2, f"iotw with a bad --node-key: exit {code}")
code, _ = cpp_verify(ledger, "--node-key", pub_hex, "--node-key-file", node_key)
check(code == 2, f"iotw with both --node-key and --node-key-file: exit {code}")

# The corpus.
corpus = os.path.join(WORK, "corpus")
r = subprocess.run(["/usr/bin/python3", os.path.join(TOOLS, "ledger_tamper.py"), run, corpus], capture_output=True, text=True)
check(r.returncode == 0, f"ledger_tamper.py: {r.returncode} {r.stderr}")
manifest = json.load(open(os.path.join(corpus, "manifest.json")))
check(len(manifest) >= 30, f"only {len(manifest)} tampered ledgers")
rules = set()
pk = bytes.fromhex(pub_hex)
for m in manifest:
    path = os.path.join(corpus, m["file"])
    code, out = cpp_verify(path, "--node-key-file", node_key)
    got = re.match(r"invalid: rule (\d+) at height (\d+):", out)
    status, issues, _ = verify_ledger.verify(open(path, "rb").read(), pk)
    py = min(issues, key=lambda i: (i[0], i[1])) if issues else None
    want = (m["rule"], m["height"])
    cpp_got = (int(got.group(1)), int(got.group(2))) if got else None
    py_got = (py[1], py[0]) if py and status == "invalid" else None
    check(code == 1 and cpp_got == want, f"{m['file']}: iotw says {code} {out!r}, want rule {want[0]} at height {want[1]}")
    check(py_got == want, f"{m['file']}: verify_ledger.py says {status} {py!r}, want rule {want[0]} at height {want[1]}")
    rules.add(m["rule"])
check(rules == set(range(1, 16)), f"the corpus covers rules {sorted(rules)}, not 1..15")
print(f"{len(manifest)} tampered ledgers, rules {sorted(rules)}; {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
