#!/usr/bin/env bash
# TAP mode in a network namespace this test creates and deletes itself (issue 4): an ESP32 and an RTL8710 module
# in SoC mode over TAP (iotw-emu: one lwIP process per module) and a trust node on the namespace's bridge.
#   - ping reaches each module's IPv4 address, and `ip neigh` then shows the module's MAC (ARP resolved it);
#   - a tshark capture on tap0 holds the module's ARP reply and ICMP echo replies, and the protocol's UDP both
#     ways, decoded by tools/wireshark/iotw.lua (Hello with the device's name and model from the module's IP/MAC
#     to the node's [udp] port, Challenge/Welcome back).
# Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (CI runs as root): without them `ip netns add` fails and so does the test.
# Usage: tap_netns_test.sh BIN_DIR LUA_DISSECTOR PROTO_DIR NANOPB_PROTO_DIR (the folders of iotw.proto and of
# nanopb.proto, which it imports: Wireshark's protobuf dissector decodes the Envelope, docs/faults.md)
set -euo pipefail
BIN=$1
LUA=$2
PROTO_DIR=$3
NANOPB_PROTO_DIR=$4
NS="iotw-test-$$-0"
WORK=$(mktemp -d /tmp/iotw-tap-test.XXXXXX)
PIDS=()
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

for tool in ip ping tshark; do command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || fail "$tool is not installed (scripts/setup.sh)"; done
ip netns add "$NS" || fail "cannot create network namespace $NS (needs CAP_NET_ADMIN and CAP_SYS_ADMIN: run as root)"
ip -n "$NS" -batch - <<EOF
link set lo up
link add iotwbr0 type bridge
addr add 10.91.0.1/24 dev iotwbr0
link set iotwbr0 up
tuntap add dev tap0 mode tap
link set tap0 master iotwbr0
link set tap0 up
tuntap add dev tap1 mode tap
link set tap1 master iotwbr0
link set tap1 up
EOF
in_ns() { ip netns exec "$NS" "$@"; }

PORT=40917
ESP_MAC=24:0a:c4:12:34:01
RTL_MAC=00:e0:4c:12:34:02
cat >"$WORK/trust_node.toml" <<EOF
[node]
db = "$WORK/ledger.sqlite"
seed = 3
events = "$WORK/node.events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "$WORK/http.port"
[udp]
listen = "10.91.0.1:$PORT"
[consensus]
witnesses = 1
EOF
cat >"$WORK/emu.toml" <<EOF
events = "$WORK/emu.events.jsonl"
[[device]]
name = "esp32-tap-01"
model = "esp32"
tap = "tap0"
ip = "10.91.0.2/24"
mac = "$ESP_MAC"
trust_node_udp = "10.91.0.1:$PORT"
nvs_dir = "$WORK/nvs/esp32-tap-01"
[[device]]
name = "rtl8710-tap-01"
model = "rtl8710"
tap = "tap1"
ip = "10.91.0.3/24"
mac = "$RTL_MAC"
trust_node_udp = "10.91.0.1:$PORT"
nvs_dir = "$WORK/nvs/rtl8710-tap-01"
EOF

# Background jobs are started with `ip netns exec` directly (not through in_ns), so $! is the program itself.
# Capture tap0 from before the module boots (its gratuitous ARP and first Hello included).
ip netns exec "$NS" tshark -i tap0 -w "$WORK/tap0.pcapng" -q 2>"$WORK/tshark.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "Capturing on" "$WORK/tshark.err" && break; sleep 0.1; done
grep -q "Capturing on" "$WORK/tshark.err" || fail "tshark did not start capturing: $(cat "$WORK/tshark.err")"

ip netns exec "$NS" "$BIN/iotw-trust-node" --config "$WORK/trust_node.toml" >"$WORK/node.out" 2>"$WORK/node.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q '"udp_listening"' "$WORK/node.events.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"udp_listening"' "$WORK/node.events.jsonl" || fail "the trust node does not listen on UDP: $(cat "$WORK/node.err")"
ip netns exec "$NS" "$BIN/iotw-emu" --config "$WORK/emu.toml" >"$WORK/emu.out" 2>"$WORK/emu.err" &
PIDS+=($!)
EMU_PID=$!

attached() { grep -h '"kind":"state"' "$WORK/emu.events.jsonl" 2>/dev/null | grep '"attached"' | grep -c "emu:$1\"" || true; }
for _ in $(seq 150); do
  [ "$(attached esp32-tap-01)" -ge 1 ] && [ "$(attached rtl8710-tap-01)" -ge 1 ] && break
  kill -0 "$EMU_PID" 2>/dev/null || fail "iotw-emu exited: $(cat "$WORK/emu.err")"
  sleep 0.1
done
[ "$(attached esp32-tap-01)" -ge 1 ] || fail "esp32-tap-01 never attached: $(tail -5 "$WORK/emu.events.jsonl")"
[ "$(attached rtl8710-tap-01)" -ge 1 ] || fail "rtl8710-tap-01 never attached"
grep -q '"link":"udp:10.91.0.2:' "$WORK/node.events.jsonl" || fail "the trust node did not register esp32-tap-01 from 10.91.0.2"
grep -q '"link":"udp:10.91.0.3:' "$WORK/node.events.jsonl" || fail "the trust node did not register rtl8710-tap-01 from 10.91.0.3"

# ping: lwIP answers ICMP echo; the kernel resolves the module's MAC with ARP first.
for pair in "10.91.0.2 $ESP_MAC" "10.91.0.3 $RTL_MAC"; do
  set -- $pair
  # The kernel may have learnt the MAC from the module's own ARP traffic (its gratuitous ARP, its request for the
  # bridge): forget it, so this ping has to resolve the module with ARP (lwIP's etharp answers).
  ip -n "$NS" neigh flush to "$1"
  in_ns ping -c 5 -i 0.2 -W 2 "$1" >"$WORK/ping.out" || fail "ping $1 failed: $(cat "$WORK/ping.out")"
  grep -q " 0% packet loss" "$WORK/ping.out" || fail "ping $1 lost packets: $(cat "$WORK/ping.out")"
  echo "ping $1: $(grep rtt "$WORK/ping.out")"
  neigh=$(ip -n "$NS" neigh show "$1")
  echo "ip neigh: $neigh"
  [[ "$neigh" == *"lladdr $2"* ]] || fail "ip neigh for $1 does not show $2: '$neigh'"
done

sleep 1.5  # a heartbeat or two more on the capture
kill -TERM "${PIDS[0]}"  # (a background job ignores SIGINT)
wait "${PIDS[0]}" || true
[ -s "$WORK/tap0.pcapng" ] || fail "no capture written"

count() { tshark -r "$WORK/tap0.pcapng" -Y "$1" 2>/dev/null | wc -l; }
[ "$(count "arp.opcode == 2 && arp.src.hw_mac == $ESP_MAC && arp.src.proto_ipv4 == 10.91.0.2")" -ge 1 ] \
  || fail "no ARP reply from the module on tap0"
[ "$(count "icmp.type == 0 && ip.src == 10.91.0.2 && eth.src == $ESP_MAC")" -ge 5 ] || fail "fewer than 5 echo replies on tap0"
[ "$(count "ip.src == 10.91.0.3 && ip.dst == 10.91.0.1")" -eq 0 ] || fail "tap0 carried the other module's traffic (each module has its own TAP)"

fields=$(tshark -X "lua_script:$LUA" -o "uat:protobuf_search_paths:\"$PROTO_DIR\",\"TRUE\"" \
  -o "uat:protobuf_search_paths:\"$NANOPB_PROTO_DIR\",\"FALSE\"" -o protobuf.preload_protos:TRUE -o protobuf.pbf_as_hf:TRUE \
  -r "$WORK/tap0.pcapng" -Y iotw -T fields -E separator='|' -e eth.src -e ip.src -e ip.dst -e udp.srcport \
  -e udp.dstport -e iotw.crc_ok -e protobuf.message.name -e pbf.iotw.v1.Hello.name -e pbf.iotw.v1.Hello.model \
  2>"$WORK/tshark-fields.err" | sed 's/|iotw\.v1\.Envelope,iotw\.v1\./|/')
! grep -q Protobuf "$WORK/tshark-fields.err" || fail "the protobuf dissector did not load iotw.proto: $(cat "$WORK/tshark-fields.err")"
head -8 <<<"$fields"  # (here-strings, not pipes: a grep -q or head that quits early must not fail a writer)
hello=$(grep -m1 '|Hello|' <<<"$fields" || true)
[ -n "$hello" ] || fail "no IOTW Hello decoded on tap0"
IFS='|' read -r h_mac h_src h_dst h_sport h_dport h_crc h_msg h_name h_model <<<"$hello"
[ "$h_mac" = "$ESP_MAC" ] || fail "Hello from MAC $h_mac, expected $ESP_MAC"
[ "$h_src" = 10.91.0.2 ] && [ "$h_dst" = 10.91.0.1 ] && [ "$h_dport" = "$PORT" ] || fail "Hello went $h_src -> $h_dst:$h_dport"
[ "$h_crc" = 1 ] || [ "$h_crc" = True ] || fail "Hello CRC not valid ($h_crc)"
[ "$h_name" = esp32-tap-01 ] && [ "$h_model" = esp32 ] || fail "Hello carries name '$h_name' model '$h_model'"
for m in Challenge Welcome; do
  grep -q "|10.91.0.1|10.91.0.2|$PORT|$h_sport|[^|]*|$m|" <<<"$fields" || fail "no $m from the trust node to the module's port $h_sport"
done
grep -q "|Prove|" <<<"$fields" || fail "no Prove decoded"
grep -q "|Heartbeat|" <<<"$fields" || fail "no Heartbeat decoded"

# The modules stop with the pool.
kill -TERM "$EMU_PID"
wait "$EMU_PID" || fail "iotw-emu exited with $? on SIGTERM"
[ "$(grep -c '"kind":"tap_stopped"' "$WORK/emu.events.jsonl")" -eq 2 ] || fail "not every TAP module process stopped cleanly"
echo "PASS: ping, ARP and the protocol's UDP over TAP in $NS"
