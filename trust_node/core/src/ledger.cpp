#include "iotw/trust_node/ledger.hpp"

#include <openssl/evp.h>
#include <algorithm>
#include <sodium.h>

#include "iotw/block_header.h"
#include "iotw/ledger_signing.h"
#include "iotw/signing.h"

namespace iotw::tn {

Hash sha256(const uint8_t *p, size_t n) {
  // One EVP context per thread, reused, and the algorithm fetched once per thread: EVP_sha256() and SHA256()
  // look the provider up on every call (locks; 470 to 530 ns per 64-byte digest here against 160 ns fetched).
  // OpenSSL uses the CPU's SHA extensions (SHA-NI) when present; libsodium's portable code took 600 ns.
  struct Ctx {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ~Ctx() {
      EVP_MD_CTX_free(ctx);
      EVP_MD_free(md);
    }
  };
  thread_local Ctx c;
  Hash h;
  unsigned len = 0;
  if (!c.ctx || !c.md || EVP_DigestInit_ex2(c.ctx, c.md, nullptr) != 1 || EVP_DigestUpdate(c.ctx, p, n) != 1 ||
      EVP_DigestFinal_ex(c.ctx, h.data(), &len) != 1 || len != h.size())
    crypto_hash_sha256(h.data(), p, n);  // never seen; libsodium gives the same digest
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

std::vector<Block> block_page(Ledger &ledger, uint64_t from, uint64_t limit) {
  constexpr uint64_t kStep = 4;  // blocks read at once: up to 4 x max_txs_per_block txs beyond the page
  std::vector<Block> page;
  uint64_t txs = 0;
  while (page.size() < limit) {
    const uint64_t want = std::min<uint64_t>(kStep, limit - page.size());
    std::vector<Block> got = ledger.blocks(from + page.size(), want);
    for (Block &b : got) {
      if (!page.empty() && txs + b.txs.size() > kPageMaxTxs) return page;
      txs += b.txs.size();
      page.push_back(std::move(b));
    }
    if (got.size() < want) break;  // the tip
  }
  return page;
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
  const auto suite_name = [](uint32_t suite) { return suite == 4 ? "ell2" : "tai"; };
  if (b.vrf)  // the winning claim (blocks mined by a VRF claim)
    out["vrf"] = {{"suite", suite_name(b.vrf->suite)}, {"pi", to_hex(b.vrf->pi)}, {"beta", to_hex(b.vrf->beta)}};
  if (b.vrf_round) {  // every claim of the round, so the lowest-beta rule re-checks from the ledger
    nlohmann::json claims = nlohmann::json::array();
    for (const VrfClaim &c : b.vrf_round->claims)
      claims.push_back({{"device", to_hex(c.device)}, {"pi", to_hex(c.pi)}, {"beta", to_hex(c.beta)}});
    nlohmann::json &v = out["vrf"];
    v["suite"] = suite_name(b.vrf_round->suite);
    v["rank"] = b.vrf_round->rank;
    v["claims"] = std::move(claims);
  }
  if (b.finalization) {
    const Finalization &f = *b.finalization;
    out["finalization"] = {
        {"policy", f.policy == IOTW_POLICY_THRESHOLD ? "threshold" : "strict"},
        {"n", f.n},
        {"t", f.t},
        {"selection", f.selection == IOTW_SELECTION_VRF          ? "vrf"
                      : f.selection == IOTW_SELECTION_REPUTATION ? "reputation"
                                                                 : "uniform"},
        {"signature", to_hex(f.signature)}};
  }
  return out;
}

namespace {

/** Field `name` of object j, or LedgerError naming it. */
const nlohmann::json &field(const nlohmann::json &j, const char *name) {
  const auto it = j.find(name);
  if (it == j.end()) throw LedgerError(std::string("ledger: block JSON has no \"") + name + "\"");
  return *it;
}

template <size_t N>
std::array<uint8_t, N> hex_field(const nlohmann::json &j, const char *name) {
  const nlohmann::json &v = field(j, name);
  const auto bytes = v.is_string() ? from_hex<N>(v.get_ref<const std::string &>()) : std::nullopt;
  if (!bytes)
    throw LedgerError(std::string("ledger: block JSON field \"") + name + "\" is not " + std::to_string(N) +
                      " bytes of hex");
  return *bytes;
}

Bytes hex_bytes(const nlohmann::json &j, const char *name) {
  const nlohmann::json &v = field(j, name);
  const auto bytes = v.is_string() ? from_hex(v.get_ref<const std::string &>()) : std::nullopt;
  if (!bytes) throw LedgerError(std::string("ledger: block JSON field \"") + name + "\" is not hex");
  return *bytes;
}

template <class T>
T number(const nlohmann::json &j, const char *name) {
  const nlohmann::json &v = field(j, name);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw LedgerError(std::string("ledger: block JSON field \"") + name + "\" is not a non-negative integer");
  return v.get<T>();
}

uint32_t suite_of(const nlohmann::json &v) { return field(v, "suite") == "ell2" ? 4u : 3u; }

}  // namespace

Block block_from_json(const nlohmann::json &j) {
  if (!j.is_object()) throw LedgerError("ledger: block JSON is not an object");
  Block b;
  b.height = number<uint64_t>(j, "height");
  b.hash = hex_field<32>(j, "hash");
  b.header = hex_field<120>(j, "header");
  b.miner = hex_field<32>(j, "miner");
  b.assignment_id = number<uint64_t>(j, "assignment_id");
  b.miner_signature = hex_bytes(j, "miner_signature");
  b.round_id = number<uint64_t>(j, "round_id");
  for (const nlohmann::json &t : field(j, "transactions")) {
    Tx tx{hex_field<32>(t, "hash"), hex_bytes(t, "payload_hex"), std::nullopt, std::nullopt};
    if (t.contains("signer")) tx.signature = TxSignature{hex_field<32>(t, "signer"), hex_field<64>(t, "signature")};
    if (t.contains("usage_device")) tx.usage_device = hex_field<32>(t, "usage_device");
    b.txs.push_back(std::move(tx));
  }
  for (const nlohmann::json &a : field(j, "attestations"))
    b.attestations.push_back(Attestation{hex_field<32>(a, "witness"), number<uint64_t>(a, "round_id"),
                                         static_cast<uint8_t>(field(a, "verdict") == "valid" ? 1 : 2),
                                         hex_field<64>(a, "signature")});
  if (const auto v = j.find("vrf"); v != j.end()) {
    if (v->contains("pi")) b.vrf = VrfProof{suite_of(*v), hex_field<80>(*v, "pi"), hex_field<64>(*v, "beta")};
    if (v->contains("claims")) {
      VrfRound r{suite_of(*v), number<uint32_t>(*v, "rank"), {}};
      for (const nlohmann::json &c : field(*v, "claims"))
        r.claims.push_back(VrfClaim{hex_field<32>(c, "device"), hex_field<80>(c, "pi"), hex_field<64>(c, "beta")});
      b.vrf_round = std::move(r);
    }
  }
  if (const auto f = j.find("finalization"); f != j.end()) {
    const nlohmann::json &sel = field(*f, "selection");
    b.finalization = Finalization{
        static_cast<uint8_t>(field(*f, "policy") == "threshold" ? IOTW_POLICY_THRESHOLD : IOTW_POLICY_STRICT),
        number<uint32_t>(*f, "n"), number<uint32_t>(*f, "t"),
        static_cast<uint8_t>(sel == "vrf"          ? IOTW_SELECTION_VRF
                             : sel == "reputation" ? IOTW_SELECTION_REPUTATION
                                                   : IOTW_SELECTION_UNIFORM),
        hex_field<64>(*f, "signature")};
  }
  return b;
}

std::array<uint8_t, 130> finalize_message(const Block &b, const Finalization &f) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (const Attestation &a : b.attestations) {
    uint8_t e[IOTW_FINALIZE_ATT_ENTRY_SIZE];
    iotw_finalize_att_entry(a.witness.data(), a.round_id, a.verdict, a.signature.data(), e);
    crypto_hash_sha256_update(&st, e, sizeof e);
  }
  Hash atts{}, selection{};
  crypto_hash_sha256_final(&st, atts.data());
  if (f.selection == IOTW_SELECTION_VRF && b.vrf_round) {
    const VrfRound &r = *b.vrf_round;
    uint8_t head[IOTW_FINALIZE_VRF_HEAD_SIZE];
    iotw_finalize_vrf_head(static_cast<uint8_t>(r.suite), r.rank, static_cast<uint32_t>(r.claims.size()), head);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, head, sizeof head);
    for (const VrfClaim &c : r.claims) {
      crypto_hash_sha256_update(&st, c.device.data(), c.device.size());
      crypto_hash_sha256_update(&st, c.pi.data(), c.pi.size());
    }
    crypto_hash_sha256_final(&st, selection.data());
  }
  std::array<uint8_t, 130> msg{};
  iotw_sigmsg_finalize(b.height, b.hash.data(), f.policy, f.n, f.t, f.selection, atts.data(), selection.data(),
                       msg.data());
  return msg;
}

Finalization sign_finalization(const Block &b, Finalization f, const std::array<uint8_t, 64> &node_sk) {
  const auto msg = finalize_message(b, f);
  crypto_sign_detached(f.signature.data(), nullptr, msg.data(), msg.size(), node_sk.data());
  return f;
}

SignedTip sign_tip(const Block &tip, uint64_t time_ms, const Key &node_pk, const std::array<uint8_t, 64> &node_sk) {
  SignedTip t{tip.height, tip.hash, time_ms, node_pk, {}, {}};
  uint8_t msg[IOTW_TIP_SIZE];
  iotw_sigmsg_tip(t.height, t.hash.data(), t.time_ms, msg);
  crypto_sign_detached(t.signature.data(), nullptr, msg, sizeof msg, node_sk.data());
  uint8_t ck[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_checkpoint(t.height, t.hash.data(), ck);
  crypto_sign_detached(t.checkpoint_signature.data(), nullptr, ck, n, node_sk.data());
  return t;
}

nlohmann::json tip_to_json(const SignedTip &t) {
  return {{"tip",
           {{"height", t.height},
            {"hash", to_hex(t.hash)},
            {"time_ms", t.time_ms},
            {"node_key", to_hex(t.node_key)},
            {"signature", to_hex(t.signature)},
            {"checkpoint_signature", to_hex(t.checkpoint_signature)}}}};
}

}  // namespace iotw::tn
