#!/usr/bin/python3
"""Independent verifier of an exported IOTW ledger (ledger.jsonl), written from docs/protocol.md §4, §5, §8 alone.

Shares no code with the project: hashlib for SHA-256, PyNaCl (libsodium bindings) for Ed25519.
Usage: tools/verify_ledger.py LEDGER.jsonl      exit 0 valid, 1 invalid (errors on stderr), 2 unreadable.
"""
import hashlib
import json
import struct
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

HEADER_SIZE = 120
sha256 = lambda b: hashlib.sha256(b).digest()


def verify(key_hex, message, sig_hex):
    try:
        VerifyKey(bytes.fromhex(key_hex)).verify(message, bytes.fromhex(sig_hex))
        return True
    except (BadSignatureError, ValueError):
        return False


def check_block(b, prev):
    errs = []
    header = bytes.fromhex(b["header"])
    if len(header) != HEADER_SIZE:
        return [f"header is {len(header)} bytes"]
    version, height = struct.unpack_from("<IQ", header, 0)
    prev_hash, tx_root = header[12:44], header[44:76]
    (timestamp_ms,) = struct.unpack_from("<Q", header, 76)
    miner, (tx_count,) = header[84:116], struct.unpack_from("<I", header, 116)
    block_hash = sha256(header)
    expect = {"version": (version, 1), "height": (height, b["height"]), "hash": (block_hash.hex(), b["hash"]),
              "prev_hash": (prev_hash.hex(), b["prev_hash"]), "tx_root": (tx_root.hex(), b["tx_root"]),
              "timestamp_ms": (timestamp_ms, b["timestamp_ms"]), "miner": (miner.hex(), b["miner"]),
              "tx_count": (tx_count, b["tx_count"])}
    errs += [f"{k}: header says {a}, JSON says {j}" for k, (a, j) in expect.items() if a != j]
    txs = b["transactions"]
    for tx in txs:
        if sha256(bytes.fromhex(tx["payload_hex"])).hex() != tx["hash"]:
            errs.append(f"tx {tx['hash'][:16]}: hash does not match payload")
    if len(txs) != tx_count or sha256(b"".join(bytes.fromhex(t["hash"]) for t in txs)) != tx_root:
        errs.append("tx_root/tx_count do not match the transactions")
    if prev is None:  # genesis
        if height != 0 or prev_hash != bytes(32) or timestamp_ms or miner != bytes(32) or b["attestations"]:
            errs.append("genesis is not the all-zero genesis of §4")
        return errs
    if height != prev["height"] + 1 or prev_hash.hex() != prev["hash"]:
        errs.append("does not link to the previous block")
    result = b"IOTW/1/RESULT\x00" + struct.pack("<Q", b["assignment_id"]) + block_hash
    if not verify(b["miner"], result, b["miner_signature"]):
        errs.append("miner signature does not verify")
    atts = b["attestations"]
    witnesses = [a["witness"] for a in atts]
    if not atts:
        errs.append("no attestations")
    if len(set(witnesses)) != len(witnesses) or b["miner"] in witnesses:
        errs.append("witnesses are not distinct from each other and from the miner")
    for a in atts:
        attest = b"IOTW/1/ATTEST\x00" + struct.pack("<Q", a["round_id"]) + block_hash + b"\x01"
        if a["round_id"] != b["round_id"] or a["verdict"] != "valid" or not verify(a["witness"], attest, a["signature"]):
            errs.append(f"attestation by {a['witness'][:16]} does not verify as valid for round {b['round_id']}")
    return errs


def main(path):
    try:
        with open(path, encoding="utf-8") as f:
            blocks = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    errors, prev = [], None
    for b in blocks:
        try:
            errors += [f"height {b.get('height')}: {e}" for e in check_block(b, prev)]
        except (KeyError, TypeError, ValueError, struct.error) as e:
            errors.append(f"height {b.get('height') if isinstance(b, dict) else '?'}: malformed block ({e!r})")
        prev = b
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{'valid' if blocks and not errors else 'invalid'}: {len(blocks)} blocks, {len(errors)} errors")
    return 0 if blocks and not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else 2)
