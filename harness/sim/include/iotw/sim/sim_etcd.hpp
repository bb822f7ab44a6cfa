// A model of a small etcd cluster in virtual time (docs/simulation.md "Mesh"): what a [mesh] rig's trust nodes see of
// the real cluster the harness starts in real time (support/etcd_cluster.hpp: N members on one host, 50 ms heartbeat,
// 500 ms election timeout). One store shared by every client, with etcd v3's semantics as tn::EtcdKv states them:
// a revision raised by one per write (a txn's writes share it), create/mod revision and version per key, txn compares,
// ranges with limit and min_create_revision, and leases whose keys go when they expire or are revoked.
//
// What is modelled of the cluster: members that are killed (SIGKILL: its data folder survives a restart), frozen
// (SIGSTOP) and restarted or resumed; the cluster answers only while a majority of members runs and a Raft leader
// is elected; when the leader member stops, the others elect another after `election_ms` (if they still have a
// majority); a newly elected leader renews every lease to its full TTL plus `election_ms` (etcd's lessor Promote on
// a leader change extends each lease by TTL + election timeout), so no lease expires for the election's gap, nor
// while the cluster has no leader. A client can be cut off (partition_node from = "etcd"): its calls then fail.
// Requests etcd refuses are refused alike: an empty key ("key is not provided"), a txn with more than 16,384 ops in
// a branch (EtcdCluster's --max-txn-ops) or putting one key twice or a key it also deletes ("duplicate key given in
// txn request"), a lease TTL above 9,000,000,000 s ("too large lease TTL").
// A client rides through an election that ends within its timeout, as EtcdClient asks again every 50 ms; the call is
// answered at once, and the election counts as ended then. What is not modelled: request latency (a call takes no
// virtual time), waiting out the timeout (a cluster without quorum, or a cut-off client, fails a call at once; the
// real client fails after its timeout), the lessor's 500 ms expiry check (a lease
// expires exactly at its deadline), the request size limit, compaction, watches, authentication.
//
// Lease IDs are 1, 2, 3, ... in grant order; the first write of an empty store is revision 2 (etcd starts at 1).
// Deterministic: the same calls at the same virtual times give the same answers. Not thread-safe.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iotw/support/clock.hpp"
#include "iotw/trust_node/etcd_kv.hpp"

namespace iotw::sim {

class SimEtcd {
 public:
  struct Options {
    int members = 3;                 ///< 1..7 ([mesh] etcd_members)
    std::uint64_t election_ms = 500;  ///< a new Raft leader this long after the old one stopped (EtcdCluster's)
    std::int64_t min_ttl_s = 1;       ///< lease_grant raises a shorter TTL to this (etcd's minimum on such a cluster)
  };

  /// clock: the run's time (now_ms); it must outlive this. Member 0 leads at the start. Throws std::invalid_argument
  /// when members is outside 1..7.
  SimEtcd(const Clock& clock, Options options);
  ~SimEtcd();
  SimEtcd(const SimEtcd&) = delete;
  SimEtcd& operator=(const SimEtcd&) = delete;

  /// One client of the cluster (a trust node's store client or its leadership agent's). Every call throws
  /// tn::EtcdError "etcd: <call>: <why>" when the client is cut off, or the cluster has no quorum or no leader now
  /// (why: "cut off from etcd", "no quorum (k of n members running)", "electing a leader"). A put or txn that names a
  /// lease that does not exist throws tn::EtcdError "etcd: ...: requested lease not found" and writes nothing.
  class Client final : public tn::EtcdKv {
   public:
    std::optional<tn::EtcdKeyValue> get(std::string_view key) override;
    tn::EtcdRange range(std::string_view key, std::string_view range_end, std::int64_t limit = 0,
                        std::int64_t min_create_revision = 0) override;
    std::int64_t put(std::string_view key, std::string_view value, std::int64_t lease = 0) override;
    tn::EtcdTxnResult txn(const std::vector<tn::EtcdCompare>& compares, const std::vector<tn::EtcdOp>& success,
                          const std::vector<tn::EtcdOp>& failure = {}) override;
    std::int64_t lease_grant(std::int64_t ttl_s) override;
    std::int64_t lease_keepalive(std::int64_t id) override;
    void lease_revoke(std::int64_t id) override;

    /// Cut off from the cluster (true) or reaching it again (false).
    void set_cut(bool cut) { cut_ = cut; }
    bool cut() const { return cut_; }

   private:
    friend class SimEtcd;
    Client(SimEtcd& cluster, std::uint64_t timeout_ms) : cluster_(cluster), timeout_ms_(timeout_ms) {}
    SimEtcd& cluster_;
    std::uint64_t timeout_ms_;
    bool cut_ = false;
  };

  /// A new client; it must not outlive this. timeout_ms: how long the real client would keep asking while the members
  /// elect a leader (EtcdClient's timeout): a call made during an election that ends within it is answered.
  std::unique_ptr<Client> client(std::uint64_t timeout_ms = 2000);

  /// Member faults (ScriptHost::kill_etcd and friends), as EtcdCluster's signals act: kill: the member stops, frozen
  /// or not (its data survives; a killed one stays killed); restart: it runs again; pause(true): frozen, pause(false):
  /// running again (both nothing on a killed member). Throw std::invalid_argument for an unknown member,
  /// std::runtime_error for a restart of a member that is not killed.
  void kill(int member);
  void restart(int member);
  void pause(int member, bool paused);

  /// True when a call made now would be answered (quorum and an elected leader), cut-off clients aside.
  bool available();
  /// The store's revision now.
  std::int64_t revision() const { return revision_; }
  int members() const { return static_cast<int>(members_.size()); }

 private:
  enum class MemberState { running, killed, frozen };
  struct Lease {
    std::int64_t ttl_s = 0;
    std::uint64_t expires_ms = 0;
  };
  /// Brings the model up to now: finishes an election that is due, expires the leases due (in expiry order, each
  /// deletion of its keys one revision). Called first by every call and member fault.
  void advance();
  /// Throws tn::EtcdError for `call` when `c` cannot be answered now.
  void check(const Client& c, const char* call);
  /// After a member fault: keeps or loses the Raft leader, starts an election when a majority runs without one.
  void settle();
  /// Ends the running election: the lowest running member leads; every lease gets TTL + election_ms from the
  /// election's end.
  void elect();
  int running() const;
  /// The keys in [key, range_end) in key order (empty range_end = key alone, "\0" = to the end), created at or
  /// after min_create_revision (0 = any), at most limit (0 = all).
  std::vector<tn::EtcdKeyValue> select(std::string_view key, std::string_view range_end, std::int64_t limit,
                                       std::int64_t min_create_revision) const;
  /// Puts key = value at revision rev (creating it, or raising its version), attached to lease (0 = none).
  void store(std::string_view key, std::string_view value, std::int64_t lease, std::int64_t rev);
  /// Deletes the keys in [key, range_end) (as select()); true when there was one (the caller raises the revision).
  bool erase(std::string_view key, std::string_view range_end);
  /// Revokes lease id (revoke or expiry): deletes its keys (one new revision when there was one), forgets it.
  void end_lease(std::int64_t id);

  const Clock& clock_;
  Options options_;
  std::vector<MemberState> members_;
  std::optional<int> leader_;                  ///< the Raft leader member; none while electing or without quorum
  std::optional<std::uint64_t> elected_at_ms_;  ///< when the running election ends (none: no election running)
  std::int64_t revision_ = 1;
  std::int64_t next_lease_ = 1;
  std::map<std::string, tn::EtcdKeyValue> kvs_;  ///< the current keys
  std::map<std::int64_t, Lease> leases_;
};

}  // namespace iotw::sim
