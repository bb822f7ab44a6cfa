#include "iotw/trust_node/tx_request.hpp"

#include <cstring>

namespace iotw::tn {
namespace {

std::variant<TxRequest, TxParseError> from_json(const nlohmann::json &j, const std::string &where) {
  auto err = [&](const std::string &m) { return TxParseError{where + m}; };
  if (!j.is_object()) return err("a transaction must be a JSON object");
  for (const auto &[k, v] : j.items())
    if (k != "payload" && k != "pubkey" && k != "signature")
      return err("unknown key '" + k + "'; allowed: payload, pubkey, signature");
  const auto p = j.find("payload");
  if (p == j.end() || !p->is_string()) return err("payload must be a string (UTF-8 text, 1..4096 bytes)");
  TxRequest r;
  const std::string &text = p->get_ref<const std::string &>();
  r.payload.assign(text.begin(), text.end());
  const auto pk = j.find("pubkey"), sig = j.find("signature");
  if ((pk == j.end()) != (sig == j.end())) return err("pubkey and signature come together");
  if (pk != j.end()) {
    const auto key = pk->is_string() ? from_hex<32>(pk->get_ref<const std::string &>()) : std::nullopt;
    const auto s = sig->is_string() ? from_hex<64>(sig->get_ref<const std::string &>()) : std::nullopt;
    if (!key) return err("pubkey must be 64 hex digits (Ed25519 public key)");
    if (!s) return err("signature must be 128 hex digits (Ed25519 signature)");
    r.signature = TxSignature{*key, *s};
  }
  return r;
}

}  // namespace

size_t tx_sigmsg(const Hash &tx_hash, uint8_t out[tx_sigmsg_len]) {
  static constexpr char tag[] = "IOTW/1/TX";  // sizeof includes the 0x00 separator
  std::memcpy(out, tag, sizeof tag);
  std::memcpy(out + sizeof tag, tx_hash.data(), tx_hash.size());
  return sizeof tag + tx_hash.size();
}

std::variant<TxRequest, TxParseError> parse_tx_request(std::string_view body) {
  if (body.size() > max_tx_body) return TxParseError{"body larger than " + std::to_string(max_tx_body) + " bytes"};
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return TxParseError{"body is not valid JSON (UTF-8)"};
  return from_json(j, "");
}

std::variant<std::vector<TxRequest>, TxParseError> parse_tx_batch(std::string_view body) {
  if (body.size() > max_batch_body) return TxParseError{"body larger than " + std::to_string(max_batch_body) + " bytes"};
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return TxParseError{"body is not valid JSON (UTF-8)"};
  if (!j.is_object() || j.size() != 1 || !j.contains("transactions") || !j["transactions"].is_array())
    return TxParseError{"body must be {\"transactions\": [...]}"};
  const auto &arr = j["transactions"];
  if (arr.empty() || arr.size() > max_batch_txs)
    return TxParseError{"transactions must hold 1.." + std::to_string(max_batch_txs) + " entries"};
  std::vector<TxRequest> out;
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    auto r = from_json(arr[i], "transactions[" + std::to_string(i) + "]: ");
    if (auto *e = std::get_if<TxParseError>(&r)) return *e;
    out.push_back(std::move(std::get<TxRequest>(r)));
  }
  return out;
}

}  // namespace iotw::tn
