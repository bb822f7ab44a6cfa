#!/usr/bin/env python3
"""Memory per emulated device in a real-time iotw-emu pool (issue 17; bench/RESULTS.md "Memory per emulated device").

Starts a real iotw-trust-node and one iotw-emu pool of N devices against it (a generated node config and pool file
in a temporary folder), waits until all N are attached (the node's GET /v1/health devices_attached), holds them for
--hold seconds (every device heartbeating, mining and witnessing as the node assigns), then reads the pool's
resident set (/proc/PID/status VmRSS, /proc/PID/smaps_rollup). The baseline is the same pool with one device, run
the same way first. Prints one JSON object per line, one per N:

  {"devices": N, "kind": "soc-udp", "rss_kib": ..., "baseline_rss_kib": ..., "bytes_per_device": ...,
   "attach_s": ..., "attached_min_during_hold": ..., "detached": ..., "blocks_during_hold": ..., ...}

bytes_per_device = (RSS at N - RSS at 1) / (N - 1). detached counts the node's device_detached events after all N
attached (must be 0).

  bench/pool_memory_bench.py [--build DIR] [--devices 1000,5000,10000] [--hold 30] [--kind soc-udp|at-udp|pty]
                             [--model esp8266] [--keep DIR] [--tx-per-s 50] [--nvs-on-disk] [--ledger-on-disk] [--emu-events]

--kind soc-udp (default): SoC modules over UDP (trust_node_udp, docs/emulators.md "SoC modules over UDP"), each with
its own UDP socket to the node's [udp] port; at-udp: AT-mode appliances (mode = "at", trust_node_udp); pty: SoC
modules on serial links, two PTY pairs per device joined by a relay thread of this script, the node opening one
[[serial]] per device (the kernel's 4,096 PTYs allow about 2,000 such devices).
Exit 0 when every run reached N attached devices; 1 otherwise (the failing step on stderr); 2 for bad arguments.
"""
import argparse
import json
import os
import pty
import re
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"pool_memory_bench: {msg}", file=sys.stderr, flush=True)


def wait_file(path, proc, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before writing {path}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {path}")


def health(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=10) as r:
        return json.load(r)


def submit(port, k, tag):
    """k hash-only transactions in one batch (blocks need transactions: miners and witnesses get work)."""
    body = json.dumps({"transactions": [{"payload": f"poolmem {tag} {i}"} for i in range(k)]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/transactions/batch", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["accepted"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def smaps_rollup(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    out[m.group(1)] = int(m.group(2))
    except OSError:
        pass
    return out


def count_events(path, name):
    n = 0
    needle = f'"event":"{name}"'
    with open(path, errors="replace") as f:
        for line in f:
            if needle in line.replace(" ", ""):
                n += 1
    return n


class PtyRelay:
    """n links made of two PTY pairs each, joined by this process: the device opens one pair's slave, the node the
    other's, and a thread copies bytes between the two masters (the harness's link fabric does the same with its
    fault proxy). Four descriptors and two PTYs per device: the kernel's kernel.pty.max (4,096) caps it at ~2,000."""

    def __init__(self, n):
        need = 4 * n + 256
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))
        self.fds, self.links, self.peer = [], [], {}
        for _ in range(n):
            ends = []
            for _ in range(2):
                m, sl = pty.openpty()
                tty.setraw(sl)
                os.set_blocking(m, False)
                self.fds += [m, sl]
                ends.append((m, os.ttyname(sl)))
            (m1, dev_path), (m2, node_path) = ends
            self.peer[m1], self.peer[m2] = m2, m1
            self.links.append((dev_path, node_path))
        self.sel = selectors.DefaultSelector()
        for m in self.peer:
            self.sel.register(m, selectors.EVENT_READ)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.2):
                try:
                    data = os.read(key.fd, 4096)
                    os.write(self.peer[key.fd], data)
                except (BlockingIOError, OSError):
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for fd in self.fds:
            os.close(fd)


def run_one(args, n, tmp, cleanup):
    bin_dir = os.path.join(args.build, "bin")
    work = os.path.join(tmp, f"n{n}")
    os.makedirs(work)
    node_cfg = os.path.join(work, "node.toml")
    node_events = os.path.join(work, "node.events.jsonl")
    # The node's ledger: a registration or a block is a durable SQLite commit. On a shared disk those fsyncs stall the
    # node's one io thread long enough for its UDP receive buffer to overflow under 10,000 devices' Hellos and
    # heartbeats, so the ledger lives on tmpfs unless --ledger-on-disk (the emulator's memory is what is measured).
    db_dir = work if args.ledger_on_disk else tempfile.mkdtemp(prefix="iotw-poolmem-db.", dir="/dev/shm")
    if not args.ledger_on_disk:
        cleanup.append(db_dir)
    relay = PtyRelay(n) if args.kind == "pty" else None
    serial = "".join(f'\n[[serial]]\npath = "{node_path}"\n' for _, node_path in relay.links) if relay else ""
    with open(node_cfg, "w") as f:
        f.write(f"""[node]
db = "{db_dir}/ledger.sqlite"
seed = 17
events = "{node_events}"

[http]
listen = "127.0.0.1:0"
port_file = "{work}/http.port"
max_connections = 64

[udp]
listen = "127.0.0.1:0"
port_file = "{work}/udp.port"
max_peers = {max(4096, n + 1024)}

[registration]
max_devices = {max(100000, n + 1024)}
max_in_progress = 4096

[consensus]
witnesses = 3
block_interval_ms = 200
device_timeout_ms = {args.device_timeout_ms}
{serial}""")
    node_log = open(os.path.join(work, "node.stderr"), "w")
    node = subprocess.Popen([os.path.join(bin_dir, "iotw-trust-node"), "--config", node_cfg],
                            stdout=node_log, stderr=node_log)
    emu = None
    try:
        http_port = int(wait_file(f"{work}/http.port", node))
        udp_port = int(wait_file(f"{work}/udp.port", node))
        # The devices' flash: every NVS write is a temp file, an fsync and a rename (ports/host). On a shared disk 10,000
        # first boots (key, boot counter) take many minutes of fsyncs, so the flash lives on tmpfs unless --nvs-on-disk.
        nvs_root = os.path.join(work, "nvs") if args.nvs_on_disk else tempfile.mkdtemp(prefix="iotw-poolmem-nvs.",
                                                                                       dir="/dev/shm")
        cleanup.append(nvs_root)
        pool = os.path.join(work, "pool.toml")
        with open(pool, "w") as f:
            f.write(f'events = "{work + "/emu.events.jsonl" if args.emu_events else "/dev/null"}"\n')
            # Devices power on spread over time (--spread-ms-per-device each): 10,000 first Hellos in one second keep
            # the node's registration admission, which is O(open links) per Hello, from ever catching up.
            f.write(f'start_spread_ms = {int(min(600000, n * args.spread_ms_per_device))}\n')
            for i in range(n):
                link = {"at-udp": f'mode = "at"\ntrust_node_udp = "127.0.0.1:{udp_port}"',
                        "soc-udp": f'trust_node_udp = "127.0.0.1:{udp_port}"',
                        "pty": f'link = "{relay.links[i][0]}"' if relay else ""}[args.kind]
                f.write(f'\n[[device]]\nname = "d{i:05d}"\nmodel = "{args.model}"\n{link}\n'
                        f'nvs_dir = "{nvs_root}/d{i:05d}"\nseed = "{i:064x}"\n')
        emu_log = open(os.path.join(work, "emu.stderr"), "w")
        t0 = time.time()
        emu = subprocess.Popen([os.path.join(bin_dir, "iotw-emu"), "--config", pool], stdout=emu_log, stderr=emu_log)
        attached = 0
        deadline = t0 + args.attach_timeout
        while time.time() < deadline:
            if emu.poll() is not None:
                raise RuntimeError(f"iotw-emu exited with {emu.returncode} (see {work}/emu.stderr)")
            attached = health(http_port)["devices_attached"]
            if attached >= n:
                break
            time.sleep(0.5)
        attach_s = time.time() - t0
        if attached < n:
            raise RuntimeError(f"only {attached} of {n} devices attached after {args.attach_timeout} s")
        log(f"{n} devices attached in {attach_s:.1f} s; holding {args.hold} s")
        detached_before = count_events(node_events, "device_detached")
        h0 = health(http_port)
        cpu0 = cpu_s(emu.pid)
        attached_min = n
        samples = []
        t_hold = time.time()
        txs = 0
        while time.time() - t_hold < args.hold:
            txs += submit(http_port, args.tx_per_s * 2, f"{n}-{txs}")
            time.sleep(2)
            attached_min = min(attached_min, health(http_port)["devices_attached"])
            samples.append(rss_kib(emu.pid))
        h1 = health(http_port)
        cpu1 = cpu_s(emu.pid)
        rss = rss_kib(emu.pid)
        roll = smaps_rollup(emu.pid)
        detached = count_events(node_events, "device_detached") - detached_before
        return {"devices": n, "kind": args.kind, "model": args.model, "rss_kib": rss, "rss_max_kib": max(samples),
                "anon_kib": roll.get("Anonymous"), "attach_s": round(attach_s, 1),
                "attached_min_during_hold": attached_min, "detached": detached,
                "blocks_during_hold": h1["height"] - h0["height"], "txs_submitted": txs, "hold_s": args.hold,
                "emu_cpu_share": round((cpu1 - cpu0) / args.hold, 3)}
    finally:
        for p in (emu, node):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (emu, node):
            if p is not None:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if relay:
            relay.close()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--devices", default="1000,5000,10000")
    ap.add_argument("--hold", type=float, default=30)
    ap.add_argument("--kind", choices=["soc-udp", "at-udp", "pty"], default="soc-udp")
    ap.add_argument("--spread-ms-per-device", type=float, default=15,
                    help="the pool's start_spread_ms is N times this (default 15: 10,000 devices power on over 150 s)")
    ap.add_argument("--ledger-on-disk", action="store_true",
                    help="the trust node's SQLite ledger in the run folder (default: tmpfs, /dev/shm)")
    ap.add_argument("--nvs-on-disk", action="store_true",
                    help="the devices' NVS folders in the run folder (default: tmpfs, /dev/shm; fsyncs are free there)")
    ap.add_argument("--emu-events", action="store_true",
                    help="keep the pool's event stream in the run folder (default: /dev/null; 10,000 devices write GBs)")
    ap.add_argument("--model", default="esp8266")
    ap.add_argument("--tx-per-s", type=int, default=50, help="transactions submitted per second while holding")
    ap.add_argument("--device-timeout-ms", type=int, default=15000,
                    help="the node's [consensus] device_timeout_ms (heartbeats every fifth of it; default 15000: every 3 s)")
    ap.add_argument("--attach-timeout", type=float, default=600)
    ap.add_argument("--keep", help="keep the run folders here (default: a temporary folder, removed)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.devices.split(",")]
    tmp = args.keep or tempfile.mkdtemp(prefix="iotw-poolmem.")
    os.makedirs(tmp, exist_ok=True)
    ok = True
    cleanup = []
    try:
        base = run_one(args, 1, tmp, cleanup)
        print(json.dumps(dict(base, baseline=True)), flush=True)
        for n in sizes:
            try:
                r = run_one(args, n, tmp, cleanup)
            except Exception as e:  # the step that broke, named
                log(f"N = {n}: {e}")
                ok = False
                continue
            r["baseline_rss_kib"] = base["rss_kib"]
            r["bytes_per_device"] = round((r["rss_kib"] - base["rss_kib"]) * 1024 / (n - 1))
            print(json.dumps(r), flush=True)
    finally:
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
