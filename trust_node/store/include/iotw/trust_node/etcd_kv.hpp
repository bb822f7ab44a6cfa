// The key-value API of etcd v3 that the trust-node mesh uses (docs/trust-node.md "Mesh", "The etcd store"): ranges,
// puts, multi-key transactions with compares, and leases, with etcd's semantics (revisions, create/mod revision,
// version, lease-bound keys). EtcdLedger and EtcdLeadership are written against this interface; EtcdClient speaks
// it to a real cluster over the v3 JSON gateway, sim::SimEtcd models a cluster in virtual time (docs/simulation.md
// "Mesh"). Keys and values are bytes; revisions, lease IDs and TTLs are int64. Not thread-safe: one thread at a
// time uses an instance.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/** One client's view of an etcd cluster. Every call is linearizable (a read sees every write acknowledged before
 *  it) and throws EtcdError when the cluster does not answer (no quorum, unreachable, a malformed answer). */
class EtcdKv {
 public:
  virtual ~EtcdKv() = default;

  /** The value of key (linearizable read), nullopt when absent. */
  virtual std::optional<EtcdKeyValue> get(std::string_view key) = 0;
  /** Keys in [key, range_end) in key order (empty range_end = key alone), created at or after min_create_revision
   *  (0 = any); at most limit (0 = all). One consistent view: every key as of one revision. */
  virtual EtcdRange range(std::string_view key, std::string_view range_end, int64_t limit = 0,
                          int64_t min_create_revision = 0) = 0;
  /** Keys starting with prefix created at or after min_create_revision (0 = all), sorted by create revision (ties
   *  in key order): range() over prefix_end(prefix), stably sorted. */
  EtcdRange range_prefix(std::string_view prefix, int64_t min_create_revision = 0);
  /** Puts key = value (attached to lease unless 0); returns the new store revision. Throws EtcdError also when
   *  the lease does not exist. */
  virtual int64_t put(std::string_view key, std::string_view value, int64_t lease = 0) = 0;
  /** Atomically: if every compare holds, the success ops, else the failure ops. A txn that changes nothing
   *  leaves the revision as it was; one that writes raises it by one (every op of it has that mod revision). */
  virtual EtcdTxnResult txn(const std::vector<EtcdCompare> &compares, const std::vector<EtcdOp> &success,
                            const std::vector<EtcdOp> &failure = {}) = 0;
  /** A new lease of ttl_s seconds (etcd raises it to its minimum, about 1 s); returns its ID (never 0). */
  virtual int64_t lease_grant(int64_t ttl_s) = 0;
  /** Renews lease id to its full TTL; returns that TTL in seconds, 0 when the lease is gone (expired or
   *  revoked). */
  virtual int64_t lease_keepalive(int64_t id) = 0;
  /** Revokes lease id (its keys are deleted); a lease already gone is not an error. */
  virtual void lease_revoke(int64_t id) = 0;

  /** The range_end that selects every key starting with prefix (prefix with its last byte below 0xff
   *  incremented, trailing 0xff bytes dropped; "\0" = to the end of the keyspace). */
  static std::string prefix_end(std::string_view prefix);
};

}  // namespace iotw::tn
