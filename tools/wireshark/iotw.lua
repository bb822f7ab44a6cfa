-- Wireshark/tshark dissector for IOTW links captured by the IOTW Rig harness (links.pcapng): serial frames
-- and, heuristically, UDP datagrams (AT-mode and TAP devices; also live captures of the trust node's port).
-- Capture format (harness/runner/link_capture.hpp): link type LINKTYPE_USER0 (147); each packet is one
-- direction byte (0 = trust node -> device, 1 = device -> trust node) and one frame as it crossed the link:
-- COBS(payload || CRC-32(payload) LE) || 0x00 (docs/protocol.md §2). UDP links are LINKTYPE_IPV4 packets whose
-- datagram is payload || CRC-32(payload) LE.
-- This script owns the framing (COBS, CRC-32, direction). The payload, a protobuf Envelope, is decoded by
-- Wireshark's own protobuf dissector from protocol/proto/iotw.proto, so the decoding follows the schema; its
-- fields are pbf.iotw.v1.<Message>.<field> (e.g. pbf.iotw.v1.Hello.name) and protobuf.message.name.
-- The protobuf dissector needs the schema's folder and nanopb.proto's (iotw.proto imports it) on its search
-- path, and two preferences; from the source root (Debian's nanopb package puts nanopb.proto in the folder below):
--   tshark -X lua_script:tools/wireshark/iotw.lua \
--     -o "uat:protobuf_search_paths:\"$PWD/protocol/proto\",\"TRUE\"" \
--     -o 'uat:protobuf_search_paths:"/usr/lib/python3/dist-packages/proto","FALSE"' \
--     -o protobuf.preload_protos:TRUE -o protobuf.pbf_as_hf:TRUE \
--     -r links.pcapng -T fields -e iotw.direction -e protobuf.message.name -e pbf.iotw.v1.Hello.name
-- (Wireshark: Preferences > Protocols > ProtoBuf, the same search paths and both check boxes.) docs/faults.md.
local iotw = Proto("iotw", "IOTW link frame")

local directions = { [0] = "trust node -> device", [1] = "device -> trust node" }
local f = {
  direction = ProtoField.uint8("iotw.direction", "Direction", base.DEC, directions),
  frame_len = ProtoField.uint32("iotw.frame_len", "Frame length (COBS, with delimiter)"),
  payload_len = ProtoField.uint32("iotw.payload_len", "Payload length"),
  crc = ProtoField.uint32("iotw.crc", "CRC-32", base.HEX),
  crc_ok = ProtoField.bool("iotw.crc_ok", "CRC-32 valid"),
  error = ProtoField.string("iotw.error", "Frame error"),
}
iotw.fields = { f.direction, f.frame_len, f.payload_len, f.crc, f.crc_ok, f.error }
local no_schema = ProtoExpert.new("iotw.no_schema", "No Envelope member decoded (is protocol/proto on the " ..
  "protobuf search path? docs/faults.md)", expert.group.UNDECODED, expert.severity.WARN)
iotw.experts = { no_schema }

local protobuf = Dissector.get("protobuf")
local interface_name = Field.new("frame.interface_name")
local packet_direction = Field.new("frame.packet_flags_direction")  -- pcapng EPB flags: 1 inbound, 2 outbound
local message_name = Field.new("protobuf.message.name")
local envelope_type = "message,iotw.v1.Envelope"  -- protocol/proto/iotw.proto: package iotw.v1

local band, bxor, rshift = bit32.band, bit32.bxor, bit32.rshift
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) == 1 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
  end
  crc_table[i] = c
end
local function crc32(bytes, n)  -- bytes: ByteArray, first n used
  local c = 0xFFFFFFFF
  for i = 0, n - 1 do c = bxor(crc_table[band(bxor(c, bytes:get_index(i)), 0xFF)], rshift(c, 8)) end
  return bxor(c, 0xFFFFFFFF)
end
local function le32(bytes, at)
  return bytes:get_index(at) + bytes:get_index(at + 1) * 256 + bytes:get_index(at + 2) * 65536 +
    bytes:get_index(at + 3) * 16777216
end

-- COBS decode of tvb[first, last] (no delimiter); returns a ByteArray, or nil when the encoding is broken.
local function cobs_decode(tvb, first, last)
  local out, i = ByteArray.new(), first
  local function put(b) local n = out:len(); out:set_size(n + 1); out:set_index(n, b) end
  while i <= last do
    local code = tvb(i, 1):uint()
    if code == 0 then return nil end
    i = i + 1
    for _ = 1, code - 1 do
      if i > last then return nil end
      put(tvb(i, 1):uint()); i = i + 1
    end
    if code < 0xFF and i <= last then put(0) end
  end
  return out
end

-- Hands the Envelope in `payload` (a Tvb) to the protobuf dissector and names the message in the Info column.
local function dissect_envelope(payload, pinfo, tree, t, arrow)
  pinfo.private["pb_msg_type"] = envelope_type
  protobuf:call(payload, pinfo, tree)
  local names = { message_name() }  -- "iotw.v1.Envelope", then its member's type, e.g. "iotw.v1.Hello"
  local member = #names >= 2 and tostring(names[2].value):match("([^.]+)$")
  if not member then t:add_proto_expert_info(no_schema) end
  pinfo.cols.protocol = "IOTW"
  pinfo.cols.info = (arrow and arrow .. " " or "") .. (member or "Envelope")
end

local function arrow_of(dir) return dir == 0 and "node->dev" or "dev->node" end

function iotw.dissector(tvb, pinfo, tree)
  if tvb:len() < 2 then return 0 end
  pinfo.cols.protocol = "IOTW"
  local t = tree:add(iotw, tvb())
  local dir = tvb(0, 1):uint()
  t:add(f.direction, tvb(0, 1))
  -- Serial links have no addresses: the interface is named after the device (harness/runner/link_capture.hpp).
  local device = interface_name() and tostring(interface_name().value) or "device"
  pinfo.cols.src = dir == 0 and "trust-node" or device
  pinfo.cols.dst = dir == 0 and device or "trust-node"
  t:add(f.frame_len, tvb(1), tvb:len() - 1)
  local last = tvb:len() - 1
  if tvb(last, 1):uint() == 0 then last = last - 1 end  -- the delimiter
  local bytes = cobs_decode(tvb, 1, last)
  local arrow = arrow_of(dir)
  if not bytes or bytes:len() < 5 then
    t:add(f.error, tvb(1), "bad_cobs")
    pinfo.cols.info = arrow .. " malformed frame (COBS)"
    return tvb:len()
  end
  local plen = bytes:len() - 4
  local crc = le32(bytes, plen)
  t:add(f.payload_len, tvb(1), plen)
  t:add(f.crc, tvb(1), crc)
  local ok = crc32(bytes, plen) == crc
  t:add(f.crc_ok, tvb(1), ok)
  if not ok then
    t:add(f.error, tvb(1), "bad_crc")
    pinfo.cols.info = arrow .. " frame with a bad CRC-32"
    return tvb:len()
  end
  bytes:set_size(plen)
  dissect_envelope(bytes:tvb("IOTW payload"), pinfo, tree, t, arrow)
  return tvb:len()
end

-- UDP links (LINKTYPE_IPV4 interfaces of links.pcapng, or a live capture of the trust node's [udp] port):
-- one datagram = payload || CRC-32(payload) LE. Claimed only when the CRC-32 matches and the payload starts
-- with a length-delimited field (every Envelope member is a message). The direction comes from the pcapng
-- packet flags (links.pcapng: outbound = trust node -> device); a live capture has none, its IP columns say it.
local function heuristic_udp(tvb, pinfo, tree)
  local n = tvb:len()
  if n < 6 or band(tvb(0, 1):uint(), 7) ~= 2 then return false end
  local bytes = tvb:bytes()
  local plen = n - 4
  local crc = le32(bytes, plen)
  if crc32(bytes, plen) ~= crc then return false end
  local t = tree:add(iotw, tvb())
  local flags = packet_direction()
  local dir = flags and ({ [1] = 1, [2] = 0 })[flags.value] or nil
  if dir then t:add(f.direction, tvb(), dir) end
  t:add(f.payload_len, tvb(), plen)
  t:add(f.crc, tvb(plen, 4), crc)
  t:add(f.crc_ok, tvb(plen, 4), true)
  dissect_envelope(tvb(0, plen):tvb(), pinfo, tree, t, dir and arrow_of(dir))
  return true
end

local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.USER0, iotw)
iotw:register_heuristic("udp", heuristic_udp)
