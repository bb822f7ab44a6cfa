#!/usr/bin/python3
"""Independent verifier of an exported IOTW ledger (ledger.jsonl), written from docs/protocol.md §4, §5, §8 alone.

Shares no code with the project: hashlib for SHA-256, PyNaCl (libsodium bindings) for Ed25519, and for the
`vrf` field of blocks mined by VRF selection (§8) a small pure-Python RFC 9381 ECVRF verifier (edwards25519
arithmetic from RFC 8032 §5.1): ECVRF-EDWARDS25519-SHA512-TAI is checked; an ELL2 proof (RFC 9380 hash-to-curve,
not implemented here) is reported on stderr as not re-checked, not as an error.
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


# --- RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI verify (RFC 8032 §5.1 curve arithmetic; not constant time) ---
P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):  # extended coordinates (X, Y, Z, T), RFC 8032 §5.1.4
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A, B = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    C, Dd = t1 * 2 * D * t2 % P, z1 * 2 * z2 % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def _mul(k, pt):
    r = (0, 1, 1, 0)
    while k:
        if k & 1:
            r = _add(r, pt)
        pt, k = _add(pt, pt), k >> 1
    return r


def _decode(s):  # RFC 8032 §5.1.3; None if not a point
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little") & ((1 << 255) - 1)
    sign = s[31] >> 7
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    elif v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BY = 4 * pow(5, P - 2, P) % P
BASE = _decode(_BY.to_bytes(32, "little"))
IDENTITY = _encode((0, 1, 1, 0))


def ecvrf_tai_verify(pk, pi, alpha):
    """beta (64 bytes) if pi is a valid ECVRF-EDWARDS25519-SHA512-TAI proof for pk on alpha, else None."""
    suite = b"\x03"
    Y = _decode(pk)
    if Y is None or _encode(_mul(8, Y)) == IDENTITY or len(pi) != 80:  # validate_key: no small-order keys
        return None
    gamma, c, s = _decode(pi[:32]), int.from_bytes(pi[32:48], "little"), int.from_bytes(pi[48:], "little")
    if gamma is None or s >= Q:
        return None
    H = None
    for ctr in range(256):  # encode_to_curve, try-and-increment (RFC 9381 §5.4.1.1), salt = PK
        H = _decode(hashlib.sha512(suite + b"\x01" + pk + alpha + bytes([ctr]) + b"\x00").digest()[:32])
        if H is not None:
            H = _mul(8, H)
            break
    if H is None:
        return None
    neg = lambda pt: ((-pt[0]) % P, pt[1], pt[2], (-pt[3]) % P)
    U = _add(_mul(s, BASE), neg(_mul(c, Y)))
    V = _add(_mul(s, H), neg(_mul(c, gamma)))
    challenge = hashlib.sha512(suite + b"\x02" + b"".join(_encode(x) for x in (Y, H, gamma, U, V)) + b"\x00").digest()
    if int.from_bytes(challenge[:16], "little") != c:
        return None
    return hashlib.sha512(suite + b"\x03" + _encode(_mul(8, gamma)) + b"\x00").digest()


def check_vrf(b, prev_hash, height, errs):
    """§8 `vrf`: pi verifies under the miner on alpha = VRF(height, prev_hash) (§5) and beta is its output."""
    v = b["vrf"]
    if v["suite"] == "ell2":
        print(f"height {height}: vrf suite ell2: proof not re-checked by this tool (TAI only)", file=sys.stderr)
        return
    if v["suite"] != "tai":
        errs.append(f"vrf suite {v['suite']!r} is neither 'tai' nor 'ell2'")
        return
    alpha = b"IOTW/1/VRF\x00" + struct.pack("<Q", height) + prev_hash
    beta = ecvrf_tai_verify(bytes.fromhex(b["miner"]), bytes.fromhex(v["pi"]), alpha)
    if beta is None:
        errs.append("vrf proof does not verify under the miner on alpha = VRF(height, prev_hash)")
    elif beta.hex() != v["beta"]:
        errs.append("vrf beta is not the output of the proof")


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
    if "vrf" in b:
        check_vrf(b, prev_hash, height, errs)
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
