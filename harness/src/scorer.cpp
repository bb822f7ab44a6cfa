// Black-box scoring of a run: events.jsonl + ledger.jsonl -> Scores -> criteria verdicts.
#include "iotw/harness/scorer.hpp"

#include "iotw/harness/score_registry.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

namespace iotw::harness {
namespace {

using json = nlohmann::json;

/// fields[key] as a string, or "" when absent / not a string.
std::string field_str(const json& fields, const char* key) {
  auto it = fields.find(key);
  return it != fields.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> time_of(const json& e) {
  auto it = e.find("time_ms");
  if (it == e.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

/// Usage scores: usage_accepted events joined with the ledger's transaction hashes.
void score_usage(const std::vector<json>& events, const std::vector<json>& ledger, Scores::Usage& u) {
  std::set<std::string> finalized;
  for (const json& b : ledger) {
    auto txs = b.is_object() ? b.find("transactions") : b.end();
    if (txs == b.end() || !txs->is_array()) continue;
    for (const json& tx : *txs)
      if (tx.is_object() && tx.contains("hash") && tx["hash"].is_string()) finalized.insert(tx["hash"].get<std::string>());
  }
  auto num_of = [](const json& f, const char* k) {
    auto it = f.find(k);
    if (it == f.end() || !it->is_number_integer()) return std::uint64_t{0};
    return it->is_number_unsigned() ? it->get<std::uint64_t>()
                                    : static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
  };
  // The meter's truth: the emulator's usage_report events, by (device name, seq).
  std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> measured;
  for (const json& e : events) {
    if (!e.is_object()) continue;
    auto kind = e.find("kind");
    if (kind == e.end() || *kind != "usage_report") continue;
    const std::string source = field_str(e, "source");
    auto fit = e.find("fields");
    if (source.rfind("emu:", 0) != 0 || fit == e.end() || !fit->is_object()) continue;
    measured[{source.substr(4), num_of(*fit, "seq")}] = num_of(*fit, "energy_mwh");
  }
  for (const json& e : events) {
    if (!e.is_object()) continue;
    auto kind = e.find("kind");
    if (kind == e.end() || *kind != "usage_accepted") continue;
    auto fit = e.find("fields");
    if (fit == e.end() || !fit->is_object()) continue;
    ++u.reports_accepted;
    const std::string hash = field_str(*fit, "hash"), name = field_str(*fit, "name");
    if (hash.empty() || !finalized.count(hash)) continue;
    ++u.reports_finalized;
    auto num = [&](const char* k) {
      auto it = fit->find(k);
      if (it == fit->end() || !it->is_number_integer()) return std::uint64_t{0};
      return it->is_number_unsigned() ? it->get<std::uint64_t>()
                                      : static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
    };
    u.energy_mwh_total += num("energy_mwh");
    const std::uint64_t reward = num("reward");
    u.rewards_total += reward;
    if (reward > 0 && !name.empty()) u.rewards_by_device[name] += reward;
    auto truth = measured.find({name, num("seq")});
    if (name.empty() || truth == measured.end()) continue;
    const std::uint64_t reported = num("energy_mwh"), meter = truth->second;
    u.energy_mwh_measured += meter;
    if (reported <= meter) continue;
    u.energy_mwh_unmeasured += reported - meter;
    const std::uint64_t unearned =
        static_cast<std::uint64_t>(static_cast<unsigned __int128>(reward) * (reported - meter) / reported);
    u.rewards_unearned += unearned;
    if (unearned > 0) u.unearned_by_device[name] += unearned;
  }
}

}  // namespace

Scores score_run(const RigSpec& rig, const std::vector<json>& events, const std::vector<json>& ledger,
                 const LedgerVerdict& verdict) {
  Scores s;
  s.blocks_finalized = ledger.empty() ? 0 : ledger.size() - 1;
  s.ledger_valid = verdict.valid;

  std::set<std::string> byzantine;
  for (const DeviceInstance& d : rig.instances())
    if (d.byzantine()) byzantine.insert(d.name);

  std::optional<std::int64_t> start, first_time, last_block_time, first_fault;
  std::optional<std::int64_t> first_block_time, last_prefix_block;
  std::uint64_t prefix_blocks = 0;
  std::set<std::string> faulted;  // devices targeted by a link fault
  std::map<std::string, std::int64_t> first_blacklisted;  // name -> time_ms
  std::set<std::string> blacklisted_keys;                  // device pubkeys (hex)
  std::vector<std::vector<std::pair<std::string, std::string>>> incoherent;  // (name, pubkey) per round
  std::set<std::uint64_t> byzantine_rounds;  // rounds with a byzantine device detected (incoherent or faulty)
  std::vector<std::uint64_t> incoherent_ids;  // round_id per entry of incoherent
  std::vector<std::int64_t> kills;            // time_ms of each trust_node_kill's fault_started, in order

  for (const json& e : events) {
    auto kind_it = e.is_object() ? e.find("kind") : e.end();
    if (!e.is_object() || kind_it == e.end() || !kind_it->is_string()) {
      ++s.malformed_events;
      continue;
    }
    const std::string kind = kind_it->get<std::string>();
    ++s.event_counts[kind];
    const auto t = time_of(e);
    if (!first_time) first_time = t;
    const json empty = json::object();
    const auto fit = e.find("fields");
    const json& f = fit != e.end() && fit->is_object() ? *fit : empty;

    if (kind == "rig_started") {
      if (!start) start = t;
    } else if (kind == "round_closed") {
      ++s.rounds;
      auto c = f.find("coherent");
      const bool coherent = c != f.end() && c->is_boolean() && c->get<bool>();
      std::vector<std::pair<std::string, std::string>> witnesses;
      auto v = f.find("verdicts");
      if (v != f.end() && v->is_array())
        for (const json& w : *v)
          if (w.is_object()) witnesses.emplace_back(field_str(w, "name"), field_str(w, "witness"));
      std::size_t byz = 0;
      for (const auto& w : witnesses) byz += byzantine.count(w.first);
      if (!witnesses.empty() && byz == witnesses.size()) ++s.collusion_captured_rounds;
      if (coherent) {
        ++s.coherent_rounds;
        continue;
      }
      incoherent.push_back(std::move(witnesses));
      auto rid = f.find("round_id");
      incoherent_ids.push_back(rid != f.end() && rid->is_number_integer() && rid->get<std::int64_t>() > 0
                                   ? rid->get<std::uint64_t>()
                                   : 0);
    } else if (kind == "blacklisted") {
      const std::string name = field_str(f, "name");
      if (!name.empty() && !s.blacklist_reason.count(name)) s.blacklist_reason[name] = field_str(f, "reason");
      // A faulty witness (wrong-hash, replayed or badly signed attestation; docs/trust-node.md) is blacklisted
      // in the round it answered wrongly, which need not be incoherent: that round detected a byzantine device.
      auto rid = f.find("round_id");
      if (byzantine.count(name) && field_str(f, "reason").rfind("attestation_", 0) == 0 && rid != f.end() &&
          rid->is_number_integer() && rid->get<std::int64_t>() > 0)
        byzantine_rounds.insert(rid->get<std::uint64_t>());
      if (!field_str(f, "device").empty()) blacklisted_keys.insert(field_str(f, "device"));
      if (!name.empty() && !first_blacklisted.count(name)) {
        first_blacklisted[name] = t.value_or(0);
        s.blacklisted.push_back(name);
      }
    } else if (kind == "block_finalized") {
      if (t) last_block_time = t;
      for (std::size_t k = 0; t && k < kills.size(); ++k)  // the first block after each kill ends its failover
        if (!s.failovers_ms[k] && *t >= kills[k]) s.failovers_ms[k] = *t - kills[k];
      if (t && !first_fault) {
        if (!first_block_time) first_block_time = t;
        last_prefix_block = t;
        ++prefix_blocks;
      }
    } else if (kind == "fault_started") {
      if (!first_fault) first_fault = t;
      if (field_str(f, "fault") == "trust_node_kill" && t) {
        kills.push_back(*t);
        s.failovers_ms.emplace_back();
      }
      auto d = f.find("devices");
      if (d != f.end() && d->is_array())
        for (const json& n : *d)
          if (n.is_string()) faulted.insert(n.get<std::string>());
    } else if (kind == "tx_audit") {
      auto l = f.find("lost");
      if (l != f.end() && l->is_number_integer() && l->get<std::int64_t>() > 0) s.acked_tx_lost = l->get<std::uint64_t>();
    } else if (kind == "recovery_checked" || kind == "wait_done" || kind == "expect_checked" ||
               kind == "step_missed" || kind == "step_failed") {
      auto ok = f.find("pass");
      Scores::StepCheck c{field_str(f, "check"), ok != f.end() && ok->is_boolean() && ok->get<bool>(),
                          field_str(f, "detail")};
      if (kind == "recovery_checked" && !c.pass) ++s.recoveries_failed;
      s.step_checks.push_back(std::move(c));
    } else if (kind == "console_action") {
      s.console_actions.push_back(f);
    } else if (kind == "frame_error") {  // an aggregated line stands for "count" errors (docs/events.md)
      const auto n = f.find("count");
      s.frame_errors += n != f.end() && n->is_number_integer() && n->get<std::int64_t>() > 0 ? n->get<std::uint64_t>() : 1;
    }
  }
  if (!start) start = first_time;

  s.coherence_rate = s.rounds ? static_cast<double>(s.coherent_rounds) / static_cast<double>(s.rounds) : 0.0;
  for (std::size_t i = 0; i < incoherent.size(); ++i) {
    const auto& witnesses = incoherent[i];
    bool detected = false;
    for (const auto& [name, key] : witnesses) {
      detected = detected || byzantine.count(name);
      if (!first_blacklisted.count(name) && !blacklisted_keys.count(key)) s.incoherent_rounds_blacklisted = false;
    }
    if (witnesses.empty()) s.incoherent_rounds_blacklisted = false;  // nothing to show who was blacklisted
    if (detected && incoherent_ids[i] == 0) ++s.byzantine_rounds_detected;  // no round_id: counted on its own
    if (detected && incoherent_ids[i] != 0) byzantine_rounds.insert(incoherent_ids[i]);
  }
  s.byzantine_rounds_detected += byzantine_rounds.size();  // each round once, however it was detected
  for (const std::string& name : s.blacklisted)
    if (!byzantine.count(name)) {
      ++s.false_blacklist;
      if (faulted.count(name)) ++s.false_blacklist_faulted;
    }
  s.collusion = score_collusion(rig, events);
  s.undetected_collusion_rate = s.collusion.undetected_rate;
  for (const std::string& name : byzantine) {
    auto it = first_blacklisted.find(name);
    if (it == first_blacklisted.end()) {
      s.byzantine_blacklisted = false;
      s.time_to_blacklist_ms[name] = std::nullopt;
    } else {
      s.time_to_blacklist_ms[name] = it->second - start.value_or(it->second);
    }
  }
  if (start && last_block_time && *last_block_time > *start)
    s.liveness_blocks_per_min =
        static_cast<double>(s.blocks_finalized) * 60000.0 / static_cast<double>(*last_block_time - *start);

  // Liveness against the fault-free baseline.
  if (rig.baseline_blocks_per_min)
    s.baseline_blocks_per_min = *rig.baseline_blocks_per_min;
  else if (prefix_blocks >= 2 && *last_prefix_block > *first_block_time)
    s.baseline_blocks_per_min = static_cast<double>(prefix_blocks - 1) * 60000.0 /
                                static_cast<double>(*last_prefix_block - *first_block_time);
  if (!first_fault) {
    s.faulted_blocks_per_min = s.liveness_blocks_per_min;
    s.liveness_ratio = 1;
  } else {
    const std::uint64_t after = s.blocks_finalized - std::min(s.blocks_finalized, prefix_blocks);
    if (last_block_time && *last_block_time > *first_fault)
      s.faulted_blocks_per_min =
          static_cast<double>(after) * 60000.0 / static_cast<double>(*last_block_time - *first_fault);
    s.liveness_ratio = s.baseline_blocks_per_min > 0 ? s.faulted_blocks_per_min / s.baseline_blocks_per_min : 0;
  }
  for (const auto& ms : s.failovers_ms)
    s.failover_ms = std::max(s.failover_ms, ms ? static_cast<double>(*ms) : std::numeric_limits<double>::infinity());
  score_usage(events, ledger, s.usage);
  return s;
}

std::optional<double> score_value(const Scores& s, std::string_view score) {
  if (const ScoreDef* d = find_score(score)) return d->value(s);
  return std::nullopt;
}

std::string_view op_symbol(Criterion::Op op) {
  switch (op) {
    case Criterion::Op::AtLeast: return ">=";
    case Criterion::Op::AtMost: return "<=";
    case Criterion::Op::Equals: return "==";
  }
  return "?";
}

Evaluation evaluate(const RigSpec& rig, const Scores& s) {
  Evaluation ev;
  ev.pass = true;
  for (const Criterion& c : rig.pass) {
    CriterionResult r{c.name, c.score, c.op, c.threshold, 0, false, c.kind};
    if (auto m = score_value(s, c.score)) {
      r.measured = *m;
      r.pass = holds(c.op, *m, c.threshold);
    }
    ev.pass = ev.pass && r.pass;
    ev.criteria.push_back(std::move(r));
  }
  for (const auto& c : s.step_checks) ev.pass = ev.pass && c.pass;
  return ev;
}

std::vector<json> read_json_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::vector<json> out;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) out.push_back(json::parse(line, nullptr, false));
  return out;
}

}  // namespace iotw::harness
