#!/usr/bin/env python3
"""A stand-in for a held run's harness.sock (docs/console.md), for the console's tmux tests: serves hello,
events (a scripted stream: two devices register, blocks are finalized as time passes), status, step
(refusing an unknown fault kind with the validator's kind of message), end, traffic, write_rig, stop.
Every request is appended to RUN_DIR/requests.jsonl. Usage: fake_harness.py RUN_DIR"""
import json
import os
import socket
import sys
import threading
import time

run_dir = sys.argv[1]
os.makedirs(run_dir, exist_ok=True)
path = os.path.join(run_dir, "harness.sock")
if os.path.exists(path):
    os.unlink(path)
log = open(os.path.join(run_dir, "requests.jsonl"), "a", buffering=1)
lock = threading.Lock()
t0 = int(time.time() * 1000)
events = [
    {"time_ms": t0, "source": "harness", "kind": "rig_started", "fields": {"rig": "fake", "seed": 9}},
    {"time_ms": t0, "source": "trust-node", "kind": "device_registered",
     "fields": {"device": "a" * 64, "name": "esp32-01", "model": "esp32"}},
    {"time_ms": t0, "source": "trust-node", "kind": "device_registered",
     "fields": {"device": "b" * 64, "name": "esp32-02", "model": "esp32"}},
]
actions = []
stopped = False


def stream():
    """The events up to now: one block a second after the registrations."""
    now = int(time.time() * 1000)
    blocks = (now - t0) // 1000
    out = list(events)
    for h in range(1, blocks + 1):
        out.append({"time_ms": t0 + 1000 * h, "source": "trust-node", "kind": "block_finalized",
                    "fields": {"height": h, "hash": "%064x" % h, "round_id": h, "miner": "a" * 64, "tx_count": 1}})
    return sorted(out, key=lambda e: e["time_ms"])


def answer(req):
    global stopped
    cmd = req.get("cmd")
    if cmd == "hello":
        return {"ok": True, "rig": "fake", "rig_file": "/dev/null", "run_dir": run_dir, "seed": 9,
                "target_blocks": 1000, "deadline_s": 600, "hold": True,
                "devices": [{"name": "esp32-01", "model": "esp32", "link": "pty", "powered": False},
                            {"name": "esp32-02", "model": "esp32", "link": "pty", "powered": False}],
                "steps": []}
    if cmd == "events":
        evs = stream()
        since = int(req.get("since", 0))
        return {"ok": True, "events": evs[since:], "next": len(evs), "finished": stopped}
    if cmd == "status":
        return {"ok": True, "state": "holding", "elapsed_s": (time.time() * 1000 - t0) / 1000, "height": 0,
                "target_blocks": 1000, "rounds": 0, "devices_attached": 2, "devices_blacklisted": 0,
                "tx_accepted": 0, "tx_per_s": 0, "traffic_paused": False, "verdict": None}
    if cmd == "step":
        step = req.get("step", "")
        kind = step.split()[1] if step.startswith("fault ") and len(step.split()) > 1 else ""
        if step.startswith("fault ") and kind not in ("reboot", "hang", "corrupt", "stall", "partition"):
            return {"ok": False, "error": "fault '%s' is not a fault kind; allowed: corrupt, ..." % kind}
        actions.append(req)
        events.append({"time_ms": int(time.time() * 1000), "source": "harness", "kind": "console_action",
                       "fields": {"action": len(actions), "request": req, "key": req.get("key"),
                                  "device": req.get("device"), "step": step, "at_s": 1.0}})
        label = "console action %d" % len(actions)  # as the harness labels an unnamed action's step events
        events.append({"time_ms": int(time.time() * 1000), "source": "harness", "kind": "step_started",
                       "fields": {"step": label, "line": 0, "at_s": 1.0}})
        events.append({"time_ms": int(time.time() * 1000), "source": "harness", "kind": "fault_started",
                       "fields": {"step": label, "line": 0, "fault": kind, "devices": [req.get("device")]}})
        return {"ok": True, "action": len(actions), "toml": "[[steps]]"}
    if cmd in ("end", "traffic"):
        return {"ok": True}
    if cmd == "write_rig":
        return {"ok": True, "path": os.path.join(run_dir, "session-1.toml")}
    if cmd == "stop":
        stopped = True
        return {"ok": True}
    return {"ok": False, "error": "unknown command '%s'" % cmd}


def serve(conn):
    with conn, conn.makefile("rwb") as f:
        for line in f:
            req = json.loads(line)
            with lock:
                log.write(json.dumps(req) + "\n")
                reply = answer(req)
            if "id" in req:
                reply["id"] = req["id"]
            f.write((json.dumps(reply) + "\n").encode())
            f.flush()


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
