#!/usr/bin/python3
"""Independent verifier of an exported IOTW ledger (ledger.jsonl), written from docs/protocol.md §4, §5, §8 alone.

Shares no code with the project: hashlib for SHA-256/512, PyNaCl (libsodium bindings) for Ed25519, and a small
pure-Python RFC 9381 ECVRF verifier (edwards25519 arithmetic from RFC 8032 §5.1) for both suites the protocol
uses: ECVRF-EDWARDS25519-SHA512-TAI (try-and-increment) and ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9380
hash_to_curve edwards25519_XMD:SHA-512_ELL2_NU_). Not constant time: it only checks public data.

It checks every numbered rule of docs/protocol.md §8 and prints one verdict line on stdout:
  valid: ...                                       exit 0
  unbound: ... (no finalization records / no tip)  exit 1
  invalid: rule R at height H: ...                 exit 1 (R, H: the broken rule with the lowest height, then number)
  unreadable: FILE: reason                         exit 2
Every problem found is also listed on stderr as "height H: rule R: what".

Usage: tools/verify_ledger.py LEDGER.jsonl [--node-key HEX | --node-key-file FILE]
       tools/verify_ledger.py --self-test [ECVRF_VECTORS H2C_VECTORS]   (RFC 9381 / RFC 9380 vectors, exit 0 if all
           pass; without the two files: tests/data/ecvrf_vectors.txt and h2c_edwards25519_nu_vectors.txt of the checkout)
"""
import functools
import hashlib
import json
import os
import struct
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

HEADER_SIZE = 120
U32_MAX, U64_MAX = 2**32 - 1, 2**64 - 1
sha256 = lambda b: hashlib.sha256(b).digest()
HEX = set("0123456789abcdef")

# §8 rule numbers.
(R_JSON, R_ORDER, R_GENESIS, R_HEADER, R_LINK, R_TXS, R_TX_UNIQUE, R_TX_SIG, R_MINER_SIG, R_ATTEST, R_ATTEST_COUNT,
 R_VRF_PROOF, R_SELECTION, R_FINALIZATION, R_TIP) = range(1, 16)


def ed25519_ok(key, message, sig):
    try:
        VerifyKey(key).verify(message, sig)
        return True
    except (BadSignatureError, ValueError):
        return False


# --- RFC 9381 ECVRF verify for edwards25519 (RFC 8032 §5.1 curve arithmetic; not constant time) ---
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


def _sqrt(a):
    """A square root of a mod P, or None (RFC 8032 §5.1.3's candidate and correction)."""
    x = pow(a, (P + 3) // 8, P)
    if x * x % P != a % P:
        x = x * SQRT_M1 % P
    return x if x * x % P == a % P else None


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


def _affine(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    return x * zi % P, y * zi % P


def _encode(pt):
    x, y = _affine(pt)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BY = 4 * pow(5, P - 2, P) % P
BASE = _decode(_BY.to_bytes(32, "little"))
IDENTITY = _encode((0, 1, 1, 0))

# RFC 9380 §5.3.1 expand_message_xmd with SHA-512 (b_in_bytes 64, s_in_bytes 128).
def expand_message_xmd(msg, dst, length):
    ell = -(-length // 64)
    if ell > 255 or len(dst) > 255:
        raise ValueError("expand_message_xmd: too long")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    b = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        b.append(hashlib.sha512(bytes(x ^ y for x, y in zip(b0, b[-1])) + bytes([i]) + dst_prime).digest())
    return b"".join(b)[:length]


# sqrt(-486664) with sgn0 = 0 (RFC 9380 §6.8.2 rational map from curve25519 to edwards25519).
_C1 = _sqrt(-486664 % P)
_C1 = _C1 if _C1 % 2 == 0 else P - _C1
_J = 486662


def map_to_curve_ell2_edwards25519(u):
    """RFC 9380 §6.7.1 Elligator 2 on curve25519 (J = 486662, K = 1, Z = 2), then §6.8.2's map to edwards25519.
    Returns an extended point (not yet multiplied by the cofactor)."""
    tv = (1 + 2 * u * u) % P
    x1 = (-_J * pow(tv, P - 2, P)) % P if tv else 0
    if x1 == 0:
        x1 = -_J % P
    gx1 = (x1 ** 3 + _J * x1 * x1 + x1) % P
    x2 = (-x1 - _J) % P
    gx2 = (x2 ** 3 + _J * x2 * x2 + x2) % P
    y1 = _sqrt(gx1)
    if y1 is not None:
        s, t = x1, (y1 if y1 % 2 == 1 else P - y1)
    else:
        y2 = _sqrt(gx2)
        s, t = x2, (y2 if y2 % 2 == 0 else P - y2)
    if t == 0 or (s + 1) % P == 0:
        return (0, 1, 1, 0)
    x = _C1 * s * pow(t, P - 2, P) % P
    y = (s - 1) * pow(s + 1, P - 2, P) % P
    return (x, y, 1, x * y % P)


def encode_to_curve_ell2(msg, dst):
    """RFC 9380 encode_to_curve for edwards25519_XMD:SHA-512_ELL2_NU_: hash_to_field (L = 48), map, times 8."""
    u = int.from_bytes(expand_message_xmd(msg, dst, 48), "big") % P
    return _mul(8, map_to_curve_ell2_edwards25519(u))


@functools.lru_cache(maxsize=4096)  # a tool checking many copies of one ledger verifies each proof once
def ecvrf_verify(suite, pk, pi, alpha):
    """beta (64 bytes) if pi is a valid RFC 9381 proof for pk on alpha under suite 3 (TAI) or 4 (ELL2), else None."""
    sb = bytes([suite])
    Y = _decode(pk)
    if Y is None or _encode(_mul(8, Y)) == IDENTITY or len(pi) != 80:  # validate_key: no small-order keys
        return None
    gamma, c, s = _decode(pi[:32]), int.from_bytes(pi[32:48], "little"), int.from_bytes(pi[48:], "little")
    if gamma is None or s >= Q:
        return None
    if suite == 3:  # encode_to_curve, try-and-increment (RFC 9381 §5.4.1.1), salt = PK
        H = None
        for ctr in range(256):
            H = _decode(hashlib.sha512(sb + b"\x01" + pk + alpha + bytes([ctr]) + b"\x00").digest()[:32])
            if H is not None:
                H = _mul(8, H)
                break
        if H is None:
            return None
    else:  # RFC 9381 §5.4.1.2: h2c suite, DST = "ECVRF_" || h2c_suite_ID_string || suite_string
        H = encode_to_curve_ell2(pk + alpha, b"ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_" + sb)
    neg = lambda pt: ((-pt[0]) % P, pt[1], pt[2], (-pt[3]) % P)
    U = _add(_mul(s, BASE), neg(_mul(c, Y)))
    V = _add(_mul(s, H), neg(_mul(c, gamma)))
    challenge = hashlib.sha512(sb + b"\x02" + b"".join(_encode(x) for x in (Y, H, gamma, U, V)) + b"\x00").digest()
    if int.from_bytes(challenge[:16], "little") != c:
        return None
    return hashlib.sha512(sb + b"\x03" + _encode(_mul(8, gamma)) + b"\x00").digest()


# --- §5 / §8 messages ---
def result_msg(assignment_id, block_hash):
    return b"IOTW/1/RESULT\x00" + struct.pack("<Q", assignment_id) + block_hash


def attest_msg(round_id, block_hash):
    return b"IOTW/1/ATTEST\x00" + struct.pack("<Q", round_id) + block_hash + b"\x01"


def finalize_msg(height, block_hash, policy, n, t, selection, atts_hash, selection_hash):
    return (b"IOTW/1/FINALIZE\x00" + struct.pack("<Q", height) + block_hash + struct.pack("<BIIB", policy, n, t, selection)
            + atts_hash + selection_hash)


def tip_msg(height, block_hash, time_ms):
    return b"IOTW/1/TIP\x00" + struct.pack("<Q", height) + block_hash + struct.pack("<Q", time_ms)


def checkpoint_msg(height, block_hash):
    return b"IOTW/1/CHECKPOINT\x00" + struct.pack("<Q", height) + block_hash


POLICIES = {"strict": 1, "threshold": 2}
SELECTIONS = {"uniform": 1, "reputation": 2, "vrf": 3}
SUITES = {"tai": 3, "ell2": 4}
BLOCK_KEYS = ({"height", "hash", "header", "prev_hash", "tx_root", "timestamp_ms", "miner", "tx_count", "assignment_id",
               "miner_signature", "round_id", "transactions", "attestations"}, {"vrf", "finalization"})


class Bad(Exception):
    """A field that rule 1 refuses (already reported)."""


class Ledger:
    def __init__(self, lines, node_key=None):
        self.lines, self.issues = lines, []
        self.pinned = node_key
        self.node_key = node_key
        self.tx_hashes = set()
        self.any_finalization = False
        self.first_unbound = self.last_unbound = None
        self.blocks_checked = 0

    def err(self, height, rule, what):
        self.issues.append((height, rule, what))

    # rule 1 readers; each reports and raises Bad, or returns the value
    def keys(self, h, o, required, optional, label):
        for k in o:
            if k not in required and k not in optional:
                self.err(h, R_JSON, f"unknown key '{label}{k}'")
        for k in sorted(required):
            if k not in o:
                self.err(h, R_JSON, f"missing key '{label}{k}'")

    def u64(self, h, o, key, label=""):
        if key not in o:
            raise Bad()
        v = o[key]
        if type(v) is not int or not 0 <= v <= U64_MAX:
            self.err(h, R_JSON, f"'{label}{key}' must be a non-negative integer")
            raise Bad()
        return v

    def string(self, h, o, key, label=""):
        if key not in o:
            raise Bad()
        if not isinstance(o[key], str):
            self.err(h, R_JSON, f"'{label}{key}' must be a string")
            raise Bad()
        return o[key]

    def hexf(self, h, o, key, size, label=""):
        s = self.string(h, o, key, label)
        if len(s) % 2 or not set(s) <= HEX:
            self.err(h, R_JSON, f"'{label}{key}' is not lower-case hex")
            raise Bad()
        if size and len(s) != 2 * size:
            self.err(h, R_JSON, f"'{label}{key}' must be {2 * size} hex characters")
            raise Bad()
        return bytes.fromhex(s)

    def array(self, h, o, key, label=""):
        if key not in o:
            raise Bad()
        if not isinstance(o[key], list):
            self.err(h, R_JSON, f"'{label}{key}' must be an array")
            raise Bad()
        return o[key]

    def opt(self, f, *args):
        try:
            return f(*args)
        except Bad:
            return None

    def check_block(self, b, h, prev_hash):
        """Returns the block's stated hash and timestamp (or None) for the next line and the tip."""
        if not isinstance(b, dict):
            self.err(h, R_JSON, "not a JSON object")
            return None, None
        self.keys(h, b, *BLOCK_KEYS, "")
        g = lambda f, *a: self.opt(f, h, b, *a)
        height, bhash, header = g(self.u64, "height"), g(self.hexf, "hash", 32), g(self.hexf, "header", HEADER_SIZE)
        jprev, tx_root, ts = g(self.hexf, "prev_hash", 32), g(self.hexf, "tx_root", 32), g(self.u64, "timestamp_ms")
        miner, tx_count = g(self.hexf, "miner", 32), g(self.u64, "tx_count")
        assignment_id, round_id = g(self.u64, "assignment_id"), g(self.u64, "round_id")
        txs, atts = g(self.array, "transactions"), g(self.array, "attestations")
        if height is not None and height != h:
            self.err(h, R_ORDER, f"'height' is {height}, expected {h}")
        if header is not None:
            self.check_header(h, header, bhash, height, jprev, tx_root, ts, miner, tx_count)
        if h > 0 and jprev is not None and prev_hash is not None and jprev != prev_hash:
            self.err(h, R_LINK, f"'prev_hash' does not equal the hash of height {h - 1}")
        if txs is not None:
            self.check_transactions(h, txs, tx_count, tx_root)
        if h == 0:
            if assignment_id not in (None, 0) or round_id not in (None, 0):
                self.err(h, R_GENESIS, "genesis assignment_id and round_id must be 0")
            sig = g(self.string, "miner_signature")
            if sig:
                self.err(h, R_GENESIS, "genesis 'miner_signature' must be empty")
            if txs or atts:
                self.err(h, R_GENESIS, "genesis must have no transactions and no attestations")
            if "vrf" in b or "finalization" in b:
                self.err(h, R_GENESIS, "genesis must have no 'vrf' and no 'finalization'")
            return bhash, ts
        msig = g(self.hexf, "miner_signature", 64)
        if None not in (msig, miner, bhash, assignment_id) and not ed25519_ok(miner, result_msg(assignment_id, bhash), msig):
            self.err(h, R_MINER_SIG, "miner signature does not verify over RESULT(assignment_id, hash) under 'miner'")
        atts_ok = self.check_attestations(h, atts, round_id, miner, bhash) if atts is not None else False
        vrf = self.check_vrf(h, b, height, jprev, miner) if "vrf" in b else None
        if "finalization" in b:
            self.check_finalization(h, b, height, bhash, atts, atts_ok, vrf)
        else:
            if self.first_unbound is None:
                self.first_unbound = h
            self.last_unbound = h
            if self.any_finalization:
                self.err(h, R_FINALIZATION, "no 'finalization' record after a bound block")
            if atts is not None and not atts:
                self.err(h, R_ATTEST_COUNT, "no attestations (a block needs at least one)")
        return bhash, ts

    def check_header(self, h, header, bhash, height, jprev, tx_root, ts, miner, tx_count):
        if bhash is not None and sha256(header) != bhash:
            self.err(h, R_HEADER, "'hash' is not SHA-256(header)")
        version, hh = struct.unpack_from("<IQ", header, 0)
        (hts,) = struct.unpack_from("<Q", header, 76)
        (htc,) = struct.unpack_from("<I", header, 116)
        if version != 1:
            self.err(h, R_HEADER, f"header version is {version}, expected 1")
        for name, a, j in (("height", hh, height), ("prev_hash", header[12:44], jprev), ("tx_root", header[44:76], tx_root),
                           ("timestamp_ms", hts, ts), ("miner", header[84:116], miner), ("tx_count", htc, tx_count)):
            if j is not None and a != j:
                self.err(h, R_HEADER, f"header {name} differs from JSON '{name}'")
        if h == 0:
            genesis = struct.pack("<IQ", 1, 0) + bytes(32) + sha256(b"") + bytes(8 + 32 + 4)
            if header != genesis:
                self.err(h, R_GENESIS, "genesis header is not the protocol genesis")

    def check_transactions(self, h, txs, tx_count, tx_root):
        if tx_count is not None and len(txs) != tx_count:
            self.err(h, R_TXS, f"'tx_count' is {tx_count} but {len(txs)} transactions are listed")
        hashes, complete = [], True
        for i, t in enumerate(txs):
            label = f"transactions[{i}]."
            if not isinstance(t, dict):
                self.err(h, R_JSON, f"transactions[{i}] is not an object")
                complete = False
                continue
            self.keys(h, t, {"hash", "payload_hex"}, {"signer", "signature"}, label)
            th, payload = self.opt(self.hexf, h, t, "hash", 32, label), self.opt(self.hexf, h, t, "payload_hex", 0, label)
            if th is not None and payload is not None and sha256(payload) != th:
                self.err(h, R_TXS, f"transactions[{i}]: hash is not SHA-256(payload)")
            if th is None:
                complete = False
            else:
                hashes.append(th)
                if th in self.tx_hashes:
                    self.err(h, R_TX_UNIQUE, f"transactions[{i}]: the same transaction is already in the ledger")
                self.tx_hashes.add(th)
            if ("signer" in t) != ("signature" in t):
                self.err(h, R_TX_SIG, f"transactions[{i}]: 'signer' and 'signature' come together")
            elif "signer" in t:
                signer = self.opt(self.hexf, h, t, "signer", 32, label)
                sig = self.opt(self.hexf, h, t, "signature", 64, label)
                if None not in (signer, sig, th) and not ed25519_ok(signer, b"IOTW/1/TX\x00" + th, sig):
                    self.err(h, R_TX_SIG, f"transactions[{i}]: signature does not verify over TX(hash) under 'signer'")
        if complete and tx_root is not None and sha256(b"".join(hashes)) != tx_root:
            self.err(h, R_TXS, "'tx_root' is not SHA-256 of the listed transaction hashes")

    def check_attestations(self, h, atts, round_id, miner, bhash):
        """Rule 10; returns True when every entry was readable (for the finalization hash)."""
        seen, readable = set(), True
        for i, a in enumerate(atts):
            label = f"attestations[{i}]."
            if not isinstance(a, dict):
                self.err(h, R_JSON, f"attestations[{i}] is not an object")
                readable = False
                continue
            self.keys(h, a, {"witness", "round_id", "verdict", "signature"}, set(), label)
            w, r = self.opt(self.hexf, h, a, "witness", 32, label), self.opt(self.u64, h, a, "round_id", label)
            v, sig = self.opt(self.string, h, a, "verdict", label), self.opt(self.hexf, h, a, "signature", 64, label)
            if v is not None and v not in ("valid", "invalid"):
                self.err(h, R_JSON, f"'{label}verdict' is '{v}', expected 'valid' or 'invalid'")
            readable = readable and None not in (w, r, v, sig)
            if r is not None and round_id is not None and r != round_id:
                self.err(h, R_ATTEST, f"attestations[{i}]: round_id {r} differs from the block's round_id {round_id}")
            if v is not None and v != "valid":
                self.err(h, R_ATTEST, f"attestations[{i}]: verdict '{v}', expected 'valid'")
            if w is None:
                continue
            if w in seen:
                self.err(h, R_ATTEST, f"attestations[{i}]: duplicate witness")
            seen.add(w)
            if miner is not None and w == miner:
                self.err(h, R_ATTEST, f"attestations[{i}]: witness is the block's miner")
            if None not in (sig, bhash, round_id) and not ed25519_ok(w, attest_msg(round_id, bhash), sig):
                self.err(h, R_ATTEST, f"attestations[{i}]: signature does not verify over ATTEST(round_id, hash, valid)")
        return readable

    def check_vrf(self, h, b, height, prev_hash, miner):
        """Rules 12, 13 on the vrf object; returns (suite code, rank, [(device, pi)]) when fully readable."""
        v = b["vrf"]
        if not isinstance(v, dict):
            self.err(h, R_JSON, "'vrf' must be an object")
            return None
        self.keys(h, v, {"suite"}, {"pi", "beta", "rank", "claims"}, "vrf.")
        suite = self.opt(self.string, h, v, "suite", "vrf.")
        if suite is not None and suite not in SUITES:
            self.err(h, R_VRF_PROOF, f"'vrf.suite' is '{suite}', expected 'tai' or 'ell2'")
        code = SUITES.get(suite)
        alpha = b"IOTW/1/VRF\x00" + struct.pack("<Q", height) + prev_hash if None not in (height, prev_hash) else None

        def proof(pk, pi, beta, label):
            if code is None or alpha is None:
                return
            out = ecvrf_verify(code, pk, pi, alpha)
            if out is None:
                self.err(h, R_VRF_PROOF, f"'{label}pi' does not verify on alpha = VRF(height, prev_hash)")
            elif out != beta:
                self.err(h, R_VRF_PROOF, f"'{label}beta' is not the output of '{label}pi'")

        has_pi = "pi" in v or "beta" in v
        pi = beta = None
        if has_pi:
            pi, beta = self.opt(self.hexf, h, v, "pi", 80, "vrf."), self.opt(self.hexf, h, v, "beta", 64, "vrf.")
            if "pi" not in v or "beta" not in v:
                self.err(h, R_JSON, "'vrf.pi' and 'vrf.beta' come together")
            if None not in (pi, beta, miner):
                proof(miner, pi, beta, "vrf.")
        if "claims" not in v and "rank" not in v:
            if not has_pi:
                self.err(h, R_SELECTION, "'vrf' has neither the winning claim nor the round's claims")
            if "finalization" in b:
                self.err(h, R_SELECTION, "'vrf' of a bound block lists no 'claims' and 'rank'")
            return None
        rank, claims = self.opt(self.u64, h, v, "rank", "vrf."), self.opt(self.array, h, v, "claims", "vrf.")
        if "claims" not in v or "rank" not in v:
            self.err(h, R_JSON, "'vrf.claims' and 'vrf.rank' come together")
        if claims is None or rank is None:
            return None
        parsed, listed, readable = [], [], True
        for i, c in enumerate(claims):
            label = f"vrf.claims[{i}]."
            if not isinstance(c, dict):
                self.err(h, R_JSON, f"'vrf.claims[{i}]' is not an object")
                readable = False
                continue
            self.keys(h, c, {"device", "pi", "beta"}, set(), label)
            dev, cpi, cbeta = (self.opt(self.hexf, h, c, "device", 32, label), self.opt(self.hexf, h, c, "pi", 80, label),
                               self.opt(self.hexf, h, c, "beta", 64, label))
            if None in (dev, cpi, cbeta):
                readable = False
                continue
            proof(dev, cpi, cbeta, label)
            parsed.append((cbeta, dev))
            listed.append((dev, cpi))
            if rank == i and miner is not None and dev != miner:
                self.err(h, R_SELECTION, f"the claim at 'vrf.rank' {i} is not the miner's")
            if rank == i and None not in (pi, beta) and (cpi != pi or cbeta != beta):
                self.err(h, R_SELECTION, "'vrf.pi'/'vrf.beta' differ from the claim at 'vrf.rank'")
        if not readable:
            return None
        for i in range(1, len(parsed)):
            if not parsed[i - 1] < parsed[i]:
                self.err(h, R_SELECTION, f"'vrf.claims' are not in strictly increasing (beta, device) order at {i}")
        devices = [d for _, d in parsed]
        if len(set(devices)) != len(devices):
            self.err(h, R_SELECTION, "'vrf.claims' lists a device twice")
        if rank > len(parsed):
            self.err(h, R_SELECTION, f"'vrf.rank' {rank} is beyond the {len(parsed)} claims")
        if rank == len(parsed) and has_pi:
            self.err(h, R_SELECTION, "a fallback pick ('vrf.rank' = claim count) has no 'vrf.pi'")
        if rank < len(parsed) and not has_pi:
            self.err(h, R_SELECTION, "'vrf.pi'/'vrf.beta' of the winning claim are missing")
        if code is None or rank > U32_MAX:
            return None
        return code, rank, listed

    def check_finalization(self, h, b, height, bhash, atts, atts_ok, vrf):
        self.any_finalization = True
        f = b["finalization"]
        if not isinstance(f, dict):
            self.err(h, R_JSON, "'finalization' must be an object")
            return
        label = "finalization."
        self.keys(h, f, {"policy", "n", "t", "selection", "signature"}, set(), label)
        policy, selection = self.opt(self.string, h, f, "policy", label), self.opt(self.string, h, f, "selection", label)
        n, t = self.opt(self.u64, h, f, "n", label), self.opt(self.u64, h, f, "t", label)
        sig = self.opt(self.hexf, h, f, "signature", 64, label)
        pcode, scode = POLICIES.get(policy), SELECTIONS.get(selection)
        if policy is not None and pcode is None:
            self.err(h, R_FINALIZATION, f"'finalization.policy' is '{policy}', expected 'strict' or 'threshold'")
        if selection is not None and scode is None:
            self.err(h, R_FINALIZATION, f"'finalization.selection' is '{selection}'")
        if None not in (pcode, n, t, atts):
            k = len(atts)
            if n == 0 or n > U32_MAX or t > n or t == 0:
                self.err(h, R_ATTEST_COUNT, f"witness policy n = {n}, t = {t} is not 1 <= t <= n")
            elif pcode == 1 and (t != n or k != n):
                self.err(h, R_ATTEST_COUNT, f"strict policy needs t = n and exactly n = {n} attestations; t = {t}, {k} listed")
            elif pcode == 2 and not t <= k <= n:
                self.err(h, R_ATTEST_COUNT, f"threshold policy needs t = {t} to n = {n} attestations, {k} listed")
        if scode == 3 and "vrf" not in b:
            self.err(h, R_SELECTION, "selection 'vrf' but the block has no 'vrf'")
        if scode is not None and scode != 3 and "vrf" in b:
            self.err(h, R_SELECTION, f"selection '{selection}' but the block has a 'vrf'")
        if (None in (sig, pcode, scode, n, t, bhash, height, atts) or n > U32_MAX or t > U32_MAX or not atts_ok
                or self.node_key is None):
            return
        atts_hash = sha256(b"".join(bytes.fromhex(a["witness"]) + struct.pack("<QB", a["round_id"], 1 if a["verdict"] == "valid" else 2)
                                    + bytes.fromhex(a["signature"]) for a in atts))
        sel_hash = bytes(32)
        if scode == 3:
            if vrf is None:
                return
            suite, rank, listed = vrf
            sel_hash = sha256(struct.pack("<BII", suite, rank, len(listed)) + b"".join(d + p for d, p in listed))
        if not ed25519_ok(self.node_key, finalize_msg(height, bhash, pcode, n, t, scode, atts_hash, sel_hash), sig):
            self.err(h, R_FINALIZATION, "'finalization.signature' does not verify over FINALIZE under the node key")

    def check_tip(self, line, h, last_hash, last_ts):
        self.keys(h, line, {"tip"}, set(), "")
        tip = line.get("tip")
        if not isinstance(tip, dict):
            self.err(h, R_JSON, "'tip' must be an object")
            return
        label = "tip."
        self.keys(h, tip, {"height", "hash", "time_ms", "node_key", "signature", "checkpoint_signature"}, set(), label)
        th, thash = self.opt(self.u64, h, tip, "height", label), self.opt(self.hexf, h, tip, "hash", 32, label)
        time_ms, key = self.opt(self.u64, h, tip, "time_ms", label), self.opt(self.hexf, h, tip, "node_key", 32, label)
        sig, ck = self.opt(self.hexf, h, tip, "signature", 64, label), self.opt(self.hexf, h, tip, "checkpoint_signature", 64, label)
        if th is not None and th != h:
            self.err(h, R_TIP, f"'tip.height' is {th} but the last block is at height {h}")
        if thash is not None and last_hash is not None and thash != last_hash:
            self.err(h, R_TIP, "'tip.hash' is not the last block's hash")
        if time_ms is not None and last_ts is not None and time_ms < last_ts:
            self.err(h, R_TIP, "'tip.time_ms' is before the last block's timestamp_ms")
        if key is not None and self.pinned is not None and key != self.pinned:
            self.err(h, R_TIP, "'tip.node_key' is not the node key given to the verifier")
        if None in (key, thash, th):
            return
        if sig is not None and time_ms is not None and not ed25519_ok(key, tip_msg(th, thash, time_ms), sig):
            self.err(h, R_TIP, "'tip.signature' does not verify over TIP(height, hash, time_ms)")
        if ck is not None and not ed25519_ok(key, checkpoint_msg(th, thash), ck):
            self.err(h, R_TIP, "'tip.checkpoint_signature' does not verify over CHECKPOINT(height, hash)")

    def run(self):
        lines = self.lines
        is_tip = lambda x: isinstance(x, dict) and "tip" in x
        has_tip = bool(lines) and is_tip(lines[-1])
        blocks = lines[:-1] if has_tip else lines
        if self.node_key is None and has_tip and isinstance(lines[-1]["tip"], dict):
            k = lines[-1]["tip"].get("node_key")
            if isinstance(k, str) and len(k) == 64 and set(k) <= HEX:
                self.node_key = bytes.fromhex(k)
        if not blocks:
            self.err(0, R_ORDER, "ledger is empty (no genesis block)")
        prev = ts = None
        for i, b in enumerate(blocks):
            if is_tip(b):
                self.err(i, R_ORDER, "a 'tip' line before the last line")
                continue
            self.blocks_checked += 1
            prev, ts = self.check_block(b, i, prev)
        last = max(len(blocks) - 1, 0)
        if has_tip:
            self.check_tip(lines[-1], last, prev, ts)
        elif self.any_finalization:
            self.err(last, R_TIP, "no signed 'tip' line ends a ledger with finalization records")
        if self.issues:
            return "invalid"
        return "unbound" if self.first_unbound is not None or not has_tip else "valid"


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def parse_lines(data):
    """Non-empty lines of the file; a line that is not strict JSON (syntax, duplicate key, NaN) becomes None."""
    out = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants))
        except (ValueError, UnicodeDecodeError):
            out.append(None)
    return out


def verify(data, node_key=None):
    """(status, issues, ledger) for the file's bytes; issues are (height, rule, what)."""
    lines = parse_lines(data)
    led = Ledger(lines, node_key)
    status = led.run()
    bad = [(i, R_JSON, "not valid JSON, or an object repeats a key") for i, line in enumerate(lines) if line is None]
    if bad:  # ahead of the block check's "not a JSON object" for the same line, so the first rule broken says why
        led.issues[:0] = bad
        status = "invalid"
    return status, led.issues, led


def self_test(ecvrf_path, h2c_path):
    """RFC 9381 (B.3 TAI, B.4 ELL2) and RFC 9380 J.5.2 vectors from the repository's data files."""
    failures, checked = [], 0
    suite, ex = None, {}

    def finish():
        nonlocal checked
        if "pi" not in ex or suite is None or str(ex.get("example", "")).startswith("draft03"):
            if "pi" in ex and suite is not None:  # draft-03 proofs are not RFC 9381 proofs: must be rejected
                checked += 1
                if ecvrf_verify(suite, bytes.fromhex(ex["PK"]), bytes.fromhex(ex["pi"]), ex["alpha"]) is not None:
                    failures.append(f"suite {suite} {ex['example']}: a draft-03 proof verified")
            return
        checked += 1
        pk, pi, alpha = bytes.fromhex(ex["PK"]), bytes.fromhex(ex["pi"]), ex["alpha"]
        if SigningKey(bytes.fromhex(ex["SK"])).verify_key.encode() != pk:
            failures.append(f"suite {suite} example {ex['example']}: PK")
        if ecvrf_verify(suite, pk, pi, alpha) != bytes.fromhex(ex["beta"]):
            failures.append(f"suite {suite} example {ex['example']}: verify/beta")
        bad = bytearray(pi)
        bad[40] ^= 1
        if ecvrf_verify(suite, pk, bytes(bad), alpha) is not None:
            failures.append(f"suite {suite} example {ex['example']}: a corrupted proof verified")
        other = 4 if suite == 3 else 3
        if ecvrf_verify(other, pk, pi, alpha) is not None:
            failures.append(f"suite {suite} example {ex['example']}: verified under the other suite")

    for line in open(ecvrf_path, encoding="utf-8"):
        line = line.split("#")[0].rstrip()
        if line.startswith("["):
            finish()
            ex = {}
            suite = 3 if "-TAI]" in line else 4 if "-ELL2]" in line else None
        elif " = " in line:
            k, v = line.split(" = ", 1)
            if k == "example":
                finish()
                ex = {"example": v.split()[0]}
            elif k == "alpha":
                ex["alpha"] = b"" if v.startswith("(0 bytes)") else bytes.fromhex(v.split()[0])
            else:
                ex[k] = v.split()[0]
    finish()
    dst = b"QUUX-V01-CS02-with-edwards25519_XMD:SHA-512_ELL2_NU_"
    ex = {}

    def finish_h2c():
        nonlocal checked
        if "P.y" not in ex:
            return
        checked += 1
        x, y = _affine(encode_to_curve_ell2(ex["msg"], dst))
        if (x, y) != (int(ex["P.x"], 16), int(ex["P.y"], 16)):
            failures.append(f"RFC 9380 J.5.2 example {ex['example']}: encode_to_curve")

    for line in open(h2c_path, encoding="utf-8"):
        line = line.split("#")[0].rstrip()
        if " = " in line:
            k, v = line.split(" = ", 1)
            if k == "example":
                finish_h2c()
                ex = {"example": v}
            elif k == "msg":
                ex["msg"] = b"" if v == "(0 bytes)" else v.encode()
            else:
                ex[k] = v
    finish_h2c()
    for f in failures:
        print("FAIL:", f)
    print(f"self-test: {checked - len(failures)} of {checked} vectors pass")
    return 1 if failures or checked < 8 else 0


def main(argv):
    if argv == ["--self-test"]:  # in a checkout: the vector files of tests/data
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "data")
        argv = argv + [os.path.join(data, "ecvrf_vectors.txt"), os.path.join(data, "h2c_edwards25519_nu_vectors.txt")]
    if len(argv) == 3 and argv[0] == "--self-test":
        return self_test(argv[1], argv[2])
    if len(argv) not in (1, 3) or argv[0].startswith("--"):
        print(__doc__, file=sys.stderr)
        return 2
    path, node_key = argv[0], None
    if len(argv) == 3:
        try:
            if argv[1] == "--node-key":
                text = argv[2]
            elif argv[1] == "--node-key-file":
                raw = open(argv[2], "rb").read()
                text = SigningKey(raw).verify_key.encode().hex() if len(raw) == 32 else raw.decode().strip()
            else:
                raise ValueError(f"unknown option {argv[1]}")
            node_key = bytes.fromhex(text)
            if len(node_key) != 32:
                raise ValueError("a node key is 32 bytes (64 hex digits)")
        except (OSError, ValueError) as e:
            print(f"error: {argv[1]}: {e}", file=sys.stderr)
            return 2
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"unreadable: {path}: {e.strerror}")
        return 2
    status, issues, led = verify(data, node_key)
    for h, r, what in issues:
        print(f"height {h}: rule {r}: {what}", file=sys.stderr)
    if status == "invalid":
        h, r, what = min(issues, key=lambda i: (i[0], i[1]))
        print(f"invalid: rule {r} at height {h}: {what} ({len(issues)} problem{'' if len(issues) == 1 else 's'} in all)")
        return 1
    if status == "unbound":
        reason = (f"heights {led.first_unbound}..{led.last_unbound} carry no finalization record"
                  if led.first_unbound is not None else "no signed tip ends the ledger")
        print(f"unbound: {led.blocks_checked} blocks, {reason}; every other rule holds, but the node's signatures do not cover them")
        return 1
    key = led.node_key.hex() if led.node_key else "none"
    print(f"valid: {led.blocks_checked} blocks, tip at height {led.blocks_checked - 1}, node key {key} "
          f"({'pinned' if led.pinned else 'not pinned: read from the tip; pass --node-key'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
