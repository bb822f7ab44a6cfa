#!/usr/bin/python3
"""Tamper corpus for the ledger verifiers (docs/protocol.md §8): from a ledger exported by a rig run, writes copies
that each break one numbered rule of §8, with every other hash and signature recomputed where that is possible.

The run folder gives the keys: node.key (the trust node's Ed25519 seed) re-signs finalization records and the tip;
nvs/<device>/id.seed (the emulated devices' seeds) re-sign miner results and attestations. VRF proofs are never
re-made (this tool has no ECVRF prover), so a tamper that moves a VRF block's prev_hash also breaks rule 12 at the
same height; the target rule is still the first broken one (lowest height, then lowest number), which is what both
verifiers report. Works on a ledger mined under selection = "vrf" with at least 5 blocks above genesis.

Usage: tools/ledger_tamper.py RUN_DIR OUT_DIR
Writes OUT_DIR/NN-name.jsonl and OUT_DIR/manifest.json: [{"file", "name", "rule", "height"}] (the rule and height a
verifier must report). Exit 0, or 2 when the run folder lacks what it needs.
"""
import copy
import glob
import hashlib
import json
import os
import struct
import sys

from nacl.signing import SigningKey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_ledger import POLICIES, SELECTIONS, SUITES, checkpoint_msg, finalize_msg, tip_msg  # noqa: E402

sha256 = lambda b: hashlib.sha256(b).digest()


class Keys:
    def __init__(self, run_dir):
        self.node = SigningKey(open(os.path.join(run_dir, "node.key"), "rb").read())
        self.devices = {}
        for path in glob.glob(os.path.join(run_dir, "nvs", "*", "*id.seed")):
            k = SigningKey(open(path, "rb").read())
            self.devices[k.verify_key.encode().hex()] = k

    def device(self, pk_hex):
        return self.devices[pk_hex]


def header_of(b, version=1):
    return (struct.pack("<IQ", version, b["height"]) + bytes.fromhex(b["prev_hash"]) + bytes.fromhex(b["tx_root"])
            + struct.pack("<Q", b["timestamp_ms"]) + bytes.fromhex(b["miner"]) + struct.pack("<I", b["tx_count"]))


def sign_finalization(b, keys):
    f = b["finalization"]
    atts_hash = sha256(b"".join(bytes.fromhex(a["witness"]) + struct.pack("<QB", a["round_id"], 1 if a["verdict"] == "valid" else 2)
                                + bytes.fromhex(a["signature"]) for a in b["attestations"]))
    sel = bytes(32)
    if f["selection"] == "vrf" and isinstance(b.get("vrf"), dict) and "claims" in b["vrf"]:
        v = b["vrf"]
        sel = sha256(struct.pack("<BII", SUITES.get(v["suite"], 0), v["rank"], len(v["claims"]))
                     + b"".join(bytes.fromhex(c["device"]) + bytes.fromhex(c["pi"]) for c in v["claims"]))
    msg = finalize_msg(b["height"], bytes.fromhex(b["hash"]), POLICIES.get(f["policy"], 0), f["n"], f["t"],
                       SELECTIONS.get(f["selection"], 0), atts_hash, sel)
    f["signature"] = keys.node.sign(msg).signature.hex()


def sign_attestation(b, a, keys):
    msg = (b"IOTW/1/ATTEST\x00" + struct.pack("<Q", a["round_id"]) + bytes.fromhex(b["hash"])
           + (b"\x01" if a["verdict"] == "valid" else b"\x02"))
    a["signature"] = keys.device(a["witness"]).sign(msg).signature.hex()


def reseal(b, keys, header=None, block_hash=None):
    """Recomputes b's header (from its JSON fields unless given), hash, tx list root/count stay as the JSON says;
    re-signs the miner's RESULT, every attestation and the finalization record."""
    b["header"] = (header or header_of(b)).hex()
    b["hash"] = block_hash or sha256(bytes.fromhex(b["header"])).hex()
    msg = b"IOTW/1/RESULT\x00" + struct.pack("<Q", b["assignment_id"]) + bytes.fromhex(b["hash"])
    b["miner_signature"] = keys.device(b["miner"]).sign(msg).signature.hex()
    for a in b["attestations"]:
        sign_attestation(b, a, keys)
    if "finalization" in b:
        sign_finalization(b, keys)


def retip(lines, keys, time_ms=None):
    """Re-signs the tip line for the last block line."""
    last = lines[-2]
    t = lines[-1]["tip"]
    t["height"], t["hash"] = last["height"], last["hash"]
    if time_ms is not None:
        t["time_ms"] = time_ms
    t["node_key"] = keys.node.verify_key.encode().hex()
    t["signature"] = keys.node.sign(tip_msg(t["height"], bytes.fromhex(t["hash"]), t["time_ms"])).signature.hex()
    t["checkpoint_signature"] = keys.node.sign(checkpoint_msg(t["height"], bytes.fromhex(t["hash"]))).signature.hex()


def retx(b):
    b["tx_count"] = len(b["transactions"])
    b["tx_root"] = sha256(b"".join(bytes.fromhex(t["hash"]) for t in b["transactions"])).hex()


def flip(s, i=0):
    return s[:i] + ("1" if s[i] != "1" else "2") + s[i + 1:]


def tampers(lines, keys):
    """(name, rule, height, mutate(lines) -> lines or text) for each tamper."""
    L = len(lines) - 2  # last block's index (the last line is the tip)
    M = L - 2           # a middle block
    blocks_with_txs = [i for i in range(1, L + 1) if lines[i]["transactions"]]
    T = blocks_with_txs[-1] if blocks_with_txs else None
    out = []

    def add(name, rule, height):
        def deco(f):
            out.append((name, rule, height, f))
            return f
        return deco

    # --- rule 1: JSON strictness ---
    @add("duplicate_key", 1, M)
    def _(ls):
        text = [json.dumps(x, separators=(",", ":")) for x in ls]
        text[M] = '{"round_id":0,' + text[M][1:]
        return "\n".join(text) + "\n"

    @add("upper_case_hex", 1, M)
    def _(ls):
        ls[M]["miner_signature"] = ls[M]["miner_signature"].upper()
        return ls

    @add("unknown_key", 1, M)
    def _(ls):
        ls[M]["note"] = "added"
        return ls

    @add("missing_key", 1, M)
    def _(ls):
        del ls[M]["tx_root"]
        return ls

    @add("negative_integer", 1, M)
    def _(ls):
        ls[M]["assignment_id"] = -1
        return ls

    @add("boolean_for_integer", 1, M)
    def _(ls):
        ls[M]["finalization"]["n"] = True
        return ls

    @add("short_signature_hex", 1, M)
    def _(ls):
        ls[M]["attestations"][0]["signature"] = ls[M]["attestations"][0]["signature"][:-2]
        return ls

    # --- rule 2: line order ---
    @add("swapped_blocks", 2, M)
    def _(ls):
        ls[M], ls[M + 1] = ls[M + 1], ls[M]
        return ls

    @add("tip_not_last", 2, L)
    def _(ls):
        ls[-1], ls[-2] = ls[-2], ls[-1]
        return ls

    # --- rule 3: genesis ---
    @add("genesis_with_finalization", 3, 0)
    def _(ls):
        ls[0]["finalization"] = copy.deepcopy(ls[1]["finalization"])
        return ls

    @add("genesis_with_attestation", 3, 0)
    def _(ls):
        ls[0]["attestations"] = [copy.deepcopy(ls[1]["attestations"][0])]
        return ls

    # --- rule 4: header ---
    @add("header_timestamp_not_json", 4, L)
    def _(ls):
        b = ls[L]
        h = bytearray(header_of(b))
        h[76] ^= 1
        reseal(b, keys, header=bytes(h))
        retip(ls, keys)
        return ls

    @add("hash_not_sha256_of_header", 4, L)
    def _(ls):
        reseal(ls[L], keys, block_hash=flip(ls[L]["hash"], 5))
        retip(ls, keys)
        return ls

    @add("header_version_2", 4, L)
    def _(ls):
        reseal(ls[L], keys, header=header_of(ls[L], version=2))
        retip(ls, keys)
        return ls

    # --- rule 5: link ---
    @add("prev_hash_skips_a_block", 5, L)
    def _(ls):
        ls[L]["prev_hash"] = ls[L - 2]["hash"]  # VRF alpha moves too: rule 12 breaks as well (higher number)
        reseal(ls[L], keys)
        retip(ls, keys)
        return ls

    # --- rule 6: transactions ---
    @add("payload_not_hash", 6, T)
    def _(ls):
        t = ls[T]["transactions"][0]
        t["payload_hex"] = "00" + t["payload_hex"][2:]
        return ls

    @add("transaction_removed", 6, T)
    def _(ls):
        ls[T]["transactions"].pop()
        return ls

    @add("tx_root_resealed", 6, L)
    def _(ls):
        ls[L]["tx_root"] = flip(ls[L]["tx_root"], 3)
        reseal(ls[L], keys)
        retip(ls, keys)
        return ls

    T2 = next((i for i in range(L, 0, -1) if len(lines[i]["transactions"]) > 1), None)
    if T2 is not None:
        @add("transactions_reordered", 6, T2)
        def _(ls):
            txs = ls[T2]["transactions"]
            txs[0], txs[1] = txs[1], txs[0]
            return ls

    # --- rule 7: one transaction, one block ---
    @add("transaction_in_two_blocks", 7, L)
    def _(ls):
        src = next(i for i in blocks_with_txs if i < L)
        ls[L]["transactions"].append(copy.deepcopy(ls[src]["transactions"][0]))
        retx(ls[L])
        reseal(ls[L], keys)
        retip(ls, keys)
        return ls

    @add("transaction_twice_in_a_block", 7, T)
    def _(ls):  # below the last block the successor's prev_hash breaks too (rule 5, one height higher)
        ls[T]["transactions"].append(copy.deepcopy(ls[T]["transactions"][0]))
        retx(ls[T])
        reseal(ls[T], keys)
        if T == L:
            retip(ls, keys)
        return ls

    # --- rule 8: transaction signatures ---
    @add("tx_signature_forged", 8, T)
    def _(ls):
        wallet = SigningKey(bytes(range(32)))
        t = ls[T]["transactions"][0]
        t["signer"] = wallet.verify_key.encode().hex()
        t["signature"] = wallet.sign(b"IOTW/1/TX\x00" + bytes(32)).signature.hex()  # over another hash
        return ls

    @add("tx_signer_without_signature", 8, T)
    def _(ls):
        ls[T]["transactions"][0]["signer"] = SigningKey(bytes(range(32))).verify_key.encode().hex()
        return ls

    # --- rule 9: miner signature ---
    @add("miner_signature_flipped", 9, M)
    def _(ls):
        ls[M]["miner_signature"] = flip(ls[M]["miner_signature"], 10)
        return ls

    @add("assignment_id_changed", 9, M)
    def _(ls):
        ls[M]["assignment_id"] += 1
        return ls

    # --- rule 10: attestations ---
    @add("verdict_invalid_resigned", 10, M)
    def _(ls):
        a = ls[M]["attestations"][0]
        a["verdict"] = "invalid"
        sign_attestation(ls[M], a, keys)
        sign_finalization(ls[M], keys)
        return ls

    @add("attestation_round_changed", 10, M)
    def _(ls):
        a = ls[M]["attestations"][1]
        a["round_id"] += 1
        sign_attestation(ls[M], a, keys)
        sign_finalization(ls[M], keys)
        return ls

    @add("witness_is_miner", 10, M)
    def _(ls):
        a = ls[M]["attestations"][0]
        a["witness"] = ls[M]["miner"]
        sign_attestation(ls[M], a, keys)
        sign_finalization(ls[M], keys)
        return ls

    @add("duplicate_witness", 10, M)
    def _(ls):
        ls[M]["attestations"][1] = copy.deepcopy(ls[M]["attestations"][0])
        sign_finalization(ls[M], keys)
        return ls

    @add("attestation_signature_flipped", 10, M)
    def _(ls):
        a = ls[M]["attestations"][2]
        a["signature"] = flip(a["signature"], 4)
        sign_finalization(ls[M], keys)
        return ls

    # --- rule 11: attestation count under the policy ---
    @add("attestation_removed_resigned", 11, M)
    def _(ls):
        ls[M]["attestations"].pop()
        sign_finalization(ls[M], keys)
        return ls

    @add("policy_n_raised", 11, M)
    def _(ls):
        f = ls[M]["finalization"]
        f["n"] = f["t"] = f["n"] + 1
        sign_finalization(ls[M], keys)
        return ls

    @add("threshold_t_above_n", 11, M)
    def _(ls):
        f = ls[M]["finalization"]
        f["policy"], f["t"] = "threshold", f["n"] + 1
        sign_finalization(ls[M], keys)
        return ls

    # --- rule 12: VRF proofs and suite ---
    @add("vrf_suite_swapped", 12, M)
    def _(ls):
        ls[M]["vrf"]["suite"] = "ell2" if ls[M]["vrf"]["suite"] == "tai" else "tai"
        sign_finalization(ls[M], keys)
        return ls

    @add("vrf_losing_claim_forged", 12, M)
    def _(ls):
        c = ls[M]["vrf"]["claims"][-1]
        c["pi"] = sha256(b"forged").hex() + c["pi"][64:]
        c["beta"] = "ff" * 64  # keeps the (beta, device) order: it is the last claim
        sign_finalization(ls[M], keys)
        return ls

    @add("vrf_winner_beta_zero", 12, M)
    def _(ls):
        v = ls[M]["vrf"]
        v["beta"] = v["claims"][v["rank"]]["beta"] = "00" * 64
        sign_finalization(ls[M], keys)
        return ls

    # --- rule 13: the selection the ledger proves ---
    @add("vrf_rank_moved", 13, M)
    def _(ls):
        ls[M]["vrf"]["rank"] += 1
        sign_finalization(ls[M], keys)
        return ls

    @add("vrf_claims_reordered", 13, M)
    def _(ls):
        c = ls[M]["vrf"]["claims"]
        c[0], c[1] = c[1], c[0]
        sign_finalization(ls[M], keys)
        return ls

    @add("vrf_object_deleted", 13, M)
    def _(ls):
        del ls[M]["vrf"]
        sign_finalization(ls[M], keys)
        return ls

    @add("selection_relabelled_uniform", 13, M)
    def _(ls):
        ls[M]["finalization"]["selection"] = "uniform"
        sign_finalization(ls[M], keys)
        return ls

    # --- rule 14: the finalization record ---
    @add("losing_claim_dropped", 14, M)
    def _(ls):
        ls[M]["vrf"]["claims"].pop()
        return ls

    @add("finalization_signature_flipped", 14, M)
    def _(ls):
        f = ls[M]["finalization"]
        f["signature"] = flip(f["signature"], 7)
        return ls

    @add("finalization_removed", 14, M)
    def _(ls):
        del ls[M]["finalization"]
        return ls

    @add("policy_relabelled", 14, M)
    def _(ls):
        ls[M]["finalization"]["policy"] = "threshold"  # t = n: the count still fits, the signature does not
        return ls

    @add("attestations_reordered", 14, M)
    def _(ls):
        a = ls[M]["attestations"]
        a[0], a[1] = a[1], a[0]
        return ls

    # --- rule 15: the signed tip ---
    @add("last_block_dropped", 15, L - 1)
    def _(ls):
        del ls[L]
        return ls

    @add("last_block_and_tip_dropped", 15, L - 1)
    def _(ls):
        del ls[L:]
        return ls

    @add("tip_time_before_block", 15, L)
    def _(ls):
        retip(ls, keys, time_ms=ls[L]["timestamp_ms"] - 1)
        return ls

    @add("tip_signature_flipped", 15, L)
    def _(ls):
        ls[-1]["tip"]["signature"] = flip(ls[-1]["tip"]["signature"], 9)
        return ls

    @add("tip_checkpoint_signature_flipped", 15, L)
    def _(ls):
        ls[-1]["tip"]["checkpoint_signature"] = flip(ls[-1]["tip"]["checkpoint_signature"], 9)
        return ls

    @add("tip_signed_by_another_key", 15, L)
    def _(ls):
        other = SigningKey(sha256(b"another node"))
        t = ls[-1]["tip"]
        t["node_key"] = other.verify_key.encode().hex()
        t["signature"] = other.sign(tip_msg(t["height"], bytes.fromhex(t["hash"]), t["time_ms"])).signature.hex()
        t["checkpoint_signature"] = other.sign(checkpoint_msg(t["height"], bytes.fromhex(t["hash"]))).signature.hex()
        return ls

    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir, out_dir = argv
    try:
        keys = Keys(run_dir)
        with open(os.path.join(run_dir, "ledger.jsonl"), encoding="utf-8") as f:
            lines = [json.loads(x) for x in f if x.strip()]
    except (OSError, ValueError) as e:
        print(f"error: {run_dir}: {e}", file=sys.stderr)
        return 2
    if len(lines) < 7 or "tip" not in lines[-1] or "vrf" not in lines[-3] or not keys.devices:
        print(f"error: {run_dir}: needs a bound VRF ledger with at least 5 blocks above genesis and the devices' "
              f"nvs/*/id.seed", file=sys.stderr)
        return 2
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for n, (name, rule, height, mutate) in enumerate(tampers(lines, keys), 1):
        result = mutate(copy.deepcopy(lines))
        text = result if isinstance(result, str) else "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in result)
        file = f"{n:02d}-{name}.jsonl"
        with open(os.path.join(out_dir, file), "w", encoding="utf-8") as f:
            f.write(text)
        manifest.append({"file": file, "name": name, "rule": rule, "height": height})
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} tampered ledgers in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
