#!/usr/bin/python3
"""Drives an AT-mode module of the real iotw-emu through socat, as a host MCU script would.

  at_session.py esp8266|rtl8710 PTY SSID PASSWORD

socat bridges this script's pipes to the module's PTY (raw, no echo). Every response is checked byte for
byte against docs/emulators.md "AT mode" (../shared/reference/esp_at.md, realtek_at.md). The trust node
side is played by UDP and TCP sockets on 127.0.0.1. Exit 0 = all good, else prints the failed check."""
import os
import select
import socket
import subprocess
import sys
import time


def fail(what):
    print("FAIL:", what)
    sys.exit(1)


class Line:
    """The host end of the module's UART, through socat."""

    def __init__(self, pty):
        self.p = subprocess.Popen(["socat", "-", pty + ",raw,echo=0"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, bufsize=0)
        self.buf = b""

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=5)

    def write(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.p.stdout], [], [], left)
        if r:
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                fail("socat closed the line")
            self.buf += chunk
        return True

    def until(self, marker, timeout=10.0):
        """Everything up to and including marker."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if not self._fill(deadline):
                fail(f"no {marker!r} within {timeout} s; got {self.buf!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, expected, what, timeout=10.0):
        """The next len(expected) bytes must be expected."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < len(expected):
            if not self._fill(deadline):
                break
        got, self.buf = self.buf[:len(expected)], self.buf[len(expected):]
        if got != expected:
            fail(f"{what}: expected {expected!r}, got {got!r} (then {self.buf!r})")
        print("ok:", what)

    def settle(self, quiet=0.3):
        """Drops what arrives until the line has been quiet for `quiet` s."""
        while True:
            r, _, _ = select.select([self.p.stdout], [], [], quiet)
            if not r:
                self.buf = b""
                return
            self.buf += os.read(self.p.stdout.fileno(), 4096)

    def cmd(self, line, expected, what):
        self.write(line)
        self.exact(expected, what)


def sync(line, probe, answer):
    """The module drops input while it boots: probe until it answers, then start from a quiet line."""
    for _ in range(100):
        line.write(probe)
        time.sleep(0.1)
        line._fill(time.monotonic() + 0.1)
        if answer in line.buf:
            line.settle()
            return
    fail(f"module never answered {probe!r}: {line.buf!r}")


def udp_peer():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    return s


def esp(line, ssid, password):
    sync(line, b"AT\r\n", b"OK\r\n")
    line.cmd(b"AT+RST\r\n", b"AT+RST\r\n\r\nOK\r\n", "AT+RST answers OK (echo on)")
    boot = line.until(b"\r\nready\r\n")
    if b"rst cause:2" not in boot:
        fail(f"software-reset ROM line missing: {boot!r}")
    print("ok: reboot banner ends in ready")
    line.cmd(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n", "ATE0 (still echoed)")
    line.cmd(b"AT\r\n", b"\r\nOK\r\n", "AT without echo")
    line.cmd(b"AT+GMR\r\n",
             b"AT version:2.2.0.0-dev(ca41ec4 - ESP8266 - Sep 16 2020 11:28:17)\r\n"
             b"SDK version:v4.0.1-193-ge7ac221b4\r\n"
             b"compile time(98b95fc):Oct 29 2020 11:23:25\r\n"
             b"Bin version:2.1.0(WROOM-02)\r\n\r\nOK\r\n", "AT+GMR")
    line.cmd(b"AT+NOSUCH\r\n", b"\r\nERROR\r\n", "unknown command")
    line.cmd(b"AT+CWMODE=1\r\n", b"\r\nOK\r\n", "AT+CWMODE=1")
    line.cmd(b'AT+CWJAP="%s","wrong-password"\r\n' % ssid, b"+CWJAP:2\r\n\r\nERROR\r\n", "wrong password: +CWJAP:2")
    line.cmd(b'AT+CWJAP="no-such-ap","%s"\r\n' % password, b"+CWJAP:3\r\n\r\nERROR\r\n", "unknown AP: +CWJAP:3")
    line.cmd(b'AT+CWJAP="%s","%s"\r\n' % (ssid, password), b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n", "join")
    line.cmd(b"AT+CIPMUX=0\r\n", b"\r\nOK\r\n", "AT+CIPMUX=0")

    node = udp_peer()
    port = node.getsockname()[1]
    line.cmd(b'AT+CIPSTART="UDP","127.0.0.1",%d\r\n' % port, b"CONNECT\r\n\r\nOK\r\n", "AT+CIPSTART UDP")
    payload = bytes([0x00, 0x7E, 0x0D, 0x0A, 0xFF]) + b"frame"
    line.cmd(b"AT+CIPSEND=%d\r\n" % len(payload), b"\r\nOK\r\n\r\n>", "CIPSEND prompt")
    line.cmd(payload, b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(payload), "Recv n bytes / SEND OK")
    data, module = node.recvfrom(4096)
    if data != payload or module[0] != "127.0.0.1":
        fail(f"datagram at the trust node: {data!r} from {module}")
    print("ok: the datagram reached the trust node socket")
    node.sendto(b"\x01reply\r\n", module)
    line.exact(b"\r\n+IPD,8:\x01reply\r\n", "+IPD single link")
    line.cmd(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n", "AT+CIPCLOSE")

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    line.cmd(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n", "AT+CIPMUX=1")
    line.cmd(b'AT+CIPSTART=2,"TCP","127.0.0.1",%d\r\n' % srv.getsockname()[1], b"2,CONNECT\r\n\r\nOK\r\n",
             "AT+CIPSTART TCP link 2")
    conn, _ = srv.accept()
    conn.settimeout(5)
    line.cmd(b"AT+CIPSEND=2,4\r\n", b"\r\nOK\r\n\r\n>", "CIPSEND link 2")
    line.cmd(b"ping", b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n", "TCP SEND OK")
    if conn.recv(16) != b"ping":
        fail("TCP data at the server")
    conn.sendall(b"pong")
    line.exact(b"\r\n+IPD,2,4:pong", "+IPD multi link")
    conn.close()
    line.exact(b"2,CLOSED\r\n", "remote close: 2,CLOSED")
    line.cmd(b"AT+CWQAP\r\n", b"\r\nOK\r\nWIFI DISCONNECT\r\n", "AT+CWQAP")


def rtl(line, ssid, password):
    P = b"\r\n\n# "
    sync(line, b"AT\r", b"[AT] OK")
    line.cmd(b"ATSR\r", b"ATSR\r\n[ATSR] OK", "ATSR")
    line.exact(b"\r\nAT COMMAND READY" + P, "boot banner")
    line.cmd(b"AT\r", b"AT\r\n[AT] OK" + P, "AT with echo")
    line.cmd(b"ATSE=0\r", b"ATSE=0\r\n[ATSE] OK" + P, "ATSE=0")
    line.cmd(b"ATSV\r", b"\r\n[ATSV] OK:v2.2.1,v4.0b(Jul  4 2018 10:00:00)" + P, "ATSV")
    line.cmd(b"ATXX\r", b"\r\nunknown command 'ATXX'" + P, "unknown command")
    line.cmd(b"ATPW=1\r", b"\r\n[ATPW] OK" + P, "ATPW=1")
    line.cmd(b"ATPN=%s,wrong-password\r" % ssid, b"\r\n[ATPN] ERROR:4" + P, "wrong password: ERROR:4")
    line.cmd(b"ATPN=%s,%s\r" % (ssid, password), b"\r\n[ATPN] OK" + P, "ATPN join")

    node = udp_peer()
    port = node.getsockname()[1]
    line.cmd(b"ATPC=1,127.0.0.1,%d\r" % port, P, "ATPC prompt")
    line.exact(b"\r\n[ATPC] OK\r\n[ATPC] con_id=1" + P, "ATPC con_id=1")
    payload = b"Hello\r\nRealtek\x00!"
    line.cmd(b"ATPT=%d,1:" % len(payload) + payload, b"\r\n[ATPT] OK,1" + P, "ATPT")
    data, module = node.recvfrom(4096)
    if data != payload:
        fail(f"datagram at the trust node: {data!r}")
    print("ok: the datagram reached the trust node socket")
    node.sendto(b"12345678", module)
    for _ in range(50):  # ATPR polls: the datagram may still be on its way to the module
        line.write(b"ATPR=1,1500\r")
        got = line.until(P)
        if got == b"\r\n[ATPR] OK,8,1:12345678" + P:
            print("ok: ATPR returns the reply")
            break
        if got != b"\r\n[ATPR] OK,0,1:" + P:
            fail(f"ATPR: {got!r}")
        time.sleep(0.05)
    else:
        fail("the reply never arrived")
    line.cmd(b"ATPK=1\r", b"\r\n[ATPK] OK" + P, "ATPK=1")
    node.sendto(b"auto", module)
    line.exact(b"\r\n[ATPR] OK,4,1:auto" + P, "auto-receive")
    line.cmd(b"ATPI\r", b"\r\ncon_id:1,client,udp,address:127.0.0.1,port:%d,socket:0\r\n[ATPI] OK" % port + P, "ATPI")
    line.cmd(b"ATPD=1\r", b"\r\n[ATPD] OK" + P, "ATPD=1")
    line.cmd(b"ATWD\r", b"\r\n[ATWD] OK" + P, "ATWD")


def main():
    model, pty, ssid, password = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
    line = Line(pty)
    try:
        (esp if model.startswith("esp") else rtl)(line, ssid, password)
    finally:
        line.close()
    print("all good")


if __name__ == "__main__":
    main()
