-- Wireshark/tshark dissector for IOTW links captured by the IOTW Rig harness (links.pcapng): serial frames
-- and, heuristically, UDP datagrams (AT-mode and TAP devices; also live captures of the trust node's port).
-- Capture format (harness/runner/link_capture.hpp): link type LINKTYPE_USER0 (147); each packet is one
-- direction byte (0 = trust node -> device, 1 = device -> trust node) and one frame as it crossed the link:
-- COBS(payload || CRC-32(payload) LE) || 0x00 (docs/protocol.md §2). The payload is a protobuf Envelope
-- (protocol/proto/iotw.proto); this dissector decodes its message type and the scalar fields below.
-- Use: tshark -X lua_script:tools/wireshark/iotw.lua -r links.pcapng -T fields -e iotw.msg -e iotw.round_id
local iotw = Proto("iotw", "IOTW serial link frame")

local directions = { [0] = "trust node -> device", [1] = "device -> trust node" }
local messages = {
  [1] = "Hello", [2] = "Challenge", [3] = "Prove", [4] = "Welcome", [5] = "Assignment", [6] = "Result",
  [7] = "WitnessRequest", [8] = "Attestation", [9] = "Heartbeat", [10] = "HeartbeatAck", [11] = "Error",
  [12] = "UsageReport", [13] = "VrfRoundSeed", [14] = "VrfClaim",
  [15] = "CheckpointRequest", [16] = "Checkpoint",
}
local verdicts = { [0] = "unspecified", [1] = "valid", [2] = "invalid" }
local vrf_suites = { [3] = "ECVRF-EDWARDS25519-SHA512-TAI", [4] = "ECVRF-EDWARDS25519-SHA512-ELL2" }

local f = {
  direction = ProtoField.uint8("iotw.direction", "Direction", base.DEC, directions),
  frame_len = ProtoField.uint32("iotw.frame_len", "Frame length (COBS, with delimiter)"),
  payload_len = ProtoField.uint32("iotw.payload_len", "Payload length"),
  crc = ProtoField.uint32("iotw.crc", "CRC-32", base.HEX),
  crc_ok = ProtoField.bool("iotw.crc_ok", "CRC-32 valid"),
  error = ProtoField.string("iotw.error", "Frame error"),
  msg = ProtoField.string("iotw.msg", "Message"),
  msg_tag = ProtoField.uint8("iotw.msg_tag", "Envelope field", base.DEC, messages),
  assignment_id = ProtoField.uint64("iotw.assignment_id", "Assignment id"),
  round_id = ProtoField.uint64("iotw.round_id", "Round id"),
  height = ProtoField.uint64("iotw.height", "Height"),
  verdict = ProtoField.uint8("iotw.verdict", "Verdict", base.DEC, verdicts),
  seq = ProtoField.uint64("iotw.seq", "Sequence"),
  boot_count = ProtoField.uint32("iotw.boot_count", "Boot count"),
  name = ProtoField.string("iotw.name", "Device name"),
  model = ProtoField.string("iotw.model", "Model"),
  code = ProtoField.uint32("iotw.error_code", "Error code"),
  text = ProtoField.string("iotw.error_text", "Error text"),
  prev_hash = ProtoField.bytes("iotw.prev_hash", "Previous block hash"),
  vrf_suite = ProtoField.uint32("iotw.vrf_suite", "VRF suite", base.DEC, vrf_suites),
  claim_window_ms = ProtoField.uint32("iotw.claim_window_ms", "Claim window (ms)"),
  vrf_pi = ProtoField.bytes("iotw.vrf_pi", "VRF proof pi (Gamma || c || s)"),
  have_height = ProtoField.uint64("iotw.have_height", "Device checkpoint height"),
  block_hash = ProtoField.bytes("iotw.block_hash", "Block hash"),
  signature = ProtoField.bytes("iotw.signature", "Ed25519 signature"),
}
iotw.fields = { f.direction, f.frame_len, f.payload_len, f.crc, f.crc_ok, f.error, f.msg, f.msg_tag,
  f.assignment_id, f.round_id, f.height, f.verdict, f.seq, f.boot_count, f.name, f.model, f.code, f.text,
  f.prev_hash, f.vrf_suite, f.claim_window_ms, f.vrf_pi, f.have_height, f.block_hash, f.signature }

local band, bxor, rshift = bit32.band, bit32.bxor, bit32.rshift
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) == 1 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
  end
  crc_table[i] = c
end
local function crc32(bytes, n)  -- bytes: 0-based table of numbers, first n used
  local c = 0xFFFFFFFF
  for i = 0, n - 1 do c = bxor(crc_table[band(bxor(c, bytes[i]), 0xFF)], rshift(c, 8)) end
  return bxor(c, 0xFFFFFFFF)
end

-- COBS decode of tvb[first, last] (no delimiter); returns a 0-based byte table and its length, or nil.
local function cobs_decode(tvb, first, last)
  local out, n, i = {}, 0, first
  while i <= last do
    local code = tvb(i, 1):uint()
    if code == 0 then return nil end
    i = i + 1
    for _ = 1, code - 1 do
      if i > last then return nil end
      out[n] = tvb(i, 1):uint(); n = n + 1; i = i + 1
    end
    if code < 0xFF and i <= last then out[n] = 0; n = n + 1 end
  end
  return out, n
end

-- Protobuf: returns value, next offset (varint as a Lua number; exact below 2^53).
local function varint(bytes, pos, n)
  local v, mul = 0, 1
  while pos < n do
    local b = bytes[pos]; pos = pos + 1
    v = v + band(b, 0x7F) * mul
    if b < 0x80 then return v, pos end
    mul = mul * 128
  end
  return nil, pos
end

-- Decodes fields of one message bytes[pos, stop): {number -> value | {first, len}}.
local function fields_of(bytes, pos, stop)
  local out = {}
  while pos < stop do
    local key; key, pos = varint(bytes, pos, stop)
    if not key then return out end
    local num, wt = math.floor(key / 8), key % 8
    if wt == 0 then
      local v; v, pos = varint(bytes, pos, stop); out[num] = v
    elseif wt == 2 then
      local len; len, pos = varint(bytes, pos, stop)
      if not len or pos + len > stop then return out end
      out[num] = { pos, len }; pos = pos + len
    elseif wt == 1 then pos = pos + 8
    elseif wt == 5 then pos = pos + 4
    else return out end
  end
  return out
end

local function text(bytes, span)
  local chars = {}
  for i = span[1], span[1] + span[2] - 1 do chars[#chars + 1] = string.char(bytes[i]) end
  return table.concat(chars)
end

-- Messages the trust node sends (the direction of a UDP datagram, which has no direction byte).
local to_device = { [2] = true, [4] = true, [5] = true, [7] = true, [10] = true, [11] = true, [13] = true,
  [16] = true }

-- Decodes the Envelope in bytes[0, plen) into tree t; `at` is the range the items point at; arrow nil =
-- derive it from the message.
local function dissect_envelope(bytes, plen, pinfo, t, at, arrow)
  local env = fields_of(bytes, 0, plen)
  local ptvb
  local function payload_tvb()  -- the decoded payload as its own data source, for bytes fields
    if not ptvb then
      local hex = {}
      for i = 0, plen - 1 do hex[#hex + 1] = string.format("%02x", bytes[i]) end
      ptvb = ByteArray.new(table.concat(hex)):tvb("IOTW payload")
    end
    return ptvb
  end
  for tag, span in pairs(env) do
    if type(span) == "table" and messages[tag] then
      t:add(f.msg_tag, at, tag)
      t:add(f.msg, at, messages[tag])
      local m = fields_of(bytes, span[1], span[1] + span[2])
      if not arrow then arrow = to_device[tag] and "node->dev" or "dev->node"
        t:add(f.direction, at, to_device[tag] and 0 or 1)
      end
      local info = arrow .. " " .. messages[tag]
      local function num(field, k, label)
        if type(m[k]) == "number" then
          t:add(field, at, field == f.verdict and m[k] or UInt64.new(m[k]))
          info = info .. " " .. label .. "=" .. string.format("%d", m[k])
        end
      end
      local function u32(field, k, label)
        if type(m[k]) == "number" then
          t:add(field, at, m[k]); info = info .. " " .. label .. "=" .. string.format("%d", m[k])
        end
      end
      local function raw(field, k, size)  -- fixed-length bytes field, shown only when it has its size
        if type(m[k]) == "table" and m[k][2] == size then t:add(field, payload_tvb()(m[k][1], m[k][2])) end
      end
      local function str(field, k, label)
        if type(m[k]) == "table" then
          local s = text(bytes, m[k]); t:add(field, at, s); info = info .. " " .. label .. "=" .. s
        end
      end
      if tag == 1 then str(f.model, 2, "model"); str(f.name, 6, "name")
        if type(m[4]) == "number" then t:add(f.boot_count, at, m[4]) end
      elseif tag == 4 then num(f.height, 1, "height")
      elseif tag == 5 or tag == 6 then num(f.assignment_id, 1, "assignment")
      elseif tag == 7 then num(f.round_id, 1, "round")
      elseif tag == 8 then num(f.round_id, 1, "round"); num(f.verdict, 3, "verdict")
      elseif tag == 9 or tag == 12 then num(f.seq, 1, "seq")
      elseif tag == 10 then num(f.seq, 1, "seq"); num(f.height, 2, "height")
      elseif tag == 13 then num(f.height, 1, "height"); raw(f.prev_hash, 2, 32); u32(f.vrf_suite, 3, "suite")
        u32(f.claim_window_ms, 4, "window_ms")
      elseif tag == 14 then num(f.height, 1, "height"); raw(f.vrf_pi, 2, 80)
      elseif tag == 15 then num(f.have_height, 1, "have_height")
      elseif tag == 16 then num(f.height, 1, "height"); raw(f.block_hash, 2, 32); raw(f.signature, 3, 64)
      elseif tag == 11 then
        if type(m[1]) == "number" then t:add(f.code, at, m[1]) end
        str(f.text, 2, "text")
      end
      pinfo.cols.info = info
    end
  end
  end

function iotw.dissector(tvb, pinfo, tree)
  if tvb:len() < 2 then return 0 end
  pinfo.cols.protocol = "IOTW"
  local t = tree:add(iotw, tvb())
  local dir = tvb(0, 1):uint()
  t:add(f.direction, tvb(0, 1))
  t:add(f.frame_len, tvb(1), tvb:len() - 1)
  local last = tvb:len() - 1
  if tvb(last, 1):uint() == 0 then last = last - 1 end  -- the delimiter
  local bytes, n = cobs_decode(tvb, 1, last)
  local arrow = dir == 0 and "node->dev" or "dev->node"
  if not bytes or n < 5 then
    t:add(f.error, tvb(1), "bad_cobs")
    pinfo.cols.info = arrow .. " malformed frame (COBS)"
    return tvb:len()
  end
  local plen = n - 4
  local crc = bytes[plen] + bytes[plen + 1] * 256 + bytes[plen + 2] * 65536 + bytes[plen + 3] * 16777216
  t:add(f.payload_len, tvb(1), plen)
  t:add(f.crc, tvb(1), crc)
  local ok = crc32(bytes, plen) == crc
  t:add(f.crc_ok, tvb(1), ok)
  if not ok then
    t:add(f.error, tvb(1), "bad_crc")
    pinfo.cols.info = arrow .. " frame with a bad CRC-32"
    return tvb:len()
  end
  dissect_envelope(bytes, plen, pinfo, t, tvb(1), arrow)
  return tvb:len()
end

-- UDP links (LINKTYPE_IPV4 interfaces of links.pcapng, or a live capture of the trust node's [udp] port):
-- one datagram = payload || CRC-32(payload) LE. Claimed only when the CRC-32 matches and the payload
-- starts with a known Envelope field.
local function heuristic_udp(tvb, pinfo, tree)
  local n = tvb:len()
  if n < 6 then return false end
  local bytes = {}
  for i = 0, n - 1 do bytes[i] = tvb(i, 1):uint() end
  local plen = n - 4
  local crc = bytes[plen] + bytes[plen + 1] * 256 + bytes[plen + 2] * 65536 + bytes[plen + 3] * 16777216
  if crc32(bytes, plen) ~= crc then return false end
  local key = varint(bytes, 0, plen)
  if not key or key % 8 ~= 2 or not messages[math.floor(key / 8)] then return false end
  pinfo.cols.protocol = "IOTW"
  local t = tree:add(iotw, tvb())
  t:add(f.payload_len, tvb(), plen)
  t:add(f.crc, tvb(plen, 4), crc)
  t:add(f.crc_ok, tvb(plen, 4), true)
  dissect_envelope(bytes, plen, pinfo, t, tvb(), nil)
  return true
end

local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.USER0, iotw)
iotw:register_heuristic("udp", heuristic_udp)
