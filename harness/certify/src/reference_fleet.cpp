#include "iotw/certify/reference_fleet.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <httplib.h>
#include <sodium.h>
#include <toml++/toml.h>

#include "iotw/certify/engine.hpp"
#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"
#include "iotw/signing.h"
#include "link_fabric.hpp"
#include "trust_node_client.hpp"

namespace iotw::certify {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

ReferenceFleet::ReferenceFleet() : fabric_(std::make_unique<harness::LinkFabric>()) {
  for (const std::string& name : names()) {
    const harness::LinkInfo info = fabric_->add_link(name);
    node_paths_.push_back(info.node_side);
    device_paths_.push_back(info.device_side);
  }
}

ReferenceFleet::~ReferenceFleet() {
  stop();
  fabric_->stop();
}

std::vector<std::string> ReferenceFleet::node_paths() const { return node_paths_; }

std::vector<std::string> ReferenceFleet::names() const {
  std::vector<std::string> out;
  for (int i = 1; i <= kDevices; ++i) out.push_back(fmt::format("ref-{:02}", i));
  return out;
}

std::string ReferenceFleet::start(const fs::path& emu_exe, const fs::path& folder, const std::string& node_pubkey_hex,
                                  int http_port, std::uint64_t seed) {
  seed_ = seed;
  http_port_ = http_port;
  node_ = std::make_unique<harness::TrustNodeClient>(http_port);
  try {
    fs::create_directories(folder / "nvs");
    toml::array devices;
    const auto ns = names();
    for (std::size_t i = 0; i < ns.size(); ++i)
      devices.push_back(toml::table{{"name", ns[i]},
                                    {"model", "esp32"},
                                    {"link", device_paths_[i]},
                                    {"nvs_dir", (folder / "nvs" / ns[i]).string()},
                                    {"behaviour", "honest"}});
    toml::table cfg{{"events", (folder / "emu.events.jsonl").string()},
                    {"node_pubkey", node_pubkey_hex},
                    {"device", std::move(devices)}};
    {
      std::ofstream out(folder / "emu.toml");
      out << "# The reference devices around the DUT (iotw certify, docs/certification.md).\n" << cfg << '\n';
      if (!out) throw std::runtime_error("cannot write " + (folder / "emu.toml").string());
    }
    children_ = std::make_unique<ProcessSupervisor>();
    children_->start("reference_fleet", emu_exe, {"--config", (folder / "emu.toml").string()},
                     {.stdout_file = folder / "emu.log", .stderr_file = folder / "emu.log"});
  } catch (const std::exception& e) {
    error_ = std::string("the reference devices would not start: ") + e.what();
    children_.reset();
    return error_;
  }
  return "";
}

void ReferenceFleet::stop() {
  if (children_) children_->stop_all(2s);
  children_.reset();
  if (error_.empty()) error_ = "the reference devices were stopped";
}

bool ReferenceFleet::running() {
  if (!children_) return false;
  if (auto ended = children_->reap_exited()) {
    error_ = fmt::format("the reference devices' iotw-emu exited with code {} (see fleet/emu.log)", ended->code);
    children_.reset();
    return false;
  }
  return true;
}

harness::TrustNodeClient& ReferenceFleet::node() { return *node_; }

std::optional<std::uint64_t> ReferenceFleet::pending_txs() {
  if (!node_) return std::nullopt;
  const auto h = node_->health();
  return h ? std::optional<std::uint64_t>(h->pending_txs) : std::nullopt;
}

std::string ReferenceFleet::next_payload() {
  return "iotw-certify-reference-tx-" + harness::tx_payload(seed_, tx_counter_++, 32);
}

std::optional<json> ReferenceFleet::get(const std::string& path) {
  httplib::Client http("127.0.0.1", http_port_);
  http.set_connection_timeout(2, 0);
  http.set_read_timeout(5, 0);
  const auto res = http.Get(path);
  if (!res || res->status != 200) return std::nullopt;
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

namespace {

using Key = std::array<std::uint8_t, 32>;
constexpr auto kFleetAttach = 10s;    // the reference devices boot (key derivation ~0.3 s) and register
constexpr auto kRealRounds = 15s;     // bound for the blocks a fleet test waits for
constexpr std::uint64_t kInjectedIds = 1'000'000'000;  // injected round ids start here (never the node's)

Outcome pass(json measured) { return {Verdict::Pass, "", std::move(measured)}; }
Outcome fail(std::string reason, json measured = json::object()) {
  return {Verdict::Fail, std::move(reason), std::move(measured)};
}

/// The reference devices' keys (hex) by name, once all kDevices are attached to the node (the node's own
/// GET /v1/devices: the reference, not the DUT, says who they are); relays the DUT's link while waiting.
/// nullopt and `why` when they are not there within kFleetAttach.
std::optional<std::map<std::string, std::string>> fleet_keys(RunContext& c, std::string& why) {
  ReferenceFleet* f = c.fleet;
  if (!f || !f->running()) {
    why = f && !f->exited().empty() ? f->exited() : "the reference devices are not running (logs/setup.log)";
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + kFleetAttach;
  const auto names = f->names();
  for (;;) {
    std::map<std::string, std::string> keys;
    if (auto j = f->get("/v1/devices"); j && j->contains("devices") && (*j)["devices"].is_array())
      for (const auto& d : (*j)["devices"])
        if (d.is_object() && d.value("attached", false) && d.contains("name") && d.contains("device") &&
            std::find(names.begin(), names.end(), d["name"].get<std::string>()) != names.end())
          keys[d["device"].get<std::string>()] = d["name"].get<std::string>();
    if (keys.size() == names.size()) {
      c.engine.note(fmt::format("reference devices attached: {}", json(keys).dump()));
      return keys;
    }
    if (!f->running()) {
      why = f->exited();
      return std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      why = fmt::format("only {} of the {} reference devices registered with the trust node within {} s (fleet/emu.log)",
                        keys.size(), names.size(), std::chrono::seconds(kFleetAttach).count());
      return std::nullopt;
    }
    c.engine.pump_for(100ms);
  }
}

/// The node's blacklist entry for `device` (hex), if any.
std::optional<json> blacklisted(ReferenceFleet& f, const std::string& device) {
  if (auto j = f.get("/v1/blacklist"); j && j->contains("blacklist") && (*j)["blacklist"].is_array())
    for (const auto& e : (*j)["blacklist"])
      if (e.is_object() && e.value("device", std::string()) == device) return e;
  return std::nullopt;
}

/// Drives real rounds for up to kRealRounds: relays the DUT's link, keeps one transaction pending at the node
/// (POST /v1/transactions) so blocks keep coming, and reads the whole ledger back (GET /v1/blocks) after each step.
/// `done` sees the blocks above `from_height` once the ledger verifies (harness::verify_ledger: hashes, header
/// fields, the miner's signature, every attestation's signature); it returns true to stop. "" when done said so,
/// else why not (the ledger does not verify, the fleet stopped, the bound passed).
std::string drive_rounds(RunContext& c, std::uint64_t& from_height,
                         const std::function<bool(const std::vector<json>&)>& done) {
  ReferenceFleet& f = *c.fleet;
  const auto deadline = std::chrono::steady_clock::now() + kRealRounds;
  bool first = true;
  std::size_t submitted = 0;
  for (;;) {
    std::vector<json> blocks;
    try {
      for (const std::string& b : f.node().export_blocks()) blocks.push_back(json::parse(b));
    } catch (const std::exception& e) {
      return std::string("cannot read the node's ledger: ") + e.what();
    }
    if (first) {
      from_height = blocks.empty() ? 0 : blocks.size() - 1;
      c.engine.note(fmt::format("ledger height {} at the start; submitting transactions to make blocks", from_height));
      first = false;
    } else {
      const harness::LedgerVerdict v = harness::verify_ledger(blocks);
      if (!v.valid)
        return "the node's ledger does not verify: " + (v.errors.empty() ? std::string("no genesis") : v.errors.front());
      std::vector<json> fresh(blocks.begin() + static_cast<std::ptrdiff_t>(std::min(blocks.size(), from_height + 1)),
                              blocks.end());
      if (done(fresh)) return "";
    }
    if (!f.running()) return f.exited();
    if (std::chrono::steady_clock::now() >= deadline)
      return fmt::format("not within {} s ({} blocks finalized, {} transactions submitted)",
                         std::chrono::seconds(kRealRounds).count(), blocks.size() - 1 - from_height, submitted);
    const auto h = f.node().health();
    if (h && h->pending_txs == 0 && f.node().submit(f.next_payload()) == harness::SubmitResult::Accepted) ++submitted;
    c.engine.pump_for(100ms);
  }
}

std::string name_or(const std::map<std::string, std::string>& refs, const std::string& key) {
  auto it = refs.find(key);
  return it == refs.end() ? key.substr(0, 16) + ".." : it->second;
}

// CERT-023: a block the DUT mines in a real round finalizes with the reference witnesses' attestations.
Outcome cert023(RunContext& c) {
  std::string why;
  const auto refs = fleet_keys(c, why);
  if (!refs) return fail(why);
  const std::string dut = to_hex(c.dut_pubkey);
  if (auto e = blacklisted(*c.fleet, dut))
    return fail("the trust node has blacklisted the DUT (" + e->value("reason", std::string("?")) + "), so it never mines");
  std::uint64_t from = 0;
  json found;
  const std::string err = drive_rounds(c, from, [&](const std::vector<json>& blocks) {
    for (const json& b : blocks) {
      if (b.value("miner", std::string()) != dut) continue;
      json witnesses = json::array();
      bool all_refs = true;
      for (const auto& a : b["attestations"]) {
        all_refs = all_refs && refs->count(a.value("witness", std::string()));
        witnesses.push_back(name_or(*refs, a.value("witness", std::string())));
      }
      c.engine.note(fmt::format("block {} mined by the DUT, attested by {}", b["height"].get<std::uint64_t>(),
                                witnesses.dump()));
      if (!all_refs || b["attestations"].size() != static_cast<std::size_t>(ReferenceFleet::kDevices)) continue;
      found = {{"height", b["height"]}, {"hash", b["hash"]}, {"round_id", b["round_id"]}, {"witnesses", witnesses}};
      return true;
    }
    return false;
  });
  if (!err.empty()) {
    if (auto e = blacklisted(*c.fleet, dut))
      return fail("the trust node blacklisted the DUT (" + e->value("reason", std::string("?")) + ")");
    return fail("no block mined by the DUT's key finalized with the reference witnesses' attestations: " + err);
  }
  found["start_height"] = from;
  return pass(found);
}

// CERT-038: blocks the reference devices mine carry the DUT's VALID attestation; the DUT is never blacklisted.
Outcome cert037(RunContext& c) {
  constexpr std::size_t kWant = 3;
  std::string why;
  const auto refs = fleet_keys(c, why);
  if (!refs) return fail(why);
  const std::string dut = to_hex(c.dut_pubkey);
  const std::size_t mark = c.engine.mark();
  std::uint64_t from = 0;
  json heights = json::array();
  std::string bl_reason;
  const std::string err = drive_rounds(c, from, [&](const std::vector<json>& blocks) {
    heights = json::array();
    for (const json& b : blocks) {
      if (!refs->count(b.value("miner", std::string()))) continue;
      for (const auto& a : b["attestations"])
        if (a.value("witness", std::string()) == dut && a.value("verdict", std::string()) == "valid")
          heights.push_back(b["height"]);
    }
    if (auto e = blacklisted(*c.fleet, dut)) {
      bl_reason = e->value("reason", std::string("?"));
      return true;
    }
    return heights.size() >= kWant;
  });
  json measured = {{"start_height", from}, {"blocks_with_dut_attestation", heights}};
  if (!bl_reason.empty()) return fail("the trust node blacklisted the DUT (" + bl_reason + ")", measured);
  // Every Attestation the DUT sent to a real round (not an injected one) is VALID and signed by its key.
  std::size_t n = 0;
  for (std::size_t i = mark; i < c.engine.seen_count(); ++i) {
    const SeenFrame& s = c.engine.seen(i);
    n += s.env.which_body == iotw_v1_Envelope_attestation_tag && s.env.body.attestation.round_id < kInjectedIds;
  }
  if (!err.empty())
    return fail(fmt::format("fewer than {} blocks mined by reference devices carry the DUT's valid attestation: {}{}",
                            kWant, err,
                            n ? "" : " (the DUT sent no Attestation to the node's rounds; a witness answers only round "
                                     "ids above every one it answered since boot: reset the DUT before the run)"),
                measured);
  n = 0;
  for (std::size_t i = mark; i < c.engine.seen_count(); ++i) {
    const SeenFrame& s = c.engine.seen(i);
    if (s.env.which_body != iotw_v1_Envelope_attestation_tag) continue;
    const iotw_v1_Attestation& a = s.env.body.attestation;
    if (a.round_id >= kInjectedIds) continue;
    ++n;
    std::uint8_t m[IOTW_SIG_MSG_MAX];
    const std::size_t len = iotw_sigmsg_attest(a.round_id, a.block_hash, static_cast<std::uint8_t>(a.verdict), m);
    if (crypto_sign_verify_detached(a.signature, m, len, c.dut_pubkey.data()) != 0)
      return fail(fmt::format("the DUT's Attestation to round {} does not verify under its key", a.round_id), measured);
    if (a.verdict != iotw_v1_Verdict_VERDICT_VALID)
      return fail(fmt::format("the DUT attested INVALID to round {}, a block the trust node built", a.round_id), measured);
  }
  measured["attestations_on_the_wire"] = n;
  if (auto e = blacklisted(*c.fleet, dut))
    return fail("the trust node blacklisted the DUT (" + e->value("reason", std::string("?")) + ")", measured);
  return pass(measured);
}

}  // namespace

std::vector<CertTest> with_fleet_tests(std::vector<CertTest> tests) {
  const std::vector<std::string> profiles{"soc", "dps", "bulb"};
  std::vector<CertTest> fleet{
      {"CERT-023", "a mined block finalizes in a real round", profiles,
       "with 3 reference devices on the trust node (3 witnesses, strict): within 15 s a block mined by the DUT's key "
       "is finalized in the node's ledger with the 3 reference devices' valid attestations, and the ledger verifies",
       cert023, 2},
      {"CERT-038", "attestations count in real rounds", profiles,
       "with 3 reference devices on the trust node: within 15 s 3 blocks mined by reference devices are finalized "
       "with the DUT's valid attestation, every Attestation the DUT sent is VALID and signed, the DUT is never "
       "blacklisted, and the ledger verifies",
       cert037, 1},
  };
  tests.insert(tests.end(), std::make_move_iterator(fleet.begin()), std::make_move_iterator(fleet.end()));
  std::stable_sort(tests.begin(), tests.end(), [](const CertTest& a, const CertTest& b) { return a.id < b.id; });
  return tests;
}

}  // namespace iotw::certify
