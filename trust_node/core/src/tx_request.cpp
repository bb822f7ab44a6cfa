#include "iotw/trust_node/tx_request.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_set>

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

/** Fast path of parse_tx_batch for the plain shape: {"transactions":[{"payload":"..."}, ...]} (JSON whitespace
 *  allowed between tokens, each object with payload and optionally pubkey + signature, once each), every string
 *  printable ASCII without escapes. Returns false for anything else, and for every error, so that the full
 *  nlohmann parse decides (and words) those: what this accepts, the full parser accepts with the same result. */
class FastBatch {
 public:
  explicit FastBatch(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}

  bool parse(std::vector<TxRequest> &out) {
    ws();
    if (!lit('{') || !(ws(), key("transactions")) || !(ws(), lit(':')) || !(ws(), lit('['))) return false;
    ws();
    if (p_ < end_ && *p_ == ']') return false;  // empty: the slow path words the error
    for (;;) {
      if (out.size() == max_batch_txs || !(ws(), object(out))) return false;
      ws();
      if (lit(',')) continue;
      if (!lit(']')) return false;
      break;
    }
    ws();
    if (!lit('}')) return false;
    ws();
    return p_ == end_;
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool lit(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  /** A string of printable ASCII without escapes; its contents (without quotes) in s. */
  bool str(std::string_view &s) {
    if (!lit('"')) return false;
    const char *b = p_;
    while (p_ < end_ && *p_ != '"') {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
      ++p_;
    }
    if (p_ == end_) return false;
    s = std::string_view(b, static_cast<size_t>(p_ - b));
    ++p_;
    return true;
  }
  bool key(std::string_view k) {
    std::string_view s;
    return str(s) && s == k;
  }
  bool object(std::vector<TxRequest> &out) {
    if (!lit('{')) return false;
    std::optional<std::string_view> payload, pubkey, signature;
    for (;;) {
      std::string_view k, v;
      ws();
      if (!str(k) || !(ws(), lit(':')) || !(ws(), str(v))) return false;
      std::optional<std::string_view> *slot = k == "payload" ? &payload : k == "pubkey" ? &pubkey
                                             : k == "signature" ? &signature : nullptr;
      if (!slot || *slot) return false;  // unknown or repeated key
      *slot = v;
      ws();
      if (lit(',')) continue;
      if (!lit('}')) return false;
      break;
    }
    if (!payload || pubkey.has_value() != signature.has_value()) return false;
    TxRequest r;
    if (pubkey) {
      const auto key = from_hex<32>(*pubkey);
      const auto sig = from_hex<64>(*signature);
      if (!key || !sig) return false;
      r.signature = TxSignature{*key, *sig};
    }
    r.payload.assign(payload->begin(), payload->end());
    out.push_back(std::move(r));
    return true;
  }
  const char *p_, *end_;
};

/** SAX consumer of check_json_shape: tracks the open containers and, per open object, the keys seen. */
class ShapeCheck final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit ShapeCheck(size_t max_depth) : max_depth_(max_depth) {}
  std::optional<std::string> error;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t &) override { return true; }
  bool string(string_t &) override { return true; }
  bool binary(binary_t &) override { return true; }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t &k) override {
    if (!keys_.back().insert(k).second) return fail("duplicate key '" + k + "'");
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override {
    return fail("body is not valid JSON (UTF-8)");
  }

 private:
  bool open(bool object) {
    if (depth_ == max_depth_) return fail("JSON nested deeper than " + std::to_string(max_depth_) + " levels");
    ++depth_;
    if (object) keys_.emplace_back();
    objects_.push_back(object);
    return true;
  }
  bool close() {
    --depth_;
    if (objects_.back()) keys_.pop_back();
    objects_.pop_back();
    return true;
  }
  bool fail(std::string m) {
    if (!error) error = std::move(m);
    return false;
  }
  size_t max_depth_, depth_ = 0;
  std::vector<bool> objects_;                       ///< per open container: is it an object
  std::vector<std::unordered_set<std::string>> keys_;  ///< per open object: its keys so far
};

void add_hashes(std::vector<TxRequest> &reqs) {
  for (TxRequest &r : reqs) r.hash = sha256(r.payload.data(), r.payload.size());
}

}  // namespace

size_t tx_sigmsg(const Hash &tx_hash, uint8_t out[tx_sigmsg_len]) {
  static constexpr char tag[] = "IOTW/1/TX";  // sizeof includes the 0x00 separator
  std::memcpy(out, tag, sizeof tag);
  std::memcpy(out + sizeof tag, tx_hash.data(), tx_hash.size());
  return sizeof tag + tx_hash.size();
}

std::optional<std::string> check_json_shape(std::string_view body, size_t max_depth) {
  ShapeCheck check(max_depth);
  if (nlohmann::json::sax_parse(body, &check)) return std::nullopt;
  return check.error ? check.error : std::optional<std::string>("body is not valid JSON (UTF-8)");
}

std::variant<TxRequest, TxParseError> parse_tx_request(std::string_view body, size_t max_depth) {
  if (body.size() > max_tx_body) return TxParseError{"body larger than " + std::to_string(max_tx_body) + " bytes"};
  if (auto e = check_json_shape(body, max_depth)) return TxParseError{*e};
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return TxParseError{"body is not valid JSON (UTF-8)"};
  auto r = from_json(j, "");
  if (auto *t = std::get_if<TxRequest>(&r)) t->hash = sha256(t->payload.data(), t->payload.size());
  return r;
}

std::variant<std::vector<TxRequest>, TxParseError> parse_tx_batch(std::string_view body, size_t max_depth) {
  if (body.size() > max_batch_body) return TxParseError{"body larger than " + std::to_string(max_batch_body) + " bytes"};
  {
    std::vector<TxRequest> fast;
    fast.reserve(std::min<size_t>(max_batch_txs, body.size() / 16 + 1));
    if (max_depth >= 3 && FastBatch(body).parse(fast)) {  // its shape nests 3 deep
      add_hashes(fast);
      return fast;
    }
  }
  if (auto e = check_json_shape(body, max_depth)) return TxParseError{*e};
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
  add_hashes(out);
  return out;
}

namespace {
void put_u32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
}  // namespace

std::variant<std::vector<TxRequest>, TxParseError> parse_tx_batch_binary(std::string_view body) {
  auto fail = [](std::string what, size_t at, std::optional<size_t> record = std::nullopt) {
    std::string m = "binary batch: " + what + " at byte " + std::to_string(at);
    if (record) m += " (record " + std::to_string(*record) + ")";
    return TxParseError{std::move(m)};
  };
  if (body.size() > max_batch_body)
    return TxParseError{"body larger than " + std::to_string(max_batch_body) + " bytes"};
  const auto *b = reinterpret_cast<const uint8_t *>(body.data());
  const size_t n = body.size();
  if (n < tx_batch_header_len) return fail("header shorter than 12 bytes", n);
  if (std::memcmp(b, "ITXB", 4) != 0) return fail("magic is not \"ITXB\"", 0);
  if (b[4] != 1) return fail("version " + std::to_string(b[4]) + " is not 1", 4);
  if (b[5] || b[6] || b[7]) return fail("reserved bytes are not zero", 5);
  const uint32_t count = b[8] | b[9] << 8 | b[10] << 16 | static_cast<uint32_t>(b[11]) << 24;
  if (count == 0 || count > max_batch_txs)
    return fail("count " + std::to_string(count) + " is not 1.." + std::to_string(max_batch_txs), 8);
  std::vector<TxRequest> out(count);
  size_t at = tx_batch_header_len;
  for (uint32_t i = 0; i < count; ++i) {
    if (n - at < 3) return fail("truncated record header", at, i);
    const uint8_t kind = b[at];
    if (kind > 1) return fail("kind " + std::to_string(kind) + " is not 0 or 1", at, i);
    const size_t len = b[at + 1] | b[at + 2] << 8;
    if (len == 0 || len > TrustNodeCore::max_tx_payload) return fail("payload length " + std::to_string(len) + " is not 1..4096", at + 1, i);
    at += 3;
    const size_t need = (kind ? 96 : 0) + len;
    if (n - at < need) return fail("truncated record", at, i);
    TxRequest &r = out[i];
    if (kind) {
      TxSignature sig;
      std::memcpy(sig.pubkey.data(), b + at, 32);
      std::memcpy(sig.signature.data(), b + at + 32, 64);
      r.signature = sig;
      at += 96;
    }
    r.payload.assign(b + at, b + at + len);
    r.hash = sha256(b + at, len);
    at += len;
  }
  if (at != n) return fail(std::to_string(n - at) + " trailing bytes", at);
  return out;
}

std::string tx_batch_binary_reply(const std::vector<SubmitResult> &rs) {
  uint32_t accepted = 0;
  for (const SubmitResult &r : rs) accepted += r.status == SubmitResult::accepted;
  std::string out;
  out.reserve(tx_batch_reply_header_len + rs.size());
  out.append("ITXR\x01\0\0\0", 8);
  put_u32(out, accepted);
  put_u32(out, static_cast<uint32_t>(rs.size()) - accepted);
  put_u32(out, static_cast<uint32_t>(rs.size()));
  for (const SubmitResult &r : rs)
    out += static_cast<char>(r.status == SubmitResult::accepted    ? TxBatchStatus::pending
                             : r.status == SubmitResult::duplicate ? TxBatchStatus::duplicate
                                                                   : TxBatchStatus::bad_signature);
  return out;
}

}  // namespace iotw::tn
