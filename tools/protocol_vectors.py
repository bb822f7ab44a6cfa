#!/usr/bin/python3
"""Independent derivation of the docs/protocol.md section 9 test vectors.

Pure Python (hashlib, zlib, struct) plus PyNaCl for Ed25519: shares no code with the C implementation in
protocol/, so the C++ tests that compare against these vectors cross-check two implementations.
Run: /usr/bin/python3 tools/protocol_vectors.py
"""
import hashlib
import struct
import zlib

import nacl.signing


def cobs(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for i, b in enumerate(data):
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
                if i == len(data) - 1:
                    return bytes(out)
    return bytes(out + bytes([len(block) + 1]) + block)


def frame(payload: bytes) -> bytes:
    return cobs(payload + struct.pack("<I", zlib.crc32(payload))) + b"\x00"


def header(version, height, prev, root, ts, miner, count) -> bytes:
    return struct.pack("<IQ", version, height) + prev + root + struct.pack("<Q", ts) + miner + struct.pack("<I", count)


sha = lambda b: hashlib.sha256(b).digest()
key = nacl.signing.SigningKey(bytes(range(32)))
pk = bytes(key.verify_key)

# Envelope{heartbeat: {seq: 1, uptime_ms: 1000}}: field 9, length-delimited; seq = field 1, uptime = field 2.
payload = bytes([0x4A, 0x05, 0x08, 0x01, 0x10, 0xE8, 0x07])
genesis = header(1, 0, bytes(32), sha(b""), 0, bytes(32), 0)
tx = b"hello iotw"
h1 = header(1, 1, sha(genesis), sha(sha(tx)), 1700000000000, pk, 1)
attest = b"IOTW/1/ATTEST\x00" + struct.pack("<Q", 1) + sha(h1) + b"\x01"
result = b"IOTW/1/RESULT\x00" + struct.pack("<Q", 1) + sha(h1)
# VRF round of block 2 (docs/protocol.md §5, §3 messages 13/14): alpha and the VrfRoundSeed envelope
# Envelope{vrf_round_seed: {height: 2, prev_hash: block1.hash, suite: 3, claim_window_ms: 200, node_signature}},
# field 13.
vrf_alpha = b"IOTW/1/VRF\x00" + struct.pack("<Q", 2) + sha(h1)
# The seed carries node_signature (field 5) over SEED, the test key standing in for the trust node's node key.
seed_msg = b"IOTW/1/SEED\x00" + struct.pack("<Q", 2) + sha(h1) + struct.pack("<II", 3, 200)
seed_sig = key.sign(seed_msg).signature
seed_body = (bytes([0x08, 0x02, 0x12, 0x20]) + sha(h1) + bytes([0x18, 0x03, 0x20, 0xC8, 0x01, 0x2A, 0x40])
             + seed_sig)
vrf_seed = bytes([0x6A, len(seed_body)]) + seed_body
# Light verification (§5 CHECKPOINT, §3 messages 15/16): the test key as the trust node's node key signs block 1.
checkpoint = b"IOTW/1/CHECKPOINT\x00" + struct.pack("<Q", 1) + sha(h1)
checkpoint_sig = key.sign(checkpoint).signature
ckpt_body = bytes([0x08, 0x01, 0x12, 0x20]) + sha(h1) + bytes([0x1A, 0x40]) + checkpoint_sig
checkpoint_env = bytes([0x82, 0x01, len(ckpt_body)]) + ckpt_body  # field 16: tag varint 0x82 0x01
vec = {
    "frame.payload": payload, "frame.wire": frame(payload),
    "genesis.header": genesis, "genesis.hash": sha(genesis),
    "tx.payload": tx, "tx.hash": sha(tx),
    "test_key.seed": bytes(range(32)), "test_key.pubkey": pk,
    "block1.header": h1, "block1.hash": sha(h1),
    "result.message": result, "result.signature": key.sign(result).signature,
    "attest.message": attest, "attest.signature": key.sign(attest).signature,
    "vrf.alpha": vrf_alpha, "vrf_seed.message": seed_msg, "vrf_seed.signature": seed_sig,
    "vrf_seed.payload": vrf_seed,
    "checkpoint.message": checkpoint, "checkpoint.signature": checkpoint_sig, "checkpoint.payload": checkpoint_env,
}
for name, value in vec.items():
    print(f"vector.{name} = {value.hex()}")
