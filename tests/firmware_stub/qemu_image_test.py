#!/usr/bin/python3
"""The Cortex-M3 firmware image against its contract (docs/firmware.md "The Cortex-M3 image in QEMU"), in the real
qemu-system-arm: arguments, the first Hello on UART0 (COBS, CRC-32, the name and the key in it), the log on UART1,
the identity derived from seed= and kept in the NVS files across a restart and a QMP system_reset, the reset_reason
file, and the panics on bad arguments.

usage: qemu_image_test.py IMAGE    (exit 0 pass, 1 fail, 77 skip when qemu-system-arm is missing)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib

QEMU = shutil.which("qemu-system-arm")
SEED_A = "07" * 32
SEED_B = "08" * 32
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def cobs_decode(data):
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside a COBS frame")
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def frames(raw):
    """Payloads of the whole frames in raw whose CRC-32 matches."""
    good = []
    for chunk in raw.split(b"\0")[:-1]:
        if not chunk:
            continue
        body = cobs_decode(chunk)
        payload, crc = body[:-4], int.from_bytes(body[-4:], "little")
        if zlib.crc32(payload) == crc:
            good.append(payload)
    return good


def run(image, cwd, args, seconds=1.5, qmp=None, during=None):
    """Run the image for about `seconds` (or until it exits); returns (exit status or None, log text, link bytes)."""
    for f in ("link.bin", "log.txt"):
        if os.path.exists(os.path.join(cwd, f)):
            os.remove(os.path.join(cwd, f))
    cmd = [QEMU, "-M", "lm3s6965evb", "-display", "none", "-monitor", "none", "-kernel", image,
           "-semihosting-config", "enable=on,target=native", "-append", args,
           "-serial", "file:link.bin", "-serial", "file:log.txt"]
    if qmp:
        cmd += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if during:
            during()
        status = p.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait(timeout=10)
        status = None
    with open(os.path.join(cwd, "log.txt")) as f:
        log = f.read()
    with open(os.path.join(cwd, "link.bin"), "rb") as f:
        link = f.read()
    return status, log, link


def log_value(log, event, key):
    for line in log.splitlines():
        f = line.split()
        if len(f) >= 2 and f[1] == event:
            for kv in f[2:]:
                if kv.startswith(key + "="):
                    return kv[len(key) + 1:]
    return None


def qmp_system_reset(path):
    for _ in range(100):
        if os.path.exists(path):
            break
        time.sleep(0.02)
    time.sleep(0.8)  # let the first boot write its identity
    with open(os.path.join(os.path.dirname(path), "reset_reason"), "w") as f:
        f.write("3")
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    r = s.makefile("rw")
    json.loads(r.readline())  # greeting
    for cmd in ("qmp_capabilities", "system_reset"):
        r.write(json.dumps({"execute": cmd}) + "\n")
        r.flush()
        while True:
            msg = json.loads(r.readline())
            if "return" in msg or "error" in msg:
                check("return" in msg, f"QMP {cmd} accepted")
                break
    s.close()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    image = os.path.abspath(sys.argv[1])
    if not QEMU:
        print("SKIP: qemu-system-arm is missing (Debian package qemu-system-arm; scripts/setup.sh installs it)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
            tempfile.TemporaryDirectory() as c:
        # First boot: identity created from seed=, a Hello every second on UART0.
        status, log, link = run(image, a, f"name=qemu-t1 seed={SEED_A}")
        check(status is None, "the image keeps running")
        check(log.startswith("info boot reset_reason=1\n"), "the log starts with the power-on boot line")
        pk = log_value(log, "identity_created", "pubkey")
        check(pk is not None and len(pk) == 64, "a first boot creates an identity and logs its key")
        hellos = frames(link)
        check(len(hellos) >= 1, f"UART0 carries whole frames with a good CRC-32 ({len(hellos)})")
        check(bool(hellos) and b"qemu-t1" in hellos[0] and bytes.fromhex(pk or "00") in hellos[0],
              "the first frame is a Hello with the name and the key")
        check(os.path.exists(os.path.join(a, "nvs.id.seed")), "the identity is in the NVS file nvs.id.seed")
        # The same seed in another folder: the same identity; another seed: another one.
        _, log_b, _ = run(image, b, f"name=qemu-t1 seed={SEED_A}")
        check(log_value(log_b, "identity_created", "pubkey") == pk, "the same seed gives the same identity")
        _, log_c, _ = run(image, c, f"name=qemu-t1 seed={SEED_B}")
        check(log_value(log_c, "identity_created", "pubkey") not in (None, pk), "another seed, another identity")
        # A restart keeps it (NVS files), counts the boot, and the reset_reason file is taken once.
        with open(os.path.join(a, "reset_reason"), "w") as f:
            f.write("3")
        _, log, link = run(image, a, f"name=qemu-t1 seed={SEED_A}")
        check(log.startswith("info boot reset_reason=3\n"), "the reset_reason file sets the reason")
        check(not os.path.exists(os.path.join(a, "reset_reason")), "and is removed")
        check(log_value(log, "identity_loaded", "pubkey") == pk, "a restart loads the same identity")
        check(log_value(log, "boot", "boot_count") == "2", "boot_count counts the restart")
        # QMP system_reset with reset_reason 3: a second boot in the same process, same identity.
        qmp = os.path.join(a, "qmp.sock")
        _, log, _ = run(image, a, f"name=qemu-t1 seed={SEED_A}", seconds=2.5, qmp=qmp,
                        during=lambda: qmp_system_reset(qmp))
        boots = [l for l in log.splitlines() if l.startswith("info boot reset_reason=")]
        check(boots == ["info boot reset_reason=1", "info boot reset_reason=3"],
              f"system_reset reboots the machine with reason 3 ({boots})")
        check(log.count("identity_loaded pubkey=" + pk) == 2, "the identity survives system_reset")
        # Bad arguments: a panic line and exit status 1.
        for args, why in ((f"seed={SEED_A}", "name= is required"), ("name=x seed=12", "seed= needs"),
                          (f"name=x seed={SEED_A} colour=red", "unknown argument colour=red"),
                          (f"name=x seed={SEED_A} node_pubkey=zz", "node_pubkey= needs")):
            status, log, _ = run(image, c, args, seconds=10)
            check(status == 1 and log.startswith("error panic") and why in log,
                  f"'{args[:30]}...' panics with '{why}' and exit status 1 (status {status}, log {log.strip()!r})")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
