// Collusion model: binomial p^n, hypergeometric C(m,n)/C(N,n), Wilson score interval.
#include "iotw/harness/collusion_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace iotw::harness {

double collusion_binomial(double p, std::uint64_t n) {
  p = std::clamp(p, 0.0, 1.0);
  return std::pow(p, static_cast<double>(n));
}

double collusion_hypergeometric(std::uint64_t pool, std::uint64_t compromised, std::uint64_t n) {
  if (compromised > pool || n > pool) return 0.0;
  if (n > compromised) return 0.0;
  double prob = 1.0;  // product form: no factorial overflow for large pools
  for (std::uint64_t i = 0; i < n; ++i)
    prob *= static_cast<double>(compromised - i) / static_cast<double>(pool - i);
  return prob;
}

Interval wilson_interval(std::uint64_t successes, std::uint64_t trials, double z) {
  if (trials == 0) return {0.0, 1.0};
  successes = std::min(successes, trials);
  const double n = static_cast<double>(trials);
  const double phat = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / n;
  const double centre = (phat + z2 / (2.0 * n)) / denom;
  const double half = z * std::sqrt(phat * (1.0 - phat) / n + z2 / (4.0 * n * n)) / denom;
  // Exact ends: the interval contains 0 when nothing was seen and 1 when everything was.
  return {successes == 0 ? 0.0 : std::max(0.0, centre - half), successes == trials ? 1.0 : std::min(1.0, centre + half)};
}

namespace {

using json = nlohmann::json;

std::string str_of(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t u64_of(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() ? it->get<std::uint64_t>() : static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
}

json interval_json(const Interval& i) { return json{{"low", i.low}, {"high", i.high}, {"level", 0.95}}; }

}  // namespace

CollusionScores score_collusion(const RigSpec& rig, const std::vector<json>& events) {
  CollusionScores c;
  std::set<std::string> group, devices;
  for (const DeviceInstance& d : rig.instances()) {
    devices.insert(d.name);
    if (d.byzantine()) {
      group.insert(d.name);
      c.group.push_back(d.name);
    }
  }
  c.pool = devices.size();
  c.witnesses = static_cast<std::uint64_t>(rig.trust_node.witnesses);
  c.p = c.pool ? static_cast<double>(group.size()) / static_cast<double>(c.pool) : 0.0;
  c.model_hypergeometric = collusion_hypergeometric(c.pool, group.size(), c.witnesses);
  c.model_binomial = collusion_binomial(c.p, c.witnesses);

  std::set<std::string> registered, blacklisted;
  std::map<std::uint64_t, std::string> miner_of;                  // height -> last assigned miner name
  std::map<std::uint64_t, std::set<std::string>> blacklisted_for;  // round_id -> names blacklisted for it
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> drawn_from;  // round_id -> (pool, colluders)
  // The pool the node draws witnesses from now: registered, not blacklisted, not the miner of `height`. Kept as two
  // counts updated at each event (registered rig devices not blacklisted, and the group's among them), so a round
  // costs the same with a million devices as with ten.
  std::uint64_t eligible = 0, eligible_bad = 0;
  const auto counts = [&](const std::string& d, bool in) {
    if (!devices.count(d)) return;
    const std::uint64_t bad = group.count(d);
    if (in) {
      ++eligible;
      eligible_bad += bad;
    } else {
      --eligible;
      eligible_bad -= bad;
    }
  };
  const auto pool_now = [&](std::uint64_t height) {
    std::uint64_t pool = eligible, bad = eligible_bad;
    const auto miner = miner_of.find(height);
    if (miner != miner_of.end() && registered.count(miner->second) && devices.count(miner->second) &&
        !blacklisted.count(miner->second)) {
      --pool;
      bad -= group.count(miner->second);
    }
    return std::make_pair(pool, bad);
  };
  for (const json& e : events) {
    if (!e.is_object()) continue;
    const std::string kind = str_of(e, "kind");
    auto fit = e.find("fields");
    if (kind.empty() || fit == e.end() || !fit->is_object()) continue;
    const json& f = *fit;
    const std::string name = str_of(f, "name");
    if (kind == "device_registered") {
      if (!name.empty() && registered.insert(name).second && !blacklisted.count(name)) counts(name, true);
    } else if (kind == "device_detached") {
      if (registered.erase(name) && !blacklisted.count(name)) counts(name, false);
    } else if (kind == "blacklisted") {
      if (!name.empty() && blacklisted.insert(name).second && registered.count(name)) counts(name, false);
      blacklisted_for[u64_of(f, "round_id")].insert(name);
    } else if (kind == "blacklist_lifted") {
      if (blacklisted.erase(name) && registered.count(name)) counts(name, true);
    } else if (kind == "assignment_sent") {
      miner_of[u64_of(f, "height")] = str_of(f, "miner_name");
    } else if (kind == "witness_requested") {  // the first request of a round: its witnesses were drawn now
      const std::uint64_t id = u64_of(f, "round_id");
      if (!drawn_from.count(id)) drawn_from[id] = pool_now(u64_of(f, "height"));
    } else if (kind == "round_closed") {
      ++c.rounds;
      std::vector<std::string> witnesses, verdicts;
      auto v = f.find("verdicts");
      if (v != f.end() && v->is_array())
        for (const json& w : *v)
          if (w.is_object()) witnesses.push_back(str_of(w, "name")), verdicts.push_back(str_of(w, "verdict"));
      std::size_t k = 0;
      for (const std::string& w : witnesses) k += group.count(w);
      if (k > 0) ++c.rounds_with_colluder;
      {
        std::string expected = str_of(f, "expected");
        if (expected.empty()) expected = "valid";
        bool lie = false, truth = false;  // a group member lied; an honest witness told the truth
        for (std::size_t i = 0; i < witnesses.size(); ++i) {
          if (group.count(witnesses[i])) lie = lie || verdicts[i] != expected;
          else truth = truth || verdicts[i] == expected;
        }
        if (lie) ++c.attacked;
        if (lie && truth) ++c.caught_by_witness;
      }
      // The model for this round: the pool the node drew its witnesses from (at its first witness_requested,
      // else now), n = the answered witnesses.
      if (!witnesses.empty()) {
        const auto it = drawn_from.find(u64_of(f, "round_id"));
        const auto [pool, bad] = it != drawn_from.end() ? it->second : pool_now(u64_of(f, "height"));
        c.model_expected_captured += collusion_hypergeometric(pool, bad, witnesses.size());
      }
      if (witnesses.empty() || k != witnesses.size()) continue;
      CapturedRound r;
      r.round_id = u64_of(f, "round_id");
      r.height = u64_of(f, "height");
      r.witnesses = witnesses;
      const bool unanimous = std::all_of(verdicts.begin(), verdicts.end(), [&](const std::string& x) { return x == verdicts[0]; });
      r.verdict = unanimous ? verdicts[0] : "mixed";
      std::string expected = str_of(f, "expected");
      if (expected.empty()) expected = "valid";
      r.false_verdict = unanimous && r.verdict != expected;
      auto coh = f.find("coherent");
      r.detected = !(coh != f.end() && coh->is_boolean() && coh->get<bool>());
      c.captured_rounds.push_back(std::move(r));
    }
  }
  for (CapturedRound& r : c.captured_rounds) {
    auto it = blacklisted_for.find(r.round_id);
    if (it != blacklisted_for.end())
      for (const std::string& w : r.witnesses) r.detected = r.detected || it->second.count(w) > 0;
    r.outcome = !r.false_verdict ? "no_attack" : r.detected ? "lost" : "won";
    ++c.captured;
    if (r.outcome == "won") ++c.won;
    if (r.outcome == "lost") ++c.lost;
  }
  const double rounds = static_cast<double>(c.rounds);
  c.undetected_rate = c.rounds ? static_cast<double>(c.won) / rounds : 0.0;
  c.undetected_ci = wilson_interval(c.won, c.rounds);
  c.captured_rate = c.rounds ? static_cast<double>(c.captured) / rounds : 0.0;
  c.captured_ci = wilson_interval(c.captured, c.rounds);
  c.model_per_round_mean = c.rounds ? c.model_expected_captured / rounds : 0.0;
  std::uint64_t false_captured = 0;
  for (const CapturedRound& r : c.captured_rounds) false_captured += r.false_verdict;
  c.witness_undetected_rate = c.rounds ? static_cast<double>(false_captured) / rounds : 0.0;
  c.witness_undetected_ci = wilson_interval(false_captured, c.rounds);
  return c;
}

json collusion_json(const CollusionScores& c) {
  json won = json::array(), lost = json::array(), rounds = json::array();
  for (const CapturedRound& r : c.captured_rounds) {
    if (r.outcome == "won") won.push_back(r.round_id);
    if (r.outcome == "lost") lost.push_back(r.round_id);
    rounds.push_back(json{{"round_id", r.round_id},
                          {"height", r.height},
                          {"witnesses", r.witnesses},
                          {"verdict", r.verdict},
                          {"false_verdict", r.false_verdict},
                          {"detected", r.detected},
                          {"outcome", r.outcome}});
  }
  const auto inside = [](const Interval& i, double x) { return i.low <= x && x <= i.high; };
  const std::string verdict = c.undetected_ci.high < c.model_hypergeometric  ? "below the model"
                              : c.undetected_ci.low > c.model_hypergeometric ? "above the model"
                                                                             : "consistent with the model";
  const std::string summary = fmt::format(
      "group of {} in {} devices (p = {:.3f}), n = {}: captured {} of {} rounds, won {}, lost {}; undetected "
      "rate {:.4f} (95% CI {:.4f}..{:.4f}) vs model {:.4f} (hypergeometric; binomial {:.4f}): {}; capture rate "
      "{:.4f} (95% CI {:.4f}..{:.4f}) vs per-round model {:.4f}; attacked {}, caught by a witness {}, undetected by "
      "witnesses alone {:.4f} (95% CI {:.4f}..{:.4f})",
      c.group.size(), c.pool, c.p, c.witnesses, c.captured, c.rounds, c.won, c.lost, c.undetected_rate,
      c.undetected_ci.low, c.undetected_ci.high, c.model_hypergeometric, c.model_binomial, verdict, c.captured_rate,
      c.captured_ci.low, c.captured_ci.high, c.model_per_round_mean, c.attacked, c.caught_by_witness,
      c.witness_undetected_rate, c.witness_undetected_ci.low, c.witness_undetected_ci.high);
  return json{
      {"summary", summary},
      {"comparison", verdict},
      {"group", c.group},
      {"group_size", c.group.size()},
      {"pool", c.pool},
      {"witnesses", c.witnesses},
      {"p", c.p},
      {"rounds", c.rounds},
      {"rounds_with_colluder", c.rounds_with_colluder},
      {"captured_rounds", c.captured},
      {"won", c.won},
      {"lost", c.lost},
      {"rounds_won", won},
      {"rounds_lost", lost},
      {"captured", rounds},
      {"undetected_collusion_rate", c.undetected_rate},
      {"undetected_collusion_ci", interval_json(c.undetected_ci)},
      {"captured_rate", c.captured_rate},
      {"captured_rate_ci", interval_json(c.captured_ci)},
      {"model",
       json{{"form", "hypergeometric"},
            {"value", c.model_hypergeometric},
            {"hypergeometric", c.model_hypergeometric},
            {"binomial", c.model_binomial},
            {"expected_captured_rounds", c.model_expected_captured},
            {"per_round_mean", c.model_per_round_mean}}},
      {"model_in_undetected_ci", inside(c.undetected_ci, c.model_hypergeometric)},
      {"model_per_round_in_captured_ci", inside(c.captured_ci, c.model_per_round_mean)},
      {"model_in_captured_ci", inside(c.captured_ci, c.model_hypergeometric)},
      {"attacked_rounds", c.attacked},
      {"caught_by_witness", c.caught_by_witness},
      {"witness_undetected_rate", c.witness_undetected_rate},
      {"witness_undetected_ci", interval_json(c.witness_undetected_ci)},
      {"model_in_witness_undetected_ci", inside(c.witness_undetected_ci, c.model_hypergeometric)},
      {"model_per_round_in_witness_undetected_ci", inside(c.witness_undetected_ci, c.model_per_round_mean)},
  };
}

}  // namespace iotw::harness
