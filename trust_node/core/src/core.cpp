#include "iotw/trust_node/core.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <sodium.h>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/ledger_signing.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "iotw/trust_node/tx_request.hpp"

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

void add_credit(std::vector<Credit> &credits, const Key &k, uint64_t amount) {
  if (amount == 0) return;
  for (Credit &c : credits)
    if (c.device == k) return void(c.amount += amount);
  credits.push_back(Credit{k, amount});
}

}  // namespace

TrustNodeCore::TrustNodeCore(ConsensusConfig cfg, Ledger &ledger, Clock &clock, Random &rng, CoreSink &sink)
    : cfg_(cfg), ledger_(ledger), clock_(clock), rng_(rng), sink_(sink) {
  if (ledger_.block_count() == 0) ledger_.append_block(genesis_block());
  tip_ = ledger_.blocks(ledger_.block_count() - 1, 1).at(0);
  for (Tx &t : ledger_.pending_txs()) pending_.push_back(std::move(t));
  for (DeviceRecord &d : ledger_.devices()) {
    Device &dev = devices_[d.pubkey];
    dev.tags = intern(tags_for(d));
    dev.rec = std::move(d);
  }
  for (BlacklistEntry &e : ledger_.blacklist()) blacklist_[e.pubkey] = std::move(e);
  usage_seq_ = ledger_.usage_seqs();
  balances_ = ledger_.balances();
  reputation_ = ledger_.reputations();
  next_round_id_ = std::max(ledger_.max_round_id() + 1, ledger_.reserved_round_ids());
  round_ids_reserved_ = next_round_id_;
  next_assignment_id_ = ledger_.max_assignment_id() + 1;
  if (cfg_.node_key_seed) {
    Key pk{};
    crypto_sign_seed_keypair(pk.data(), node_sk_.data(), cfg_.node_key_seed->data());
    node_pk_ = pk;
  }
}

void TrustNodeCore::link_opened(uint32_t link, std::string name) {
  if (auto it = sessions_.find(link); it != sessions_.end()) set_challenge(it->second, std::nullopt);
  sessions_[link] = Session{std::move(name), {}, {}};
}

void TrustNodeCore::link_closed(uint32_t link) {
  auto it = sessions_.find(link);
  if (it == sessions_.end()) return;
  if (it->second.attached) detach(devices_.at(*it->second.attached), "link_closed");
  set_challenge(it->second, std::nullopt);
  sessions_.erase(it);
}

TrustNodeCore::StateSizes TrustNodeCore::state_sizes() const {
  StateSizes s;
  s.sessions = sessions_.size();
  s.devices = devices_.size();
  for (const auto &[key, recent] : recent_attestations_) s.recent_attestations += recent.size();
  s.dropped = dropped_.size();
  s.per_key = std::max({usage_seq_.size(), balances_.size(), reputation_.size(), blacklist_.size()});
  s.eligible = pool_.size();
  s.silence_timers = silence_.size();
  s.attached_names = attached_names_.size();
  return s;
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
                                 {"boot_count", d.rec.boot_count},
                                 {"tags", {{"manufacturer", d.tags->manufacturer},
                                           {"model", d.tags->model},
                                           {"location", d.tags->location}}},
                                 {"balance", balance(k)},
                                 {"reputation", {{"good", reputation_.count(k) ? reputation_.at(k).good : 0},
                                                 {"bad", reputation_.count(k) ? reputation_.at(k).bad : 0}}}});
  return out;
}

uint64_t TrustNodeCore::balance(const Key &device) const {
  auto it = balances_.find(device);
  return it == balances_.end() ? 0 : it->second;
}

nlohmann::json TrustNodeCore::balances_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto &[k, v] : balances_) out[to_hex(k)] = v;
  return out;
}

nlohmann::json TrustNodeCore::blacklist_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto &[k, e] : blacklist_) {
    nlohmann::json evidence = nlohmann::json::parse(e.evidence, nullptr, false);
    out.push_back(nlohmann::json{{"device", to_hex(k)},
                                 {"name", devices_.count(k) ? devices_.at(k).rec.name : ""},
                                 {"round_id", e.round_id},
                                 {"reason", e.reason},
                                 {"time_ms", e.time_ms},
                                 {"evidence", evidence.is_discarded() ? nlohmann::json::array() : evidence}});
  }
  return out;
}

bool TrustNodeCore::lift_blacklist(const Key &device) {
  if (!blacklist_.count(device) || !ledger_.lift_blacklist(device, clock_.now_ms())) return false;
  blacklist_.erase(device);
  if (auto d = devices_.find(device); d != devices_.end()) update_pool(d->second);
  sink_.event("blacklist_lifted", {{"device", to_hex(device)}, {"name", devices_.count(device) ? name_of(device) : ""}});
  maybe_start_block();
  return true;
}

uint64_t TrustNodeCore::reputation_weight(const Reputation &r) {
  // score = (good + 1) / (good + 2 bad + 2), scaled by 2^20 (docs/protocol.md §7); never 0.
  const unsigned __int128 num = static_cast<unsigned __int128>(r.good + 1) << 20;
  const unsigned __int128 den = static_cast<unsigned __int128>(r.good) + 2 * static_cast<unsigned __int128>(r.bad) + 2;
  return std::max<uint64_t>(1, static_cast<uint64_t>(num / den));
}

DeviceTags TrustNodeCore::tags_for(const DeviceRecord &r) const {
  for (const DeviceTagRule &rule : cfg_.device_tags)
    if (fnmatch(rule.pattern.c_str(), r.name.c_str(), 0) == 0)
      return DeviceTags{rule.manufacturer, rule.model.empty() ? r.model : rule.model, rule.location};
  return DeviceTags{"", r.model, ""};
}

void TrustNodeCore::add_bad(const Key &k) {
  ledger_.add_bad(k);
  ++reputation_[k].bad;
}

void TrustNodeCore::send_error(uint32_t link, uint32_t code, const char *text) {
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_error_tag);
  e.body.error.code = code;
  std::snprintf(e.body.error.text, sizeof e.body.error.text, "%s", text);
  sink_.send(link, e);
}

void TrustNodeCore::set_assigning(bool on) {
  if (on == assigning_) return;
  assigning_ = on;
  if (on) return;
  cand_.reset();  // the block in flight is dropped: its txs are still pending in the store
  for (auto &[k, d] : devices_) {
    if (!d.link) continue;
    send_error(*d.link, 6, "not assigning");
    detach(d, "not_assigning");
  }
  for (auto &[link, s] : sessions_) set_challenge(s, std::nullopt);
}

void TrustNodeCore::on_message(uint32_t link, const iotw_v1_Envelope &env) {
  if (!assigning_) {  // a standby or stale mesh node: the device should go to the next trust node of its list
    if (env.which_body == iotw_v1_Envelope_error_tag) return;
    ++counters_.not_assigning;
    return send_error(link, 6, "not assigning");
  }
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
      sink_.send(link, e);
      if (!d.confirmed) confirm(d);
      return;
    }
    case iotw_v1_Envelope_result_tag: return on_result(link, d.rec.pubkey, env.body.result);
    case iotw_v1_Envelope_attestation_tag: return on_attestation(link, d.rec.pubkey, env.body.attestation);
    case iotw_v1_Envelope_usage_report_tag: return on_usage(link, d, env.body.usage_report);
    case iotw_v1_Envelope_vrf_claim_tag: return on_vrf_claim(link, d.rec.pubkey, env.body.vrf_claim);
    case iotw_v1_Envelope_checkpoint_request_tag: return on_checkpoint_request(link, env.body.checkpoint_request);
    default: ++counters_.messages_rejected; return send_error(link, 5, "unexpected message");
  }
}

// Light verification (docs/protocol.md §6): the finalized tip, signed with the node key over CHECKPOINT. tip_ is
// always a durably committed block, so a checkpoint never names a block that a crash could take back.
void TrustNodeCore::on_checkpoint_request(uint32_t link, const iotw_v1_CheckpointRequest &) {
  if (!node_pk_) {
    ++counters_.messages_rejected;
    return send_error(link, 5, "no node key: checkpoints unavailable");
  }
  if (!checkpoint_sig_ || checkpoint_sig_->first != tip_.height) {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_checkpoint(tip_.height, tip_.hash.data(), msg);
    Sig sig{};
    crypto_sign_detached(sig.data(), nullptr, msg, n, node_sk_.data());
    checkpoint_sig_.emplace(tip_.height, sig);
  }
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_checkpoint_tag);
  e.body.checkpoint.height = tip_.height;
  std::memcpy(e.body.checkpoint.block_hash, tip_.hash.data(), IOTW_HASH_SIZE);
  std::memcpy(e.body.checkpoint.signature, checkpoint_sig_->second.data(), 64);
  ++counters_.checkpoints_sent;
  sink_.send(link, e);
}

Sig TrustNodeCore::sign_node(const uint8_t *msg, size_t len) const {
  Sig sig{};
  crypto_sign_detached(sig.data(), nullptr, msg, len, node_sk_.data());
  return sig;
}

void TrustNodeCore::on_hello(uint32_t link, Session &s, const iotw_v1_Hello &h) {
  Hash nonce;
  for (size_t i = 0; i < nonce.size(); i += 8) {
    const uint64_t r = rng_.next_u64();
    std::memcpy(nonce.data() + i, &r, 8);
  }
  set_challenge(s, std::make_pair(h, nonce));
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
    set_challenge(s, std::nullopt);
    return send_error(link, code, reason);
  }
  const iotw_v1_Hello hello = s.challenge->first;
  set_challenge(s, std::nullopt);
  if (refuse_identity(link, s, key, hello)) return;
  const uint64_t now = clock_.now_ms();
  const bool is_new = devices_.count(key) == 0;
  Device &d = devices_[key];
  if (is_new) d.rec = DeviceRecord{key, {}, {}, 0, now};
  if (d.link) {  // attached already (on this link, or on one that is gone): attached again below, maybe renamed
    if (auto old = sessions_.find(*d.link); old != sessions_.end() && *d.link != link) old->second.attached.reset();
    release(d);
  }
  d.rec.name = cstr(hello.name, sizeof hello.name);
  d.rec.model = cstr(hello.model, sizeof hello.model);
  d.rec.boot_count = hello.boot_count;
  d.tags = intern(tags_for(d.rec));
  if (s.attached && *s.attached != key) detach(devices_.at(*s.attached), "link_closed");
  attach(d, link, now);  // work waits for the device's first Heartbeat after this Welcome (§6 step 6)
  s.attached = key;
  to_welcome_.push_back(ToWelcome{key, link, s.name, is_new});
  if (!batched_registrations_) commit_registrations();
}

void TrustNodeCore::commit_registrations() {
  if (to_welcome_.empty()) return;
  std::vector<DeviceRecord> recs;
  recs.reserve(to_welcome_.size());
  for (const ToWelcome &w : to_welcome_) recs.push_back(devices_.at(w.key).rec);
  ledger_.upsert_devices(recs);
  const std::vector<ToWelcome> batch = std::move(to_welcome_);
  to_welcome_.clear();
  for (const ToWelcome &w : batch) {
    const Device &d = devices_.at(w.key);
    if (d.link == w.link) {  // not detached (or moved) since it proved
      iotw_v1_Envelope e = envelope(iotw_v1_Envelope_welcome_tag);
      e.body.welcome.height = tip_.height;
      e.body.welcome.heartbeat_interval_ms = d.heartbeat_ms;
      sink_.send(w.link, e);
    }
    sink_.event("device_registered", {{"device", to_hex(w.key)},
                                      {"name", d.rec.name},
                                      {"model", d.rec.model},
                                      {"link", w.link_name},
                                      {"boot_count", d.rec.boot_count},
                                      {"new", w.is_new}});
  }
}

// Identity integrity (docs/trust-node.md "Identity integrity"), checked once the key is proved: a key attached on
// another link is a clone unless the device rebooted (a higher boot_count: the old link is released); a name held
// by another attached key is refused; a boot_count below the last one is flagged. True: refused (answered).
bool TrustNodeCore::refuse_identity(uint32_t link, Session &s, const Key &key, const iotw_v1_Hello &hello) {
  const std::string name = cstr(hello.name, sizeof hello.name);
  auto refuse = [&](const char *reason, nlohmann::json extra) {
    ++counters_.registrations_rejected;
    nlohmann::json f{{"link", s.name}, {"device", to_hex(key)}, {"reason", reason}, {"name", name}};
    f.update(extra);
    sink_.event("registration_rejected", std::move(f));
    send_error(link, 5, reason);
    return true;
  };
  auto it = devices_.find(key);
  if (it != devices_.end()) {
    Device &d = it->second;
    if (d.link && *d.link != link && sessions_.count(*d.link)) {
      if (hello.boot_count > d.rec.boot_count) {  // rebooted and came back on a new link (a new UDP port)
        detach(d, "rebooted_elsewhere");
      } else {
        ++counters_.identity_conflicts;
        sink_.event("identity_conflict", {{"device", to_hex(key)},
                                          {"name", d.rec.name},
                                          {"link", sessions_.at(*d.link).name},
                                          {"boot_count", d.rec.boot_count},
                                          {"other_link", s.name},
                                          {"other_name", name},
                                          {"other_boot_count", hello.boot_count}});
        return refuse("identity_conflict", {{"attached_link", sessions_.at(*d.link).name}});
      }
    }
    if (hello.boot_count < d.rec.boot_count) {
      ++counters_.boot_count_regressions;
      sink_.event("boot_count_regressed", {{"device", to_hex(key)},
                                           {"name", d.rec.name},
                                           {"link", s.name},
                                           {"previous", d.rec.boot_count},
                                           {"boot_count", hello.boot_count}});
    }
  }
  if (!name.empty()) {
    const auto [from, to] = attached_names_.equal_range(name);
    for (auto h = from; h != to; ++h) {
      const Key k = h->second;
      const Device &other = devices_.at(k);
      if (k != key && other.link && *other.link != link) {
        ++counters_.duplicate_names;
        return refuse("duplicate_name", {{"holder", to_hex(k)}, {"holder_link", sessions_.at(*other.link).name}});
      }
    }
  }
  return false;
}

void TrustNodeCore::confirm(Device &d) {
  d.confirmed = true;
  update_pool(d);
  // A device that re-attaches (reboot, brown-out) lost any witness request it had open: send it again.
  if (cand_ && cand_->mined)
    for (Slot &slot : cand_->slots)
      if (slot.witness == d.rec.pubkey && !slot.answer) {
        slot.reasks = 0;  // the reboot emptied its queue: it is asked as a fresh witness, with the plain timeout
        request_witness(*cand_, slot);
      }
  maybe_start_block();
}

void TrustNodeCore::detach(Device &d, const char *reason) {
  if (!d.link) return;
  auto it = sessions_.find(*d.link);
  if (it != sessions_.end() && it->second.attached == d.rec.pubkey) it->second.attached.reset();
  release(d);
  sink_.event("device_detached", {{"device", to_hex(d.rec.pubkey)}, {"name", d.rec.name}, {"reason", reason}});
}

void TrustNodeCore::attach(Device &d, uint32_t link, uint64_t now) {
  d.link = link;
  ++attached_;
  d.confirmed = false;
  d.last_seen_ms = now;
  d.heartbeat_ms = cfg_.heartbeat_interval_ms(attached_);
  d.timeout_ms = std::max<uint64_t>(cfg_.device_timeout_ms, ConsensusConfig::heartbeats_per_timeout * d.heartbeat_ms);
  if (!d.rec.name.empty()) attached_names_.emplace(d.rec.name, d.rec.pubkey);
  const uint64_t due = now + d.timeout_ms;
  if (!d.timer_queued || due < d.timer_at_ms) {  // a later entry of an earlier attachment becomes stale
    silence_.push(SilenceTimer{due, d.rec.pubkey});
    d.timer_queued = true;
    d.timer_at_ms = due;
  }
  update_pool(d);
}

void TrustNodeCore::release(Device &d) {
  if (!d.link) return;
  d.link.reset();
  --attached_;
  const auto [from, to] = attached_names_.equal_range(d.rec.name);
  for (auto h = from; h != to; ++h)
    if (h->second == d.rec.pubkey) {
      attached_names_.erase(h);
      break;
    }
  update_pool(d);
}

void TrustNodeCore::update_pool(Device &d) {
  const bool want = d.link && d.confirmed && !blacklist_.count(d.rec.pubkey);
  if (want == (d.pool_slot != Device::no_slot)) return;
  sorted_pool_valid_ = false;
  if (want) {
    d.pool_slot = pool_.size();
    pool_.push_back(d.rec.pubkey);
    return;
  }
  const size_t i = d.pool_slot;
  if (i + 1 != pool_.size()) {  // the last one moves into the gap
    pool_[i] = pool_.back();
    devices_.at(pool_[i]).pool_slot = i;
  }
  pool_.pop_back();
  d.pool_slot = Device::no_slot;
}

void TrustNodeCore::set_challenge(Session &s, std::optional<std::pair<iotw_v1_Hello, Hash>> c) {
  in_progress_ = in_progress_ - (s.challenge != nullptr) + c.has_value();
  s.challenge = c ? std::make_unique<std::pair<iotw_v1_Hello, Hash>>(std::move(*c)) : nullptr;
}

void TrustNodeCore::expire_silent(uint64_t now) {
  while (!silence_.empty() && silence_.top().at_ms <= now) {
    const SilenceTimer t = silence_.top();
    silence_.pop();
    auto it = devices_.find(t.key);
    if (it == devices_.end()) continue;
    Device &d = it->second;
    if (!d.timer_queued || d.timer_at_ms != t.at_ms) continue;  // stale: the device has a later entry
    d.timer_queued = false;
    if (!d.link) continue;
    const uint64_t due = d.last_seen_ms + d.timeout_ms;
    if (now >= due) {
      detach(d, "timeout");
      continue;
    }
    silence_.push(SilenceTimer{due, t.key});
    d.timer_queued = true;
    d.timer_at_ms = due;
  }
}

std::vector<Key> TrustNodeCore::eligible(const std::set<Key> &exclude, bool sample) const {
  std::vector<Key> out;
  if (!sample || pool_.size() <= selection_sample) {
    if (!sorted_pool_valid_) {
      sorted_pool_ = pool_;
      std::sort(sorted_pool_.begin(), sorted_pool_.end());
      sorted_pool_valid_ = true;
    }
    out.reserve(sorted_pool_.size());
    for (const Key &k : sorted_pool_)  // key order: picks depend only on the set and the random draws
      if (!exclude.count(k)) out.push_back(k);
    return out;
  }
  // Distinct positions drawn uniformly (every subset of a size equally likely); the try bound is generous: each draw
  // hits a new, non-excluded device with probability > 1/2 here.
  std::unordered_set<size_t> taken;
  taken.reserve(2 * selection_sample);
  out.reserve(selection_sample);
  for (size_t tries = 0; out.size() < selection_sample && tries < 8 * selection_sample; ++tries) {
    const size_t i = static_cast<size_t>(rng_.next_u64() % pool_.size());  // bias < pool / 2^64
    if (!taken.insert(i).second || exclude.count(pool_[i])) continue;
    out.push_back(pool_[i]);
  }
  std::sort(out.begin(), out.end());  // key order: picks depend only on the set and the random draws
  return out;
}

std::vector<Key> TrustNodeCore::rested(std::vector<Key> pool, size_t need) const {
  std::vector<Key> awake;
  awake.reserve(pool.size());
  for (const Key &k : pool)
    if (devices_.at(k).rest_until_round <= next_round_id_) awake.push_back(k);
  return awake.size() >= need ? awake : pool;
}

Key TrustNodeCore::pick_miner(const std::vector<Key> &from) {
  return cfg_.selection == Selection::uniform ? pick(from) : pick_weighted(from);
}

Key TrustNodeCore::pick_weighted(const std::vector<Key> &from) {
  std::vector<uint64_t> w;
  uint64_t total = 0;
  for (const Key &k : from) {
    auto it = reputation_.find(k);
    w.push_back(reputation_weight(it == reputation_.end() ? Reputation{} : it->second));
    total += w.back();  // <= 64 * 2^20 per device: no overflow for any realistic pool
  }
  const uint64_t limit = UINT64_MAX - UINT64_MAX % total;
  uint64_t r;
  do r = rng_.next_u64();
  while (r >= limit);
  r %= total;
  for (size_t i = 0; i < from.size(); ++i) {
    if (r < w[i]) return from[i];
    r -= w[i];
  }
  return from.back();
}

Key TrustNodeCore::pick_diverse(const std::vector<Key> &pool, const std::vector<Key> &chosen) {
  if (!cfg_.diversity) return cfg_.selection == Selection::reputation ? pick_weighted(pool) : pick(pool);
  std::vector<const DeviceTags *> tags, chosen_tags;
  tags.reserve(pool.size());
  for (const Key &k : pool) tags.push_back(devices_.at(k).tags);
  for (const Key &k : chosen) chosen_tags.push_back(devices_.at(k).tags);
  return pool[pick_diverse_at(pool, tags, chosen_tags)];
}

size_t TrustNodeCore::pick_diverse_at(const std::vector<Key> &pool, const std::vector<const DeviceTags *> &tags,
                                      const std::vector<const DeviceTags *> &chosen) {
  // Score = tags (manufacturer, model, location) whose known value no chosen witness shares; take the best.
  auto score = [&](const DeviceTags &t) {
    int n = 0;
    auto fresh = [&](const std::string DeviceTags::*f) {
      if ((t.*f).empty()) return false;
      for (const DeviceTags *c : chosen)
        if (c->*f == t.*f) return false;
      return true;
    };
    n += fresh(&DeviceTags::manufacturer);
    n += fresh(&DeviceTags::model);
    n += fresh(&DeviceTags::location);
    return n;
  };
  int best = -1;
  std::vector<size_t> top;
  for (size_t i = 0; i < pool.size(); ++i) {
    const int sc = score(*tags[i]);
    if (sc > best) best = sc, top.clear();
    if (sc == best) top.push_back(i);
  }
  // selection = "reputation": witnesses too are drawn by reputation weight, so a silent witness loses work.
  if (cfg_.selection != Selection::reputation) return top[pick_index(top.size())];
  std::vector<Key> keys;
  keys.reserve(top.size());
  for (size_t i : top) keys.push_back(pool[i]);
  const Key k = pick_weighted(keys);
  return top[static_cast<size_t>(std::find(keys.begin(), keys.end(), k) - keys.begin())];
}

std::vector<Key> TrustNodeCore::pick_witnesses(std::vector<Key> pool, size_t n) {
  std::vector<Key> chosen;
  if (!cfg_.diversity) {
    while (chosen.size() < n) {
      const Key k = pick_diverse(pool, chosen);
      pool.erase(std::find(pool.begin(), pool.end(), k));
      chosen.push_back(k);
    }
    return chosen;
  }
  std::vector<const DeviceTags *> tags, chosen_tags;  // looked up once for the n picks
  tags.reserve(pool.size());
  for (const Key &k : pool) tags.push_back(devices_.at(k).tags);
  while (chosen.size() < n) {
    const size_t i = pick_diverse_at(pool, tags, chosen_tags);
    chosen.push_back(pool[i]);
    chosen_tags.push_back(tags[i]);
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i));
    tags.erase(tags.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return chosen;
}

nlohmann::json TrustNodeCore::diversity_json(const std::vector<Key> &witnesses) const {
  std::set<std::string> m, mo, l;
  for (const Key &k : witnesses) {
    const DeviceTags &t = *devices_.at(k).tags;
    m.insert(t.manufacturer), mo.insert(t.model), l.insert(t.location);
  }
  const size_t n = witnesses.size();
  const double score =
      n < 2 ? 0.0 : static_cast<double>(m.size() + mo.size() + l.size() - 3) / static_cast<double>(3 * (n - 1));
  return {{"manufacturers", m.size()}, {"models", mo.size()}, {"locations", l.size()}, {"score", score}};
}

Key TrustNodeCore::pick(const std::vector<Key> &from) { return from[pick_index(from.size())]; }

size_t TrustNodeCore::pick_index(size_t size) {
  const uint64_t n = size;
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  uint64_t r;
  do r = rng_.next_u64();
  while (r >= limit);
  return static_cast<size_t>(r % n);
}

void TrustNodeCore::stalled(const char *reason, size_t needed, size_t eligible_now) {
  if (stalled_) return;
  stalled_ = true;
  sink_.event("stalled", {{"reason", reason}, {"needed", needed}, {"eligible", eligible_now}});
}

std::vector<SubmitResult> TrustNodeCore::submit_batch(std::vector<TxRequest> reqs) {
  std::vector<SubmitResult> out(reqs.size(), SubmitResult{SubmitResult::invalid, {}, {}});
  std::vector<Tx> txs;
  std::vector<size_t> index;
  txs.reserve(reqs.size());
  index.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    TxRequest &r = reqs[i];
    if (r.payload.empty() || r.payload.size() > max_tx_payload) {
      out[i].error = "payload must be 1..4096 bytes";
      continue;
    }
    out[i].hash = r.hash ? *r.hash : sha256(r.payload.data(), r.payload.size());
    if (r.signature) {
      uint8_t msg[tx_sigmsg_len];
      tx_sigmsg(out[i].hash, msg);
      if (!verify(r.signature->signature.data(), msg, sizeof msg, r.signature->pubkey)) {
        out[i].error = "bad signature (Ed25519 over TX(hash), docs/protocol.md §5)";
        continue;
      }
    }
    txs.push_back(Tx{out[i].hash, std::move(r.payload), r.signature, std::nullopt});
    index.push_back(i);
  }
  const std::vector<bool> stored = txs.empty() ? std::vector<bool>{} : ledger_.add_pending_txs(txs);
  // One txs_accepted event per call (docs/events.md): {"count":N,"hashes":["<64 hex>",...]} in acceptance
  // order, formatted here (same bytes as nlohmann's dump) instead of one JSON line per tx.
  std::string hashes;
  size_t accepted = 0;
  for (size_t k = 0; k < txs.size(); ++k) {
    SubmitResult &res = out[index[k]];
    if (!stored[k]) {
      res.status = SubmitResult::duplicate;
      res.error = "duplicate transaction";
      continue;
    }
    res.status = SubmitResult::accepted;
    if (accepted++ == 0) hashes.reserve(67 * (txs.size() - k) + 2);
    hashes += accepted == 1 ? "[\"" : ",\"";
    append_hex(hashes, txs[k].hash);
    hashes += '"';
    if (assigning_) pending_.push_back(std::move(txs[k]));  // a standby keeps none: the leader takes them from the store
  }
  if (accepted > 0)
    sink_.event_serialized("txs_accepted", "{\"count\":" + std::to_string(accepted) + ",\"hashes\":" + hashes + "]}");
  for (const SubmitResult &r : out) ++(r.status == SubmitResult::accepted ? counters_.txs_accepted : counters_.txs_rejected);
  maybe_start_block();
  return out;
}

void TrustNodeCore::reject_usage(uint32_t link, const Device &d, uint64_t seq, const char *reason, uint32_t code) {
  ++counters_.usage_rejected;
  sink_.event("usage_rejected", {{"device", to_hex(d.rec.pubkey)}, {"name", d.rec.name}, {"seq", seq}, {"reason", reason}});
  send_error(link, code, reason);
}

void TrustNodeCore::on_usage(uint32_t link, const Device &d, const iotw_v1_UsageReport &u) {
  const Key &key = d.rec.pubkey;
  if (blacklist_.count(key)) return reject_usage(link, d, u.seq, "blacklisted", 4);
  if (u.period_s == 0 || u.on_seconds > u.period_s) return reject_usage(link, d, u.seq, "malformed", 5);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_usage(u.seq, u.energy_mwh, u.on_seconds, u.period_s, msg);
  if (!verify(u.signature, msg, n, key)) return reject_usage(link, d, u.seq, "bad_signature", 2);
  auto last = usage_seq_.find(key);
  if (last != usage_seq_.end() && u.seq <= last->second) return reject_usage(link, d, u.seq, "replay", 5);
  // The usage-data tx (docs/protocol.md §7): canonical JSON (sorted keys), so its hash is reproducible.
  const std::string text = nlohmann::json{{"type", "usage"},
                                          {"device", to_hex(key)},
                                          {"seq", u.seq},
                                          {"energy_mwh", u.energy_mwh},
                                          {"on_seconds", u.on_seconds},
                                          {"period_s", u.period_s},
                                          {"signature", to_hex(u.signature, 64)}}
                               .dump();
  Tx tx{sha256(reinterpret_cast<const uint8_t *>(text.data()), text.size()), Bytes(text.begin(), text.end()),
        std::nullopt, key};
  if (!ledger_.add_usage_tx(tx, key, u.seq)) return reject_usage(link, d, u.seq, "replay", 5);
  usage_seq_[key] = u.seq;
  ++counters_.usage_accepted;
  ++counters_.txs_accepted;
  sink_.event("usage_accepted", {{"device", to_hex(key)},
                                 {"name", d.rec.name},
                                 {"seq", u.seq},
                                 {"energy_mwh", u.energy_mwh},
                                 {"on_seconds", u.on_seconds},
                                 {"reward", cfg_.rewards.usage},
                                 {"hash", to_hex(tx.hash)}});
  pending_.push_back(std::move(tx));
  maybe_start_block();
}

void TrustNodeCore::tick() {
  const uint64_t now = clock_.now_ms();
  flush_dropped(false);
  expire_silent(now);
  if (cand_) {
    Candidate &c = *cand_;
    if (c.vrf_open) {
      if (now >= c.claim_deadline_ms) close_claims(c);
    } else if (!c.mined) {
      if (c.assignment_id == 0) {
        assign(c);
      } else if (now >= c.assignment_deadline_ms) {
        ++counters_.results_rejected;
        sink_.event("result_rejected",
                    {{"assignment_id", c.assignment_id}, {"miner", to_hex(c.miner)}, {"reason", "timeout"}});
        add_bad(c.miner);
        c.failed_miners.insert(c.miner);
        assign(c);
      }
    } else if (c.slots.empty()) {
      start_round(c);
    } else {
      for (Slot &slot : c.slots) {
        if (slot.answer) continue;
        if (now >= slot.deadline_ms) {
          replace_witness(c, slot, "silent");
        } else if (slot.reasks && now >= slot.recheck_ms) {  // a long wait for a re-asked witness: a device
          slot.recheck_ms = now + cfg_.witness_timeout_ms;    // that became eligible meanwhile takes over at once
          take_fresh_witness(c, slot, "silent");
        }
      }
    }
  }
  maybe_start_block();
}

// A silent witness (deadline passed) or a faulty one (blacklisted for its attestation) is replaced by a fresh
// eligible device; with none, a silent witness is asked again and a blacklisted one waits for a fresh device.
void TrustNodeCore::replace_witness(Candidate &c, Slot &slot, const char *reason) {
  const uint64_t now = clock_.now_ms();
  if (std::string_view(reason) == "silent") {  // silence is no evidence (never a blacklist) but costs reputation
    ++counters_.witnesses_silent;
    add_bad(slot.witness);
    Device &d = devices_.at(slot.witness);  // and selection: it rests from witnessing for a while
    d.silent_streak = std::min<uint32_t>(d.silent_streak + 1, 6);
    d.rest_until_round = next_round_id_ + (uint64_t{1} << d.silent_streak);
  }
  if (take_fresh_witness(c, slot, reason)) return;
  // No one to replace it with: ask the silent witness again (it may have rebooted and lost the request), and wait
  // twice as long as the last time (up to 16x the timeout): re-sending faster than a slow witness answers only
  // queues more work on its link. A witness that cannot be asked (detached, blacklisted) waits the plain timeout.
  stalled("no_fresh_witness", 1, 0);
  slot.recheck_ms = now + cfg_.witness_timeout_ms;
  const Device &w = devices_.at(slot.witness);
  if (w.link && w.confirmed && !blacklist_.count(slot.witness)) {
    slot.reasks = std::min(slot.reasks + 1, kMaxReaskShift);
    request_witness(c, slot);
  } else {
    slot.deadline_ms = now + cfg_.witness_timeout_ms;
  }
}

bool TrustNodeCore::take_fresh_witness(Candidate &c, Slot &slot, const char *reason) {
  std::set<Key> exclude = c.round_members;
  exclude.insert(c.miner);
  const std::vector<Key> fresh = rested(eligible(exclude), 1);
  if (fresh.empty()) return false;
  const Key old = slot.witness;
  std::vector<Key> others;
  for (const Slot &o : c.slots)
    if (&o != &slot) others.push_back(o.witness);
  slot.witness = pick_diverse(fresh, others);
  slot.reasks = 0;
  c.round_members.insert(slot.witness);
  stalled_ = false;
  sink_.event("witness_replaced", {{"round_id", c.round_id},
                                   {"witness", to_hex(old)},
                                   {"replacement", to_hex(slot.witness)},
                                   {"reason", reason}});
  request_witness(c, slot);
  return true;
}

void TrustNodeCore::maybe_start_block() {
  if (cand_ || !assigning_) return;
  const uint64_t now = clock_.now_ms();
  if (now >= next_absorb_ms_) {  // txs other trust nodes of a mesh stored (none with the SQLite store)
    next_absorb_ms_ = now + std::max<uint64_t>(cfg_.block_interval_ms, 20);
    std::vector<Tx> absorbed = ledger_.new_pending_txs();
    if (!absorbed.empty()) {
      std::set<Hash> have;
      for (const Tx &t : pending_) have.insert(t.hash);
      for (Tx &t : absorbed)
        if (have.insert(t.hash).second) {
          ++counters_.pending_absorbed;
          pending_.push_back(std::move(t));
        }
    }
  }
  if (pending_.empty()) return;
  if (last_block_ms_ && now < *last_block_ms_ + cfg_.block_interval_ms) return;
  const size_t have = pool_.size();
  if (have < cfg_.witnesses + 1u) return stalled("not_enough_devices", cfg_.witnesses + 1u, have);
  stalled_ = false;
  Candidate &c = cand_.emplace(Candidate{});  // (clang: emplace() trips its NSDMI-in-nested-class check)
  c.height = tip_.height + 1;
  c.timestamp_ms = now;
  const size_t n = std::min<size_t>(pending_.size(), cfg_.max_txs_per_block);
  c.tx_count = n;
  if (cfg_.selection == Selection::vrf) return open_claims(c);
  assign(c);
}

void TrustNodeCore::open_claims(Candidate &c) {
  iotw_vrf_alpha(c.height, tip_.hash.data(), c.alpha.data());
  c.vrf_open = true;
  c.claim_deadline_ms = clock_.now_ms() + cfg_.claim_window_ms;
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_vrf_round_seed_tag);
  e.body.vrf_round_seed.height = c.height;
  std::memcpy(e.body.vrf_round_seed.prev_hash, tip_.hash.data(), IOTW_HASH_SIZE);
  e.body.vrf_round_seed.suite = static_cast<uint32_t>(cfg_.vrf_suite);
  e.body.vrf_round_seed.claim_window_ms = static_cast<uint32_t>(std::min<uint64_t>(cfg_.claim_window_ms, UINT32_MAX));
  if (node_pk_) {  // devices claim only for the real node's seed (docs/protocol.md §5 SEED)
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_seed(c.height, tip_.hash.data(), e.body.vrf_round_seed.suite,
                                      e.body.vrf_round_seed.claim_window_ms, msg);
    const Sig sig = sign_node(msg, n);
    std::memcpy(e.body.vrf_round_seed.node_signature, sig.data(), sig.size());
  }
  for (const Key &k : eligible({}, false)) {
    c.vrf_asked.insert(k);
    sink_.send(*devices_.at(k).link, e);
  }
  sink_.event("vrf_round_opened", {{"height", c.height},
                                   {"alpha", to_hex(c.alpha.data(), c.alpha.size())},
                                   {"suite", cfg_.vrf_suite == VrfSuite::tai ? "tai" : "ell2"},
                                   {"devices", c.vrf_asked.size()},
                                   {"claim_window_ms", cfg_.claim_window_ms}});
}

void TrustNodeCore::reject_vrf_claim(uint32_t link, uint64_t height, const Key &from, const char *reason,
                                     const char *detail, uint32_t code) {
  ++counters_.vrf_claims_rejected;
  if (cand_ && cand_->vrf_open && height == cand_->height) ++cand_->vrf_rejected;
  nlohmann::json f{{"height", height}, {"device", to_hex(from)}, {"name", name_of(from)}, {"reason", reason}};
  if (detail) f["detail"] = detail;
  sink_.event("vrf_claim_rejected", std::move(f));
  send_error(link, code, reason);
}

void TrustNodeCore::on_vrf_claim(uint32_t link, const Key &from, const iotw_v1_VrfClaim &m) {
  if (!cand_ || !cand_->vrf_open || m.height != cand_->height)
    return reject_vrf_claim(link, m.height, from, "unknown_round", nullptr, 3);
  Candidate &c = *cand_;
  if (!c.vrf_asked.count(from)) return reject_vrf_claim(link, m.height, from, "not_eligible", nullptr, 3);
  if (c.vrf_answered.count(from)) return reject_vrf_claim(link, m.height, from, "duplicate", nullptr, 5);
  VrfClaimRec rec{from, {}, arr<80>(m.pi)};
  const iotw_ecvrf_status st = iotw_ecvrf_verify(static_cast<iotw_ecvrf_suite>(cfg_.vrf_suite), rec.beta.data(),
                                                 from.data(), rec.pi.data(), c.alpha.data(), c.alpha.size());
  if (st != IOTW_ECVRF_OK) {
    // Not marked answered: a forged claim on the device's link must not take its place in the round (only a
    // proof that verifies under its key counts as its answer).
    c.vrf_bad.insert(from);
    reject_vrf_claim(link, m.height, from, "bad_proof", iotw_ecvrf_status_str(st), 2);
  } else {
    c.vrf_answered.insert(from);
    ++counters_.vrf_claims_accepted;
    sink_.event("vrf_claim", {{"height", c.height},
                              {"device", to_hex(from)},
                              {"name", name_of(from)},
                              {"beta", to_hex(rec.beta.data(), rec.beta.size())}});
    c.vrf_claims.push_back(rec);
  }
  // Everyone answered (a verified claim, or only bad proofs so far): no need to wait.
  const bool all = std::all_of(c.vrf_asked.begin(), c.vrf_asked.end(),
                               [&](const Key &k) { return c.vrf_answered.count(k) || c.vrf_bad.count(k); });
  if (all) close_claims(c);
}

void TrustNodeCore::close_claims(Candidate &c) {
  c.vrf_open = false;
  std::sort(c.vrf_claims.begin(), c.vrf_claims.end(), [](const VrfClaimRec &a, const VrfClaimRec &b) {
    return a.beta != b.beta ? a.beta < b.beta : a.device < b.device;
  });
  assign(c);
}

Key TrustNodeCore::pick_vrf_miner(Candidate &c, const std::vector<Key> &pool) {
  const auto in_pool = [&](const Key &k) { return std::find(pool.begin(), pool.end(), k) != pool.end(); };
  nlohmann::json f{{"height", c.height},
                   {"selection", "vrf"},
                   {"claims_valid", c.vrf_claims.size()},
                   {"claims_rejected", c.vrf_rejected},
                   {"devices_asked", c.vrf_asked.size()}};
  Key miner{};
  auto it = std::find_if(c.vrf_claims.begin(), c.vrf_claims.end(), [&](const VrfClaimRec &r) { return in_pool(r.device); });
  if (it != c.vrf_claims.end()) {
    miner = it->device;
    c.vrf_win = *it;
    f["fallback"] = false;
    f["rank"] = it - c.vrf_claims.begin();  // > 0 when lower-beta claimants failed or left
    f["beta"] = to_hex(it->beta.data(), it->beta.size());
    f["pi"] = to_hex(it->pi.data(), it->pi.size());
    f["alpha"] = to_hex(c.alpha.data(), c.alpha.size());
  } else {  // no usable claim: uniform seeded pick so the chain keeps going (liveness)
    ++counters_.vrf_fallbacks;
    c.vrf_win.reset();
    miner = pick(pool);
    f["fallback"] = true;
  }
  f["miner"] = to_hex(miner);
  f["miner_name"] = name_of(miner);
  sink_.event("miner_selected", std::move(f));
  return miner;
}

void TrustNodeCore::assign(Candidate &c) {
  const bool all = cfg_.selection == Selection::vrf;  // the lowest valid claim wins, wherever it is in the pool
  std::vector<Key> pool = eligible(c.failed_miners, !all);
  if (pool.empty()) {  // every eligible device failed this block: give them all another chance
    c.failed_miners.clear();
    pool = eligible({}, !all);
  }
  if (pool.empty()) {
    c.assignment_id = 0;  // retried on the next tick
    return stalled("not_enough_devices", cfg_.witnesses + 1u, 0);
  }
  c.miner = cfg_.selection == Selection::vrf ? pick_vrf_miner(c, pool) : pick_miner(pool);
  iotw_block_header h{};
  h.version = IOTW_BLOCK_VERSION;
  h.height = c.height;
  std::memcpy(h.prev_hash, tip_.hash.data(), IOTW_HASH_SIZE);
  Bytes hashes(c.tx_count * IOTW_HASH_SIZE);
  for (size_t i = 0; i < c.tx_count; ++i) std::memcpy(hashes.data() + i * IOTW_HASH_SIZE, pending_[i].hash.data(), IOTW_HASH_SIZE);
  const Hash root = sha256(hashes.data(), hashes.size());
  std::memcpy(h.tx_root, root.data(), IOTW_HASH_SIZE);
  h.timestamp_ms = c.timestamp_ms;
  std::memcpy(h.miner_pubkey, c.miner.data(), IOTW_PUBKEY_SIZE);
  h.tx_count = static_cast<uint32_t>(c.tx_count);
  iotw_block_header_pack(&h, c.header.data());
  c.hash = sha256(c.header.data(), c.header.size());
  c.assignment_id = next_assignment_id_++;
  c.assignment_deadline_ms = clock_.now_ms() + cfg_.assignment_timeout_ms;
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_assignment_tag);
  e.body.assignment.assignment_id = c.assignment_id;
  std::memcpy(e.body.assignment.header, c.header.data(), c.header.size());
  e.body.assignment.deadline_ms = static_cast<uint32_t>(cfg_.assignment_timeout_ms);
  if (node_pk_) {  // the miner answers only the real node (docs/protocol.md §5 ASSIGN)
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_assign(c.assignment_id, c.hash.data(), e.body.assignment.deadline_ms, msg);
    const Sig sig = sign_node(msg, n);
    std::memcpy(e.body.assignment.node_signature, sig.data(), sig.size());
  }
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
    add_bad(from);
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
  if (next_round_id_ >= round_ids_reserved_) {  // the mesh's stores record how far round ids went (Ledger)
    round_ids_reserved_ = next_round_id_ + round_id_reserve_step;
    ledger_.reserve_round_ids(round_ids_reserved_);
  }
  c.round_id = next_round_id_++;
  c.round_members.clear();
  c.slots.clear();
  for (const Key &k : pick_witnesses(rested(std::move(pool), cfg_.witnesses), cfg_.witnesses)) {
    c.slots.push_back(Slot{k, 0, std::nullopt, 0, 0});
    c.round_members.insert(k);
  }
  for (Slot &slot : c.slots) request_witness(c, slot);
  return true;
}

void TrustNodeCore::request_witness(Candidate &c, Slot &slot) {
  slot.deadline_ms = clock_.now_ms() + (cfg_.witness_timeout_ms << slot.reasks);  // the wire's deadline_ms stays
  // witness_timeout_ms: it is signed, and blacklist evidence (request_evidence) repeats that request
  iotw_v1_Envelope e = envelope(iotw_v1_Envelope_witness_request_tag);
  e.body.witness_request.round_id = c.round_id;
  std::memcpy(e.body.witness_request.header, c.header.data(), c.header.size());
  std::memcpy(e.body.witness_request.block_hash, c.hash.data(), c.hash.size());
  e.body.witness_request.deadline_ms = static_cast<uint32_t>(cfg_.witness_timeout_ms);
  // The miner's Result (assignment_id, signature over RESULT): the witness checks the miner's signature too.
  e.body.witness_request.assignment_id = c.assignment_id;
  std::memcpy(e.body.witness_request.miner_signature, c.miner_signature.data(), c.miner_signature.size());
  if (node_pk_) {  // the witness answers only the real node (docs/protocol.md §5 WITNESS)
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_witness(c.round_id, c.hash.data(), c.hash.data(), e.body.witness_request.deadline_ms,
                                         c.assignment_id, c.miner_signature.data(), msg);
    const Sig sig = sign_node(msg, n);
    std::memcpy(e.body.witness_request.node_signature, sig.data(), sig.size());
  }
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

const TrustNodeCore::SignedVerdict *TrustNodeCore::recorded(const Key &from, uint64_t round_id) const {
  auto it = recent_attestations_.find(from);
  if (it == recent_attestations_.end()) return nullptr;
  for (const SignedVerdict &v : it->second)
    if (v.round_id == round_id) return &v;
  return nullptr;
}

void TrustNodeCore::remember(const Key &from, const SignedVerdict &v) {
  auto &recent = recent_attestations_[from];
  if (recent.size() >= recent_per_witness) recent.erase(recent.begin());
  recent.push_back(v);
}

// An attestation that proves nothing about the device whose link it came from (a signature that does not verify
// under its key: anyone can put such a frame or datagram on its link; a replay of one it already sent: anyone
// who saw it can send it again). Counted, aggregated into one attestations_dropped event, never answered (a
// spoofer would only turn the answer against the honest device) and never held against the device.
void TrustNodeCore::drop_attestation(const Key &from, const char *reason) {
  ++counters_.attestations_rejected;
  const std::string_view r = reason;
  ++(r == "replay" ? counters_.attestations_replayed : counters_.attestations_bad_signature);
  ++dropped_[{from, std::string(reason)}];
}

// One attestations_dropped event for the drops since the last one (at most one a second, and at each round's
// close), so a flood of spoofed datagrams costs one line per second.
void TrustNodeCore::flush_dropped(bool force) {
  const uint64_t now = clock_.now_ms();
  if (dropped_.empty() || (!force && now < dropped_flushed_ms_ + 1000)) return;
  dropped_flushed_ms_ = now;
  nlohmann::json list = nlohmann::json::array();
  uint64_t total = 0;
  for (const auto &[key, n] : dropped_) {
    list.push_back(nlohmann::json{{"device", to_hex(key.first)},
                                  {"name", devices_.count(key.first) ? name_of(key.first) : ""},
                                  {"reason", key.second},
                                  {"count", n}});
    total += n;
  }
  dropped_.clear();
  sink_.event("attestations_dropped", {{"count", total}, {"by_device", std::move(list)}});
}

// The node's own signed WitnessRequest of the open round (what the witness was asked), for blacklist evidence.
nlohmann::json TrustNodeCore::request_evidence(const Candidate &c) const {
  nlohmann::json r{{"round_id", c.round_id},
                   {"header", to_hex(c.header.data(), c.header.size())},
                   {"block_hash", to_hex(c.hash)},
                   {"deadline_ms", static_cast<uint32_t>(cfg_.witness_timeout_ms)},
                   {"assignment_id", c.assignment_id},
                   {"miner_signature", to_hex(c.miner_signature)}};
  if (node_pk_) {
    uint8_t msg[IOTW_SIG_MSG_MAX];
    const size_t n = iotw_sigmsg_witness(c.round_id, c.hash.data(), c.hash.data(),
                                         static_cast<uint32_t>(cfg_.witness_timeout_ms), c.assignment_id,
                                         c.miner_signature.data(), msg);
    r["node_signature"] = to_hex(sign_node(msg, n));
  }
  return r;
}

// The verdict of an Attestation as the wire carried it (iotw_msg_attestation_verdict: never read as the enum type,
// which is undefined behaviour for a hostile device's 9; UBSan found it through the fuzz target tn_dispatch).
static uint32_t wire_verdict(const iotw_v1_Attestation &a) { return iotw_msg_attestation_verdict(&a); }

// Two different verdicts (other block hash or other verdict) that both verify under the device's key for one
// round: only the device can have signed both (CometBFT's duplicate-vote evidence). Blacklisted with both.
void TrustNodeCore::equivocation(const Key &from, const SignedVerdict &first, const iotw_v1_Attestation &second) {
  ++counters_.attestations_rejected;
  ++counters_.attestations_equivocation;
  auto entry = [&](uint64_t round, const uint8_t *hash, uint8_t verdict, const uint8_t *sig) {
    return nlohmann::json{{"witness", to_hex(from)},
                          {"round_id", round},
                          {"block_hash", to_hex(hash, IOTW_HASH_SIZE)},
                          {"verdict", verdict_name(verdict)},
                          {"signature", to_hex(sig, 64)},
                          {"signature_valid", true}};
  };
  const nlohmann::json evidence = nlohmann::json::array(
      {entry(first.round_id, first.block_hash.data(), first.verdict, first.signature.data()),
       entry(second.round_id, second.block_hash, static_cast<uint8_t>(wire_verdict(second)), second.signature)});
  sink_.event("attestation_rejected", {{"round_id", second.round_id},
                                       {"witness", to_hex(from)},
                                       {"witness_name", name_of(from)},
                                       {"reason", "equivocation"},
                                       {"faulty", true}});
  add_bad(from);
  if (!blacklist_.count(from)) blacklist(from, second.round_id, "attestation_equivocation", evidence);
  if (cand_ && cand_->mined)  // none of its answers in the open round counts any more: its slot goes to another
    for (Slot &slot : cand_->slots)
      if (slot.witness == from) {
        slot.answer.reset();
        replace_witness(*cand_, slot, "faulty");
      }
}

// A witness of the open round signed, for this round, a verdict over another block hash than the one the node
// asked (and signed): attributable, since a device that checks the node's signature answers only what the node
// asked. Blacklisted with its attestation and the node's signed request as evidence; the slot goes to a fresh
// witness (docs/trust-node.md "Faulty witnesses").
void TrustNodeCore::faulty_attestation(uint32_t link, Candidate &c, Slot &slot, const iotw_v1_Attestation &a,
                                       const char *reason) {
  ++counters_.attestations_rejected;
  ++counters_.attestations_wrong_hash;
  const Key from = slot.witness;
  sink_.event("attestation_rejected", {{"round_id", a.round_id},
                                       {"witness", to_hex(from)},
                                       {"witness_name", name_of(from)},
                                       {"reason", reason},
                                       {"open_round_id", c.round_id},
                                       {"faulty", true}});
  send_error(link, 3, reason);
  const nlohmann::json evidence = nlohmann::json::array(
      {nlohmann::json{{"witness", to_hex(from)},
                      {"round_id", a.round_id},
                      {"block_hash", to_hex(a.block_hash, IOTW_HASH_SIZE)},
                      {"verdict", verdict_name(static_cast<uint8_t>(wire_verdict(a)))},
                      {"signature", to_hex(a.signature, 64)},
                      {"signature_valid", true},
                      {"asked_round_id", c.round_id},
                      {"asked_block_hash", to_hex(c.hash)},
                      {"request", request_evidence(c)}}});
  add_bad(from);
  blacklist(from, c.round_id, (std::string("attestation_") + reason).c_str(), evidence);
  replace_witness(c, slot, "faulty");
}

void TrustNodeCore::on_attestation(uint32_t link, const Key &from, const iotw_v1_Attestation &a) {
  // Nothing that fails its signature is evidence of anything: count it and drop it, unanswered.
  // The signature covers the verdict as one byte (docs/protocol.md §4 ATTEST): a wider value cannot be what the
  // device signed, so it is dropped like a bad signature, never taken as evidence.
  const uint32_t verdict = wire_verdict(a);
  if (verdict > 0xFFu) return drop_attestation(from, "bad_signature");
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_attest(a.round_id, a.block_hash, static_cast<uint8_t>(verdict), msg);
  if (!verify(a.signature, msg, n, from)) return drop_attestation(from, "bad_signature");
  if (verdict != iotw_v1_Verdict_VERDICT_VALID && verdict != iotw_v1_Verdict_VERDICT_INVALID)
    return reject_attestation(link, a.round_id, from, "bad_verdict");
  const SignedVerdict got{a.round_id, arr<32>(a.block_hash), static_cast<uint8_t>(verdict), arr<64>(a.signature)};
  if (const SignedVerdict *seen = recorded(from, a.round_id)) {
    if (seen->block_hash != got.block_hash || seen->verdict != got.verdict) return equivocation(from, *seen, a);
    const bool open_round = cand_ && !cand_->slots.empty() && a.round_id == cand_->round_id;
    if (!open_round) return drop_attestation(from, "replay");  // an earlier round's, already accepted
  }
  if (!cand_ || cand_->slots.empty() || a.round_id != cand_->round_id)
    return reject_attestation(link, a.round_id, from, "unknown_round");
  Candidate &c = *cand_;
  auto slot = std::find_if(c.slots.begin(), c.slots.end(), [&](const Slot &s) { return s.witness == from; });
  if (slot == c.slots.end()) return reject_attestation(link, a.round_id, from, "not_a_witness");
  if (slot->answer) return reject_attestation(link, a.round_id, from, "duplicate");
  if (blacklist_.count(from)) return reject_attestation(link, a.round_id, from, "blacklisted");
  remember(from, got);  // signed by the device for this round: a different second one is equivocation
  if (std::memcmp(a.block_hash, c.hash.data(), IOTW_HASH_SIZE) != 0)
    return faulty_attestation(link, c, *slot, a, "wrong_hash");
  slot->answer = Attestation{from, a.round_id, got.verdict, got.signature};
  devices_.at(from).silent_streak = 0;
  sink_.event("attestation", {{"round_id", a.round_id},
                              {"witness", to_hex(from)},
                              {"witness_name", name_of(from)},
                              {"verdict", verdict_name(slot->answer->verdict)}});
  // strict: wait for all n; threshold: close as soon as t valid are in or t can no longer be reached.
  size_t valid = 0, invalid = 0;
  for (const Slot &s : c.slots)
    if (s.answer) ++(s.answer->verdict == iotw_v1_Verdict_VERDICT_VALID ? valid : invalid);
  const size_t slots = c.slots.size();
  const size_t t = cfg_.threshold ? cfg_.threshold : slots;
  const bool done = cfg_.policy == WitnessPolicy::strict ? valid + invalid == slots : valid >= t || invalid > slots - t;
  if (done) close_round(c);
}

void TrustNodeCore::blacklist(const Key &k, uint64_t round_id, const char *reason, const nlohmann::json &evidence) {
  BlacklistEntry e{k, round_id, reason, clock_.now_ms(), evidence.dump()};
  ledger_.add_blacklist(e);
  blacklist_[k] = std::move(e);
  if (auto d = devices_.find(k); d != devices_.end()) update_pool(d->second);
  sink_.event("blacklisted", {{"device", to_hex(k)}, {"name", name_of(k)}, {"round_id", round_id}, {"reason", reason}});
}

void TrustNodeCore::close_round(Candidate &c) {
  ++counters_.rounds;
  flush_dropped(true);
  // The node's own check always says valid here: it built the header and accepted the miner's hash.
  // strict: coherent iff all n verdicts are valid; threshold: iff at least t are (docs/protocol.md §7).
  size_t valid = 0;
  nlohmann::json verdicts = nlohmann::json::array(), evidence = nlohmann::json::array();
  std::vector<Key> witnesses, dissenters;
  for (const Slot &s : c.slots) {
    witnesses.push_back(s.witness);
    if (!s.answer) continue;
    const bool ok = s.answer->verdict == iotw_v1_Verdict_VERDICT_VALID;
    valid += ok;
    if (!ok) dissenters.push_back(s.witness);
    verdicts.push_back(
        nlohmann::json{{"witness", to_hex(s.witness)}, {"name", name_of(s.witness)}, {"verdict", verdict_name(s.answer->verdict)}});
    evidence.push_back(nlohmann::json{{"witness", to_hex(s.witness)},
                                      {"round_id", s.answer->round_id},
                                      {"block_hash", to_hex(c.hash)},
                                      {"verdict", verdict_name(s.answer->verdict)},
                                      {"signature", to_hex(s.answer->signature)}});
  }
  const bool strict = cfg_.policy == WitnessPolicy::strict;
  const size_t t = strict ? c.slots.size() : (cfg_.threshold ? cfg_.threshold : c.slots.size());
  const bool coherent = valid >= t;
  sink_.event("round_closed", {{"round_id", c.round_id},
                               {"height", c.height},
                               {"block_hash", to_hex(c.hash)},
                               {"coherent", coherent},
                               {"expected", "valid"},
                               {"verdicts", std::move(verdicts)},
                               {"policy", strict ? "strict" : "threshold"},
                               {"threshold", t},
                               {"diversity", diversity_json(witnesses)}});
  for (const Key &k : dissenters) add_bad(k);
  if (strict && !coherent) {  // the whitepaper rule: every witness of an incoherent round is removed
    for (const Key &k : witnesses) blacklist(k, c.round_id, "incoherent_round", evidence);
  } else {  // threshold: only witnesses whose signed verdict contradicts the node's own check
    for (const Key &k : dissenters) blacklist(k, c.round_id, coherent ? "dissent" : "incoherent_round", evidence);
  }
  if (coherent) return finalize(c);
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
  const auto block_end = pending_.begin() + static_cast<std::ptrdiff_t>(c.tx_count);
  b.txs.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(block_end));
  if (c.vrf_win) b.vrf = VrfProof{static_cast<uint32_t>(cfg_.vrf_suite), c.vrf_win->pi, c.vrf_win->beta};
  BlockEffects fx;
  add_credit(fx.credits, b.miner, cfg_.rewards.miner);
  fx.good.push_back(b.miner);
  for (const Slot &s : c.slots)
    if (s.answer && s.answer->verdict == iotw_v1_Verdict_VERDICT_VALID) {
      b.attestations.push_back(*s.answer);
      add_credit(fx.credits, s.witness, cfg_.rewards.witness);
      fx.good.push_back(s.witness);
    }
  for (const Tx &t : b.txs)
    if (t.usage_device) add_credit(fx.credits, *t.usage_device, cfg_.rewards.usage);
  try {
    bind_finalization(c, b);
    ledger_.append_block(b, fx);
  } catch (...) {  // nothing was stored: the txs go back where they were (still pending, still the block's)
    std::move(b.txs.begin(), b.txs.end(), pending_.begin());
    throw;
  }
  uint64_t reward_total = 0;
  for (const Credit &cr : fx.credits) balances_[cr.device] += cr.amount, reward_total += cr.amount;
  for (const Key &k : fx.good) ++reputation_[k].good;
  ++counters_.blocks_finalized;
  counters_.txs_finalized += b.txs.size();
  counters_.rewards_credited += reward_total;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(b.txs.size()));  // moved-from
  last_block_ms_ = clock_.now_ms();
  sink_.event("block_finalized", {{"height", b.height},
                                  {"hash", to_hex(b.hash)},
                                  {"round_id", b.round_id},
                                  {"miner", to_hex(b.miner)},
                                  {"tx_count", b.txs.size()},
                                  {"rewards", reward_total}});
  b.txs.clear();
  b.attestations.clear();
  tip_ = std::move(b);
  cand_.reset();
  maybe_start_block();
}

// Ledger binding (docs/protocol.md §8 rules 12-15): every claim of a VRF round and the node-signed finalization
// record of each block; the signed tip of an export. Without a node key blocks stay unbound.
void TrustNodeCore::bind_finalization(const Candidate &c, Block &b) const {
  if (cfg_.selection == Selection::vrf) {
    VrfRound r;
    r.suite = static_cast<uint32_t>(cfg_.vrf_suite);
    for (const VrfClaimRec &rec : c.vrf_claims) r.claims.push_back(VrfClaim{rec.device, rec.pi, rec.beta});
    r.rank = static_cast<uint32_t>(r.claims.size());  // fallback pick: no claim chose the miner
    if (c.vrf_win)
      for (size_t i = 0; i < r.claims.size(); ++i)
        if (r.claims[i].device == c.vrf_win->device) r.rank = static_cast<uint32_t>(i);
    b.vrf_round = std::move(r);
  }
  if (!node_pk_) return;
  const bool strict = cfg_.policy == WitnessPolicy::strict;
  Finalization f;
  f.policy = strict ? IOTW_POLICY_STRICT : IOTW_POLICY_THRESHOLD;
  f.n = static_cast<uint32_t>(c.slots.size());
  f.t = strict ? f.n : (cfg_.threshold ? cfg_.threshold : f.n);
  f.selection = cfg_.selection == Selection::vrf          ? IOTW_SELECTION_VRF
                : cfg_.selection == Selection::reputation ? IOTW_SELECTION_REPUTATION
                                                          : IOTW_SELECTION_UNIFORM;
  b.finalization = sign_finalization(b, f, node_sk_);
}

std::optional<SignedTip> TrustNodeCore::signed_tip() const {
  if (!node_pk_) return std::nullopt;
  if (assigning_) return sign_tip(tip_, clock_.now_ms(), *node_pk_, node_sk_);
  // A mesh node that does not assign: its core does not follow the chain, the store's last block is the tip.
  const uint64_t n = ledger_.block_count();
  const std::vector<Block> last = n > 0 ? ledger_.blocks(n - 1, 1) : std::vector<Block>{};
  return sign_tip(last.empty() ? tip_ : last.front(), clock_.now_ms(), *node_pk_, node_sk_);
}

}  // namespace iotw::tn
