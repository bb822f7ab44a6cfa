// Test doubles for the trust-node core: an in-memory Ledger, a manual clock, a seeded random source, a
// recording sink, and scripted devices that sign with real libsodium keys (docs/protocol.md §5-§6).
#pragma once
#include <cstring>
#include <utility>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sodium.h>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/trust_node/core.hpp"

namespace iotw::tn::test {

class MemLedger final : public Ledger {
 public:
  uint64_t block_count() override { return chain.size(); }
  std::vector<Block> blocks(uint64_t from, uint64_t limit) override {
    std::vector<Block> out;
    for (uint64_t h = from; h < chain.size() && out.size() < limit; ++h) out.push_back(chain[h]);
    return out;
  }
  using Ledger::append_block;
  void append_block(const Block &b, const BlockEffects &fx) override {
    for (const Tx &t : b.txs) std::erase_if(pending, [&](const Tx &p) { return p.hash == t.hash; });
    chain.push_back(b);
    for (const Credit &c : fx.credits) bal[c.device] += c.amount;
    for (const Key &k : fx.good) ++rep[k].good;
  }
  bool known(const Hash &h) const {
    for (const Tx &p : pending)
      if (p.hash == h) return true;
    for (const Block &b : chain)
      for (const Tx &t : b.txs)
        if (t.hash == h) return true;
    return false;
  }
  std::vector<bool> add_pending_txs(const std::vector<Tx> &txs) override {
    std::vector<bool> out;
    for (const Tx &tx : txs) {
      out.push_back(!known(tx.hash));
      if (out.back()) pending.push_back(tx);
    }
    return out;
  }
  bool add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) override {
    auto it = seqs.find(device);
    if ((it != seqs.end() && it->second >= seq) || known(tx.hash)) return false;
    seqs[device] = seq;
    pending.push_back(tx);
    return true;
  }
  std::map<Key, uint64_t> usage_seqs() override { return seqs; }
  std::map<Key, uint64_t> balances() override { return bal; }
  std::map<Key, Reputation> reputations() override { return rep; }
  void add_bad(const Key &k) override { ++rep[k].bad; }
  std::vector<Tx> pending_txs() override { return pending; }
  /** Txs "another trust node" stored: the test puts them here (and in pending) itself. */
  std::vector<Tx> new_pending_txs() override { return std::exchange(foreign, {}); }
  uint64_t reserved_round_ids() override { return round_reserve; }
  void reserve_round_ids(uint64_t limit) override { round_reserve = limit; }
  void upsert_device(const DeviceRecord &d) override {
    auto [it, fresh] = devs.emplace(d.pubkey, d);
    if (!fresh) it->second = DeviceRecord{d.pubkey, d.name, d.model, d.boot_count, it->second.first_seen_ms};
  }
  std::vector<DeviceRecord> devices() override {
    std::vector<DeviceRecord> out;
    for (auto &[k, d] : devs) out.push_back(d);
    return out;
  }
  void add_blacklist(const BlacklistEntry &e) override {
    std::erase_if(black, [&](const BlacklistEntry &b) { return b.pubkey == e.pubkey; });
    black.push_back(e);
  }
  std::vector<BlacklistEntry> blacklist() override { return black; }
  bool lift_blacklist(const Key &k, uint64_t) override {
    return std::erase_if(black, [&](const BlacklistEntry &b) { return b.pubkey == k; }) > 0;
  }
  uint64_t max_round_id() override {
    uint64_t m = 0;
    for (const Block &b : chain) m = std::max(m, b.round_id);
    for (const auto &e : black) m = std::max(m, e.round_id);
    return m;
  }
  uint64_t max_assignment_id() override {
    uint64_t m = 0;
    for (const Block &b : chain) m = std::max(m, b.assignment_id);
    return m;
  }

  std::vector<Block> chain;
  std::vector<Tx> pending;
  std::vector<Tx> foreign;  ///< returned (once) by new_pending_txs
  uint64_t round_reserve = 0;
  std::map<Key, DeviceRecord> devs;
  std::vector<BlacklistEntry> black;
  std::map<Key, uint64_t> seqs, bal;
  std::map<Key, Reputation> rep;
};

struct ManualClock final : Clock {  ///< Unix epoch ms the test sets by hand (`now`); a sleep jumps it
  mutable uint64_t now = 1'700'000'000'000;
  uint64_t now_ns() const override { return now * 1'000'000; }
  void sleep_until_ns(uint64_t t_ns) const override { now = std::max(now, (t_ns + 999'999) / 1'000'000); }
};

struct SeededRandom final : Random {
  explicit SeededRandom(uint64_t seed) : gen(seed) {}
  uint64_t next_u64() override { return gen(); }
  std::mt19937_64 gen;
};

struct Event {
  std::string kind;
  nlohmann::json fields;
};

struct RecordingSink final : CoreSink {
  void send(uint32_t link, const iotw_v1_Envelope &env) override {
    // Round-trip through the wire codec so the test also proves the messages encode.
    uint8_t buf[512];
    const size_t n = iotw_msg_encode(&env, buf, sizeof buf);
    EXPECT_GT(n, 0u);
    iotw_v1_Envelope copy;
    EXPECT_EQ(iotw_msg_decode(buf, n, &copy), 0);
    out.emplace_back(link, copy);
  }
  void event(std::string_view kind, nlohmann::json fields) override {
    events.push_back(Event{std::string(kind), std::move(fields)});
  }
  std::vector<Event> of(const std::string &kind) const {
    std::vector<Event> r;
    for (const Event &e : events)
      if (e.kind == kind) r.push_back(e);
    return r;
  }
  std::deque<std::pair<uint32_t, iotw_v1_Envelope>> out;
  std::vector<Event> events;
};

/** How a scripted device misbehaves. */
enum class Behaviour {
  honest,
  bad_proof,
  wrong_hash,
  invert_verdict,
  silent_witness,
  forge_attestation,
  forge_vrf,      ///< VrfClaim with one bit of s flipped
  wrong_key_vrf,  ///< VrfClaim proved with another key (vrf_other_seed) than the registered one
  silent_vrf,     ///< never answers VrfRoundSeed (e.g. firmware without VRF)
  other_hash_attestation,  ///< signs its verdict over another block hash (last byte flipped)
  replay_attestation,      ///< answers once honestly, then replays that attestation to every request
  wrong_key_attestation    ///< signs attestations with another key (vrf_other_seed) than the registered one
};

struct SimDevice {
  SimDevice(uint32_t link_, std::string name_, Behaviour b) : link(link_), name(std::move(name_)), behaviour(b) {
    // deterministic identity per name, so runs with one RNG seed repeat exactly
    crypto_generichash(seed.data(), seed.size(), reinterpret_cast<const uint8_t *>(name.data()), name.size(), nullptr, 0);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    vrf_other_seed = seed;
    vrf_other_seed[0] ^= 0x5a;
  }
  std::string hex() const { return to_hex(pk); }

  iotw_v1_Envelope hello() const {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_hello_tag;
    std::memcpy(e.body.hello.pubkey, pk.data(), 32);
    std::snprintf(e.body.hello.model, sizeof e.body.hello.model, "esp32");
    std::snprintf(e.body.hello.name, sizeof e.body.hello.name, "%s", name.c_str());
    e.body.hello.boot_count = boot_count;
    return e;
  }

  /** The device's answer to one message from the node (docs/protocol.md §6), if any. */
  std::optional<iotw_v1_Envelope> respond(const iotw_v1_Envelope &in) {
    received.push_back(in);
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    switch (in.which_body) {
      case iotw_v1_Envelope_challenge_tag: {
        e.which_body = iotw_v1_Envelope_prove_tag;
        std::memcpy(e.body.prove.pubkey, pk.data(), 32);
        const size_t n = iotw_sigmsg_register(in.body.challenge.nonce, pk.data(), msg);
        if (behaviour == Behaviour::bad_proof) msg[20] ^= 1;
        crypto_sign_detached(e.body.prove.signature, nullptr, msg, n, sk.data());
        return e;
      }
      case iotw_v1_Envelope_welcome_tag:  // §6 step 3: attached; the first Heartbeat right away
        if (lose_next_welcome) {  // lost on the way (UDP): the device still thinks it is not registered
          lose_next_welcome = false;
          return std::nullopt;
        }
        attached = true;
        return heartbeat();
      case iotw_v1_Envelope_assignment_tag: {
        e.which_body = iotw_v1_Envelope_result_tag;
        e.body.result.assignment_id = in.body.assignment.assignment_id;
        crypto_hash_sha256(e.body.result.block_hash, in.body.assignment.header, 120);
        if (behaviour == Behaviour::wrong_hash) e.body.result.block_hash[0] ^= 0xff;
        const size_t n = iotw_sigmsg_result(e.body.result.assignment_id, e.body.result.block_hash, msg);
        crypto_sign_detached(e.body.result.signature, nullptr, msg, n, sk.data());
        return e;
      }
      case iotw_v1_Envelope_witness_request_tag: {
        if (behaviour == Behaviour::silent_witness) return std::nullopt;
        const auto &r = in.body.witness_request;
        uint8_t h[32];
        crypto_hash_sha256(h, r.header, 120);
        bool valid = iotw_get_u32le(r.header) == 1 && std::memcmp(h, r.block_hash, 32) == 0;
        {  // the miner's signature over RESULT under the header's miner_pubkey (offset 84), §6 step 5
          const size_t n = iotw_sigmsg_result(r.assignment_id, r.block_hash, msg);
          valid = valid && crypto_sign_verify_detached(r.miner_signature, msg, n, r.header + 84) == 0;
        }
        if (behaviour == Behaviour::invert_verdict) valid = !valid;
        e.which_body = iotw_v1_Envelope_attestation_tag;
        if (behaviour == Behaviour::replay_attestation && first_attestation) {
          e.body.attestation = *first_attestation;
          return e;
        }
        e.body.attestation = attest(r.round_id, r.block_hash, valid);
        if (behaviour == Behaviour::forge_attestation) e.body.attestation.signature[5] ^= 0x40;
        if (behaviour == Behaviour::other_hash_attestation) {
          uint8_t other[32];
          std::memcpy(other, r.block_hash, 32);
          other[31] ^= 0xff;
          e.body.attestation = attest(r.round_id, other, valid);
        }
        if (behaviour == Behaviour::wrong_key_attestation) {
          std::array<uint8_t, 32> opk{};
          std::array<uint8_t, 64> osk{};
          crypto_sign_seed_keypair(opk.data(), osk.data(), vrf_other_seed.data());
          const size_t n = iotw_sigmsg_attest(r.round_id, r.block_hash, static_cast<uint8_t>(e.body.attestation.verdict), msg);
          crypto_sign_detached(e.body.attestation.signature, nullptr, msg, n, osk.data());
        }
        if (!first_attestation) first_attestation = e.body.attestation;
        return e;
      }
      case iotw_v1_Envelope_vrf_round_seed_tag: {
        if (behaviour == Behaviour::silent_vrf) return std::nullopt;
        const auto &r = in.body.vrf_round_seed;
        e.which_body = iotw_v1_Envelope_vrf_claim_tag;
        e.body.vrf_claim = vrf_claim(r.height, r.prev_hash, static_cast<iotw_ecvrf_suite>(r.suite));
        return e;
      }
      default: return std::nullopt;
    }
  }

  /** The next Heartbeat (seq from 1, docs/protocol.md §6). */
  iotw_v1_Envelope heartbeat() {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_heartbeat_tag;
    e.body.heartbeat.seq = ++heartbeat_seq;
    return e;
  }

  /** ECVRF proof over VRF(height, prev_hash) (docs/protocol.md §5), per behaviour. */
  iotw_v1_VrfClaim vrf_claim(uint64_t height, const uint8_t prev_hash[32], iotw_ecvrf_suite suite) const {
    iotw_v1_VrfClaim c = iotw_v1_VrfClaim_init_zero;
    c.height = height;
    uint8_t alpha[IOTW_VRF_ALPHA_SIZE];
    const size_t n = iotw_vrf_alpha(height, prev_hash, alpha);
    const auto &key = behaviour == Behaviour::wrong_key_vrf ? vrf_other_seed : seed;
    EXPECT_EQ(iotw_ecvrf_prove(suite, c.pi, key.data(), alpha, n), IOTW_ECVRF_OK);
    if (behaviour == Behaviour::forge_vrf) c.pi[48] ^= 1;
    return c;
  }

  /** A signed UsageReport (docs/protocol.md §5 USAGE). */
  iotw_v1_Envelope usage(uint64_t seq, uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) const {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_usage_report_tag;
    auto &u = e.body.usage_report;
    u.seq = seq, u.energy_mwh = energy_mwh, u.on_seconds = on_seconds, u.period_s = period_s;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_usage(seq, energy_mwh, on_seconds, period_s, msg);
    crypto_sign_detached(u.signature, nullptr, msg, n, sk.data());
    return e;
  }

  iotw_v1_Attestation attest(uint64_t round_id, const uint8_t block_hash[32], bool valid) const {
    iotw_v1_Attestation a = iotw_v1_Attestation_init_zero;
    a.round_id = round_id;
    std::memcpy(a.block_hash, block_hash, 32);
    a.verdict = valid ? iotw_v1_Verdict_VERDICT_VALID : iotw_v1_Verdict_VERDICT_INVALID;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_attest(round_id, block_hash, static_cast<uint8_t>(a.verdict), msg);
    crypto_sign_detached(a.signature, nullptr, msg, n, sk.data());
    return a;
  }

  uint32_t link;
  std::string name;
  Behaviour behaviour;
  uint32_t boot_count = 1;
  Key pk{};
  std::array<uint8_t, 64> sk{};
  std::array<uint8_t, 32> seed{}, vrf_other_seed{};
  bool attached = false;
  bool lose_next_welcome = false;  ///< the next Welcome never arrives (a lost UDP datagram)
  uint32_t heartbeat_seq = 0;
  std::vector<iotw_v1_Envelope> received;
  std::optional<iotw_v1_Attestation> first_attestation;  ///< what Behaviour::replay_attestation replays
};

/** A core wired to scripted devices; pump() delivers messages both ways until quiet. */
struct Rig {
  explicit Rig(ConsensusConfig c = {}, Ledger *store = nullptr, uint64_t seed = 42)
      : cfg(c), rng(seed), ledger(store ? *store : mem), core(cfg, ledger, clock, rng, sink) {}

  SimDevice &add(Behaviour b = Behaviour::honest, std::string name = {}) {
    const uint32_t link = static_cast<uint32_t>(devices.size() + 1);
    if (name.empty()) name = "dev-" + std::to_string(link);
    auto &d = devices.emplace(link, SimDevice(link, name, b)).first->second;
    core.link_opened(link, "test:" + std::to_string(link));
    core.on_message(link, d.hello());
    pump();
    return d;
  }
  void pump() {
    while (!sink.out.empty()) {
      auto [link, env] = sink.out.front();
      sink.out.pop_front();
      if (auto reply = devices.at(link).respond(env)) core.on_message(link, *reply);
    }
  }
  SubmitResult submit(const std::string &text) {
    auto r = core.submit_tx(Bytes(text.begin(), text.end()));
    pump();
    return r;
  }
  /** Deliver env from device d and pump the answers. */
  void from(SimDevice &d, const iotw_v1_Envelope &env) {
    core.on_message(d.link, env);
    pump();
  }
  void advance(uint64_t ms) {
    clock.now += ms;
    core.tick();
    pump();
  }
  SimDevice *by_hex(const std::string &hex) {
    for (auto &[l, d] : devices)
      if (d.hex() == hex) return &d;
    return nullptr;
  }

  ConsensusConfig cfg;
  MemLedger mem;
  ManualClock clock;
  SeededRandom rng;
  RecordingSink sink;
  Ledger &ledger;
  TrustNodeCore core;
  std::map<uint32_t, SimDevice> devices;
};

/** The independent checks of docs/protocol.md §8 on one block against its predecessor. */
inline void expect_verifies(const Block &b, const Block &prev) {
  EXPECT_EQ(b.hash, sha256(b.header.data(), b.header.size()));
  iotw_block_header h;
  ASSERT_EQ(iotw_block_header_unpack(b.header.data(), &h), 0);
  EXPECT_EQ(h.height, prev.height + 1);
  EXPECT_EQ(b.height, h.height);
  EXPECT_EQ(0, std::memcmp(h.prev_hash, prev.hash.data(), 32));
  EXPECT_EQ(0, std::memcmp(h.miner_pubkey, b.miner.data(), 32));
  Bytes hashes;
  for (const Tx &t : b.txs) {
    EXPECT_EQ(t.hash, sha256(t.payload.data(), t.payload.size()));
    hashes.insert(hashes.end(), t.hash.begin(), t.hash.end());
  }
  EXPECT_EQ(0, std::memcmp(h.tx_root, sha256(hashes.data(), hashes.size()).data(), 32));
  EXPECT_EQ(h.tx_count, b.txs.size());
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t n = iotw_sigmsg_result(b.assignment_id, b.hash.data(), msg);
  ASSERT_EQ(b.miner_signature.size(), 64u);
  EXPECT_EQ(0, crypto_sign_verify_detached(b.miner_signature.data(), msg, n, b.miner.data()));
  ASSERT_FALSE(b.attestations.empty());
  std::set<Key> seen;
  for (const Attestation &a : b.attestations) {
    EXPECT_EQ(a.round_id, b.round_id);
    EXPECT_EQ(a.verdict, 1);
    EXPECT_NE(a.witness, b.miner);
    EXPECT_TRUE(seen.insert(a.witness).second);
    n = iotw_sigmsg_attest(a.round_id, b.hash.data(), 1, msg);
    EXPECT_EQ(0, crypto_sign_verify_detached(a.signature.data(), msg, n, a.witness.data()));
  }
}

}  // namespace iotw::tn::test
