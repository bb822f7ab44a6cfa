#include "iotw/trust_node/etcd_leadership.hpp"

#include <stdexcept>

namespace iotw::tn {

EtcdLeadership::EtcdLeadership(EtcdKv &etcd, std::string key, std::string node_id, int64_t ttl_s)
    : etcd_(etcd), key_(std::move(key)), node_id_(std::move(node_id)), ttl_s_(ttl_s) {
  if (node_id_.empty()) throw std::invalid_argument("etcd leadership: empty node id");
  if (ttl_s_ < 1) throw std::invalid_argument("etcd leadership: ttl below 1 s");
}

const EtcdLeadership::State &EtcdLeadership::step(uint64_t now_ms, bool campaign) {
  State next = state_;
  if (next.lease != 0 && etcd_.lease_keepalive(next.lease) == 0) next.lease = 0;  // expired: our key went with it
  if (next.lease == 0) {
    next.lease = etcd_.lease_grant(ttl_s_);
    state_.lease = next.lease;  // kept (and revoked by resign()) even if the rest of this step fails
  }
  if (!campaign) {  // only read who holds the key
    const auto held = etcd_.get(key_);
    next.leader_id = held ? held->value : std::string();
    next.leader_create_revision = held ? held->create_revision : 0;
    next.leader = held && held->value == node_id_ && held->lease == next.lease;
    next.confirmed_ms = now_ms;
    state_ = next;
    return state_;
  }
  // Take the key if nobody holds it; read it either way.
  const EtcdTxnResult r = etcd_.txn({EtcdCompare::created_at(key_, 0)},
                                    {EtcdOp::put(key_, node_id_, next.lease), EtcdOp::range(key_)},
                                    {EtcdOp::range(key_)});
  if (r.ranges.size() != 1 || r.ranges[0].size() != 1)
    throw EtcdError("etcd leadership: the leader key " + key_ + " vanished within a txn");
  const EtcdKeyValue &held = r.ranges[0][0];
  next.leader_id = held.value;
  next.leader_create_revision = held.create_revision;
  next.leader = held.value == node_id_ && held.lease == next.lease;
  next.confirmed_ms = now_ms;
  state_ = next;
  return state_;
}

void EtcdLeadership::resign() {
  if (state_.leader)
    etcd_.txn({EtcdCompare::created_at(key_, state_.leader_create_revision), EtcdCompare::value_is(key_, node_id_)},
              {EtcdOp::del(key_)});
  if (state_.lease != 0) etcd_.lease_revoke(state_.lease);
  state_.leader = false;
  state_.lease = 0;
}

std::vector<EtcdCompare> EtcdLeadership::fence() const {
  return {EtcdCompare::value_is(key_, node_id_), EtcdCompare::created_at(key_, state_.leader_create_revision)};
}

}  // namespace iotw::tn
