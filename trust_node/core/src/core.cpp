#include "iotw/trust_node/core.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

#include "iotw/block_header.h"
#include "iotw/signing.h"

namespace iotw::tn {
namespace {

template <size_t N>
std::array<uint8_t, N> arr(const uint8_t *p) {
  std::array<uint8_t, N> a;
  std::memcpy(a.data(), p, N);
  return a;
}

std::string cstr(const char *s, size_t cap) { return std::string(s, strnlen(s, cap)); }

bool verify(const uint8_t *sig, const uint8_t *msg, size_t len, const Key &pk) {
  return crypto_sign_verify_detached(sig, msg, len, pk.data()) == 0;
}

iotw_v1_Envelope envelope(pb_size_t which) {
  iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
  e.which_body = which;
  return e;
}

const char *verdict_name(uint8_t v) { return v == iotw_v1_Verdict_VERDICT_VALID ? "valid" : "invalid"; }

}  // namespace

TrustNodeCore::TrustNodeCore(ConsensusConfig cfg, Ledger &ledger, Clock &clock, Random &rng, CoreSink &sink)
    : cfg_(cfg), ledger_(ledger), clock_(clock), rng_(rng), sink_(sink) {
  if (ledger_.block_count() == 0) ledger_.append_block(genesis_block());
  tip_ = ledger_.blocks(ledger_.block_count() - 1, 1).at(0);
  pending_ = ledger_.pending_txs();
  for (DeviceRecord &d : ledger_.devices()) devices_[d.pubkey].rec = std::move(d);
  for (const BlacklistEntry &e : ledger_.blacklist()) blacklist_.insert(e.pubkey);
  next_round_id_ = ledger_.max_round_id() + 1;
  next_assignment_id_ = ledger_.max_assignment_id() + 1;
}

void TrustNodeCore::link_opened(uint32_t link, std::string name) { sessions_[link] = Session{std::move(name), {}, {}}; }

void TrustNodeCore::link_closed(uint32_t link) {
  auto it = sessions_.find(link);
  if (it == sessions_.end()) return;
  if (it->second.attached) detach(devices_.at(*it->second.attached), "link_closed");
  sessions_.erase(it);
}

size_t TrustNodeCore::attached_count() const {
  return std::count_if(devices_.begin(), devices_.end(), [](const auto &kv) { return kv.second.link.has_value(); });
}

const std::string &TrustNodeCore::name_of(const Key &k) const { return devices_.at(k).rec.name; }

nlohmann::json TrustNodeCore::devices_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto &[k, d] : devices_)
    out.push_back(nlohmann::json{{"device", to_hex(k)},
                                 {"name", d.rec.name},
                                 {"model", d.rec.model},
                                 {"link", d.link ? sessions_.at(*d.link).name : ""},
                                 {"attached", d.link.has_value()},
                                 {"blacklisted", blacklist_.count(k) > 0},
                                 {"boot_count", d.rec.boot_count}});
  return out;
}

void TrustNodeCore::send_error(uint32_t link, uint32_t code, const char *text) {
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_error_tag);
  e.body.error.code = code;
  std::snprintf(e.body.error.text, sizeof e.body.error.text, "%s", text);
  sink_.send(link, e);
}

void TrustNodeCore::on_message(uint32_t link, const iotw_v1_Envelope &env) {
  auto sit = sessions_.find(link);
  if (sit == sessions_.end()) sit = sessions_.emplace(link, Session{"link:" + std::to_string(link), {}, {}}).first;
  Session &s = sit->second;
  switch (env.which_body) {
    case iotw_v1_Envelope_hello_tag: return on_hello(link, s, env.body.hello);
    case iotw_v1_Envelope_prove_tag: return on_prove(link, s, env.body.prove);
    case iotw_v1_Envelope_error_tag: return;  // a device's complaint needs no answer
    default: break;
  }
  if (!s.attached) {
    ++counters_.messages_rejected;
    return send_error(link, 1, "not registered");
  }
  Device &d = devices_.at(*s.attached);
  d.last_seen_ms = clock_.now_ms();
  switch (env.which_body) {
    case iotw_v1_Envelope_heartbeat_tag: {
      iotw_v1_Envelope e = envelope(iotw_v1_Envelope_heartbeat_ack_tag);
      e.body.heartbeat_ack.seq = env.body.heartbeat.seq;
      e.body.heartbeat_ack.height = tip_.height;
      return sink_.send(link, e);
    }
    case iotw_v1_Envelope_result_tag: return on_result(link, d.rec.pubkey, env.body.result);
    case iotw_v1_Envelope_attestation_tag: return on_attestation(link, d.rec.pubkey, env.body.attestation);
    default: ++counters_.messages_rejected; return send_error(link, 5, "unexpected message");
  }
}

void TrustNodeCore::on_hello(uint32_t link, Session &s, const iotw_v1_Hello &h) {
  Hash nonce;
  for (size_t i = 0; i < nonce.size(); i += 8) {
    const uint64_t r = rng_.next_u64();
    std::memcpy(nonce.data() + i, &r, 8);
  }
  s.challenge.emplace(h, nonce);
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_challenge_tag);
  std::memcpy(e.body.challenge.nonce, nonce.data(), nonce.size());
  sink_.send(link, e);
}

void TrustNodeCore::on_prove(uint32_t link, Session &s, const iotw_v1_Prove &p) {
  const Key key = arr<32>(p.pubkey);
  const char *reason = nullptr;
  uint32_t code = 2;  // bad signature
  if (!s.challenge) {
    reason = "no_challenge";
    code = 1;  // send Hello first
  } else if (std::memcmp(s.challenge->first.pubkey, p.pubkey, 32) != 0) {
    reason = "key_mismatch";
  } else {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_register(s.challenge->second.data(), p.pubkey, msg);
    if (!verify(p.signature, msg, n, key)) reason = "bad_signature";
  }
  if (reason) {
    ++counters_.registrations_rejected;
    sink_.event("registration_rejected", {{"link", s.name}, {"device", to_hex(key)}, {"reason", reason}});
    s.challenge.reset();
    return send_error(link, code, reason);
  }
  const iotw_v1_Hello hello = s.challenge->first;
  s.challenge.reset();
  const uint64_t now = clock_.now_ms();
  const bool is_new = devices_.count(key) == 0;
  Device &d = devices_[key];
  if (is_new) d.rec = DeviceRecord{key, {}, {}, 0, now};
  d.rec.name = cstr(hello.name, sizeof hello.name);
  d.rec.model = cstr(hello.model, sizeof hello.model);
  d.rec.boot_count = hello.boot_count;
  ledger_.upsert_device(d.rec);
  if (s.attached && *s.attached != key) detach(devices_.at(*s.attached), "link_closed");
  if (d.link && *d.link != link) sessions_.at(*d.link).attached.reset();
  d.link = link;
  d.last_seen_ms = now;
  s.attached = key;
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_welcome_tag);
  e.body.welcome.height = tip_.height;
  e.body.welcome.heartbeat_interval_ms = cfg_.heartbeat_interval_ms();
  sink_.send(link, e);
  sink_.event("device_registered", {{"device", to_hex(key)},
                                    {"name", d.rec.name},
                                    {"model", d.rec.model},
                                    {"link", s.name},
                                    {"boot_count", d.rec.boot_count},
                                    {"new", is_new}});
  maybe_start_block();
}

void TrustNodeCore::detach(Device &d, const char *reason) {
  if (!d.link) return;
  auto it = sessions_.find(*d.link);
  if (it != sessions_.end() && it->second.attached == d.rec.pubkey) it->second.attached.reset();
  d.link.reset();
  sink_.event("device_detached", {{"device", to_hex(d.rec.pubkey)}, {"name", d.rec.name}, {"reason", reason}});
}

std::vector<Key> TrustNodeCore::eligible(const std::set<Key> &exclude) const {
  std::vector<Key> out;
  for (const auto &[k, d] : devices_)
    if (d.link && !blacklist_.count(k) && !exclude.count(k)) out.push_back(k);
  return out;
}

Key TrustNodeCore::pick(const std::vector<Key> &from) {
  const uint64_t n = from.size();
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  uint64_t r;
  do r = rng_.next_u64();
  while (r >= limit);
  return from[r % n];
}

void TrustNodeCore::stalled(const char *reason, size_t needed, size_t eligible_now) {
  if (stalled_) return;
  stalled_ = true;
  sink_.event("stalled", {{"reason", reason}, {"needed", needed}, {"eligible", eligible_now}});
}

SubmitResult TrustNodeCore::submit_tx(const Bytes &payload) {
  if (payload.empty() || payload.size() > max_tx_payload)
    return {SubmitResult::invalid, {}, "payload must be 1..4096 bytes"};
  Tx tx{sha256(payload.data(), payload.size()), payload};
  if (!ledger_.add_pending_tx(tx)) return {SubmitResult::duplicate, tx.hash, "duplicate transaction"};
  sink_.event("tx_accepted", {{"hash", to_hex(tx.hash)}});
  const Hash h = tx.hash;
  pending_.push_back(std::move(tx));
  maybe_start_block();
  return {SubmitResult::accepted, h, {}};
}

void TrustNodeCore::tick() {
  const uint64_t now = clock_.now_ms();
  for (auto &[k, d] : devices_)
    if (d.link && now - d.last_seen_ms >= cfg_.device_timeout_ms) detach(d, "timeout");
  if (cand_) {
    Candidate &c = *cand_;
    if (!c.mined) {
      if (c.assignment_id == 0) {
        assign(c);
      } else if (now >= c.assignment_deadline_ms) {
        ++counters_.results_rejected;
        sink_.event("result_rejected",
                    {{"assignment_id", c.assignment_id}, {"miner", to_hex(c.miner)}, {"reason", "timeout"}});
        c.failed_miners.insert(c.miner);
        assign(c);
      }
    } else if (c.slots.empty()) {
      start_round(c);
    } else {
      for (Slot &slot : c.slots) {
        if (slot.answer || now < slot.deadline_ms) continue;
        std::set<Key> exclude = c.round_members;
        exclude.insert(c.miner);
        const std::vector<Key> fresh = eligible(exclude);
        if (fresh.empty()) {  // keep waiting for the silent witness; retry at its next deadline
          stalled("no_fresh_witness", 1, 0);
          slot.deadline_ms = now + cfg_.witness_timeout_ms;
          continue;
        }
        const Key old = slot.witness;
        slot.witness = pick(fresh);
        c.round_members.insert(slot.witness);
        stalled_ = false;
        sink_.event("witness_replaced", {{"round_id", c.round_id},
                                         {"witness", to_hex(old)},
                                         {"replacement", to_hex(slot.witness)},
                                         {"reason", "silent"}});
        request_witness(c, slot);
      }
    }
  }
  maybe_start_block();
}

void TrustNodeCore::maybe_start_block() {
  if (cand_ || pending_.empty()) return;
  const uint64_t now = clock_.now_ms();
  if (last_block_ms_ && now < *last_block_ms_ + cfg_.block_interval_ms) return;
  const size_t have = eligible({}).size();
  if (have < cfg_.witnesses + 1u) return stalled("not_enough_devices", cfg_.witnesses + 1u, have);
  stalled_ = false;
  Candidate &c = cand_.emplace();
  c.height = tip_.height + 1;
  c.timestamp_ms = now;
  const size_t n = std::min<size_t>(pending_.size(), cfg_.max_txs_per_block);
  c.txs.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  assign(c);
}

void TrustNodeCore::assign(Candidate &c) {
  std::vector<Key> pool = eligible(c.failed_miners);
  if (pool.empty()) {  // every eligible device failed this block: give them all another chance
    c.failed_miners.clear();
    pool = eligible({});
  }
  if (pool.empty()) {
    c.assignment_id = 0;  // retried on the next tick
    return stalled("not_enough_devices", cfg_.witnesses + 1u, 0);
  }
  c.miner = pick(pool);
  iotw_block_header h{};
  h.version = IOTW_BLOCK_VERSION;
  h.height = c.height;
  std::memcpy(h.prev_hash, tip_.hash.data(), IOTW_HASH_SIZE);
  Bytes hashes;
  for (const Tx &t : c.txs) hashes.insert(hashes.end(), t.hash.begin(), t.hash.end());
  const Hash root = sha256(hashes.data(), hashes.size());
  std::memcpy(h.tx_root, root.data(), IOTW_HASH_SIZE);
  h.timestamp_ms = c.timestamp_ms;
  std::memcpy(h.miner_pubkey, c.miner.data(), IOTW_PUBKEY_SIZE);
  h.tx_count = static_cast<uint32_t>(c.txs.size());
  iotw_block_header_pack(&h, c.header.data());
  c.hash = sha256(c.header.data(), c.header.size());
  c.assignment_id = next_assignment_id_++;
  c.assignment_deadline_ms = clock_.now_ms() + cfg_.assignment_timeout_ms;
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_assignment_tag);
  e.body.assignment.assignment_id = c.assignment_id;
  std::memcpy(e.body.assignment.header, c.header.data(), c.header.size());
  e.body.assignment.deadline_ms = static_cast<uint32_t>(cfg_.assignment_timeout_ms);
  sink_.send(*devices_.at(c.miner).link, e);
  sink_.event("assignment_sent", {{"assignment_id", c.assignment_id},
                                  {"height", c.height},
                                  {"miner", to_hex(c.miner)},
                                  {"miner_name", name_of(c.miner)}});
}

void TrustNodeCore::on_result(uint32_t link, const Key &from, const iotw_v1_Result &r) {
  if (!cand_ || cand_->mined || r.assignment_id != cand_->assignment_id || from != cand_->miner) {
    ++counters_.messages_rejected;
    return send_error(link, 3, "unknown assignment");
  }
  Candidate &c = *cand_;
  const char *reason = nullptr;
  if (std::memcmp(r.block_hash, c.hash.data(), IOTW_HASH_SIZE) != 0) {
    reason = "wrong_hash";
  } else {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_result(r.assignment_id, r.block_hash, msg);
    if (!verify(r.signature, msg, n, from)) reason = "bad_signature";
  }
  if (reason) {
    ++counters_.results_rejected;
    sink_.event("result_rejected",
                {{"assignment_id", c.assignment_id}, {"miner", to_hex(from)}, {"reason", reason}});
    c.failed_miners.insert(from);
    return assign(c);
  }
  c.mined = true;
  c.miner_signature = arr<64>(r.signature);
  sink_.event("result_accepted", {{"assignment_id", c.assignment_id}, {"height", c.height}, {"miner", to_hex(from)}});
  start_round(c);
}

bool TrustNodeCore::start_round(Candidate &c) {
  std::vector<Key> pool = eligible({c.miner});
  if (pool.size() < cfg_.witnesses) {
    stalled("not_enough_devices", cfg_.witnesses + 1u, pool.size() + 1);
    return false;
  }
  stalled_ = false;
  c.round_id = next_round_id_++;
  c.round_members.clear();
  c.slots.clear();
  for (uint32_t i = 0; i < cfg_.witnesses; ++i) {
    const Key k = pick(pool);
    pool.erase(std::find(pool.begin(), pool.end(), k));
    c.slots.push_back(Slot{k, 0, std::nullopt});
    c.round_members.insert(k);
  }
  for (Slot &slot : c.slots) request_witness(c, slot);
  return true;
}

void TrustNodeCore::request_witness(Candidate &c, Slot &slot) {
  slot.deadline_ms = clock_.now_ms() + cfg_.witness_timeout_ms;
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_witness_request_tag);
  e.body.witness_request.round_id = c.round_id;
  std::memcpy(e.body.witness_request.header, c.header.data(), c.header.size());
  std::memcpy(e.body.witness_request.block_hash, c.hash.data(), c.hash.size());
  e.body.witness_request.deadline_ms = static_cast<uint32_t>(cfg_.witness_timeout_ms);
  sink_.send(*devices_.at(slot.witness).link, e);
  sink_.event("witness_requested", {{"round_id", c.round_id},
                                    {"height", c.height},
                                    {"witness", to_hex(slot.witness)},
                                    {"witness_name", name_of(slot.witness)}});
}

void TrustNodeCore::reject_attestation(uint32_t link, uint64_t round_id, const Key &from, const char *reason) {
  ++counters_.attestations_rejected;
  sink_.event("attestation_rejected", {{"round_id", round_id}, {"witness", to_hex(from)}, {"reason", reason}});
  send_error(link, std::strcmp(reason, "bad_signature") == 0 ? 2 : 3, reason);
}

void TrustNodeCore::on_attestation(uint32_t link, const Key &from, const iotw_v1_Attestation &a) {
  if (!cand_ || cand_->slots.empty() || a.round_id != cand_->round_id)
    return reject_attestation(link, a.round_id, from, "unknown_round");
  Candidate &c = *cand_;
  auto slot = std::find_if(c.slots.begin(), c.slots.end(), [&](const Slot &s) { return s.witness == from; });
  if (slot == c.slots.end()) return reject_attestation(link, a.round_id, from, "not_a_witness");
  if (slot->answer) return reject_attestation(link, a.round_id, from, "duplicate");
  if (a.verdict != iotw_v1_Verdict_VERDICT_VALID && a.verdict != iotw_v1_Verdict_VERDICT_INVALID)
    return reject_attestation(link, a.round_id, from, "bad_verdict");
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_attest(a.round_id, a.block_hash, static_cast<uint8_t>(a.verdict), msg);
  if (!verify(a.signature, msg, n, from)) return reject_attestation(link, a.round_id, from, "bad_signature");
  if (std::memcmp(a.block_hash, c.hash.data(), IOTW_HASH_SIZE) != 0)
    return reject_attestation(link, a.round_id, from, "wrong_hash");
  slot->answer = Attestation{from, a.round_id, static_cast<uint8_t>(a.verdict), arr<64>(a.signature)};
  sink_.event("attestation", {{"round_id", a.round_id},
                              {"witness", to_hex(from)},
                              {"witness_name", name_of(from)},
                              {"verdict", verdict_name(slot->answer->verdict)}});
  if (std::all_of(c.slots.begin(), c.slots.end(), [](const Slot &s) { return s.answer.has_value(); }))
    close_round(c);
}

void TrustNodeCore::close_round(Candidate &c) {
  ++counters_.rounds;
  // The node's own check always says valid here: it built the header and accepted the miner's hash.
  bool coherent = true;
  nlohmann::json verdicts = nlohmann::json::array();
  for (const Slot &s : c.slots) {
    coherent = coherent && s.answer->verdict == iotw_v1_Verdict_VERDICT_VALID;
    verdicts.push_back(
        nlohmann::json{{"witness", to_hex(s.witness)}, {"name", name_of(s.witness)}, {"verdict", verdict_name(s.answer->verdict)}});
  }
  sink_.event("round_closed", {{"round_id", c.round_id},
                               {"height", c.height},
                               {"block_hash", to_hex(c.hash)},
                               {"coherent", coherent},
                               {"expected", "valid"},
                               {"verdicts", std::move(verdicts)}});
  if (coherent) return finalize(c);
  const uint64_t now = clock_.now_ms();
  for (const Slot &s : c.slots) {
    ledger_.add_blacklist({s.witness, c.round_id, "incoherent_round", now});
    blacklist_.insert(s.witness);
    sink_.event("blacklisted", {{"device", to_hex(s.witness)},
                                {"name", name_of(s.witness)},
                                {"round_id", c.round_id},
                                {"reason", "incoherent_round"}});
  }
  c.slots.clear();
  c.round_id = 0;
  start_round(c);  // on failure tick() retries
}

void TrustNodeCore::finalize(Candidate &c) {
  Block b;
  b.height = c.height;
  b.hash = c.hash;
  b.header = c.header;
  b.miner = c.miner;
  b.assignment_id = c.assignment_id;
  b.miner_signature.assign(c.miner_signature.begin(), c.miner_signature.end());
  b.round_id = c.round_id;
  b.txs = std::move(c.txs);
  for (const Slot &s : c.slots) b.attestations.push_back(*s.answer);
  ledger_.append_block(b);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(b.txs.size()));
  last_block_ms_ = clock_.now_ms();
  sink_.event("block_finalized", {{"height", b.height},
                                  {"hash", to_hex(b.hash)},
                                  {"round_id", b.round_id},
                                  {"miner", to_hex(b.miner)},
                                  {"tx_count", b.txs.size()}});
  b.txs.clear();
  b.attestations.clear();
  tip_ = std::move(b);
  cand_.reset();
  maybe_start_block();
}

}  // namespace iotw::tn
