// The verifier against a chain built here with real Ed25519 keys, then tampered with one way at a time.
#include "iotw/harness/ledger_verifier.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <string>
#include <vector>

#include "iotw/block_header.h"
#include "iotw/ledger_signing.h"
#include "iotw/signing.h"
#include "iotw/support/hex.hpp"
#include "test_hex.hpp"

using iotw::harness::LedgerStatus;
using iotw::harness::LedgerVerdict;
using iotw::harness::parse_json_strict;
using iotw::harness::verify_ledger;
using iotw::harness::verify_ledger_text;
using json = nlohmann::json;

namespace {

using Hash = std::array<std::uint8_t, 32>;

Hash sha256(const void* p, std::size_t n) {
  Hash h;
  crypto_hash_sha256(h.data(), static_cast<const std::uint8_t*>(p), n);
  return h;
}

struct Key {
  std::array<std::uint8_t, 32> pk;
  std::array<std::uint8_t, 64> sk;
};

/// What a block is built from; defaults give a valid block once height/prev are set.
struct BlockPlan {
  std::uint64_t height = 1;
  Hash prev{};
  std::vector<std::string> payloads = {"tx-a", "tx-b"};
  std::uint64_t timestamp_ms = 1700000000000;
  int miner = 0;
  std::vector<int> witnesses = {1, 2, 3};
  std::uint64_t assignment_id = 7;
  std::uint64_t round_id = 9;
  std::uint8_t verdict = 1;
};

class LedgerVerifier : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    for (auto& k : keys_) crypto_sign_keypair(k.pk.data(), k.sk.data());
    chain_.push_back(genesis());
    for (std::uint64_t h = 1; h <= 3; ++h) {
      BlockPlan p;
      p.height = h;
      p.prev = hash_of(chain_.back());
      p.miner = static_cast<int>(h);  // miners 1..3; witnesses never include the miner
      p.witnesses = {static_cast<int>((h + 1) % 5), static_cast<int>((h + 2) % 5), static_cast<int>((h + 3) % 5)};
      p.assignment_id = 10 + h;
      p.round_id = 20 + h;
      p.payloads = {"tx-a-" + std::to_string(h), "tx-b-" + std::to_string(h)};  // one tx, one block (rule 7)
      if (h == 3) p.payloads.clear();  // an empty block: tx_root = SHA-256("")
      chain_.push_back(block(p));
    }
  }

  /// Genesis written byte by byte from protocol.md §4, independently of iotw_block_header_pack.
  static json genesis() {
    std::array<std::uint8_t, 120> header{};
    header[0] = 1;  // version u32 LE
    const Hash empty = sha256("", 0);
    std::copy(empty.begin(), empty.end(), header.begin() + 44);
    const Hash zero{};
    return {{"height", 0},        {"hash", to_hex(sha256(header.data(), 120))}, {"header", to_hex(header)},
            {"prev_hash", to_hex(zero)}, {"tx_root", to_hex(empty)},           {"timestamp_ms", 0},
            {"miner", to_hex(zero)}, {"tx_count", 0},                     {"assignment_id", 0},
            {"miner_signature", ""}, {"round_id", 0},                  {"transactions", json::array()},
            {"attestations", json::array()}};
  }

  static Hash hash_of(const json& b) {
    Hash h{};
    const std::string s = b["hash"];
    for (std::size_t i = 0; i < 32; ++i) h[i] = static_cast<std::uint8_t>(std::stoi(s.substr(2 * i, 2), nullptr, 16));
    return h;
  }

  json block(const BlockPlan& p) const {
    json txs = json::array();
    std::vector<std::uint8_t> hashes;
    for (const auto& payload : p.payloads) {
      const Hash th = sha256(payload.data(), payload.size());
      hashes.insert(hashes.end(), th.begin(), th.end());
      txs.push_back({{"hash", to_hex(th)}, {"payload_hex", to_hex(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                                             payload.size())}});
    }
    iotw_block_header h{};
    h.version = IOTW_BLOCK_VERSION;
    h.height = p.height;
    std::copy(p.prev.begin(), p.prev.end(), h.prev_hash);
    const Hash root = sha256(hashes.data(), hashes.size());
    std::copy(root.begin(), root.end(), h.tx_root);
    h.timestamp_ms = p.timestamp_ms;
    const Key& miner = keys_[p.miner];
    std::copy(miner.pk.begin(), miner.pk.end(), h.miner_pubkey);
    h.tx_count = static_cast<std::uint32_t>(p.payloads.size());
    std::array<std::uint8_t, IOTW_BLOCK_HEADER_SIZE> header;
    iotw_block_header_pack(&h, header.data());
    const Hash bh = sha256(header.data(), header.size());

    std::uint8_t msg[IOTW_SIG_MSG_MAX];
    std::array<std::uint8_t, 64> sig;
    std::size_t len = iotw_sigmsg_result(p.assignment_id, bh.data(), msg);
    crypto_sign_detached(sig.data(), nullptr, msg, len, miner.sk.data());
    json atts = json::array();
    for (int w : p.witnesses) {
      std::array<std::uint8_t, 64> asig;
      len = iotw_sigmsg_attest(p.round_id, bh.data(), p.verdict, msg);
      crypto_sign_detached(asig.data(), nullptr, msg, len, keys_[w].sk.data());
      atts.push_back({{"witness", to_hex(keys_[w].pk)},
                      {"round_id", p.round_id},
                      {"verdict", p.verdict == 1 ? "valid" : "invalid"},
                      {"signature", to_hex(asig)}});
    }
    return {{"height", p.height},       {"hash", to_hex(bh)},         {"header", to_hex(header)},
            {"prev_hash", to_hex(p.prev)}, {"tx_root", to_hex(root)},    {"timestamp_ms", p.timestamp_ms},
            {"miner", to_hex(miner.pk)},   {"tx_count", p.payloads.size()}, {"assignment_id", p.assignment_id},
            {"miner_signature", to_hex(sig)}, {"round_id", p.round_id}, {"transactions", txs},
            {"attestations", atts}};
  }

  /// A plan that rebuilds chain_[2] consistently (same links), to vary one aspect of it.
  BlockPlan plan2() const {
    BlockPlan p;
    p.height = 2;
    p.prev = hash_of(chain_[1]);
    p.miner = 2;
    p.witnesses = {3, 4, 0};
    return p;
  }

  /// Expects `chain` to be invalid with an error exactly equal to `error`.
  static void expect_error(const std::vector<json>& chain, const std::string& error) {
    const LedgerVerdict v = verify_ledger(chain);
    EXPECT_FALSE(v.valid);
    bool found = false;
    std::string all;
    for (const auto& e : v.errors) {
      found = found || e == error;
      all += "\n  " + e;
    }
    EXPECT_TRUE(found) << "wanted: " << error << "\ngot:" << all;
  }

  static void flip_hex(json& j, std::size_t at) {
    std::string s = j;
    s[at] = s[at] == '0' ? '1' : '0';
    j = s;
  }

  /// Signs b's finalization record (strict, n = t = its attestation count, uniform selection) with node_.
  void sign_finalization(json& b) const {
    if (!b.contains("finalization"))
      b["finalization"] = {{"policy", "strict"}, {"n", b["attestations"].size()}, {"t", b["attestations"].size()},
                           {"selection", "uniform"}};
    const json& f = b["finalization"];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (const json& a : b["attestations"]) {
      std::uint8_t e[IOTW_FINALIZE_ATT_ENTRY_SIZE];
      iotw_finalize_att_entry(bytes32(a["witness"]).data(), a["round_id"], a["verdict"] == "valid" ? 1 : 2,
                              bytes64(a["signature"]).data(), e);
      crypto_hash_sha256_update(&st, e, sizeof e);
    }
    std::uint8_t atts[32], sel[32] = {0}, msg[IOTW_FINALIZE_SIZE];
    crypto_hash_sha256_final(&st, atts);
    iotw_sigmsg_finalize(b["height"], bytes32(b["hash"]).data(), f["policy"] == "strict" ? 1 : 2, f["n"], f["t"],
                         IOTW_SELECTION_UNIFORM, atts, sel, msg);
    std::array<std::uint8_t, 64> sig;
    crypto_sign_detached(sig.data(), nullptr, msg, sizeof msg, node_.sk.data());
    b["finalization"]["signature"] = to_hex(sig);
  }
  /// {"tip": ...} for `last`, signed by node_.
  json tip_line(const json& last) const {
    std::uint8_t msg[IOTW_SIG_MSG_MAX];
    std::array<std::uint8_t, 64> sig, ck;
    const std::uint64_t time = last["timestamp_ms"].get<std::uint64_t>() + 5;
    iotw_sigmsg_tip(last["height"], bytes32(last["hash"]).data(), time, msg);
    crypto_sign_detached(sig.data(), nullptr, msg, IOTW_TIP_SIZE, node_.sk.data());
    const std::size_t n = iotw_sigmsg_checkpoint(last["height"], bytes32(last["hash"]).data(), msg);
    crypto_sign_detached(ck.data(), nullptr, msg, n, node_.sk.data());
    return {{"tip",
             {{"height", last["height"]}, {"hash", last["hash"]}, {"time_ms", time}, {"node_key", to_hex(node_.pk)},
              {"signature", to_hex(sig)}, {"checkpoint_signature", to_hex(ck)}}}};
  }
  /// chain_ with a finalization record on every block above genesis and the signed tip.
  std::vector<json> bound() const {
    std::vector<json> out = chain_;
    for (std::size_t i = 1; i < out.size(); ++i) sign_finalization(out[i]);
    out.push_back(tip_line(out.back()));
    return out;
  }
  static std::array<std::uint8_t, 32> bytes32(const json& j) { return *iotw::from_hex<32>(j.get<std::string>()); }
  static std::array<std::uint8_t, 64> bytes64(const json& j) { return *iotw::from_hex<64>(j.get<std::string>()); }

  std::array<Key, 5> keys_;
  Key node_ = [] {
    Key k;
    crypto_sign_keypair(k.pk.data(), k.sk.data());
    return k;
  }();
  std::vector<json> chain_;
};

}  // namespace

TEST_F(LedgerVerifier, CorrectChainWithoutNodeSignaturesIsUnbound) {
  const LedgerVerdict v = verify_ledger(chain_);
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.status, LedgerStatus::unbound);
  EXPECT_EQ(v.unbound_reason, "heights 1..3 carry no finalization record and no signed tip ends the ledger");
  EXPECT_TRUE(v.errors.empty()) << v.errors.front();
  EXPECT_EQ(v.blocks_checked, 4u);
  EXPECT_EQ(v.attestations_checked, 9u);
}

TEST_F(LedgerVerifier, GenesisAloneIsUnboundWithoutTipAndValidWithIt) {
  EXPECT_EQ(verify_ledger({chain_[0]}).status, LedgerStatus::unbound);
  EXPECT_EQ(verify_ledger({chain_[0], tip_line(chain_[0])}).status, LedgerStatus::valid);
}

TEST_F(LedgerVerifier, BoundChainIsValidAndPinsTheNodeKey) {
  auto lines = bound();
  LedgerVerdict v = verify_ledger(lines);
  EXPECT_TRUE(v.valid) << (v.errors.empty() ? "" : v.errors.front());
  EXPECT_FALSE(v.node_key_pinned);
  EXPECT_EQ(v.node_key, to_hex(node_.pk));
  v = verify_ledger(lines, {node_.pk});
  EXPECT_TRUE(v.valid);
  EXPECT_TRUE(v.node_key_pinned);
  // Another key re-signed everything: consistent, but not the pinned node.
  EXPECT_EQ(verify_ledger(lines, {keys_[0].pk}).first->rule, 14);
}

TEST_F(LedgerVerifier, RemovedAttestationOfABoundBlockBreaksRule11) {
  auto lines = bound();
  lines[2]["attestations"].erase(1);
  sign_finalization(lines[2]);  // even re-signed by the node: strict n = 3 needs 3
  const LedgerVerdict v = verify_ledger(lines, {node_.pk});
  ASSERT_TRUE(v.first);
  EXPECT_EQ(v.first->rule, 11);
  EXPECT_EQ(v.first->height, 2u);
  lines = bound();
  lines[2]["attestations"].erase(1);  // not re-signed: the record's attestation hash no longer matches
  EXPECT_EQ(verify_ledger(lines, {node_.pk}).first->rule, 11);
  lines = bound();
  lines[2]["finalization"]["policy"] = "threshold";
  lines[2]["finalization"]["t"] = 2;  // policy changed without the node's signature
  EXPECT_EQ(verify_ledger(lines, {node_.pk}).first->rule, 14);
}

TEST_F(LedgerVerifier, DroppedLastBlockOrTipIsRule15) {
  auto lines = bound();
  lines.erase(lines.end() - 2);  // the last block
  LedgerVerdict v = verify_ledger(lines, {node_.pk});
  EXPECT_EQ(v.first->rule, 15);
  EXPECT_EQ(v.first->height, 2u);
  lines = bound();
  lines.pop_back();  // the tip itself
  v = verify_ledger(lines, {node_.pk});
  EXPECT_EQ(v.first->rule, 15);
}

TEST_F(LedgerVerifier, DuplicateKeysAndUpperCaseHexAreRule1) {
  auto lines = bound();
  std::vector<std::string> text;
  for (const auto& l : lines) text.push_back(l.dump());
  EXPECT_TRUE(verify_ledger_text(text, {node_.pk}).valid);
  text[2].insert(1, R"("round_id":0,)");  // a second round_id key in block 2
  LedgerVerdict v = verify_ledger_text(text, {node_.pk});
  EXPECT_EQ(v.first->rule, 1);
  EXPECT_EQ(v.first->height, 2u);
  EXPECT_EQ(v.first->what, "height 2: not valid JSON, or an object repeats a key");  // why, not "not a JSON object"
  EXPECT_FALSE(parse_json_strict(R"({"a":{"b":1,"b":2}})").has_value());
  EXPECT_TRUE(parse_json_strict(R"({"a":{"b":1},"b":2})").has_value());  // the same key in two objects is fine
  std::string upper = lines[1]["hash"];
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  lines[1]["hash"] = upper;
  v = verify_ledger(lines, {node_.pk});
  EXPECT_EQ(v.first->rule, 1);
  EXPECT_EQ(v.first->height, 1u);
}

TEST_F(LedgerVerifier, SameTransactionInTwoBlocksIsRule7) {
  BlockPlan p = plan2();
  p.payloads = {"tx-a-1"};  // already in block 1
  chain_[2] = block(p);
  chain_.resize(3);
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_TRUE(v.first);
  EXPECT_EQ(v.first->rule, 7);
  EXPECT_EQ(v.first->height, 2u);
}

TEST_F(LedgerVerifier, EmptyLedgerIsInvalid) {
  expect_error({}, "height 0: ledger is empty (no genesis block)");
}

TEST_F(LedgerVerifier, TamperedHeaderByte) {
  flip_hex(chain_[1]["header"], 2 * 76);  // first byte of timestamp_ms
  expect_error(chain_, "height 1: 'hash' is not SHA-256(header)");
  expect_error(chain_, "height 1: header timestamp_ms differs from JSON 'timestamp_ms'");
}

TEST_F(LedgerVerifier, JsonFieldDisagreesWithHeader) {
  chain_[2]["tx_count"] = 5;
  expect_error(chain_, "height 2: header tx_count differs from JSON 'tx_count'");
  expect_error(chain_, "height 2: 'tx_count' is 5 but 2 transactions are listed");
}

TEST_F(LedgerVerifier, BrokenPrevLink) {
  BlockPlan p = plan2();
  p.prev[0] ^= 1;  // a self-consistent, correctly signed block that points elsewhere
  chain_[2] = block(p);
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_EQ(v.errors.size(), 2u);
  EXPECT_EQ(v.errors[0], "height 2: 'prev_hash' does not equal the hash of height 1");
  EXPECT_EQ(v.errors[1], "height 3: 'prev_hash' does not equal the hash of height 2");
}

TEST_F(LedgerVerifier, MissingBlockBreaksHeightOrder) {
  chain_.erase(chain_.begin() + 2);
  expect_error(chain_, "height 2: 'height' is 3, expected 2 (one line per block, in height order from genesis)");
}

TEST_F(LedgerVerifier, TamperedTransactionPayload) {
  chain_[1]["transactions"][0]["payload_hex"] = "7878";
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0], "height 1: transactions[0]: hash is not SHA-256(payload)");
}

TEST_F(LedgerVerifier, DroppedTransaction) {
  chain_[1]["transactions"].erase(1);
  expect_error(chain_, "height 1: 'tx_count' is 2 but 1 transactions are listed");
  expect_error(chain_, "height 1: 'tx_root' is not SHA-256 of the listed transaction hashes");
}

TEST_F(LedgerVerifier, TamperedMinerSignature) {
  flip_hex(chain_[3]["miner_signature"], 10);
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0], "height 3: miner signature does not verify over RESULT(assignment_id, hash) under 'miner'");
}

TEST_F(LedgerVerifier, ChangedAssignmentIdBreaksMinerSignature) {
  chain_[1]["assignment_id"] = 99;
  expect_error(chain_, "height 1: miner signature does not verify over RESULT(assignment_id, hash) under 'miner'");
}

TEST_F(LedgerVerifier, TamperedAttestationSignature) {
  flip_hex(chain_[2]["attestations"][1]["signature"], 0);
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0], "height 2: attestations[1]: signature does not verify over ATTEST(round_id, hash, valid)");
}

TEST_F(LedgerVerifier, WitnessIsTheMiner) {
  BlockPlan p = plan2();
  p.witnesses = {3, 2};  // 2 mined the block
  chain_[2] = block(p);
  chain_[3] = block([&] {
    BlockPlan q;
    q.height = 3;
    q.prev = hash_of(chain_[2]);
    q.miner = 3;
    q.witnesses = {4, 0};
    q.payloads = {"tx-c"};  // not block 2's
    return q;
  }());
  const LedgerVerdict v = verify_ledger(chain_);
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0], "height 2: attestations[1]: witness is the block's miner");
}

TEST_F(LedgerVerifier, InvalidVerdict) {
  BlockPlan p = plan2();
  p.verdict = 2;  // signed honestly, but "invalid"
  chain_[2] = block(p);
  expect_error(chain_, "height 2: attestations[0]: verdict 'invalid', expected 'valid'");
}

TEST_F(LedgerVerifier, DuplicateWitness) {
  BlockPlan p = plan2();
  p.witnesses = {3, 4, 3};
  chain_[2] = block(p);
  expect_error(chain_, "height 2: attestations[2]: duplicate witness");
}

TEST_F(LedgerVerifier, AttestationForAnotherRound) {
  chain_[1]["attestations"][0]["round_id"] = 5;
  expect_error(chain_, "height 1: attestations[0]: round_id 5 differs from the block's round_id 21");
}

TEST_F(LedgerVerifier, NoAttestations) {
  chain_[1]["attestations"] = json::array();
  expect_error(chain_, "height 1: no attestations (a block needs at least one)");
}

TEST_F(LedgerVerifier, MissingKey) {
  chain_[1].erase("tx_root");
  chain_[2]["attestations"][0].erase("witness");
  expect_error(chain_, "height 1: missing key 'tx_root'");
  expect_error(chain_, "height 2: missing key 'attestations[0].witness'");
}

TEST_F(LedgerVerifier, BadHexAndWrongLength) {
  chain_[1]["hash"] = std::string(64, 'z');
  std::string upper = chain_[2]["miner"];
  upper[0] = 'A';
  chain_[2]["miner"] = upper;
  chain_[3]["miner_signature"] = "abcd";
  expect_error(chain_, "height 1: 'hash' is not lower-case hex");
  expect_error(chain_, "height 2: 'miner' is not lower-case hex");
  expect_error(chain_, "height 3: 'miner_signature' must be 128 hex characters (64 bytes), got 4");
}

TEST_F(LedgerVerifier, WrongTypesAndNonObjects) {
  chain_[1]["height"] = "1";
  chain_[2] = json::parse("{not json", nullptr, false);  // how read_json_lines hands over a bad line
  chain_[3]["transactions"] = "none";
  expect_error(chain_, "height 1: 'height' must be a non-negative integer");
  expect_error(chain_, "height 2: not a JSON object");
  expect_error(chain_, "height 3: 'transactions' must be an array");
}

TEST_F(LedgerVerifier, GenesisMustBeExact) {
  json g = genesis();
  g["timestamp_ms"] = 5;
  g["assignment_id"] = 1;
  chain_[0] = g;
  expect_error(chain_, "height 0: header timestamp_ms differs from JSON 'timestamp_ms'");
  expect_error(chain_, "height 0: genesis 'assignment_id' must be 0");

  // A genesis with a non-zero prev_hash in its (self-consistent) header.
  std::string header = genesis()["header"];
  header[2 * 12] = '1';
  g = genesis();
  g["header"] = header;
  g["prev_hash"] = header.substr(2 * 12, 64);
  std::array<std::uint8_t, 120> bytes;
  for (std::size_t i = 0; i < 120; ++i) bytes[i] = static_cast<std::uint8_t>(std::stoi(header.substr(2 * i, 2), nullptr, 16));
  g["hash"] = to_hex(sha256(bytes.data(), 120));
  const LedgerVerdict v = verify_ledger({g});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0],
            "height 0: genesis header is not the protocol genesis (version 1, tx_root = SHA-256(\"\"), all else zero)");
}
