#!/usr/bin/python3
"""A Yeelight LAN client (plain socket + JSON, as the community scripts do) against the bulb emulator.

  yeelight_client.py DISCOVERY_HOST:PORT

Finds the bulb with an M-SEARCH to the discovery endpoint (unicast: SSDP multicast is not loopback-safe),
connects to the Location it answers, sets power / brightness / colour temperature / RGB / name, reads
them back with get_prop, and checks the error replies. Exit 0 = all good, else prints the failed check."""
import json
import socket
import sys


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


class Bulb:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=3)
        self.buf = b""
        self.next_id = 1

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("bulb closed the connection")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\r\n", 1)
        return json.loads(raw)

    def send_raw(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        while True:  # skip "props" notifications, return the RESULT
            msg = self.line()
            if "id" in msg:
                return msg

    def call(self, method, *params):
        i = self.next_id
        self.next_id += 1
        reply = self.send_raw(json.dumps({"id": i, "method": method, "params": list(params)}))
        check(reply.get("id") == i, f"{method}: reply id {reply.get('id')} == {i}")
        return reply


def discover(endpoint):
    host, port = endpoint.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1982\r\nMAN: "ssdp:discover"\r\nST: wifi_bulb\r\n',
             (host, int(port)))
    data, _ = s.recvfrom(4096)
    lines = data.decode().split("\r\n")
    check(lines[0] == "HTTP/1.1 200 OK", "discovery start line")
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    check("set_bright" in headers["support"], "support lists set_bright")
    loc = headers["location"]
    check(loc.startswith("yeelight://"), f"Location {loc}")
    h, p = loc[len("yeelight://"):].rsplit(":", 1)
    return h, int(p)


def main():
    host, port = discover(sys.argv[1])
    b = Bulb(host, port)
    check(b.call("set_power", "on", "smooth", 500)["result"] == ["ok"], "set_power on")
    check(b.call("set_bright", 42, "smooth", 500)["result"] == ["ok"], "set_bright 42")
    check(b.call("set_ct_abx", 2700, "sudden", 30)["result"] == ["ok"], "set_ct_abx 2700")
    check(b.call("set_name", "desk")["result"] == ["ok"], "set_name desk")
    props = b.call("get_prop", "power", "bright", "ct", "color_mode", "name", "not_exist")["result"]
    check(props == ["on", "42", "2700", "2", "desk", ""], f"get_prop {props}")
    check(b.call("set_rgb", 0x00FF00, "smooth", 300)["result"] == ["ok"], "set_rgb green")
    check(b.call("get_prop", "rgb", "color_mode")["result"] == ["65280", "1"], "rgb read back, colour mode 1")

    check(b.call("start_cf", 1, 0, "500,1,255,100")["error"]["code"] == -1, "unsupported method -> -1")
    check(b.call("set_bright", 0, "smooth", 500)["error"]["message"] == "invalid params", "bright 0 refused")
    check(b.call("set_ct_abx", 9000, "smooth", 500)["error"]["message"] == "invalid params", "ct 9000 refused")
    check(b.send_raw("{not json")["error"]["message"] == "invalid command", "bad JSON -> invalid command")
    check(b.call("toggle")["result"] == ["ok"], "toggle (off)")
    check(b.call("set_bright", 10, "smooth", 500)["error"]["message"] == "bulb is off", "set_bright while off")
    check(b.call("get_prop", "power", "bright")["result"] == ["off", "42"], "state kept across refused commands")
    print("PASS")


if __name__ == "__main__":
    main()
