// Leader election of a trust-node mesh on one etcd key with a lease (the usual etcd recipe): the node whose put
// created the key leads until its lease ends (revoked, or not kept alive for ttl seconds); the others see its
// id. The daemon calls step() about every ttl/3 and writes ledger blocks fenced on the leadership (fence()),
// so a node that lost it (a pause, a partition) cannot append after a successor took over
// (docs/trust-node.md "Mesh", "The etcd store"). Not thread-safe.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "iotw/trust_node/etcd_kv.hpp"

namespace iotw::tn {

class EtcdLeadership {
 public:
  /** What the last successful step() saw. */
  struct State {
    bool leader = false;                 ///< the key holds node_id on this node's lease
    std::string leader_id;               ///< the key's value: the leading node's id ("" = none seen)
    int64_t lease = 0;                   ///< this node's lease ID (0 = none yet)
    int64_t leader_create_revision = 0;  ///< create revision of the leader key (identifies one term of office)
    uint64_t confirmed_ms = 0;           ///< now_ms of the last step() that etcd answered (0 = never)
  };

  /** key: the election key (e.g. "/iotw/leader"); node_id: this node's id, non-empty; ttl_s: the lease TTL in
   *  seconds (etcd's minimum is about 1 s on a local cluster). Makes no request. */
  EtcdLeadership(EtcdKv &etcd, std::string key, std::string node_id, int64_t ttl_s);

  /** One round at now_ms (any monotonic ms clock): grants a lease if there is none, keeps it alive (a lease
   *  found gone is replaced), and puts the key with this node's id and lease when it is absent (txn: create
   *  revision 0; with campaign = false only reads who holds it: a node that just resigned lets another win).
   *  Returns the new state. Throws EtcdError when etcd does not answer: the state, confirmed_ms
   *  included, stays as it was (the caller treats its view as stale once now - confirmed_ms > ttl/2). */
  const State &step(uint64_t now_ms, bool campaign = true);
  /** Gives the leadership up (deletes the key if this node holds it) and revokes the lease. Throws EtcdError. */
  void resign();
  const State &state() const { return state_; }
  /** The compares under which a txn runs only while this node holds the term of office last seen by step():
   *  value(key) == node_id and create_revision(key) == state().leader_create_revision. */
  std::vector<EtcdCompare> fence() const;
  int64_t ttl_s() const { return ttl_s_; }

 private:
  EtcdKv &etcd_;
  std::string key_, node_id_;
  int64_t ttl_s_;
  State state_;
};

}  // namespace iotw::tn
