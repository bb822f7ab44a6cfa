// Independent re-verification of an exported ledger (ledger.jsonl), written from docs/protocol.md §4, §5
// and §8 alone: it trusts nothing the trust node says about its own blocks.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::harness {

/// One broken rule: the numbered rule of docs/protocol.md §8 and the height of the block it was found at
/// (a tip problem is reported at the last block's height; a line that is not a block at its line index).
struct LedgerIssue {
  std::uint64_t height = 0;
  int rule = 0;      ///< 1..15, docs/protocol.md §8
  std::string what;  ///< "height N: ..." as in LedgerVerdict::errors
};

/// valid: every rule holds and every block is bound (finalization records, signed tip); unbound: every rule
/// holds but some blocks carry no finalization record or the export has no tip (a ledger written before the
/// binding format, or by a node without a node key); invalid: a rule is broken.
enum class LedgerStatus { valid, unbound, invalid };

struct LedgerVerdict {
  LedgerStatus status = LedgerStatus::invalid;
  bool valid = false;               ///< status == valid
  std::vector<std::string> errors;  ///< each "height N: what" (N = the line's position, genesis = 0)
  std::vector<LedgerIssue> issues;  ///< the same problems with their rule numbers, in the order found
  std::optional<LedgerIssue> first; ///< the broken rule with the lowest (height, rule): what a CLI reports
  std::string unbound_reason;       ///< status == unbound: which blocks or which tip are not bound
  std::size_t blocks_checked = 0;   ///< block lines examined (genesis included; the tip line not)
  std::size_t attestations_checked = 0;  ///< attestation entries examined
  std::optional<std::string> node_key;   ///< hex of the key the node signatures were checked under
  bool node_key_pinned = false;          ///< that key was given by the caller, not read from the tip
};

struct LedgerVerifyOptions {
  /// The trust node's Ed25519 public key (`iotw-trust-node --print-node-pubkey`). Without it the node
  /// signatures are checked under the tip's `node_key`, which proves consistency, not origin.
  std::optional<std::array<std::uint8_t, 32>> node_key;
};

/// Checks the numbered rules of docs/protocol.md §8 on the ledger's lines (blocks in height order, then the
/// optional tip line {"tip": {...}}). Malformed input (not an object, missing or unknown key, wrong type, bad
/// or upper-case hex, wrong length) is rule 1; nothing throws. Already-parsed JSON cannot show duplicate
/// keys: use verify_ledger_text for a file's text.
LedgerVerdict verify_ledger(const std::vector<nlohmann::json>& lines, const LedgerVerifyOptions& options = {});

/// Parses each non-empty line strictly (a duplicate key in any object is rule 1 at that line), then runs
/// verify_ledger.
LedgerVerdict verify_ledger_text(const std::vector<std::string>& lines, const LedgerVerifyOptions& options = {});

/// Parses one JSON text, refusing duplicate keys in any object; nullopt on a syntax error or a duplicate key.
std::optional<nlohmann::json> parse_json_strict(const std::string& text);

/// The block lines of a ledger: lines without a trailing {"tip": ...} line (what the scorer counts).
std::vector<nlohmann::json> ledger_blocks(const std::vector<nlohmann::json>& lines);

}  // namespace iotw::harness
