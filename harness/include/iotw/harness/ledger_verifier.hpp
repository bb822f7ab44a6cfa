// Independent re-verification of an exported ledger (ledger.jsonl), written from docs/protocol.md §4, §5
// and §8 alone: it trusts nothing the trust node says about its own blocks.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::harness {

struct LedgerVerdict {
  bool valid = false;               ///< true when errors is empty and the ledger has a correct genesis
  std::vector<std::string> errors;  ///< each "height N: what" (N = the line's position, genesis = 0)
  std::size_t blocks_checked = 0;   ///< lines examined (genesis included)
  std::size_t attestations_checked = 0;  ///< attestation entries examined
};

/// Checks, for each line in order (line i must be height i): genesis is exactly the §4 genesis block;
/// hash == SHA-256(header); every header field equals its JSON field; prev_hash links to the previous
/// hash; transactions hash to their `hash`, their count and root match the header; the miner signature
/// verifies over RESULT(assignment_id, hash); at least one attestation, all for this round_id, all
/// "valid", distinct witnesses, none the miner, each verifying over ATTEST(round_id, hash, 1).
/// Malformed input (not an object, missing key, wrong type, bad hex, wrong length) becomes an error
/// entry; nothing throws. Hex must be lower-case (protocol.md conventions).
LedgerVerdict verify_ledger(const std::vector<nlohmann::json>& blocks);

}  // namespace iotw::harness
