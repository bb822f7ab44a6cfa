// Independent ledger verifier (docs/protocol.md §4, §5, §8; rule numbers are those of §8).
#include "iotw/harness/ledger_verifier.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string_view>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/ledger_signing.h"
#include "iotw/signing.h"
#include "iotw/support/hex.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

// §8 rule numbers.
enum Rule : int {
  kJson = 1, kOrder = 2, kGenesis = 3, kHeader = 4, kLink = 5, kTxs = 6, kTxUnique = 7, kTxSig = 8, kMinerSig = 9,
  kAttest = 10, kAttestCount = 11, kVrfProof = 12, kSelection = 13, kFinalization = 14, kTip = 15,
};

Bytes sha256(const std::uint8_t* data, std::size_t len) {
  Bytes out(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.data(), data, len);
  return out;
}
Bytes sha256(const Bytes& b) { return sha256(b.data(), b.size()); }

bool same(const Bytes& a, const std::uint8_t* b, std::size_t n) {
  return a.size() == n && std::equal(a.begin(), a.end(), b);
}

/// The protocol's genesis header: version 1, tx_root = SHA-256(""), everything else zero.
std::array<std::uint8_t, IOTW_BLOCK_HEADER_SIZE> genesis_header() {
  iotw_block_header h{};
  h.version = IOTW_BLOCK_VERSION;
  crypto_hash_sha256(h.tx_root, nullptr, 0);
  std::array<std::uint8_t, IOTW_BLOCK_HEADER_SIZE> out{};
  iotw_block_header_pack(&h, out.data());
  return out;
}

bool is_tip_line(const json& j) { return j.is_object() && j.contains("tip"); }

/// Field readers that report rule 1 for anything malformed.
class Reader {
 public:
  Reader(std::uint64_t height, LedgerVerdict& v) : h_(height), v_(v) {}
  void err(int rule, const std::string& what) {
    std::string line = fmt::format("height {}: {}", h_, what);
    v_.errors.push_back(line);
    v_.issues.push_back(LedgerIssue{h_, rule, std::move(line)});
  }
  /// Rule 1: o has only keys from `required` and `optional`, and every required one.
  void keys(const json& o, std::initializer_list<std::string_view> required,
            std::initializer_list<std::string_view> optional, std::string_view label) {
    for (auto it = o.begin(); it != o.end(); ++it) {
      const auto known = [&](std::initializer_list<std::string_view> l) {
        return std::find(l.begin(), l.end(), it.key()) != l.end();
      };
      if (!known(required) && !known(optional)) err(kJson, fmt::format("unknown key '{}{}'", label, it.key()));
    }
    for (std::string_view k : required)
      if (!o.contains(std::string(k))) err(kJson, fmt::format("missing key '{}{}'", label, k));
  }
  const json* get(const json& o, std::string_view key) {
    auto it = o.find(std::string(key));
    return it == o.end() ? nullptr : &*it;
  }
  std::optional<std::uint64_t> u64(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key);
    if (j && j->is_number_unsigned()) return j->get<std::uint64_t>();
    if (j && j->is_number_integer() && j->get<std::int64_t>() >= 0) return j->get<std::uint64_t>();
    if (j) err(kJson, fmt::format("'{}{}' must be a non-negative integer", label, key));
    return std::nullopt;
  }
  std::optional<std::string> str(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key);
    if (j && j->is_string()) return j->get<std::string>();
    if (j) err(kJson, fmt::format("'{}{}' must be a string", label, key));
    return std::nullopt;
  }
  /// Lower-case hex of exactly `len` bytes (any length when len is 0).
  std::optional<Bytes> hex(const json& o, std::string_view key, std::size_t len, std::string_view label = "") {
    auto s = str(o, key, label);
    if (!s) return std::nullopt;
    auto bytes = from_hex(*s, HexCase::lower);
    if (!bytes) {
      err(kJson, fmt::format("'{}{}' is not lower-case hex", label, key));
      return std::nullopt;
    }
    if (len && bytes->size() != len) {
      err(kJson, fmt::format("'{}{}' must be {} hex characters ({} bytes), got {}", label, key, 2 * len, len,
                             s->size()));
      return std::nullopt;
    }
    return bytes;
  }
  const json::array_t* array(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key);
    if (j && j->is_array()) return &j->get_ref<const json::array_t&>();
    if (j) err(kJson, fmt::format("'{}{}' must be an array", label, key));
    return nullptr;
  }
  const json* object(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key);
    if (j && j->is_object()) return j;
    if (j) err(kJson, fmt::format("'{}{}' must be an object", label, key));
    return nullptr;
  }

 protected:
  std::uint64_t h_;
  LedgerVerdict& v_;
};

/// Ledger-wide state carried from block to block.
struct Chain {
  std::optional<Bytes> prev_hash;      ///< the previous line's stated hash
  std::set<Bytes> tx_hashes;           ///< every tx hash seen so far (rule 7)
  bool any_finalization = false;       ///< a block above genesis carried a record
  std::optional<std::uint64_t> first_unbound;  ///< lowest height above genesis without a record
  std::optional<std::uint64_t> last_unbound;
  std::optional<Bytes> node_key;       ///< pinned, or the tip's
  std::optional<Bytes> last_hash;
  std::optional<std::uint64_t> last_timestamp;
};

/// Checks one block line.
class BlockCheck : public Reader {
 public:
  BlockCheck(const json& block, std::uint64_t height, LedgerVerdict& verdict, Chain& chain)
      : Reader(height, verdict), b_(block), chain_(chain) {}
  void run();

 private:
  void check_header(const Bytes& header);
  void check_transactions(const json::array_t& txs);
  void check_genesis(const json::array_t* txs, const json::array_t* atts);
  void check_miner_signature();
  void check_attestations(const json::array_t& atts);
  void check_vrf(const json& vrf);
  void check_finalization(const json& f);

  const json& b_;
  Chain& chain_;
  std::optional<std::uint64_t> height_, timestamp_, tx_count_, assignment_id_, round_id_;
  std::optional<Bytes> hash_, prev_hash_, tx_root_, miner_;
  const json::array_t* atts_ = nullptr;
  bool atts_readable_ = true;  ///< every attestation entry parsed (for the finalization hash)
  // From the vrf object, for the selection hash of the finalization record.
  std::optional<std::uint8_t> vrf_suite_;
  std::optional<std::uint64_t> vrf_rank_;
  std::vector<std::pair<Bytes, Bytes>> vrf_claims_;  ///< (device, pi) in listed order
  bool vrf_readable_ = false;
};

void BlockCheck::run() {
  if (!b_.is_object()) return err(kJson, "not a JSON object");
  keys(b_,
       {"height", "hash", "header", "prev_hash", "tx_root", "timestamp_ms", "miner", "tx_count", "assignment_id",
        "miner_signature", "round_id", "transactions", "attestations"},
       {"vrf", "finalization"}, "");
  height_ = u64(b_, "height");
  hash_ = hex(b_, "hash", IOTW_HASH_SIZE);
  auto header = hex(b_, "header", IOTW_BLOCK_HEADER_SIZE);
  prev_hash_ = hex(b_, "prev_hash", IOTW_HASH_SIZE);
  tx_root_ = hex(b_, "tx_root", IOTW_HASH_SIZE);
  timestamp_ = u64(b_, "timestamp_ms");
  miner_ = hex(b_, "miner", IOTW_PUBKEY_SIZE);
  tx_count_ = u64(b_, "tx_count");
  assignment_id_ = u64(b_, "assignment_id");
  round_id_ = u64(b_, "round_id");
  const json::array_t* txs = array(b_, "transactions");
  atts_ = array(b_, "attestations");

  if (height_ && *height_ != h_)
    err(kOrder, fmt::format("'height' is {}, expected {} (one line per block, in height order from genesis)",
                            *height_, h_));
  if (header) check_header(*header);
  if (h_ > 0 && prev_hash_ && chain_.prev_hash && *prev_hash_ != *chain_.prev_hash)
    err(kLink, fmt::format("'prev_hash' does not equal the hash of height {}", h_ - 1));
  if (txs) check_transactions(*txs);
  const json* vrf = get(b_, "vrf");
  const json* fin = get(b_, "finalization");
  if (h_ == 0) {
    check_genesis(txs, atts_);
    if (vrf) err(kGenesis, "genesis must have no 'vrf'");
    if (fin) err(kGenesis, "genesis must have no 'finalization'");
  } else {
    check_miner_signature();
    if (atts_) check_attestations(*atts_);
    if (vrf) check_vrf(*vrf);
    if (fin) {
      check_finalization(*fin);
    } else {
      if (!chain_.first_unbound) chain_.first_unbound = h_;
      chain_.last_unbound = h_;
      if (chain_.any_finalization)
        err(kFinalization, "no 'finalization' record after a bound block (only blocks written before the first "
                           "record may lack one)");
      if (atts_ && atts_->empty()) err(kAttestCount, "no attestations (a block needs at least one)");
    }
  }
  chain_.prev_hash = hash_;
  chain_.last_hash = hash_;
  chain_.last_timestamp = timestamp_;
}

void BlockCheck::check_header(const Bytes& header) {
  if (hash_ && *hash_ != sha256(header)) err(kHeader, "'hash' is not SHA-256(header)");
  iotw_block_header hd{};
  if (iotw_block_header_unpack(header.data(), &hd) != 0)
    err(kHeader, fmt::format("header version is {}, expected {}", hd.version, IOTW_BLOCK_VERSION));
  auto differs = [&](std::string_view field) {
    err(kHeader, fmt::format("header {} differs from JSON '{}'", field, field));
  };
  if (height_ && hd.height != *height_) differs("height");
  if (prev_hash_ && !same(*prev_hash_, hd.prev_hash, IOTW_HASH_SIZE)) differs("prev_hash");
  if (tx_root_ && !same(*tx_root_, hd.tx_root, IOTW_HASH_SIZE)) differs("tx_root");
  if (timestamp_ && hd.timestamp_ms != *timestamp_) differs("timestamp_ms");
  if (miner_ && !same(*miner_, hd.miner_pubkey, IOTW_PUBKEY_SIZE))
    err(kHeader, "header miner_pubkey differs from JSON 'miner'");
  if (tx_count_ && hd.tx_count != *tx_count_) differs("tx_count");
  if (h_ == 0) {
    const auto g = genesis_header();
    if (!same(header, g.data(), g.size()))
      err(kGenesis, "genesis header is not the protocol genesis (version 1, tx_root = SHA-256(\"\"), all else zero)");
  }
}

void BlockCheck::check_transactions(const json::array_t& txs) {
  if (tx_count_ && txs.size() != *tx_count_)
    err(kTxs, fmt::format("'tx_count' is {} but {} transactions are listed", *tx_count_, txs.size()));
  Bytes hashes;
  bool complete = true;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const std::string label = fmt::format("transactions[{}].", i);
    if (!txs[i].is_object()) {
      err(kJson, fmt::format("transactions[{}] is not an object", i));
      complete = false;
      continue;
    }
    const json& t = txs[i];
    keys(t, {"hash", "payload_hex"}, {"signer", "signature"}, label);
    auto hash = hex(t, "hash", IOTW_HASH_SIZE, label);
    auto payload = hex(t, "payload_hex", 0, label);
    if (hash && payload && *hash != sha256(*payload))
      err(kTxs, fmt::format("transactions[{}]: hash is not SHA-256(payload)", i));
    if (hash) {
      hashes.insert(hashes.end(), hash->begin(), hash->end());
      if (!chain_.tx_hashes.insert(*hash).second)
        err(kTxUnique, fmt::format("transactions[{}]: the same transaction is already in the ledger", i));
    }
    complete = complete && hash.has_value();
    const bool has_signer = t.contains("signer"), has_sig = t.contains("signature");
    if (has_signer != has_sig) {
      err(kTxSig, fmt::format("transactions[{}]: 'signer' and 'signature' come together", i));
    } else if (has_signer) {
      auto signer = hex(t, "signer", IOTW_PUBKEY_SIZE, label);
      auto sig = hex(t, "signature", IOTW_SIGNATURE_SIZE, label);
      if (signer && sig && hash) {
        std::uint8_t msg[IOTW_SIG_MSG_MAX] = {'I', 'O', 'T', 'W', '/', '1', '/', 'T', 'X', 0};
        std::copy(hash->begin(), hash->end(), msg + 10);
        if (crypto_sign_verify_detached(sig->data(), msg, 42, signer->data()) != 0)
          err(kTxSig, fmt::format("transactions[{}]: signature does not verify over TX(hash) under 'signer'", i));
      }
    }
  }
  if (complete && tx_root_ && *tx_root_ != sha256(hashes))
    err(kTxs, "'tx_root' is not SHA-256 of the listed transaction hashes");
}

void BlockCheck::check_genesis(const json::array_t* txs, const json::array_t* atts) {
  if (assignment_id_ && *assignment_id_ != 0) err(kGenesis, "genesis 'assignment_id' must be 0");
  if (round_id_ && *round_id_ != 0) err(kGenesis, "genesis 'round_id' must be 0");
  auto sig = str(b_, "miner_signature");
  if (sig && !sig->empty()) err(kGenesis, "genesis 'miner_signature' must be empty");
  if (txs && !txs->empty()) err(kGenesis, "genesis must have no transactions");
  if (atts && !atts->empty()) err(kGenesis, "genesis must have no attestations");
}

void BlockCheck::check_miner_signature() {
  auto sig = hex(b_, "miner_signature", IOTW_SIGNATURE_SIZE);
  if (!sig || !miner_ || !hash_ || !assignment_id_) return;
  std::uint8_t msg[IOTW_SIG_MSG_MAX];
  const std::size_t len = iotw_sigmsg_result(*assignment_id_, hash_->data(), msg);
  if (crypto_sign_verify_detached(sig->data(), msg, len, miner_->data()) != 0)
    err(kMinerSig, "miner signature does not verify over RESULT(assignment_id, hash) under 'miner'");
}

void BlockCheck::check_attestations(const json::array_t& atts) {
  std::set<Bytes> seen;
  for (std::size_t i = 0; i < atts.size(); ++i) {
    ++v_.attestations_checked;
    const std::string label = fmt::format("attestations[{}].", i);
    if (!atts[i].is_object()) {
      err(kJson, fmt::format("attestations[{}] is not an object", i));
      atts_readable_ = false;
      continue;
    }
    const json& a = atts[i];
    keys(a, {"witness", "round_id", "verdict", "signature"}, {}, label);
    auto witness = hex(a, "witness", IOTW_PUBKEY_SIZE, label);
    auto round = u64(a, "round_id", label);
    auto verdict = str(a, "verdict", label);
    auto sig = hex(a, "signature", IOTW_SIGNATURE_SIZE, label);
    if (verdict && *verdict != "valid" && *verdict != "invalid")
      err(kJson, fmt::format("'{}verdict' is '{}', expected 'valid' or 'invalid'", label, *verdict));
    atts_readable_ = atts_readable_ && witness && round && verdict && sig;
    if (round && round_id_ && *round != *round_id_)
      err(kAttest, fmt::format("attestations[{}]: round_id {} differs from the block's round_id {}", i, *round,
                               *round_id_));
    if (verdict && *verdict != "valid")
      err(kAttest, fmt::format("attestations[{}]: verdict '{}', expected 'valid'", i, *verdict));
    if (!witness) continue;
    if (!seen.insert(*witness).second) err(kAttest, fmt::format("attestations[{}]: duplicate witness", i));
    if (miner_ && *witness == *miner_) err(kAttest, fmt::format("attestations[{}]: witness is the block's miner", i));
    if (!sig || !hash_ || !round_id_) continue;
    std::uint8_t msg[IOTW_SIG_MSG_MAX];
    const std::size_t len = iotw_sigmsg_attest(*round_id_, hash_->data(), 1, msg);
    if (crypto_sign_verify_detached(sig->data(), msg, len, witness->data()) != 0)
      err(kAttest, fmt::format("attestations[{}]: signature does not verify over ATTEST(round_id, hash, valid)", i));
  }
}

// §8 "vrf": the winning claim {pi, beta} and, from the binding format on, every claim of the round with the
// miner's rank (rules 12 and 13).
void BlockCheck::check_vrf(const json& vrf) {
  if (!vrf.is_object()) return err(kJson, "'vrf' must be an object");
  keys(vrf, {"suite"}, {"pi", "beta", "rank", "claims"}, "vrf.");
  auto suite = str(vrf, "suite", "vrf.");
  if (suite && *suite != "tai" && *suite != "ell2")
    err(kVrfProof, fmt::format("'vrf.suite' is '{}', expected 'tai' or 'ell2'", *suite));
  const bool suite_ok = suite && (*suite == "tai" || *suite == "ell2");
  const iotw_ecvrf_suite s = suite_ok && *suite == "ell2" ? IOTW_ECVRF_ELL2 : IOTW_ECVRF_TAI;
  std::uint8_t alpha[IOTW_SIG_MSG_MAX];
  const std::size_t alen = prev_hash_ && height_ ? iotw_vrf_alpha(*height_, prev_hash_->data(), alpha) : 0;
  // One proof under `pk` on this block's alpha: rule 12.
  const auto check_proof = [&](const Bytes& pk, const Bytes& pi, const Bytes& beta, const std::string& label) {
    if (!suite_ok || !alen) return;
    std::uint8_t out[IOTW_ECVRF_OUTPUT_BYTES];
    const iotw_ecvrf_status st = iotw_ecvrf_verify(s, out, pk.data(), pi.data(), alpha, alen);
    if (st != IOTW_ECVRF_OK)
      err(kVrfProof, fmt::format("'{}pi' does not verify under {} on alpha = VRF(height, prev_hash): {}", label,
                                 label == "vrf." ? "'miner'" : "the claim's 'device'", iotw_ecvrf_status_str(st)));
    else if (!same(beta, out, sizeof out))
      err(kVrfProof, fmt::format("'{}beta' is not the output of '{}pi'", label, label));
  };
  const bool has_pi = vrf.contains("pi") || vrf.contains("beta");
  std::optional<Bytes> pi, beta;
  if (has_pi) {
    pi = hex(vrf, "pi", IOTW_ECVRF_PROOF_BYTES, "vrf.");
    beta = hex(vrf, "beta", IOTW_ECVRF_OUTPUT_BYTES, "vrf.");
    if (!vrf.contains("pi") || !vrf.contains("beta")) err(kJson, "'vrf.pi' and 'vrf.beta' come together");
    if (pi && beta && miner_) check_proof(*miner_, *pi, *beta, "vrf.");
  }
  const bool has_claims = vrf.contains("claims") || vrf.contains("rank");
  if (!has_claims) {
    if (!has_pi) err(kSelection, "'vrf' has neither the winning claim nor the round's claims");
    if (b_.contains("finalization"))
      err(kSelection, "'vrf' of a bound block lists no 'claims' and 'rank' (the lowest-beta rule cannot be checked)");
    return;
  }
  auto rank = u64(vrf, "rank", "vrf.");
  const json::array_t* claims = array(vrf, "claims", "vrf.");
  if (!vrf.contains("claims") || !vrf.contains("rank")) err(kJson, "'vrf.claims' and 'vrf.rank' come together");
  if (!claims || !rank) return;
  std::vector<std::pair<Bytes, Bytes>> parsed;  // (beta, device)
  bool readable = true;
  for (std::size_t i = 0; i < claims->size(); ++i) {
    const json& c = (*claims)[i];
    const std::string label = fmt::format("vrf.claims[{}].", i);
    if (!c.is_object()) {
      err(kJson, fmt::format("'vrf.claims[{}]' is not an object", i));
      readable = false;
      continue;
    }
    keys(c, {"device", "pi", "beta"}, {}, label);
    auto device = hex(c, "device", IOTW_PUBKEY_SIZE, label);
    auto cpi = hex(c, "pi", IOTW_ECVRF_PROOF_BYTES, label);
    auto cbeta = hex(c, "beta", IOTW_ECVRF_OUTPUT_BYTES, label);
    if (!device || !cpi || !cbeta) {
      readable = false;
      continue;
    }
    check_proof(*device, *cpi, *cbeta, label);
    parsed.emplace_back(*cbeta, *device);
    vrf_claims_.emplace_back(*device, *cpi);
    if (*rank == i && miner_ && *device != *miner_)
      err(kSelection, fmt::format("the claim at 'vrf.rank' {} is not the miner's", i));
    if (*rank == i && pi && beta && (*cpi != *pi || *cbeta != *beta))
      err(kSelection, "'vrf.pi'/'vrf.beta' differ from the claim at 'vrf.rank'");
  }
  if (!readable) return;
  for (std::size_t i = 1; i < parsed.size(); ++i)
    if (!(parsed[i - 1] < parsed[i]))
      err(kSelection, fmt::format("'vrf.claims' are not in strictly increasing (beta, device) order at {}", i));
  std::set<Bytes> devices;
  for (const auto& p : parsed)
    if (!devices.insert(p.second).second) err(kSelection, "'vrf.claims' lists a device twice");
  if (*rank > parsed.size()) err(kSelection, fmt::format("'vrf.rank' {} is beyond the {} claims", *rank, parsed.size()));
  if (*rank == parsed.size() && has_pi) err(kSelection, "a fallback pick ('vrf.rank' = claim count) has no 'vrf.pi'");
  if (*rank < parsed.size() && !has_pi) err(kSelection, "'vrf.pi'/'vrf.beta' of the winning claim are missing");
  if (suite_ok && *rank <= 0xffffffffu) {
    vrf_suite_ = s == IOTW_ECVRF_ELL2 ? 4 : 3;
    vrf_rank_ = rank;
    vrf_readable_ = true;
  }
}

void BlockCheck::check_finalization(const json& f) {
  chain_.any_finalization = true;
  if (!f.is_object()) return err(kJson, "'finalization' must be an object");
  keys(f, {"policy", "n", "t", "selection", "signature"}, {}, "finalization.");
  auto policy = str(f, "policy", "finalization.");
  auto n = u64(f, "n", "finalization.");
  auto t = u64(f, "t", "finalization.");
  auto selection = str(f, "selection", "finalization.");
  auto sig = hex(f, "signature", IOTW_SIGNATURE_SIZE, "finalization.");
  std::uint8_t policy_code = 0, selection_code = 0;
  if (policy == "strict") policy_code = IOTW_POLICY_STRICT;
  else if (policy == "threshold") policy_code = IOTW_POLICY_THRESHOLD;
  else if (policy) err(kFinalization, fmt::format("'finalization.policy' is '{}', expected 'strict' or 'threshold'", *policy));
  if (selection == "uniform") selection_code = IOTW_SELECTION_UNIFORM;
  else if (selection == "reputation") selection_code = IOTW_SELECTION_REPUTATION;
  else if (selection == "vrf") selection_code = IOTW_SELECTION_VRF;
  else if (selection)
    err(kFinalization, fmt::format("'finalization.selection' is '{}', expected 'uniform', 'reputation' or 'vrf'", *selection));
  // Rule 11: the attestation count under the recorded policy.
  if (policy_code && n && t && atts_) {
    const std::uint64_t k = atts_->size();
    if (*n == 0 || *n > 0xffffffffu || *t > *n || *t == 0)
      err(kAttestCount, fmt::format("witness policy n = {}, t = {} is not 1 <= t <= n", *n, *t));
    else if (policy_code == IOTW_POLICY_STRICT && (*t != *n || k != *n))
      err(kAttestCount, fmt::format("strict policy needs t = n and exactly n = {} attestations; t = {}, {} listed", *n,
                                    *t, k));
    else if (policy_code == IOTW_POLICY_THRESHOLD && (k < *t || k > *n))
      err(kAttestCount, fmt::format("threshold policy needs t = {} to n = {} attestations, {} listed", *t, *n, k));
  }
  // Rule 13: the selection mode and the vrf object agree.
  const bool has_vrf = b_.contains("vrf");
  if (selection_code == IOTW_SELECTION_VRF && !has_vrf) err(kSelection, "selection 'vrf' but the block has no 'vrf'");
  if (selection_code && selection_code != IOTW_SELECTION_VRF && has_vrf)
    err(kSelection, fmt::format("selection '{}' but the block has a 'vrf'", *selection));
  // Rule 14: the node's signature over FINALIZE.
  if (!sig || !policy_code || !selection_code || !n || !t || *n > 0xffffffffu || *t > 0xffffffffu || !hash_ ||
      !height_ || !atts_readable_ || !atts_ || !chain_.node_key)
    return;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (const json& a : *atts_) {
    const Bytes w = *from_hex(a["witness"].get<std::string>()), s = *from_hex(a["signature"].get<std::string>());
    std::uint8_t e[IOTW_FINALIZE_ATT_ENTRY_SIZE];
    iotw_finalize_att_entry(w.data(), a["round_id"].get<std::uint64_t>(), a["verdict"] == "valid" ? 1 : 2, s.data(), e);
    crypto_hash_sha256_update(&st, e, sizeof e);
  }
  std::uint8_t atts_hash[32], sel_hash[32] = {0};
  crypto_hash_sha256_final(&st, atts_hash);
  if (selection_code == IOTW_SELECTION_VRF) {
    if (!vrf_readable_) return;
    std::uint8_t head[IOTW_FINALIZE_VRF_HEAD_SIZE];
    iotw_finalize_vrf_head(*vrf_suite_, static_cast<std::uint32_t>(*vrf_rank_),
                           static_cast<std::uint32_t>(vrf_claims_.size()), head);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, head, sizeof head);
    for (const auto& [device, pi] : vrf_claims_) {
      crypto_hash_sha256_update(&st, device.data(), device.size());
      crypto_hash_sha256_update(&st, pi.data(), pi.size());
    }
    crypto_hash_sha256_final(&st, sel_hash);
  }
  std::uint8_t msg[IOTW_FINALIZE_SIZE];
  iotw_sigmsg_finalize(*height_, hash_->data(), policy_code, static_cast<std::uint32_t>(*n),
                       static_cast<std::uint32_t>(*t), selection_code, atts_hash, sel_hash, msg);
  if (crypto_sign_verify_detached(sig->data(), msg, sizeof msg, chain_.node_key->data()) != 0)
    err(kFinalization, "'finalization.signature' does not verify over FINALIZE under the node key");
}

/// Rule 15 on the tip line (reported at the last block's height).
void check_tip(const json& line, std::uint64_t height, const Chain& chain, const LedgerVerifyOptions& opt,
               LedgerVerdict& v) {
  Reader r(height, v);
  r.keys(line, {"tip"}, {}, "");
  const json* tip = r.object(line, "tip");
  if (!tip) return;
  r.keys(*tip, {"height", "hash", "time_ms", "node_key", "signature", "checkpoint_signature"}, {}, "tip.");
  auto th = r.u64(*tip, "height", "tip.");
  auto hash = r.hex(*tip, "hash", IOTW_HASH_SIZE, "tip.");
  auto time = r.u64(*tip, "time_ms", "tip.");
  auto key = r.hex(*tip, "node_key", IOTW_PUBKEY_SIZE, "tip.");
  auto sig = r.hex(*tip, "signature", IOTW_SIGNATURE_SIZE, "tip.");
  auto ck = r.hex(*tip, "checkpoint_signature", IOTW_SIGNATURE_SIZE, "tip.");
  if (th && *th != height) r.err(kTip, fmt::format("'tip.height' is {} but the last block is at height {}", *th, height));
  if (hash && chain.last_hash && *hash != *chain.last_hash) r.err(kTip, "'tip.hash' is not the last block's hash");
  if (time && chain.last_timestamp && *time < *chain.last_timestamp)
    r.err(kTip, "'tip.time_ms' is before the last block's timestamp_ms");
  if (key && opt.node_key && !same(*key, opt.node_key->data(), 32))
    r.err(kTip, "'tip.node_key' is not the node key given to the verifier");
  if (!key || !hash || !th) return;
  if (sig && time) {
    std::uint8_t msg[IOTW_TIP_SIZE];
    iotw_sigmsg_tip(*th, hash->data(), *time, msg);
    if (crypto_sign_verify_detached(sig->data(), msg, sizeof msg, key->data()) != 0)
      r.err(kTip, "'tip.signature' does not verify over TIP(height, hash, time_ms) under 'tip.node_key'");
  }
  if (ck) {
    std::uint8_t msg[IOTW_SIG_MSG_MAX];
    const std::size_t n = iotw_sigmsg_checkpoint(*th, hash->data(), msg);
    if (crypto_sign_verify_detached(ck->data(), msg, n, key->data()) != 0)
      r.err(kTip, "'tip.checkpoint_signature' does not verify over CHECKPOINT(height, hash) under 'tip.node_key'");
  }
}

}  // namespace

std::optional<json> parse_json_strict(const std::string& text) {
  std::vector<std::set<std::string>> open;  // the keys seen in each object being parsed
  bool duplicate = false;
  const json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) open.emplace_back();
    else if (ev == json::parse_event_t::object_end && !open.empty()) open.pop_back();
    else if (ev == json::parse_event_t::key && !open.empty() && !open.back().insert(parsed.get<std::string>()).second)
      duplicate = true;
    return true;
  };
  json j = json::parse(text, cb, false);
  if (j.is_discarded() || duplicate) return std::nullopt;
  return j;
}

std::vector<json> ledger_blocks(const std::vector<json>& lines) {
  std::vector<json> out(lines.begin(), lines.end());
  if (!out.empty() && is_tip_line(out.back())) out.pop_back();
  return out;
}

LedgerVerdict verify_ledger(const std::vector<json>& lines, const LedgerVerifyOptions& opt) {
  LedgerVerdict v;
  if (sodium_init() < 0) {
    v.errors.push_back("height 0: libsodium failed to initialise");
    v.issues.push_back({0, kJson, v.errors.back()});
    v.first = v.issues.back();
    return v;
  }
  std::vector<json> blocks = ledger_blocks(lines);
  const bool has_tip = blocks.size() < lines.size();
  Chain chain;
  if (opt.node_key) {
    chain.node_key = Bytes(opt.node_key->begin(), opt.node_key->end());
    v.node_key_pinned = true;
  } else if (has_tip && lines.back()["tip"].is_object()) {  // unpinned: the tip's own key (consistency only)
    const json& t = lines.back()["tip"];
    if (t.contains("node_key") && t["node_key"].is_string())
      if (auto k = from_hex(t["node_key"].get<std::string>(), HexCase::lower); k && k->size() == 32) chain.node_key = *k;
  }
  if (chain.node_key) v.node_key = to_hex(chain.node_key->data(), chain.node_key->size());
  if (blocks.empty()) {
    v.errors.push_back("height 0: ledger is empty (no genesis block)");
    v.issues.push_back({0, kOrder, v.errors.back()});
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (is_tip_line(blocks[i])) {
      Reader(i, v).err(kOrder, "a 'tip' line before the last line");
      continue;
    }
    ++v.blocks_checked;
    BlockCheck(blocks[i], i, v, chain).run();
  }
  const std::uint64_t last = blocks.empty() ? 0 : blocks.size() - 1;
  if (has_tip) check_tip(lines.back(), last, chain, opt, v);
  else if (chain.any_finalization) Reader(last, v).err(kTip, "no signed 'tip' line ends a ledger with finalization records");
  if (!v.issues.empty()) {
    v.first = *std::min_element(v.issues.begin(), v.issues.end(), [](const LedgerIssue& a, const LedgerIssue& b) {
      return a.height != b.height ? a.height < b.height : a.rule < b.rule;
    });
    v.status = LedgerStatus::invalid;
  } else if (chain.first_unbound || !has_tip) {
    v.status = LedgerStatus::unbound;
    v.unbound_reason = chain.first_unbound
                           ? fmt::format("heights {}..{} carry no finalization record{}", *chain.first_unbound,
                                         *chain.last_unbound, has_tip ? "" : " and no signed tip ends the ledger")
                           : "no signed tip ends the ledger";
  } else {
    v.status = LedgerStatus::valid;
  }
  v.valid = v.status == LedgerStatus::valid;
  return v;
}

LedgerVerdict verify_ledger_text(const std::vector<std::string>& text, const LedgerVerifyOptions& opt) {
  std::vector<json> lines;
  std::vector<std::size_t> bad;  // line indices that are not strict JSON
  for (const std::string& t : text) {
    if (t.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    auto j = parse_json_strict(t);
    if (!j) bad.push_back(lines.size());
    lines.push_back(j ? std::move(*j) : json());  // null: "not a JSON object" (rule 1) at its height
  }
  LedgerVerdict v = verify_ledger(lines, opt);
  // Ahead of the block check's "not a JSON object" for the same line, so the first rule broken says why.
  for (auto i = bad.rbegin(); i != bad.rend(); ++i) {
    const std::string what = fmt::format("height {}: not valid JSON, or an object repeats a key", *i);
    v.errors.insert(v.errors.begin(), what);
    v.issues.insert(v.issues.begin(), {*i, kJson, what});
  }
  if (!bad.empty()) {
    v.first = *std::min_element(v.issues.begin(), v.issues.end(), [](const LedgerIssue& a, const LedgerIssue& b) {
      return a.height != b.height ? a.height < b.height : a.rule < b.rule;
    });
    v.status = LedgerStatus::invalid;
    v.valid = false;
  }
  return v;
}

}  // namespace iotw::harness
