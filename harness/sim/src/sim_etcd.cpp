#include "iotw/sim/sim_etcd.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace iotw::sim {

namespace {

constexpr std::size_t kMaxTxnOps = 16384;             // EtcdCluster's --max-txn-ops
constexpr std::int64_t kMaxLeaseTtlS = 9'000'000'000;  // etcd's lease.MaxLeaseTTL

/** An etcd refusal of call: "etcd: <call>: <why>". */
tn::EtcdError refused(const char* call, const std::string& why) {
  return tn::EtcdError(std::string("etcd: ") + call + ": " + why);
}

/** key in [from, end): end empty = from alone, "\0" = every key from `from` on (etcd's range_end). */
bool in_range(std::string_view key, std::string_view from, std::string_view end) {
  if (end.empty()) return key == from;
  return key >= from && (end == std::string_view("\0", 1) || key < end);
}

/** Whether result holds for cmp, the stored value or number compared to the operand (<0, 0, >0; etcd's compareKV). */
bool holds(tn::EtcdCompare::Result r, int cmp) {
  switch (r) {
    case tn::EtcdCompare::Result::equal: return cmp == 0;
    case tn::EtcdCompare::Result::not_equal: return cmp != 0;
    case tn::EtcdCompare::Result::greater: return cmp > 0;
    case tn::EtcdCompare::Result::less: return cmp < 0;
  }
  return false;
}

/** etcd's request checks on one txn branch (checkRequestOp, checkIntervals): every op names a key, no key is put
 *  twice or put and deleted. */
void check_branch(const std::vector<tn::EtcdOp>& ops) {
  if (ops.size() > kMaxTxnOps) throw refused("txn", "too many operations in txn request");
  std::set<std::string_view> puts, deleted;  // deleted: the dels of one key
  std::vector<const tn::EtcdOp*> ranges;      // the dels of a range
  for (const tn::EtcdOp& op : ops) {
    if (op.key.empty()) throw refused("txn", "key is not provided");
    if (op.kind != tn::EtcdOp::Kind::del) continue;
    if (op.range_end.empty()) deleted.insert(op.key);
    else ranges.push_back(&op);
  }
  const auto in_deleted_range = [&](std::string_view key) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const tn::EtcdOp* d) { return in_range(key, d->key, d->range_end); });
  };
  for (const tn::EtcdOp& op : ops)
    if (op.kind == tn::EtcdOp::Kind::put &&
        (!puts.insert(op.key).second || deleted.contains(op.key) || in_deleted_range(op.key)))
      throw refused("txn", "duplicate key given in txn request");
}

}  // namespace

SimEtcd::SimEtcd(const Clock& clock, Options options) : clock_(clock), options_(options) {
  if (options_.members < 1 || options_.members > 7)
    throw std::invalid_argument("sim etcd: members must be 1..7, not " + std::to_string(options_.members));
  members_.assign(static_cast<std::size_t>(options_.members), MemberState::running);
  leader_ = 0;
}

SimEtcd::~SimEtcd() = default;

std::unique_ptr<SimEtcd::Client> SimEtcd::client(std::uint64_t timeout_ms) {
  return std::unique_ptr<Client>(new Client(*this, timeout_ms));
}

int SimEtcd::running() const {
  return static_cast<int>(std::count(members_.begin(), members_.end(), MemberState::running));
}

void SimEtcd::advance() {
  const std::uint64_t now = clock_.now_ms();
  if (!leader_ && elected_at_ms_ && *elected_at_ms_ <= now) elect();
  if (!leader_) return;  // no leader, no expiry: the leases due before it was lost went then (advance() ran)
  for (;;) {  // the leases due, earliest first (ties: lower id), as an eager lessor would have revoked them
    auto due = leases_.end();
    for (auto it = leases_.begin(); it != leases_.end(); ++it)
      if (it->second.expires_ms <= now && (due == leases_.end() || it->second.expires_ms < due->second.expires_ms))
        due = it;
    if (due == leases_.end()) break;
    end_lease(due->first);
  }
}

void SimEtcd::elect() {
  // The election ends at *elected_at_ms_ (the members have not changed since settle() started it): the lowest running
  // member leads, and its lessor's Promote gives every lease TTL + election timeout from then.
  const std::uint64_t t = *elected_at_ms_;
  elected_at_ms_.reset();
  leader_ = static_cast<int>(std::find(members_.begin(), members_.end(), MemberState::running) - members_.begin());
  for (auto& [id, l] : leases_) l.expires_ms = t + static_cast<std::uint64_t>(l.ttl_s) * 1000 + options_.election_ms;
}

void SimEtcd::check(const Client& c, const char* call) {
  advance();
  // The real client asks again every 50 ms while the members elect, until its timeout: a call made during an
  // election that ends within the timeout is answered (now, not when the election ends).
  if (!c.cut_ && !leader_ && elected_at_ms_ && *elected_at_ms_ <= clock_.now_ms() + c.timeout_ms_) elect();
  if (c.cut_) throw refused(call, "cut off from etcd");
  if (const int k = running(); k <= members() / 2)
    throw refused(call, "no quorum (" + std::to_string(k) + " of " + std::to_string(members()) + " members running)");
  if (!leader_) throw refused(call, "electing a leader");
}

void SimEtcd::settle() {
  const bool quorum = running() > members() / 2;
  if (leader_ && (!quorum || members_[static_cast<std::size_t>(*leader_)] != MemberState::running)) leader_.reset();
  if (leader_ || !quorum) {
    elected_at_ms_.reset();  // a leader needs none; without a majority none can end (it restarts with one)
    return;
  }
  if (!elected_at_ms_) elected_at_ms_ = clock_.now_ms() + options_.election_ms;
}

void SimEtcd::kill(int member) {
  if (member < 0 || member >= members()) throw std::invalid_argument("sim etcd: no member " + std::to_string(member));
  advance();
  MemberState& m = members_[static_cast<std::size_t>(member)];
  if (m == MemberState::killed) return;  // SIGKILL of a reaped process: nothing happens
  m = MemberState::killed;                // a frozen member dies too
  settle();
}

void SimEtcd::restart(int member) {
  if (member < 0 || member >= members()) throw std::invalid_argument("sim etcd: no member " + std::to_string(member));
  advance();
  MemberState& m = members_[static_cast<std::size_t>(member)];
  if (m != MemberState::killed)
    throw std::runtime_error("sim etcd: restart of member " + std::to_string(member) + ", which is not killed");
  m = MemberState::running;
  settle();
}

void SimEtcd::pause(int member, bool paused) {
  if (member < 0 || member >= members()) throw std::invalid_argument("sim etcd: no member " + std::to_string(member));
  advance();
  MemberState& m = members_[static_cast<std::size_t>(member)];
  if (m == MemberState::killed) return;  // SIGSTOP / SIGCONT of a dead member: nothing happens (EtcdCluster's)
  m = paused ? MemberState::frozen : MemberState::running;
  settle();
}

bool SimEtcd::available() {
  advance();
  return leader_.has_value();
}

std::vector<tn::EtcdKeyValue> SimEtcd::select(std::string_view key, std::string_view range_end, std::int64_t limit,
                                              std::int64_t min_create_revision) const {
  std::vector<tn::EtcdKeyValue> out;
  for (auto it = kvs_.lower_bound(std::string(key)); it != kvs_.end() && in_range(it->first, key, range_end); ++it) {
    if (min_create_revision > 0 && it->second.create_revision < min_create_revision) continue;  // etcd: inclusive
    out.push_back(it->second);
    if (limit > 0 && static_cast<std::int64_t>(out.size()) >= limit) break;  // etcd filters, then truncates
  }
  return out;
}

void SimEtcd::store(std::string_view key, std::string_view value, std::int64_t lease, std::int64_t rev) {
  auto [it, created] = kvs_.try_emplace(std::string(key));
  tn::EtcdKeyValue& kv = it->second;
  if (created) {
    kv.key = key;
    kv.create_revision = rev;
  }
  kv.value = value;
  kv.mod_revision = rev;
  ++kv.version;
  kv.lease = lease;  // a put without a lease detaches the key from its old one
}

bool SimEtcd::erase(std::string_view key, std::string_view range_end) {
  bool any = false;
  for (auto it = kvs_.lower_bound(std::string(key)); it != kvs_.end() && in_range(it->first, key, range_end);)
    it = kvs_.erase(it), any = true;
  return any;
}

void SimEtcd::end_lease(std::int64_t id) {
  leases_.erase(id);
  bool any = false;
  for (auto it = kvs_.begin(); it != kvs_.end();)
    if (it->second.lease == id) it = kvs_.erase(it), any = true;
    else ++it;
  if (any) ++revision_;  // etcd deletes a lease's keys in one txn
}

std::optional<tn::EtcdKeyValue> SimEtcd::Client::get(std::string_view key) {
  cluster_.check(*this, "get");
  if (key.empty()) throw refused("get", "key is not provided");
  auto kvs = cluster_.select(key, {}, 0, 0);
  if (kvs.empty()) return std::nullopt;
  return std::move(kvs.front());
}

tn::EtcdRange SimEtcd::Client::range(std::string_view key, std::string_view range_end, std::int64_t limit,
                                     std::int64_t min_create_revision) {
  cluster_.check(*this, "range");
  if (key.empty()) throw refused("range", "key is not provided");
  return {cluster_.select(key, range_end, limit, min_create_revision), cluster_.revision_};
}

std::int64_t SimEtcd::Client::put(std::string_view key, std::string_view value, std::int64_t lease) {
  cluster_.check(*this, "put");
  if (key.empty()) throw refused("put", "key is not provided");
  if (lease != 0 && !cluster_.leases_.contains(lease)) throw refused("put", "requested lease not found");
  cluster_.store(key, value, lease, ++cluster_.revision_);
  return cluster_.revision_;
}

tn::EtcdTxnResult SimEtcd::Client::txn(const std::vector<tn::EtcdCompare>& compares,
                                       const std::vector<tn::EtcdOp>& success, const std::vector<tn::EtcdOp>& failure) {
  cluster_.check(*this, "txn");
  if (compares.size() > kMaxTxnOps) throw refused("txn", "too many operations in txn request");
  for (const tn::EtcdCompare& c : compares)
    if (c.key.empty()) throw refused("txn", "key is not provided");
  check_branch(success);
  check_branch(failure);

  // Every compare on the state before the txn (etcd's applyCompare): an absent key fails every value compare
  // and has create/mod revision and version 0.
  const auto holds_now = [&](const tn::EtcdCompare& c) {
    static const tn::EtcdKeyValue absent;
    const auto it = cluster_.kvs_.find(c.key);
    if (it == cluster_.kvs_.end() && c.target == tn::EtcdCompare::Target::value) return false;
    const tn::EtcdKeyValue& kv = it == cluster_.kvs_.end() ? absent : it->second;
    std::int64_t stored = 0;
    switch (c.target) {
      case tn::EtcdCompare::Target::value: return holds(c.result, kv.value.compare(c.value));  // bytes, unsigned
      case tn::EtcdCompare::Target::create_revision: stored = kv.create_revision; break;
      case tn::EtcdCompare::Target::mod_revision: stored = kv.mod_revision; break;
      case tn::EtcdCompare::Target::version: stored = kv.version; break;
    }
    return holds(c.result, stored < c.number ? -1 : stored > c.number ? 1 : 0);
  };
  tn::EtcdTxnResult out;
  out.succeeded = std::all_of(compares.begin(), compares.end(), holds_now);
  const std::vector<tn::EtcdOp>& ops = out.succeeded ? success : failure;
  for (const tn::EtcdOp& op : ops)  // before anything is written (etcd's checkPut on the branch taken)
    if (op.kind == tn::EtcdOp::Kind::put && op.lease != 0 && !cluster_.leases_.contains(op.lease))
      throw refused("txn", "requested lease not found");

  // The ops in order; a range sees the earlier ops' writes. Every write has the one new revision.
  const std::int64_t rev = cluster_.revision_ + 1;
  bool wrote = false;
  for (const tn::EtcdOp& op : ops) switch (op.kind) {
      case tn::EtcdOp::Kind::put: cluster_.store(op.key, op.value, op.lease, rev), wrote = true; break;
      case tn::EtcdOp::Kind::del: wrote |= cluster_.erase(op.key, op.range_end); break;
      case tn::EtcdOp::Kind::range: out.ranges.push_back(cluster_.select(op.key, op.range_end, 0, 0)); break;
    }
  if (wrote) cluster_.revision_ = rev;
  out.revision = cluster_.revision_;
  return out;
}

std::int64_t SimEtcd::Client::lease_grant(std::int64_t ttl_s) {
  cluster_.check(*this, "lease grant");
  if (ttl_s > kMaxLeaseTtlS) throw refused("lease grant", "too large lease TTL");
  const std::int64_t ttl = std::max(ttl_s, cluster_.options_.min_ttl_s);
  const std::int64_t id = cluster_.next_lease_++;
  cluster_.leases_[id] = {ttl, cluster_.clock_.now_ms() + static_cast<std::uint64_t>(ttl) * 1000};
  return id;
}

std::int64_t SimEtcd::Client::lease_keepalive(std::int64_t id) {
  cluster_.check(*this, "lease keepalive");
  const auto it = cluster_.leases_.find(id);
  if (it == cluster_.leases_.end()) return 0;  // expired (advance() ended it) or revoked
  it->second.expires_ms = cluster_.clock_.now_ms() + static_cast<std::uint64_t>(it->second.ttl_s) * 1000;
  return it->second.ttl_s;
}

void SimEtcd::Client::lease_revoke(std::int64_t id) {
  cluster_.check(*this, "lease revoke");
  if (cluster_.leases_.contains(id)) cluster_.end_lease(id);
}

}  // namespace iotw::sim
