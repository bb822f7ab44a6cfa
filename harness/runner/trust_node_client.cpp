#include "trust_node_client.hpp"

#include "iotw/support/hex.hpp"

#include <httplib.h>

#include <set>

#include <nlohmann/json.hpp>

namespace iotw::harness {
namespace {

constexpr int kPageLimit = 1000;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

TrustNodeClient::TrustNodeClient(int port) : http_(std::make_unique<httplib::Client>("127.0.0.1", port)) {
  http_->set_connection_timeout(2, 0);
  http_->set_read_timeout(5, 0);
  // A connection per request: on a kept-alive one every answer stalls ~40 ms (the server's Nagle against our
  // delayed ACK), and an idle kept-alive connection holds up the node's graceful shutdown.
  http_->set_keep_alive(false);
}

TrustNodeClient::~TrustNodeClient() = default;

std::optional<Health> TrustNodeClient::health() {
  const auto res = http_->Get("/v1/health");
  if (!res || res->status != 200) return std::nullopt;
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  try {
    Health h{j.at("height").get<std::uint64_t>(), j.at("devices_attached").get<std::uint64_t>(),
             j.at("devices_blacklisted").get<std::uint64_t>(), j.at("pending_txs").get<std::uint64_t>(),
             j.at("rounds").get<std::uint64_t>()};
    if (const auto m = j.find("mesh"); m != j.end() && m->is_object())
      h.mesh = MeshRole{m->value("node_id", std::string()), m->at("role").get<std::string>(),
                        m->contains("leader") && (*m)["leader"].is_string() ? (*m)["leader"].get<std::string>() : ""};
    return h;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

SubmitResult TrustNodeClient::submit(const std::string& payload) {
  const auto res = http_->Post("/v1/transactions", nlohmann::json{{"payload", payload}}.dump(), "application/json");
  if (!res) return SubmitResult::Failed;
  switch (res->status) {
    case 202: return SubmitResult::Accepted;
    case 409: return SubmitResult::Duplicate;
    case 400: return SubmitResult::Rejected;
    default: return SubmitResult::Failed;
  }
}

std::optional<std::vector<std::string>> TrustNodeClient::attached_devices() {
  const auto res = http_->Get("/v1/devices");
  if (!res || res->status != 200) return std::nullopt;
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("devices") || !j["devices"].is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& d : j["devices"])
    if (d.is_object() && d.value("attached", false) && d.contains("name") && d["name"].is_string())
      out.push_back(d["name"].get<std::string>());
  return out;
}

std::vector<std::string> TrustNodeClient::export_blocks() {
  // The tip first: blocks finalized after it are left out, so the export ends exactly at the signed tip.
  std::optional<nlohmann::ordered_json> tip;
  {
    const auto res = http_->Get("/v1/tip");
    if (!res) throw TrustNodeError("GET /v1/tip: " + httplib::to_string(res.error()));
    if (res->status == 200) {
      tip = nlohmann::ordered_json::parse(res->body, nullptr, false);
      if (!tip->is_object() || !tip->contains("tip") || !(*tip)["tip"].is_object() ||
          !(*tip)["tip"].contains("height") || !(*tip)["tip"]["height"].is_number_unsigned())
        throw TrustNodeError("GET /v1/tip: answer has no \"tip\" with a height");
    } else if (res->status != 404) {
      throw TrustNodeError("GET /v1/tip: HTTP " + std::to_string(res->status));
    }
  }
  const std::uint64_t end = tip ? (*tip)["tip"]["height"].get<std::uint64_t>() + 1 : UINT64_MAX;
  std::vector<std::string> blocks;
  const auto finish = [&] {
    if (tip) blocks.push_back(tip->dump());
    return blocks;
  };
  for (;;) {
    const std::string path =
        "/v1/blocks?from=" + std::to_string(blocks.size()) + "&limit=" + std::to_string(kPageLimit);
    const auto res = http_->Get(path);
    if (!res) throw TrustNodeError("GET " + path + ": " + httplib::to_string(res.error()));
    if (res->status != 200) throw TrustNodeError("GET " + path + ": HTTP " + std::to_string(res->status));
    const auto page = nlohmann::ordered_json::parse(res->body, nullptr, false);
    if (!page.is_object() || !page.contains("blocks") || !page["blocks"].is_array())
      throw TrustNodeError("GET " + path + ": answer has no \"blocks\" array");
    // A page may hold fewer than `limit` blocks before the tip (it is bounded by transactions too): the end
    // is the tip's height or an empty page.
    if (page["blocks"].empty()) return finish();
    for (const auto& b : page["blocks"]) {
      if (blocks.size() == end) return finish();
      blocks.push_back(b.dump());
    }
    if (blocks.size() == end) return finish();
  }
}

std::size_t TrustNodeClient::lift_blacklist() {
  const auto res = http_->Get("/v1/blacklist");
  if (!res || res->status != 200) return 0;
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("blacklist") || !j["blacklist"].is_array()) return 0;
  std::size_t lifted = 0;
  for (const auto& e : j["blacklist"]) {
    if (!e.is_object() || !e.contains("device") || !e["device"].is_string()) continue;
    const auto r = http_->Post("/v1/blacklist/" + e["device"].get<std::string>() + "/lift", "", "application/json");
    if (r && r->status == 200) ++lifted;
  }
  return lifted;
}

std::string tx_payload(std::uint64_t seed, std::uint64_t counter, int bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uint64_t state = seed ^ splitmix64(counter);
  std::string out;
  out.reserve(static_cast<std::size_t>(bytes));
  while (out.size() < static_cast<std::size_t>(bytes)) out.push_back(kAlphabet[splitmix64(state) % 62]);
  return out;
}

TxAudit audit_transactions(const std::vector<std::string>& ledger, const std::vector<std::uint64_t>& acked,
                           std::uint64_t seed, int payload_bytes, const std::function<bool(const std::string&)>& known) {
  std::set<std::string> in_ledger;
  for (const auto& b : ledger) {
    const auto j = nlohmann::json::parse(b, nullptr, false);
    if (!j.is_object() || !j.contains("transactions") || !j["transactions"].is_array()) continue;
    for (const auto& t : j["transactions"])
      if (t.is_object() && t.contains("payload_hex") && t["payload_hex"].is_string())
        in_ledger.insert(t["payload_hex"].get<std::string>());
  }
  TxAudit a;
  a.acked = acked.size();
  for (std::uint64_t counter : acked) {
    const std::string payload = tx_payload(seed, counter, payload_bytes);
    if (in_ledger.count(to_hex(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size())))
      ++a.in_ledger;
    else if (known(payload))
      ++a.pending;
    else
      ++a.lost;
  }
  return a;
}

}  // namespace iotw::harness
