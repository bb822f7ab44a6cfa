// Independent ledger verifier (docs/protocol.md §4, §5, §8).
#include "iotw/harness/ledger_verifier.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/signing.h"
#include "iotw/support/hex.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

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

/// Checks one ledger line; every problem becomes an error entry "height N: ...".
class BlockCheck {
 public:
  BlockCheck(const json& block, std::uint64_t height, LedgerVerdict& verdict)
      : b_(block), h_(height), v_(verdict) {}

  /// Runs every check; returns the block's stated hash (for the next line's link) when readable.
  std::optional<Bytes> run(const std::optional<Bytes>& prev_block_hash);

 private:
  void err(const std::string& what) { v_.errors.push_back(fmt::format("height {}: {}", h_, what)); }

  const json* get(const json& o, std::string_view key, std::string_view label) {
    auto it = o.find(std::string(key));
    if (it == o.end()) {
      err(fmt::format("missing key '{}{}'", label, key));
      return nullptr;
    }
    return &*it;
  }
  std::optional<std::uint64_t> u64(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key, label);
    if (j && (j->is_number_unsigned() || (j->is_number_integer() && j->get<std::int64_t>() >= 0)))
      return j->get<std::uint64_t>();
    if (j) err(fmt::format("'{}{}' must be a non-negative integer", label, key));
    return std::nullopt;
  }
  std::optional<std::string> str(const json& o, std::string_view key, std::string_view label = "") {
    const json* j = get(o, key, label);
    if (j && j->is_string()) return j->get<std::string>();
    if (j) err(fmt::format("'{}{}' must be a string", label, key));
    return std::nullopt;
  }
  /// Lower-case hex of exactly `len` bytes (any length when len is 0).
  std::optional<Bytes> hex(const json& o, std::string_view key, std::size_t len, std::string_view label = "") {
    auto s = str(o, key, label);
    if (!s) return std::nullopt;
    auto bytes = from_hex(*s, HexCase::lower);
    if (!bytes) {
      err(fmt::format("'{}{}' is not lower-case hex", label, key));
      return std::nullopt;
    }
    if (len && bytes->size() != len) {
      err(fmt::format("'{}{}' must be {} hex characters ({} bytes), got {}", label, key, 2 * len, len, s->size()));
      return std::nullopt;
    }
    return bytes;
  }
  const json::array_t* array(const json& o, std::string_view key) {
    const json* j = get(o, key, "");
    if (j && j->is_array()) return &j->get_ref<const json::array_t&>();
    if (j) err(fmt::format("'{}' must be an array", key));
    return nullptr;
  }

  void check_header(const Bytes& header);
  void check_transactions(const json::array_t& txs);
  void check_genesis(const json::array_t* txs, const json::array_t* atts);
  void check_miner_signature();
  void check_attestations(const json::array_t& atts);
  void check_vrf(const json& vrf);

  const json& b_;
  std::uint64_t h_;
  LedgerVerdict& v_;
  std::optional<std::uint64_t> height_, timestamp_, tx_count_, assignment_id_, round_id_;
  std::optional<Bytes> hash_, prev_hash_, tx_root_, miner_;
};

std::optional<Bytes> BlockCheck::run(const std::optional<Bytes>& prev_block_hash) {
  if (!b_.is_object()) {
    err("not a JSON object");
    return std::nullopt;
  }
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
  const json::array_t* atts = array(b_, "attestations");

  if (height_ && *height_ != h_)
    err(fmt::format("'height' is {}, expected {} (one line per block, in height order from genesis)", *height_,
                    h_));
  if (header) check_header(*header);
  if (h_ > 0 && prev_hash_ && prev_block_hash && *prev_hash_ != *prev_block_hash)
    err(fmt::format("'prev_hash' does not equal the hash of height {}", h_ - 1));
  if (txs) check_transactions(*txs);
  if (h_ == 0) {
    check_genesis(txs, atts);
  } else {
    check_miner_signature();
    if (atts) check_attestations(*atts);
  }
  if (const auto it = b_.find("vrf"); it != b_.end()) check_vrf(*it);
  return hash_;
}

void BlockCheck::check_header(const Bytes& header) {
  if (hash_ && *hash_ != sha256(header)) err("'hash' is not SHA-256(header)");
  iotw_block_header hd{};
  if (iotw_block_header_unpack(header.data(), &hd) != 0)
    err(fmt::format("header version is {}, expected {}", hd.version, IOTW_BLOCK_VERSION));
  auto differs = [&](std::string_view field) { err(fmt::format("header {} differs from JSON '{}'", field, field)); };
  if (height_ && hd.height != *height_) differs("height");
  if (prev_hash_ && !same(*prev_hash_, hd.prev_hash, IOTW_HASH_SIZE)) differs("prev_hash");
  if (tx_root_ && !same(*tx_root_, hd.tx_root, IOTW_HASH_SIZE)) differs("tx_root");
  if (timestamp_ && hd.timestamp_ms != *timestamp_) differs("timestamp_ms");
  if (miner_ && !same(*miner_, hd.miner_pubkey, IOTW_PUBKEY_SIZE)) err("header miner_pubkey differs from JSON 'miner'");
  if (tx_count_ && hd.tx_count != *tx_count_) differs("tx_count");
  if (h_ == 0) {
    const auto g = genesis_header();
    if (!same(header, g.data(), g.size()))
      err("genesis header is not the protocol genesis (version 1, tx_root = SHA-256(\"\"), all else zero)");
  }
}

void BlockCheck::check_transactions(const json::array_t& txs) {
  if (tx_count_ && txs.size() != *tx_count_)
    err(fmt::format("'tx_count' is {} but {} transactions are listed", *tx_count_, txs.size()));
  Bytes hashes;
  bool complete = true;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const std::string label = fmt::format("transactions[{}].", i);
    if (!txs[i].is_object()) {
      err(fmt::format("transactions[{}] is not an object", i));
      complete = false;
      continue;
    }
    auto hash = hex(txs[i], "hash", IOTW_HASH_SIZE, label);
    auto payload = hex(txs[i], "payload_hex", 0, label);
    if (hash && payload && *hash != sha256(*payload))
      err(fmt::format("transactions[{}]: hash is not SHA-256(payload)", i));
    if (hash) hashes.insert(hashes.end(), hash->begin(), hash->end());
    complete = complete && hash.has_value();
  }
  if (complete && tx_root_ && *tx_root_ != sha256(hashes))
    err("'tx_root' is not SHA-256 of the listed transaction hashes");
}

void BlockCheck::check_genesis(const json::array_t* txs, const json::array_t* atts) {
  if (assignment_id_ && *assignment_id_ != 0) err("genesis 'assignment_id' must be 0");
  if (round_id_ && *round_id_ != 0) err("genesis 'round_id' must be 0");
  auto sig = str(b_, "miner_signature");
  if (sig && !sig->empty()) err("genesis 'miner_signature' must be empty");
  if (txs && !txs->empty()) err("genesis must have no transactions");
  if (atts && !atts->empty()) err("genesis must have no attestations");
}

void BlockCheck::check_miner_signature() {
  auto sig = hex(b_, "miner_signature", IOTW_SIGNATURE_SIZE);
  if (!sig || !miner_ || !hash_ || !assignment_id_) return;
  std::uint8_t msg[IOTW_SIG_MSG_MAX];
  const std::size_t len = iotw_sigmsg_result(*assignment_id_, hash_->data(), msg);
  if (crypto_sign_verify_detached(sig->data(), msg, len, miner_->data()) != 0)
    err("miner signature does not verify over RESULT(assignment_id, hash) under 'miner'");
}

void BlockCheck::check_attestations(const json::array_t& atts) {
  if (atts.empty()) err("no attestations (a block needs at least one)");
  std::set<Bytes> seen;
  for (std::size_t i = 0; i < atts.size(); ++i) {
    ++v_.attestations_checked;
    const std::string label = fmt::format("attestations[{}].", i);
    if (!atts[i].is_object()) {
      err(fmt::format("attestations[{}] is not an object", i));
      continue;
    }
    const json& a = atts[i];
    auto witness = hex(a, "witness", IOTW_PUBKEY_SIZE, label);
    auto round = u64(a, "round_id", label);
    auto verdict = str(a, "verdict", label);
    auto sig = hex(a, "signature", IOTW_SIGNATURE_SIZE, label);
    if (round && round_id_ && *round != *round_id_)
      err(fmt::format("attestations[{}]: round_id {} differs from the block's round_id {}", i, *round, *round_id_));
    if (verdict && *verdict != "valid") err(fmt::format("attestations[{}]: verdict '{}', expected 'valid'", i, *verdict));
    if (!witness) continue;
    if (!seen.insert(*witness).second) err(fmt::format("attestations[{}]: duplicate witness", i));
    if (miner_ && *witness == *miner_) err(fmt::format("attestations[{}]: witness is the block's miner", i));
    if (!sig || !hash_ || !round_id_) continue;
    std::uint8_t msg[IOTW_SIG_MSG_MAX];
    const std::size_t len = iotw_sigmsg_attest(*round_id_, hash_->data(), 1, msg);
    if (crypto_sign_verify_detached(sig->data(), msg, len, witness->data()) != 0)
      err(fmt::format("attestations[{}]: signature does not verify over ATTEST(round_id, hash, valid)", i));
  }
}

// A block mined under selection = "vrf" carries the winning claim (docs/protocol.md §8): pi must verify under
// the miner's key on alpha = VRF(height, prev_hash) (§5, the round seed the node published) and give beta.
void BlockCheck::check_vrf(const json& vrf) {
  if (h_ == 0) return err("genesis must have no 'vrf'");
  if (!vrf.is_object()) return err("'vrf' must be an object {suite, pi, beta}");
  auto suite = str(vrf, "suite", "vrf.");
  auto pi = hex(vrf, "pi", IOTW_ECVRF_PROOF_BYTES, "vrf.");
  auto beta = hex(vrf, "beta", IOTW_ECVRF_OUTPUT_BYTES, "vrf.");
  if (suite && *suite != "tai" && *suite != "ell2") err(fmt::format("'vrf.suite' is '{}', expected 'tai' or 'ell2'", *suite));
  if (!suite || (*suite != "tai" && *suite != "ell2") || !pi || !beta || !miner_ || !height_ || !prev_hash_) return;
  std::uint8_t alpha[IOTW_SIG_MSG_MAX], out[IOTW_ECVRF_OUTPUT_BYTES];
  const std::size_t alen = iotw_vrf_alpha(*height_, prev_hash_->data(), alpha);
  const iotw_ecvrf_status st = iotw_ecvrf_verify(*suite == "tai" ? IOTW_ECVRF_TAI : IOTW_ECVRF_ELL2, out,
                                                 miner_->data(), pi->data(), alpha, alen);
  if (st != IOTW_ECVRF_OK)
    err(fmt::format("'vrf.pi' does not verify under 'miner' on alpha = VRF(height, prev_hash): {}",
                    iotw_ecvrf_status_str(st)));
  else if (!same(*beta, out, sizeof out))
    err("'vrf.beta' is not the output of 'vrf.pi'");
}

}  // namespace

LedgerVerdict verify_ledger(const std::vector<json>& blocks) {
  LedgerVerdict v;
  if (sodium_init() < 0) {
    v.errors.push_back("height 0: libsodium failed to initialise");
    return v;
  }
  if (blocks.empty()) v.errors.push_back("height 0: ledger is empty (no genesis block)");
  std::optional<Bytes> prev;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    ++v.blocks_checked;
    prev = BlockCheck(blocks[i], i, v).run(prev);
  }
  v.valid = v.errors.empty();
  return v;
}

}  // namespace iotw::harness
