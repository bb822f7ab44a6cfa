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

#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn {

/** No endpoint answered (connection refused or timed out, HTTP 5xx, gRPC "unavailable"), or an answer outside
 *  the gateway's contract (another 4xx error, malformed JSON). what() names the request and the endpoint(s). */
struct EtcdError : LedgerError {
  using LedgerError::LedgerError;
};

/** One stored key (mvcc.KeyValue). */
struct EtcdKeyValue {
  std::string key, value;
  int64_t create_revision = 0;  ///< revision of the put that created the key
  int64_t mod_revision = 0;     ///< revision of its last put
  int64_t version = 0;          ///< puts since creation
  int64_t lease = 0;            ///< attached lease ID, 0 = none
};

/** One txn guard: `target(key) result operand`. An absent key has create/mod revision and version 0, and
 *  fails every value compare. */
struct EtcdCompare {
  enum class Target { value, create_revision, mod_revision, version } target = Target::value;
  enum class Result { equal, not_equal, greater, less } result = Result::equal;
  std::string key;
  std::string value;   ///< operand when target == value
  int64_t number = 0;  ///< operand for the revision and version targets

  /** value(key) == v */
  static EtcdCompare value_is(std::string key, std::string v) {
    return {Target::value, Result::equal, std::move(key), std::move(v), 0};
  }
  /** create_revision(key) == rev (0: the key is absent) */
  static EtcdCompare created_at(std::string key, int64_t rev) {
    return {Target::create_revision, Result::equal, std::move(key), {}, rev};
  }
  /** mod_revision(key) == rev (0: the key is absent) */
  static EtcdCompare modified_at(std::string key, int64_t rev) {
    return {Target::mod_revision, Result::equal, std::move(key), {}, rev};
  }
};

/** One txn operation. range and del: [key, range_end), empty range_end = key alone. */
struct EtcdOp {
  enum class Kind { put, del, range } kind = Kind::put;
  std::string key;
  std::string value;      ///< put only
  int64_t lease = 0;      ///< put only: attach this lease (0 = none)
  std::string range_end;  ///< del and range

  static EtcdOp put(std::string key, std::string value, int64_t lease = 0) {
    return {Kind::put, std::move(key), std::move(value), lease, {}};
  }
  static EtcdOp del(std::string key) { return {Kind::del, std::move(key), {}, 0, {}}; }
  static EtcdOp range(std::string key) { return {Kind::range, std::move(key), {}, 0, {}}; }
};

struct EtcdTxnResult {
  bool succeeded = false;  ///< every compare held: the success ops ran (else the failure ops)
  int64_t revision = 0;    ///< store revision after the txn
  std::vector<std::vector<EtcdKeyValue>> ranges;  ///< one entry per range op that ran, in op order
};

/** A range page: keys and the revision it was read at. */
struct EtcdRange {
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;  ///< store revision the range was read at (every write up to it is visible)
};

class EtcdClient {
 public:
  /** endpoints: "host:port" of the cluster's client URLs (plain HTTP), tried in order; the one that answered
   *  last is tried first. A request moves to the next endpoint on a connection error, a timeout, HTTP 5xx or
   *  gRPC "unavailable"; when every member answered "unavailable" (a leader election) it asks them all again
   *  every 50 ms until `timeout` has passed. timeout: also the bound of each endpoint attempt (connect, send,
   *  receive). Throws std::invalid_argument when endpoints is empty or one has no ":port". */
  explicit EtcdClient(std::vector<std::string> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~EtcdClient();
  EtcdClient(const EtcdClient &) = delete;
  EtcdClient &operator=(const EtcdClient &) = delete;

  /** The value of key (linearizable read), nullopt when absent. */
  std::optional<EtcdKeyValue> get(std::string_view key);
  /** Keys in [key, range_end) in key order (empty range_end = key alone), created after min_create_revision
   *  (0 = any); at most limit (0 = all). Read in pages, all at the first page's revision (one consistent view). */
  EtcdRange range(std::string_view key, std::string_view range_end, int64_t limit = 0,
                  int64_t min_create_revision = 0);
  /** Keys starting with prefix created after min_create_revision (0 = all), sorted by create revision (ties
   *  in key order). */
  EtcdRange range_prefix(std::string_view prefix, int64_t min_create_revision = 0);
  /** Puts key = value (attached to lease unless 0); returns the new store revision. */
  int64_t put(std::string_view key, std::string_view value, int64_t lease = 0);
  /** Atomically: if every compare holds, the success ops, else the failure ops. */
  EtcdTxnResult txn(const std::vector<EtcdCompare> &compares, const std::vector<EtcdOp> &success,
                    const std::vector<EtcdOp> &failure = {});
  /** A new lease of ttl_s seconds (etcd raises it to its minimum, about 1 s here); returns its ID. */
  int64_t lease_grant(int64_t ttl_s);
  /** Renews lease id; returns its remaining TTL in seconds, 0 when the lease is gone (expired or revoked). */
  int64_t lease_keepalive(int64_t id);
  /** Revokes lease id (its keys are deleted); a lease already gone is not an error. */
  void lease_revoke(int64_t id);

  /** The range_end that selects every key starting with prefix (prefix with its last byte below 0xff
   *  incremented, trailing 0xff bytes dropped; "\0" = to the end of the keyspace). */
  static std::string prefix_end(std::string_view prefix);
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
