#include "iotw/trust_node/etcd_ledger.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "iotw/block_header.h"

namespace iotw::tn {
using nlohmann::json;

namespace {

constexpr size_t kTxsPerTxn = 4000;  // 2 ops per tx: well inside the cluster's --max-txn-ops 16384
constexpr int kRetries = 32;         // read-modify-write rounds lost to other writers before giving up

json parse(const std::string &text, const std::string &key) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw LedgerError("ledger: etcd key " + key + " holds malformed JSON");
  return j;
}

uint64_t decimal(const std::string &text, const std::string &key) {
  try {
    size_t used = 0;
    const uint64_t v = std::stoull(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception &) {
  }
  throw LedgerError("ledger: etcd key " + key + " holds \"" + text + "\", not a decimal number");
}

Key key_of_hex(std::string_view hex, const std::string &key) {
  const auto k = from_hex<32>(hex, HexCase::lower);
  if (!k) throw LedgerError("ledger: etcd key " + key + " does not end in a 32-byte hex key");
  return *k;
}

json tx_json(const Tx &t) {
  json j{{"payload_hex", to_hex(t.payload)}};
  if (t.signature) {
    j["signer"] = to_hex(t.signature->pubkey);
    j["signature"] = to_hex(t.signature->signature);
  }
  if (t.usage_device) j["usage_device"] = to_hex(*t.usage_device);
  return j;
}

Tx tx_of(const Hash &h, const json &j, const std::string &key) {
  const auto hexfield = [&](const char *name) -> std::string {
    if (!j.contains(name) || !j[name].is_string()) throw LedgerError("ledger: etcd key " + key + " has no " + name);
    return j[name].get<std::string>();
  };
  Tx t;
  t.hash = h;
  const auto payload = from_hex(hexfield("payload_hex"));
  if (!payload) throw LedgerError("ledger: etcd key " + key + ": malformed payload_hex");
  t.payload = *payload;
  if (j.contains("signer")) {
    const auto pk = from_hex<32>(hexfield("signer"));
    const auto sig = from_hex<64>(hexfield("signature"));
    if (!pk || !sig) throw LedgerError("ledger: etcd key " + key + ": malformed signer/signature");
    t.signature = TxSignature{*pk, *sig};
  }
  if (j.contains("usage_device")) t.usage_device = key_of_hex(hexfield("usage_device"), key);
  return t;
}

}  // namespace

/** The tip record (P tip). */
struct EtcdLedger::Tip {
  uint64_t height = 0;
  Hash hash{};
  uint64_t max_round_id = 0;
  uint64_t max_assignment_id = 0;
  static std::optional<Tip> of(const std::optional<EtcdKeyValue> &kv) {
    if (!kv) return std::nullopt;
    const json j = parse(kv->value, kv->key);
    Tip t;
    const auto h = j.is_object() && j.contains("hash") ? from_hex<32>(j["hash"].get<std::string>()) : std::nullopt;
    if (!h) throw LedgerError("ledger: etcd key " + kv->key + " is not a tip record");
    t.hash = *h;
    t.height = j.value("height", uint64_t{0});
    t.max_round_id = j.value("max_round_id", uint64_t{0});
    t.max_assignment_id = j.value("max_assignment_id", uint64_t{0});
    return t;
  }
  std::string text() const {
    return json{{"height", height}, {"hash", to_hex(hash)}, {"max_round_id", max_round_id},
                {"max_assignment_id", max_assignment_id}}
        .dump();
  }
};

EtcdLedger::EtcdLedger(EtcdKv &etcd, std::string prefix, std::string instance_id)
    : etcd_(etcd), prefix_(std::move(prefix)), id_(std::move(instance_id)) {
  if (prefix_.empty()) throw std::invalid_argument("ledger: empty etcd key prefix");
  if (!id_.empty()) return;
  if (sodium_init() < 0) throw LedgerError("ledger: libsodium initialisation failed");
  std::array<uint8_t, 16> id{};
  randombytes_buf(id.data(), id.size());
  id_ = to_hex(id);
}

std::string EtcdLedger::key(std::string_view kind, std::string_view id) const {
  std::string k = prefix_;
  k += kind;
  k += id;
  return k;
}

std::string EtcdLedger::block_key(uint64_t height) const {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(height));
  return key("block/", digits);
}

std::vector<std::optional<EtcdKeyValue>> EtcdLedger::read(const std::vector<std::string> &keys) {
  std::vector<EtcdOp> ops;
  for (const std::string &k : keys) ops.push_back(EtcdOp::range(k));
  const EtcdTxnResult r = etcd_.txn({}, ops);
  if (r.ranges.size() != keys.size()) throw EtcdError("ledger: etcd answered a read with the wrong number of ranges");
  std::vector<std::optional<EtcdKeyValue>> out;
  for (const auto &range : r.ranges) out.push_back(range.empty() ? std::nullopt : std::optional(range.front()));
  return out;
}

template <class F>
bool EtcdLedger::update(const std::string &k, F f) {
  for (int attempt = 0; attempt < kRetries; ++attempt) {
    const std::optional<EtcdKeyValue> cur = etcd_.get(k);
    const std::optional<std::string> next = f(cur);
    if (!next) return false;
    const EtcdTxnResult r =
        etcd_.txn({EtcdCompare::modified_at(k, cur ? cur->mod_revision : 0)},
                  {EtcdOp::put(k, *next)});
    if (r.succeeded) return true;
  }
  throw LedgerError("ledger: etcd key " + k + " kept changing under " + std::to_string(kRetries) + " attempts");
}

uint64_t EtcdLedger::block_count() {
  const auto tip = Tip::of(etcd_.get(key("tip")));
  return tip ? tip->height + 1 : 0;
}

std::vector<Block> EtcdLedger::blocks(uint64_t from, uint64_t limit) {
  std::vector<Block> out;
  if (limit == 0) return out;
  const std::string first = block_key(from);
  const int64_t n = limit > static_cast<uint64_t>(INT64_MAX) ? 0 : static_cast<int64_t>(limit);  // 0 = all
  for (const EtcdKeyValue &kv : etcd_.range(first, EtcdKv::prefix_end(key("block/")), n).kvs)
    out.push_back(block_from_json(parse(kv.value, kv.key)));
  return out;
}

void EtcdLedger::append_block(const Block &b, const BlockEffects &fx) {
  iotw_block_header h;
  iotw_block_header_unpack(b.header.data(), &h);
  Hash prev{};
  std::copy(std::begin(h.prev_hash), std::end(h.prev_hash), prev.begin());
  const std::string where = "ledger: append_block(height " + std::to_string(b.height) + "): ";
  const uint64_t call = ++calls_;

  json record = block_to_json(b);
  for (size_t i = 0; i < b.txs.size(); ++i)
    if (b.txs[i].usage_device) record["transactions"][i]["usage_device"] = to_hex(*b.txs[i].usage_device);
  record["writer"] = {{"id", id_}, {"call", call}};
  const std::string block_text = record.dump();

  // The effects, summed per key (a device may be credited twice in one block).
  std::map<std::string, uint64_t> credit, good;
  for (const Credit &c : fx.credits) credit[key("balance/", to_hex(c.device))] += c.amount;
  for (const Key &k : fx.good) ++good[key("rep/", to_hex(k))];
  std::vector<std::string> keys = {key("tip")};
  for (const auto &[k, v] : credit) keys.push_back(k);
  for (const auto &[k, v] : good) keys.push_back(k);

  const auto ours = [&](const std::optional<Tip> &tip) {
    // An earlier attempt of this call was written though its answer was lost (the client asked another member).
    if (!tip || tip->height < b.height) return false;
    const auto kv = etcd_.get(block_key(b.height));
    if (!kv) return false;
    const json stored = parse(kv->value, kv->key);
    return stored.contains("writer") && stored["writer"].value("id", "") == id_ &&
           stored["writer"].value("call", uint64_t{0}) == call;
  };
  const auto extends = [&](const std::optional<Tip> &tip) {
    return b.height == 0 ? !tip : tip && tip->height + 1 == b.height && tip->hash == prev;
  };
  const auto moved = [&](const std::optional<Tip> &tip) {
    return LedgerConflict(where + "tip moved (stored tip: " +
                          (tip ? "height " + std::to_string(tip->height) + ", hash " + to_hex(tip->hash) : "none") +
                          ")");
  };

  for (int attempt = 0; attempt < kRetries; ++attempt) {
    const auto cur = read(keys);
    const auto tip = Tip::of(cur[0]);
    if (!extends(tip)) {
      if (ours(tip)) break;
      throw moved(tip);
    }
    Tip next{b.height, b.hash, std::max(tip ? tip->max_round_id : 0, b.round_id),
             std::max(tip ? tip->max_assignment_id : 0, b.assignment_id)};
    std::vector<EtcdCompare> cmp = fence_;
    if (tip) cmp.push_back(EtcdCompare::value_is(keys[0], cur[0]->value));
    else cmp.push_back(EtcdCompare::created_at(keys[0], 0));
    std::vector<EtcdOp> ops = {EtcdOp::put(block_key(b.height), block_text),
                               EtcdOp::put(keys[0], next.text())};
    size_t i = 1;
    for (const auto &[k, amount] : credit) {
      const auto &kv = cur[i++];
      cmp.push_back(EtcdCompare::modified_at(k, kv ? kv->mod_revision : 0));
      ops.push_back(EtcdOp::put(k, std::to_string((kv ? decimal(kv->value, k) : 0) + amount)));
    }
    for (const auto &[k, n] : good) {
      const auto &kv = cur[i++];
      cmp.push_back(EtcdCompare::modified_at(k, kv ? kv->mod_revision : 0));
      json rep = kv ? parse(kv->value, k) : json{{"good", 0}, {"bad", 0}};
      rep["good"] = rep.value("good", uint64_t{0}) + n;
      ops.push_back(EtcdOp::put(k, rep.dump()));
    }
    const std::string placed = "block:" + std::to_string(b.height);
    for (const Tx &t : b.txs) {
      const std::string hx = to_hex(t.hash);
      ops.push_back(EtcdOp::del(key("pending/", hx)));
      ops.push_back(EtcdOp::put(key("tx/", hx), placed));
    }
    if (etcd_.txn(cmp, ops).succeeded) break;

    // Which compare failed? The fence (one txn: its compares, and the tip either way), else the tip, else an
    // effect key that another node changed since the read: read again and retry.
    const EtcdTxnResult why = etcd_.txn(fence_, {EtcdOp::range(keys[0])}, {EtcdOp::range(keys[0])});
    const auto now_kv = why.ranges.at(0).empty() ? std::nullopt : std::optional(why.ranges[0].front());
    if (now_kv.has_value() != cur[0].has_value() || (now_kv && now_kv->value != cur[0]->value)) {
      const auto now = Tip::of(now_kv);
      if (ours(now)) break;
      throw moved(now);
    }
    if (!why.succeeded) throw LedgerConflict(where + "not the leader (the fence's compares failed)");
    if (attempt + 1 == kRetries)
      throw LedgerError(where + "balances and reputations kept changing under " + std::to_string(kRetries) +
                        " attempts");
  }
  for (const Tx &t : b.txs) known_.insert(t.hash);
}

std::vector<bool> EtcdLedger::add_pending_txs(const std::vector<Tx> &txs) {
  std::vector<bool> stored(txs.size(), false);
  const uint64_t call = ++calls_;
  const json writer{{"id", id_}, {"call", call}};
  std::vector<size_t> todo;  // indices still to store: new to this instance and first in the batch
  {
    std::set<Hash> seen;
    for (size_t i = 0; i < txs.size(); ++i)
      if (!known_.contains(txs[i].hash) && seen.insert(txs[i].hash).second) todo.push_back(i);
  }
  for (size_t start = 0; start < todo.size(); start += kTxsPerTxn) {
    std::vector<size_t> chunk(todo.begin() + static_cast<std::ptrdiff_t>(start),
                              todo.begin() + static_cast<std::ptrdiff_t>(std::min(todo.size(), start + kTxsPerTxn)));
    while (!chunk.empty()) {
      std::vector<EtcdCompare> cmp;
      std::vector<EtcdOp> ops;
      for (size_t pos = 0; pos < chunk.size(); ++pos) {
        const Tx &t = txs[chunk[pos]];
        const std::string hx = to_hex(t.hash);
        cmp.push_back(EtcdCompare::created_at(key("tx/", hx), 0));
        json p = tx_json(t);
        p["i"] = pos;
        p["writer"] = writer;
        ops.push_back(EtcdOp::put(key("tx/", hx), "pending"));
        ops.push_back(EtcdOp::put(key("pending/", hx), p.dump()));
      }
      if (etcd_.txn(cmp, ops).succeeded) {
        for (size_t i : chunk) stored[i] = true, known_.insert(txs[i].hash);
        break;
      }
      // Some hash exists: find which (its pending record may be this call's own, written by an attempt whose
      // answer was lost), drop those and store the rest.
      std::vector<std::string> keys;
      for (size_t i : chunk) {
        const std::string hx = to_hex(txs[i].hash);
        keys.push_back(key("tx/", hx));
        keys.push_back(key("pending/", hx));
      }
      const auto cur = read(keys);
      std::vector<size_t> rest;
      for (size_t pos = 0; pos < chunk.size(); ++pos) {
        const auto &tx_kv = cur[2 * pos];
        const auto &pending_kv = cur[2 * pos + 1];
        if (!tx_kv) {
          rest.push_back(chunk[pos]);
          continue;
        }
        known_.insert(txs[chunk[pos]].hash);
        if (pending_kv && parse(pending_kv->value, pending_kv->key).value("writer", json::object()) == writer)
          stored[chunk[pos]] = true;
      }
      chunk = std::move(rest);
    }
  }
  return stored;
}

bool EtcdLedger::add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) {
  if (known_.contains(tx.hash)) return false;
  const std::string hx = to_hex(tx.hash);
  const std::string seq_key = key("usage/", to_hex(device)), tx_key = key("tx/", hx), pending_key = key("pending/", hx);
  const json writer{{"id", id_}, {"call", ++calls_}};
  json p = tx_json(tx);
  p["i"] = 0;
  p["writer"] = writer;
  for (int attempt = 0; attempt < kRetries; ++attempt) {
    const auto cur = read({seq_key, tx_key, pending_key});
    if (cur[1]) {
      known_.insert(tx.hash);
      return cur[2] && parse(cur[2]->value, pending_key).value("writer", json::object()) == writer;
    }
    if (cur[0] && decimal(cur[0]->value, seq_key) >= seq) return false;
    const EtcdTxnResult r = etcd_.txn(
        {EtcdCompare::modified_at(seq_key, cur[0] ? cur[0]->mod_revision : 0),
         EtcdCompare::created_at(tx_key, 0)},
        {EtcdOp::put(seq_key, std::to_string(seq)),
         EtcdOp::put(tx_key, "pending"),
         EtcdOp::put(pending_key, p.dump())});
    if (r.succeeded) {
      known_.insert(tx.hash);
      return true;
    }
  }
  throw LedgerError("ledger: add_usage_tx: " + seq_key + " kept changing under " + std::to_string(kRetries) +
                    " attempts");
}

std::map<Key, uint64_t> EtcdLedger::usage_seqs() {
  std::map<Key, uint64_t> out;
  const std::string p = key("usage/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs)
    out[key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key)] = decimal(kv.value, kv.key);
  return out;
}

std::map<Key, uint64_t> EtcdLedger::balances() {
  std::map<Key, uint64_t> out;
  const std::string p = key("balance/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs)
    out[key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key)] = decimal(kv.value, kv.key);
  return out;
}

std::map<Key, Reputation> EtcdLedger::reputations() {
  std::map<Key, Reputation> out;
  const std::string p = key("rep/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs) {
    const json j = parse(kv.value, kv.key);
    out[key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key)] =
        Reputation{j.value("good", uint64_t{0}), j.value("bad", uint64_t{0})};
  }
  return out;
}

void EtcdLedger::add_bad(const Key &device) {
  const std::string k = key("rep/", to_hex(device));
  update(k, [&](const std::optional<EtcdKeyValue> &cur) -> std::optional<std::string> {
    json rep = cur ? parse(cur->value, k) : json{{"good", 0}, {"bad", 0}};
    rep["bad"] = rep.value("bad", uint64_t{0}) + 1;
    return rep.dump();
  });
}

std::vector<Tx> EtcdLedger::pending_of(const EtcdRange &r, bool others_only) const {
  struct Entry {
    int64_t revision;
    uint64_t i;
    Tx tx;
  };
  std::vector<Entry> entries;
  const std::string p = key("pending/");
  for (const EtcdKeyValue &kv : r.kvs) {
    const json j = parse(kv.value, kv.key);
    if (others_only && j.value("writer", json::object()).value("id", "") == id_) continue;
    const Hash h = key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key);
    entries.push_back({kv.create_revision, j.value("i", uint64_t{0}), tx_of(h, j, kv.key)});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
    return a.revision != b.revision ? a.revision < b.revision : a.i < b.i;
  });
  std::vector<Tx> out;
  out.reserve(entries.size());
  for (Entry &e : entries) out.push_back(std::move(e.tx));
  return out;
}

std::vector<Tx> EtcdLedger::pending_txs() {
  const EtcdRange r = etcd_.range_prefix(key("pending/"));
  watermark_ = r.revision;
  for (const EtcdKeyValue &kv : r.kvs)
    known_.insert(key_of_hex(std::string_view(kv.key).substr(key("pending/").size()), kv.key));
  return pending_of(r, false);
}

std::vector<Tx> EtcdLedger::new_pending_txs() {
  const EtcdRange r = etcd_.range_prefix(key("pending/"), watermark_ + 1);
  watermark_ = r.revision;
  std::vector<Tx> out = pending_of(r, true);
  for (const Tx &t : out) known_.insert(t.hash);
  return out;
}

void EtcdLedger::upsert_device(const DeviceRecord &d) {
  const std::string k = key("device/", to_hex(d.pubkey));
  update(k, [&](const std::optional<EtcdKeyValue> &cur) -> std::optional<std::string> {
    const uint64_t first = cur ? parse(cur->value, k).value("first_seen_ms", d.first_seen_ms) : d.first_seen_ms;
    return json{{"name", d.name}, {"model", d.model}, {"boot_count", d.boot_count}, {"first_seen_ms", first}}.dump();
  });
}

std::vector<DeviceRecord> EtcdLedger::devices() {
  std::vector<DeviceRecord> out;
  const std::string p = key("device/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs) {
    const json j = parse(kv.value, kv.key);
    out.push_back(DeviceRecord{key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key),
                               j.value("name", ""), j.value("model", ""), j.value("boot_count", uint32_t{0}),
                               j.value("first_seen_ms", uint64_t{0})});
  }
  return out;
}

void EtcdLedger::add_blacklist(const BlacklistEntry &e) {
  etcd_.put(key("blacklist/", to_hex(e.pubkey)), json{{"round_id", e.round_id},
                                                      {"reason", e.reason},
                                                      {"time_ms", e.time_ms},
                                                      {"evidence", e.evidence}}
                                                     .dump());
}

std::vector<BlacklistEntry> EtcdLedger::blacklist() {
  std::vector<BlacklistEntry> out;
  const std::string p = key("blacklist/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs) {
    const json j = parse(kv.value, kv.key);
    if (j.contains("lifted_ms")) continue;
    out.push_back(BlacklistEntry{key_of_hex(std::string_view(kv.key).substr(p.size()), kv.key),
                                 j.value("round_id", uint64_t{0}), j.value("reason", ""),
                                 j.value("time_ms", uint64_t{0}), j.value("evidence", "[]")});
  }
  return out;
}

bool EtcdLedger::lift_blacklist(const Key &device, uint64_t time_ms) {
  const std::string k = key("blacklist/", to_hex(device));
  return update(k, [&](const std::optional<EtcdKeyValue> &cur) -> std::optional<std::string> {
    if (!cur) return std::nullopt;
    json j = parse(cur->value, k);
    if (j.contains("lifted_ms")) return std::nullopt;
    j["lifted_ms"] = time_ms;
    return j.dump();
  });
}

uint64_t EtcdLedger::max_round_id() {
  const auto tip = Tip::of(etcd_.get(key("tip")));
  uint64_t m = tip ? tip->max_round_id : 0;
  const std::string p = key("blacklist/");
  for (const EtcdKeyValue &kv : etcd_.range(p, EtcdKv::prefix_end(p)).kvs)
    m = std::max(m, parse(kv.value, kv.key).value("round_id", uint64_t{0}));
  return m;
}

uint64_t EtcdLedger::reserved_round_ids() {
  const auto kv = etcd_.get(key("round_reserve"));
  if (!kv) return 0;
  try {
    return std::stoull(kv->value);
  } catch (const std::exception &) {
    throw LedgerError("etcd ledger: " + key("round_reserve") + " is not a number: " + kv->value);
  }
}

void EtcdLedger::reserve_round_ids(uint64_t limit) {
  if (!etcd_.txn(fence_, {EtcdOp::put(key("round_reserve"), std::to_string(limit))}).succeeded)
    throw LedgerConflict("etcd ledger: reserving round ids below " + std::to_string(limit) +
                         ": not the leader (the fence's compares failed)");
}

uint64_t EtcdLedger::max_assignment_id() {
  const auto tip = Tip::of(etcd_.get(key("tip")));
  return tip ? tip->max_assignment_id : 0;
}

}  // namespace iotw::tn
