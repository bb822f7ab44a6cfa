// A small client of etcd's v3 JSON gateway (etcd 3.4: POST /v3/kv/range, /v3/kv/put, /v3/kv/txn,
// /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke) over cpp-httplib: the trust-node mesh's ledger store
// and leader election (docs/trust-node.md "Mesh", "The etcd store"). Keys and values are bytes (sent base64);
// revisions, lease IDs and TTLs are int64 (the gateway writes them as JSON strings).
// Not thread-safe: one thread at a time uses an instance.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iotw/trust_node/etcd_kv.hpp"

namespace iotw::tn {

class EtcdClient final : public EtcdKv {
 public:
  /** endpoints: "host:port" of the cluster's client URLs (plain HTTP), tried in order; the one that answered
   *  last is tried first. A request moves to the next endpoint on a connection error, a timeout, HTTP 5xx or
   *  gRPC "unavailable"; when every member answered "unavailable" (a leader election) it asks them all again
   *  every 50 ms until `timeout` has passed. timeout: also the bound of each endpoint attempt (connect, send,
   *  receive). Throws std::invalid_argument when endpoints is empty or one has no ":port". */
  explicit EtcdClient(std::vector<std::string> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~EtcdClient() override;
  EtcdClient(const EtcdClient &) = delete;
  EtcdClient &operator=(const EtcdClient &) = delete;

  // EtcdKv over the gateway: POST /v3/kv/range (read in pages of 500, all at the first page's revision),
  // /v3/kv/put, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke.
  std::optional<EtcdKeyValue> get(std::string_view key) override;
  EtcdRange range(std::string_view key, std::string_view range_end, int64_t limit = 0,
                  int64_t min_create_revision = 0) override;
  int64_t put(std::string_view key, std::string_view value, int64_t lease = 0) override;
  EtcdTxnResult txn(const std::vector<EtcdCompare> &compares, const std::vector<EtcdOp> &success,
                    const std::vector<EtcdOp> &failure = {}) override;
  int64_t lease_grant(int64_t ttl_s) override;
  int64_t lease_keepalive(int64_t id) override;
  void lease_revoke(int64_t id) override;

  const std::vector<std::string> &endpoints() const { return endpoints_; }

 private:
  struct Conn;
  /** POSTs body to path on the first endpoint that answers; returns the parsed 200 answer. */
  nlohmann::json call(const std::string &path, const nlohmann::json &body);
  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
  std::vector<std::unique_ptr<Conn>> conns_;  ///< one keep-alive connection per endpoint, same order
  size_t current_ = 0;                        ///< the endpoint that answered last
};

}  // namespace iotw::tn
