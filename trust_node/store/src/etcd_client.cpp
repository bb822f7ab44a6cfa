#include "iotw/trust_node/etcd_client.hpp"

#include "iotw/support/base64.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <thread>

#include <httplib.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

namespace iotw::tn {
using nlohmann::json;

struct EtcdClient::Conn {
  Conn(const std::string &host, int port) : http(host, port) {}
  httplib::Client http;
};

namespace {

std::string b64(std::string_view s) { return to_base64(s); }

std::string unb64(const std::string &s) {
  auto out = from_base64(s);
  if (!out) throw EtcdError("etcd: malformed base64 in an answer");
  return std::move(*out);
}

/** An int64 field of a gateway answer: a JSON string (proto3 JSON), a number, or absent (= 0). */
int64_t i64(const json &j, const char *field) {
  const auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  return it->get<int64_t>();
}

EtcdKeyValue kv_of(const json &j) {
  EtcdKeyValue kv;
  kv.key = unb64(j.value("key", ""));
  kv.value = unb64(j.value("value", ""));
  kv.create_revision = i64(j, "create_revision");
  kv.mod_revision = i64(j, "mod_revision");
  kv.version = i64(j, "version");
  kv.lease = i64(j, "lease");
  return kv;
}

std::vector<EtcdKeyValue> kvs_of(const json &j) {
  std::vector<EtcdKeyValue> out;
  if (const auto it = j.find("kvs"); it != j.end())
    for (const json &e : *it) out.push_back(kv_of(e));
  return out;
}

json op_json(const EtcdOp &op) {
  switch (op.kind) {
    case EtcdOp::Kind::put: {
      json p{{"key", b64(op.key)}, {"value", b64(op.value)}};
      if (op.lease) p["lease"] = std::to_string(op.lease);
      return {{"request_put", std::move(p)}};
    }
    case EtcdOp::Kind::del: {
      json d{{"key", b64(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = b64(op.range_end);
      return {{"request_delete_range", std::move(d)}};
    }
    case EtcdOp::Kind::range: {
      json r{{"key", b64(op.key)}};
      if (!op.range_end.empty()) r["range_end"] = b64(op.range_end);
      return {{"request_range", std::move(r)}};
    }
  }
  throw std::logic_error("etcd: unknown op kind");
}

json compare_json(const EtcdCompare &c) {
  static const char *const targets[] = {"VALUE", "CREATE", "MOD", "VERSION"};
  static const char *const results[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json j{{"key", b64(c.key)},
         {"target", targets[static_cast<int>(c.target)]},
         {"result", results[static_cast<int>(c.result)]}};
  switch (c.target) {
    case EtcdCompare::Target::value: j["value"] = b64(c.value); break;
    case EtcdCompare::Target::create_revision: j["create_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::mod_revision: j["mod_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::version: j["version"] = std::to_string(c.number); break;
  }
  return j;
}

constexpr int kUnavailable = 14;  // gRPC status code: the member cannot serve now (no leader, timed out)
constexpr auto kAgain = std::chrono::milliseconds(50);  // pause before asking members that were unavailable again
constexpr int64_t kPage = 500;    // keys per range page (a page of blocks stays a few MiB)

}  // namespace

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw std::invalid_argument("etcd: no endpoints");
  for (const std::string &e : endpoints_) {
    const auto colon = e.rfind(':');
    int port = 0;
    try {
      if (colon != std::string::npos) port = std::stoi(e.substr(colon + 1));
    } catch (const std::exception &) {
    }
    if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535)
      throw std::invalid_argument("etcd: endpoint \"" + e + "\" is not host:port");
    auto c = std::make_unique<Conn>(e.substr(0, colon), port);
    c->http.set_connection_timeout(timeout_);
    c->http.set_read_timeout(timeout_);
    c->http.set_write_timeout(timeout_);
    c->http.set_keep_alive(true);
    c->http.set_tcp_nodelay(true);  // the body follows the headers in a second write: no Nagle wait for an ACK
    conns_.push_back(std::move(c));
  }
}

EtcdClient::~EtcdClient() = default;

json EtcdClient::call(const std::string &path, const json &body) {
  const std::string text = body.dump();
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    std::string errors;
    bool only_unavailable = true;  // every member answered, but none could serve (e.g. electing a leader)
    for (size_t n = 0; n < conns_.size(); ++n) {
      const size_t i = (current_ + n) % conns_.size();
      const auto res = conns_[i]->http.Post(path, text, "application/json");
      if (!res) {
        errors += "; " + endpoints_[i] + ": " + httplib::to_string(res.error());
        only_unavailable = false;
        continue;
      }
      json answer = json::parse(res->body, nullptr, false);
      if (res->status == 200 && answer.is_object()) {
        current_ = i;
        return answer;
      }
      const std::string msg = answer.is_object() ? answer.value("error", res->body) : res->body;
      const int code = answer.is_object() ? answer.value("code", 0) : 0;
      if (res->status >= 500 || code == kUnavailable) {  // this member cannot serve now: ask the next one
        errors += "; " + endpoints_[i] + ": HTTP " + std::to_string(res->status) + " " + msg;
        continue;
      }
      throw EtcdError("etcd: POST " + path + " at " + endpoints_[i] + ": HTTP " + std::to_string(res->status) +
                      " " + msg);
    }
    if (!only_unavailable || std::chrono::steady_clock::now() + kAgain > deadline)
      throw EtcdError("etcd: POST " + path + ": no endpoint answered (" + errors.substr(2) + ")");
    std::this_thread::sleep_for(kAgain);
  }
}

std::optional<EtcdKeyValue> EtcdClient::get(std::string_view key) {
  auto kvs = kvs_of(call("/v3/kv/range", {{"key", b64(key)}}));
  if (kvs.empty()) return std::nullopt;
  return std::move(kvs.front());
}

EtcdRange EtcdClient::range(std::string_view key, std::string_view range_end, int64_t limit,
                            int64_t min_create_revision) {
  json req{{"key", b64(key)}};
  if (!range_end.empty()) req["range_end"] = b64(range_end);
  if (min_create_revision > 0) req["min_create_revision"] = std::to_string(min_create_revision);
  EtcdRange out;
  for (;;) {  // pages in key order, all at the first page's revision
    const int64_t want = limit > 0 ? std::min<int64_t>(kPage, limit - static_cast<int64_t>(out.kvs.size())) : kPage;
    req["limit"] = std::to_string(want);
    const json r = call("/v3/kv/range", req);
    if (out.revision == 0) {
      out.revision = i64(r.at("header"), "revision");
      req["revision"] = std::to_string(out.revision);
    }
    auto page = kvs_of(r);
    const bool more = r.value("more", false);
    if (!page.empty()) req["key"] = b64(page.back().key + std::string(1, '\0'));
    std::move(page.begin(), page.end(), std::back_inserter(out.kvs));
    if (!more || page.empty() || (limit > 0 && static_cast<int64_t>(out.kvs.size()) >= limit)) break;
  }
  return out;
}

int64_t EtcdClient::put(std::string_view key, std::string_view value, int64_t lease) {
  json req{{"key", b64(key)}, {"value", b64(value)}};
  if (lease) req["lease"] = std::to_string(lease);
  return i64(call("/v3/kv/put", req).at("header"), "revision");
}

EtcdTxnResult EtcdClient::txn(const std::vector<EtcdCompare> &compares, const std::vector<EtcdOp> &success,
                              const std::vector<EtcdOp> &failure) {
  json req{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const EtcdCompare &c : compares) req["compare"].push_back(compare_json(c));
  for (const EtcdOp &o : success) req["success"].push_back(op_json(o));
  for (const EtcdOp &o : failure) req["failure"].push_back(op_json(o));
  const json r = call("/v3/kv/txn", req);
  EtcdTxnResult out;
  out.succeeded = r.value("succeeded", false);
  out.revision = i64(r.at("header"), "revision");
  if (const auto it = r.find("responses"); it != r.end())
    for (const json &resp : *it)
      if (const auto range = resp.find("response_range"); range != resp.end()) out.ranges.push_back(kvs_of(*range));
  return out;
}

int64_t EtcdClient::lease_grant(int64_t ttl_s) {
  const json r = call("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}});
  if (const std::string err = r.value("error", ""); !err.empty()) throw EtcdError("etcd: lease grant: " + err);
  const int64_t id = i64(r, "ID");
  if (id == 0) throw EtcdError("etcd: lease grant: no ID in the answer");
  return id;
}

int64_t EtcdClient::lease_keepalive(int64_t id) {
  // A stream in gRPC; through the gateway one request body gives one {"result": ...} answer.
  const json r = call("/v3/lease/keepalive", {{"ID", std::to_string(id)}});
  const auto it = r.find("result");
  if (it == r.end()) throw EtcdError("etcd: lease keepalive: no result in the answer");
  return i64(*it, "TTL");  // absent (0) once the lease is gone
}

void EtcdClient::lease_revoke(int64_t id) {
  try {
    call("/v3/lease/revoke", {{"ID", std::to_string(id)}});
  } catch (const EtcdError &e) {
    if (std::string_view(e.what()).find("lease not found") == std::string_view::npos) throw;
  }
}

}  // namespace iotw::tn
