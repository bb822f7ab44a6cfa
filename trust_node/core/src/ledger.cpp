#include "iotw/trust_node/ledger.hpp"

#include <sodium.h>

#include "iotw/block_header.h"

namespace iotw::tn {

Hash sha256(const uint8_t *p, size_t n) {
  Hash h;
  crypto_hash_sha256(h.data(), p, n);
  return h;
}

Block genesis_block() {
  iotw_block_header h{};
  h.version = IOTW_BLOCK_VERSION;
  const Hash empty = sha256(nullptr, 0);
  std::copy(empty.begin(), empty.end(), h.tx_root);
  Block b;
  iotw_block_header_pack(&h, b.header.data());
  b.hash = sha256(b.header.data(), b.header.size());
  return b;
}

nlohmann::json block_to_json(const Block &b) {
  iotw_block_header h;
  iotw_block_header_unpack(b.header.data(), &h);
  nlohmann::json txs = nlohmann::json::array();
  for (const Tx &t : b.txs) {
    nlohmann::json j{{"hash", to_hex(t.hash)}, {"payload_hex", to_hex(t.payload)}};
    if (t.signature) {
      j["signer"] = to_hex(t.signature->pubkey);
      j["signature"] = to_hex(t.signature->signature);
    }
    txs.push_back(std::move(j));
  }
  nlohmann::json atts = nlohmann::json::array();
  for (const Attestation &a : b.attestations)
    atts.push_back(nlohmann::json{{"witness", to_hex(a.witness)},
                    {"round_id", a.round_id},
                    {"verdict", a.verdict == 1 ? "valid" : "invalid"},
                    {"signature", to_hex(a.signature)}});
  nlohmann::json out{{"height", b.height},
                     {"hash", to_hex(b.hash)},
                     {"header", to_hex(b.header)},
                     {"prev_hash", to_hex(h.prev_hash, IOTW_HASH_SIZE)},
                     {"tx_root", to_hex(h.tx_root, IOTW_HASH_SIZE)},
                     {"timestamp_ms", h.timestamp_ms},
                     {"miner", to_hex(b.miner)},
                     {"tx_count", h.tx_count},
                     {"assignment_id", b.assignment_id},
                     {"miner_signature", to_hex(b.miner_signature)},
                     {"round_id", b.round_id},
                     {"transactions", std::move(txs)},
                     {"attestations", std::move(atts)}};
  if (b.vrf)  // only blocks mined by a VRF claim: older and non-VRF ledgers are unchanged
    out["vrf"] = {{"suite", b.vrf->suite == 4 ? "ell2" : "tai"},
                  {"pi", to_hex(b.vrf->pi)},
                  {"beta", to_hex(b.vrf->beta)}};
  return out;
}

}  // namespace iotw::tn
