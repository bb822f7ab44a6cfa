#!/usr/bin/env python3
"""The console's cost and responsiveness (issue 13, bench/RESULTS.md "Console"):

1. CPU: a held rig of N devices (default 100, PTY links, traffic on) runs; `iotw console --attach` shows it in
   a 120x40 tmux pane; the console's user+system CPU time over --seconds, as a share of one core (from
   /proc/PID/stat; its terminal watchdog process only waits on a pipe and is not counted).
2. Latency: --presses times, a key (`r`, reboot the selected device; `j` moves to the next device between
   presses, not timed) is sent with `tmux send-keys`; the time from just before send-keys to the
   `console_action` event's time_ms (both the host's clock), read from harness.sock `events`.

Usage: bench/console_bench.py --iotw build/bin/iotw [--devices 100] [--seconds 30] [--presses 20]
Needs tmux. Leaves its run folder (--work, default /tmp/iotw-console-bench) for a look at events.jsonl."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time


def request(sock_file, req):
    sock_file.write((json.dumps(req) + "\n").encode())
    sock_file.flush()
    return json.loads(sock_file.readline())


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iotw", required=True)
    ap.add_argument("--rig-iotw", help="the iotw that runs the held rig (default: --iotw)")
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--work", default="/tmp/iotw-console-bench")
    a = ap.parse_args()
    iotw = os.path.abspath(a.iotw)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    run_dir = os.path.join(a.work, "run")
    rig = os.path.join(a.work, "console_bench.toml")
    half = a.devices // 2
    with open(rig, "w") as f:
        f.write(f"""[rig]
name = "console_bench"
description = "{a.devices} devices held for the console benchmark"
deadline_s = 600

[trust_node]
witnesses = 3
block_interval_ms = 50

[[devices]]
name_prefix = "esp8266"
model = "esp8266"
link = "pty"
count = {half}

[[devices]]
name_prefix = "esp32"
model = "esp32"
link = "pty"
count = {a.devices - half}

[traffic]
tx_per_s = 50
payload_bytes = 48

[target]
blocks = 5

[pass]
blocks_finalized_min = 5
""")
    rig_log = open(os.path.join(a.work, "rig.log"), "w")
    rig_iotw = os.path.abspath(a.rig_iotw or a.iotw)
    rig_proc = subprocess.Popen([rig_iotw, "rig", "run", "--hold", rig, "--out", run_dir, "--seed", "3"],
                                stdout=rig_log, stderr=subprocess.STDOUT)
    sock_path = os.path.join(run_dir, "harness.sock")
    tmux = ["tmux", "-L", "iotw-console-bench-%d" % os.getpid()]
    try:
        s = None
        for _ in range(1200):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock_path)
                break
            except OSError:
                s = None
                if rig_proc.poll() is not None:
                    sys.exit("the rig ended: see %s/rig.log" % a.work)
                time.sleep(0.1)
        if s is None:
            sys.exit("no harness.sock after 120 s")
        sf = s.makefile("rwb")
        # Wait until every device is attached and blocks flow.
        for _ in range(1200):
            st = request(sf, {"cmd": "status"})
            if st.get("devices_attached", 0) >= a.devices and st.get("height", 0) >= 5:
                break
            time.sleep(0.1)
        pid_file = os.path.join(a.work, "console.pid")
        subprocess.check_call(tmux + ["-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "120", "-y", "40",
                                      "sh -c 'echo $$ > %s; exec %s console --attach %s'" % (pid_file, iotw, run_dir)])
        for _ in range(100):
            if os.path.exists(pid_file) and open(pid_file).read().strip():
                break
            time.sleep(0.1)
        pid = int(open(pid_file).read())
        time.sleep(3)  # the console's first drain of the event backlog is not the steady state
        c0, w0 = cpu_seconds(pid), time.monotonic()
        time.sleep(a.seconds)
        c1, w1 = cpu_seconds(pid), time.monotonic()
        cpu_pct = 100.0 * (c1 - c0) / (w1 - w0)
        load = os.getloadavg()
        st = request(sf, {"cmd": "status"})
        print("console CPU: %.2f%% of one core over %.0f s (%d devices attached, height %d, %.0f tx/s, load %.2f)"
              % (cpu_pct, w1 - w0, st.get("devices_attached", 0), st.get("height", 0), st.get("tx_per_s", 0), load[0]))

        cursor = request(sf, {"cmd": "events", "since": 0, "max": 1})["next"]
        cursor = max(cursor, 0)
        # Skip to the live end of the stream.
        while True:
            r = request(sf, {"cmd": "events", "since": cursor, "max": 10000})
            cursor = r["next"]
            if len(r["events"]) < 10000:
                break
        latencies = []
        for i in range(a.presses):
            subprocess.check_call(tmux + ["send-keys", "-t", "b", "j"])
            time.sleep(0.3)
            t0 = time.time() * 1000
            subprocess.check_call(tmux + ["send-keys", "-t", "b", "r"])
            found = None
            deadline = time.time() + 10
            while found is None and time.time() < deadline:
                r = request(sf, {"cmd": "events", "since": cursor, "max": 10000})
                cursor = r["next"]
                for e in r["events"]:
                    if e.get("kind") == "console_action":
                        found = e
                if found is None:
                    time.sleep(0.002)
            if found is None:
                print("press %d: no console_action within 10 s" % (i + 1))
                continue
            latencies.append(found["time_ms"] - t0)
            time.sleep(0.5)
        if latencies:
            latencies.sort()
            print("key -> console_action: n %d, median %.1f ms, p90 %.1f ms, max %.1f ms"
                  % (len(latencies), statistics.median(latencies), latencies[int(0.9 * (len(latencies) - 1))],
                     latencies[-1]))
        request(sf, {"cmd": "stop"})
    finally:
        sock = subprocess.run(tmux + ["display-message", "-p", "#{socket_path}"], capture_output=True, text=True).stdout.strip()
        subprocess.call(tmux + ["kill-server"], stderr=subprocess.DEVNULL)
        if sock:
            try:
                os.unlink(sock)  # tmux leaves its socket file behind
            except OSError:
                pass
        try:
            rig_proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            rig_proc.terminate()
            rig_proc.wait()


if __name__ == "__main__":
    main()
