// SimEtcd (harness/sim/sim_etcd.hpp): the Ledger contract (tests/trust_node/ledger_contract.hpp) on EtcdLedger over
// the model, etcd v3's store semantics (revisions, versions, txn compares and branches, ranges, leases),
// EtcdLeadership and fenced appends as tests/trust_node/etcd_ledger_test.cpp runs them on real clusters, and the
// cluster's faults (killed, frozen and restarted members, cut clients) in virtual time.
#include <gtest/gtest.h>

#include "iotw/sim/sim_etcd.hpp"
#include "iotw/trust_node/etcd_leadership.hpp"
#include "iotw/trust_node/etcd_ledger.hpp"
#include "ledger_contract.hpp"

namespace iotw::tn::test {
namespace {
using sim::SimEtcd;

/** The contract's backend: one modelled cluster, one client per opened instance (as separate nodes would have). */
struct SimBackend : LedgerBackend {
  explicit SimBackend(int members) : etcd(clock, {.members = members}) {}
  std::unique_ptr<Ledger> open() override {
    clients.push_back(etcd.client());
    return std::make_unique<EtcdLedger>(*clients.back(), "/iotw/ledger/", "sim-" + std::to_string(clients.size()));
  }
  iotw::ManualClock clock;
  SimEtcd etcd;
  std::vector<std::unique_ptr<SimEtcd::Client>> clients;  // the tests' ledgers end before the backend
};

INSTANTIATE_TEST_SUITE_P(
    SimEtcd, LedgerContract,
    ::testing::Values(LedgerStore{"OneMember", [] { return std::unique_ptr<LedgerBackend>(new SimBackend(1)); }},
                      LedgerStore{"ThreeMembers", [] { return std::unique_ptr<LedgerBackend>(new SimBackend(3)); }}),
    contract_name);

const std::string kPrefix = "/iotw/ledger/";
const std::string kLeaderKey = "/iotw/leader";

/** A 3-member cluster at virtual time 0 and two clients that do not wait out an election (timeout 0): each call sees
 *  the cluster as it is at that moment. */
struct SimEtcdTest : ::testing::Test {
  iotw::ManualClock clock;
  SimEtcd etcd{clock, {}};
  std::unique_ptr<SimEtcd::Client> a = etcd.client(0), b = etcd.client(0);
  /** Moves virtual time to t_ms. */
  void at(uint64_t t_ms) { clock.sleep_until_ns(t_ms * 1'000'000); }
};

/** What f throws as EtcdError ("" when it throws nothing). */
template <class F>
std::string etcd_error(F f) {
  try {
    f();
  } catch (const EtcdError &e) {
    return e.what();
  }
  return {};
}

TEST_F(SimEtcdTest, PutsRaiseTheRevisionAndKeepCreateModRevisionAndVersion) {
  EXPECT_EQ(etcd.revision(), 1);
  EXPECT_FALSE(a->get("k"));
  EXPECT_EQ(a->range("k", "").revision, 1);
  EXPECT_EQ(a->put("k", "v1"), 2);
  auto kv = b->get("k");  // another client sees it (one store)
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->key, "k");
  EXPECT_EQ(kv->value, "v1");
  EXPECT_EQ(kv->create_revision, 2);
  EXPECT_EQ(kv->mod_revision, 2);
  EXPECT_EQ(kv->version, 1);
  EXPECT_EQ(kv->lease, 0);
  EXPECT_EQ(a->put("k", "v2"), 3);
  EXPECT_EQ(a->put("other", "x"), 4);
  kv = a->get("k");
  EXPECT_EQ(kv->create_revision, 2);
  EXPECT_EQ(kv->mod_revision, 3);
  EXPECT_EQ(kv->version, 2);

  // A delete is a write; deleting what is absent, or a txn of reads, is not.
  EXPECT_EQ(a->txn({}, {EtcdOp::del("k")}).revision, 5);
  EXPECT_FALSE(a->get("k"));
  EXPECT_EQ(a->txn({}, {EtcdOp::del("k")}).revision, 5);
  EXPECT_EQ(a->txn({}, {EtcdOp::range("other")}).revision, 5);
  EXPECT_EQ(a->txn({}, {}).revision, 5);
  // Created again: a new life (create revision, version 1).
  EXPECT_EQ(a->put("k", "v3"), 6);
  kv = a->get("k");
  EXPECT_EQ(kv->create_revision, 6);
  EXPECT_EQ(kv->version, 1);
  EXPECT_EQ(etcd.revision(), 6);
  EXPECT_NE(etcd_error([&] { a->put("", "v"); }).find("key is not provided"), std::string::npos);
}

TEST_F(SimEtcdTest, TxnComparesPickTheBranchAndItsWritesShareOneRevision) {
  const auto create = [&] {
    return a->txn({EtcdCompare::created_at("x", 0)}, {EtcdOp::put("x", "1"), EtcdOp::put("y", "2"), EtcdOp::range("x")},
                  {EtcdOp::range("x"), EtcdOp::range("y")});
  };
  const EtcdTxnResult r = create();
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 2);  // two puts, one revision
  ASSERT_EQ(r.ranges.size(), 1u);
  ASSERT_EQ(r.ranges[0].size(), 1u);  // the range sees the put before it
  EXPECT_EQ(r.ranges[0][0].value, "1");
  EXPECT_EQ(r.ranges[0][0].mod_revision, 2);
  EXPECT_EQ(a->get("y")->mod_revision, 2);
  EXPECT_EQ(a->get("y")->create_revision, 2);

  const EtcdTxnResult again = create();  // x exists now: the failure branch, nothing written
  EXPECT_FALSE(again.succeeded);
  EXPECT_EQ(again.revision, 2);
  ASSERT_EQ(again.ranges.size(), 2u);
  EXPECT_EQ(again.ranges[0].at(0).value, "1");
  EXPECT_EQ(again.ranges[1].at(0).value, "2");

  using T = EtcdCompare::Target;
  using R = EtcdCompare::Result;
  const auto holds = [&](EtcdCompare c) { return a->txn({c}, {}).succeeded; };
  EXPECT_TRUE(holds(EtcdCompare::value_is("x", "1")));
  EXPECT_FALSE(holds(EtcdCompare::value_is("x", "2")));
  EXPECT_TRUE(holds({T::value, R::greater, "x", "0", 0}));
  EXPECT_TRUE(holds({T::value, R::less, "x", "10", 0}));  // byte order
  EXPECT_TRUE(holds({T::value, R::not_equal, "x", "2", 0}));
  EXPECT_TRUE(holds(EtcdCompare::modified_at("x", 2)));
  EXPECT_TRUE(holds({T::mod_revision, R::less, "x", {}, 3}));
  EXPECT_TRUE(holds({T::version, R::equal, "x", {}, 1}));
  EXPECT_TRUE(holds({T::create_revision, R::greater, "x", {}, 1}));
  // An absent key: revisions and version 0, and every value compare fails (even not_equal).
  EXPECT_TRUE(holds(EtcdCompare::created_at("absent", 0)));
  EXPECT_TRUE(holds(EtcdCompare::modified_at("absent", 0)));
  EXPECT_TRUE(holds({T::version, R::less, "absent", {}, 1}));
  EXPECT_FALSE(holds({T::value, R::not_equal, "absent", "v", 0}));
  EXPECT_FALSE(holds({T::value, R::equal, "absent", "", 0}));
  // All compares must hold.
  EXPECT_FALSE(
      a->txn({EtcdCompare::value_is("x", "1"), EtcdCompare::value_is("y", "1")}, {EtcdOp::put("z", "")}).succeeded);
  EXPECT_FALSE(a->get("z"));

  // Requests etcd refuses, whichever branch would run: nothing is written.
  EXPECT_NE(etcd_error([&] { a->txn({}, {EtcdOp::put("z", "1"), EtcdOp::put("z", "2")}); })
                .find("etcd: txn: duplicate key given in txn request"),
            std::string::npos);
  EXPECT_NE(etcd_error([&] { a->txn({}, {}, {EtcdOp::put("z", "1"), EtcdOp::del("z")}); }).find("duplicate key"),
            std::string::npos);
  EtcdOp del_range = EtcdOp::del("a");
  del_range.range_end = "zz";
  EXPECT_NE(etcd_error([&] { a->txn({}, {EtcdOp::put("z", "1"), del_range}); }).find("duplicate key"),
            std::string::npos);
  EXPECT_NE(etcd_error([&] { a->txn({}, {EtcdOp::range("")}); }).find("key is not provided"), std::string::npos);
  EXPECT_EQ(etcd.revision(), 2);
  EXPECT_FALSE(a->get("z"));
}

TEST_F(SimEtcdTest, RangesHonourTheEndTheLimitAndMinCreateRevision) {
  for (const char *k : {"p/b", "p/a", "p/c", "q", "p"}) a->put(k, k);  // revisions 2..6
  a->put(std::string("p/\xff"), "high");                                // 7: bytes above 0x7f sort last
  a->put("p/0", "late");                                                // 8
  const auto keys = [](const std::vector<EtcdKeyValue> &kvs) {
    std::string out;
    for (const EtcdKeyValue &kv : kvs) out += kv.key + ",";
    return out;
  };
  const std::string end = EtcdKv::prefix_end("p/");
  EXPECT_EQ(end, "p0");
  const EtcdRange all = a->range("p/", end);
  EXPECT_EQ(keys(all.kvs), "p/0,p/a,p/b,p/c,p/\xff,");
  EXPECT_EQ(all.revision, 8);
  EXPECT_EQ(keys(a->range("p/", end, 2).kvs), "p/0,p/a,");
  // min_create_revision is inclusive (p/a was created at 3), filtered before the limit.
  EXPECT_EQ(keys(a->range("p/", end, 0, 3).kvs), "p/0,p/a,p/c,p/\xff,");
  EXPECT_EQ(keys(a->range("p/", end, 2, 4).kvs), "p/0,p/c,");
  EXPECT_EQ(keys(a->range("p/b", "").kvs), "p/b,");
  EXPECT_EQ(keys(a->range("p/bb", "").kvs), "");
  EXPECT_EQ(keys(a->range("p/c", std::string(1, '\0')).kvs), "p/c,p/\xff,q,");  // to the end of the keyspace
  EXPECT_EQ(keys(a->range("q", "p").kvs), "");                                  // end before key: nothing
  // range_prefix: creation order.
  EXPECT_EQ(keys(a->range_prefix("p/").kvs), "p/b,p/a,p/c,p/\xff,p/0,");
  EXPECT_EQ(keys(a->range_prefix("p/", 7).kvs), "p/\xff,p/0,");

  // A del with range_end: the range, in one revision.
  EtcdOp del = EtcdOp::del("p/a");
  del.range_end = "p/c";
  EtcdOp in_txn = EtcdOp::range("p/");
  in_txn.range_end = end;
  const EtcdTxnResult r = a->txn({}, {del, in_txn});
  EXPECT_EQ(r.revision, 9);
  ASSERT_EQ(r.ranges.size(), 1u);
  EXPECT_EQ(keys(r.ranges[0]), "p/0,p/c,p/\xff,");
}

TEST_F(SimEtcdTest, AnExpiredLeaseTakesItsKeysAtItsDeadlineNotBefore) {
  const int64_t lease = a->lease_grant(2);
  EXPECT_EQ(lease, 1);
  EXPECT_EQ(a->lease_grant(5), 2);
  a->put("k1", "v", lease);
  EXPECT_EQ(a->txn({}, {EtcdOp::put("k2", "v", lease), EtcdOp::put("free", "v")}).revision, 3);
  EXPECT_EQ(a->get("k1")->lease, lease);
  at(1999);
  EXPECT_TRUE(b->get("k1"));
  EXPECT_EQ(etcd.revision(), 3);
  at(2000);
  EXPECT_FALSE(b->get("k1"));
  EXPECT_FALSE(b->get("k2"));
  EXPECT_TRUE(b->get("free"));
  EXPECT_EQ(etcd.revision(), 4);  // both keys in one revision
  EXPECT_EQ(a->lease_keepalive(lease), 0);
  EXPECT_EQ(a->lease_keepalive(2), 5);  // the other lease lives on
  // A put on the expired lease is refused and writes nothing.
  EXPECT_NE(etcd_error([&] { a->put("k1", "v", lease); }).find("etcd: put: requested lease not found"),
            std::string::npos);
  EXPECT_EQ(etcd.revision(), 4);
}

TEST_F(SimEtcdTest, KeepaliveExtendsToTheFullTtl) {
  const int64_t lease = a->lease_grant(2);
  a->put("k", "v", lease);
  at(1500);
  EXPECT_EQ(b->lease_keepalive(lease), 2);  // now expires at 3500
  at(3499);
  EXPECT_TRUE(a->get("k"));
  at(3500);
  EXPECT_FALSE(a->get("k"));
  // TTLs below the minimum are raised to it.
  EXPECT_EQ(a->lease_keepalive(a->lease_grant(0)), 1);
  iotw::ManualClock c;
  SimEtcd slow(c, {.members = 1, .election_ms = 500, .min_ttl_s = 5});
  auto client = slow.client();
  EXPECT_EQ(client->lease_keepalive(client->lease_grant(2)), 5);
}

TEST_F(SimEtcdTest, LeasesEndInExpiryOrderEachDeletionOneRevision) {
  const int64_t slow = a->lease_grant(3), fast = a->lease_grant(1), empty = a->lease_grant(1);
  a->put("s", "v", slow);
  a->put("f", "v", fast);
  EXPECT_EQ(etcd.revision(), 3);
  at(10'000);
  EXPECT_EQ(a->range("\x01", std::string(1, '\0')).revision, 5);  // two leases with keys: two revisions
  EXPECT_EQ(a->lease_keepalive(empty), 0);
}

TEST_F(SimEtcdTest, RevokeDeletesTheKeysOfALeaseAndAPutWithoutLeaseDetaches) {
  const int64_t lease = a->lease_grant(60);
  a->put("held", "v", lease);
  a->put("moved", "v", lease);
  a->put("moved", "w");  // detached
  EXPECT_EQ(a->get("moved")->lease, 0);
  EXPECT_EQ(etcd.revision(), 4);
  b->lease_revoke(lease);
  EXPECT_EQ(etcd.revision(), 5);
  EXPECT_FALSE(a->get("held"));
  EXPECT_TRUE(a->get("moved"));
  EXPECT_EQ(a->lease_keepalive(lease), 0);
  b->lease_revoke(lease);  // gone: not an error, no write
  b->lease_revoke(a->lease_grant(60));  // no keys: no write
  EXPECT_EQ(etcd.revision(), 5);
}

TEST_F(SimEtcdTest, APutOnAnUnknownLeaseThrowsAndWritesNothing) {
  EXPECT_NE(etcd_error([&] { a->put("k", "v", 99); }).find("etcd: put: requested lease not found"), std::string::npos);
  const std::string txn_error =
      etcd_error([&] { a->txn({}, {EtcdOp::put("first", "v"), EtcdOp::put("k", "v", 99), EtcdOp::put("last", "v")}); });
  EXPECT_NE(txn_error.find("etcd: txn: requested lease not found"), std::string::npos) << txn_error;
  EXPECT_FALSE(a->get("first"));
  EXPECT_FALSE(a->get("k"));
  EXPECT_EQ(etcd.revision(), 1);
  // Only the branch that runs is checked (as etcd does).
  EXPECT_TRUE(a->txn({}, {EtcdOp::put("ok", "v")}, {EtcdOp::put("k", "v", 99)}).succeeded);
  EXPECT_EQ(etcd.revision(), 2);
}

// --- EtcdLeadership and fenced ledgers (etcd_ledger_test.cpp's shared-store cases) ---

TEST_F(SimEtcdTest, OneLeaderAndTheOtherTakesOverOnceTheTtlPassed) {
  EtcdLeadership la(*a, kLeaderKey, "node-a", 2), lb(*b, kLeaderKey, "node-b", 2);
  const auto &sa = la.step(clock.now_ms());
  const auto &sb = lb.step(clock.now_ms());
  EXPECT_TRUE(sa.leader);
  EXPECT_FALSE(sb.leader);
  EXPECT_EQ(sa.leader_id, "node-a");
  EXPECT_EQ(sb.leader_id, "node-a");
  EXPECT_EQ(sa.leader_create_revision, sb.leader_create_revision);
  EXPECT_NE(sa.lease, 0);
  EXPECT_NE(sb.lease, 0);
  const int64_t first_term = sa.leader_create_revision;
  // Both step every ttl/3 for 10 s: the leadership stays where it is.
  uint64_t t = 0;
  for (; t < 10'000; t += 667) {
    at(t);
    EXPECT_TRUE(la.step(t).leader) << t;
    EXPECT_FALSE(lb.step(t).leader) << t;
  }
  // a stops stepping at its last step (t - 667): its lease ends 2 s later; b takes over then, not before.
  const uint64_t stopped = t - 667;
  at(stopped + 1999);
  EXPECT_FALSE(lb.step(clock.now_ms()).leader);
  at(stopped + 2000);
  EXPECT_TRUE(lb.step(clock.now_ms()).leader);
  EXPECT_EQ(lb.state().confirmed_ms, stopped + 2000);
  EXPECT_FALSE(la.step(clock.now_ms()).leader);  // a finds its lease gone, takes a new one, follows
  EXPECT_EQ(la.state().leader_id, "node-b");
  EXPECT_GT(lb.state().leader_create_revision, first_term);  // a new term
}

/** Two trust nodes, each with its own client, leadership (TTL 2 s) and ledger; node-a leads. */
struct TwoNodes : SimEtcdTest {
  EtcdLeadership la{*a, kLeaderKey, "node-a", 2}, lb{*b, kLeaderKey, "node-b", 2};
  EtcdLedger la_ledger{*a, kPrefix, "sim-a"}, lb_ledger{*b, kPrefix, "sim-b"};
  void SetUp() override {
    ASSERT_TRUE(la.step(clock.now_ms()).leader);
    ASSERT_FALSE(lb.step(clock.now_ms()).leader);
    la_ledger.set_fence(la.fence());
    lb_ledger.set_fence(lb.fence());
  }
};

void expect_not_the_leader(const std::function<void()> &f) {
  try {
    f();
    ADD_FAILURE() << "no LedgerConflict";
  } catch (const LedgerConflict &e) {
    EXPECT_NE(std::string(e.what()).find("not the leader"), std::string::npos) << e.what();
  }
}

TEST_F(TwoNodes, AFencedAppendFailsOnceTheLeaseOfTheOldTermExpired) {
  const Block g = genesis_block();
  la_ledger.append_block(g);
  const Tx tx = text_tx("pending while the leadership moves");
  ASSERT_TRUE(lb_ledger.add_pending_tx(tx));
  expect_not_the_leader([&] { lb_ledger.append_block(child_block(g, {tx})); });  // a follower cannot append

  // a stops stepping (paused): 2 s later its lease is gone, and b takes over at its next step.
  at(1999);
  EXPECT_FALSE(lb.step(clock.now_ms()).leader);
  at(2000);
  ASSERT_TRUE(lb.step(clock.now_ms()).leader);
  const Block stale = child_block(g, {tx}, 1, 1);
  expect_not_the_leader([&] { la_ledger.append_block(stale, {{{key_of(1), 100}}, {key_of(1)}}); });
  expect_not_the_leader([&] { la_ledger.reserve_round_ids(10); });
  EXPECT_EQ(lb_ledger.block_count(), 1u);  // nothing of the refused block was written
  EXPECT_EQ(lb_ledger.pending_txs().size(), 1u);
  EXPECT_TRUE(lb_ledger.balances().empty());
  EXPECT_TRUE(lb_ledger.reputations().empty());

  // The new leader appends under its own fence; a, stepping again, follows.
  lb_ledger.set_fence(lb.fence());
  lb_ledger.append_block(stale);
  EXPECT_FALSE(la.step(clock.now_ms()).leader);
  EXPECT_EQ(la.state().leader_id, "node-b");
  EXPECT_EQ(la_ledger.block_count(), 2u);
  EXPECT_TRUE(la_ledger.pending_txs().empty());
}

TEST_F(TwoNodes, AResignedLeaderCannotAppendAndANewTermNeedsANewFence) {
  const Block g = genesis_block();
  la_ledger.append_block(g);
  la.resign();
  ASSERT_TRUE(lb.step(clock.now_ms()).leader);
  const Block stale = child_block(g, {}, 1, 1);
  expect_not_the_leader([&] { la_ledger.append_block(stale); });
  // a leads again later: a new term (new create revision), so the fence of its first term still fails.
  lb.resign();
  ASSERT_TRUE(la.step(clock.now_ms()).leader);
  expect_not_the_leader([&] { la_ledger.append_block(stale); });
  la_ledger.set_fence(la.fence());
  la_ledger.append_block(stale);
  EXPECT_EQ(lb_ledger.block_count(), 2u);
}

TEST_F(TwoNodes, RoundIdReservationsAreSharedAndFenced) {
  EXPECT_EQ(lb_ledger.reserved_round_ids(), 0u);
  la_ledger.reserve_round_ids(1025);
  EXPECT_EQ(lb_ledger.reserved_round_ids(), 1025u);
  EXPECT_THROW(lb_ledger.reserve_round_ids(5000), LedgerConflict);
  EXPECT_EQ(la_ledger.reserved_round_ids(), 1025u);
}

TEST_F(SimEtcdTest, TwoNodesAtOneHeightOnlyTheFirstAppends) {
  EtcdLedger la(*a, kPrefix, "sim-a"), lb(*b, kPrefix, "sim-b");
  Block tip = genesis_block();
  la.append_block(tip);
  EXPECT_THROW(lb.append_block(genesis_block()), LedgerConflict);  // a second genesis
  Block ba = child_block(tip, {text_tx("a")}, 10);
  Block bb = child_block(tip, {text_tx("b")}, 20);
  bb.header[80] ^= 1;
  bb.hash = sha256(bb.header.data(), bb.header.size());
  lb.append_block(bb, {{{key_of(1), 1}}, {key_of(1)}});
  try {
    la.append_block(ba, {{{key_of(1), 1}}, {key_of(1)}});
    FAIL() << "both appended at height 1";
  } catch (const LedgerConflict &e) {
    EXPECT_NE(std::string(e.what()).find("tip moved"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(same_block(la.blocks(1, 1).at(0), bb));
  EXPECT_EQ(la.balances().at(key_of(1)), 1u);
  EXPECT_EQ(la.reputations().at(key_of(1)).good, 1u);
}

TEST_F(SimEtcdTest, NewPendingTxsReportsWhatOtherNodesStored) {
  EtcdLedger la(*a, kPrefix, "sim-a"), lb(*b, kPrefix, "sim-b");
  ASSERT_TRUE(lb.add_pending_tx(text_tx("before a looked")));
  EXPECT_EQ(la.pending_txs().size(), 1u);
  EXPECT_TRUE(la.new_pending_txs().empty());
  EXPECT_EQ(lb.add_pending_txs({text_tx("b1"), text_tx("b2")}), std::vector<bool>({true, true}));
  EXPECT_TRUE(la.add_pending_tx(text_tx("a1")));
  EXPECT_TRUE(lb.add_pending_tx(text_tx("b3")));
  EXPECT_FALSE(la.add_pending_tx(text_tx("b1")));
  EXPECT_FALSE(lb.add_pending_tx(text_tx("a1")));
  const auto fresh = la.new_pending_txs();
  ASSERT_EQ(fresh.size(), 3u);
  EXPECT_EQ(fresh[0].hash, text_tx("b1").hash);
  EXPECT_EQ(fresh[1].hash, text_tx("b2").hash);
  EXPECT_EQ(fresh[2].hash, text_tx("b3").hash);
  EXPECT_TRUE(la.new_pending_txs().empty());
  const auto from_a = lb.new_pending_txs();
  ASSERT_EQ(from_a.size(), 1u);
  EXPECT_EQ(from_a[0].hash, text_tx("a1").hash);
  EXPECT_EQ(lb.pending_txs().size(), 5u);
}

// --- cluster faults ---

TEST_F(SimEtcdTest, KillingTheLeaderMemberMeansAnElectionOfElectionMs) {
  a->put("k", "v");
  at(1000);
  etcd.kill(0);
  EXPECT_FALSE(etcd.available());
  EXPECT_EQ(etcd_error([&] { a->put("k", "w"); }), "etcd: put: electing a leader");
  EXPECT_EQ(etcd_error([&] { b->get("k"); }), "etcd: get: electing a leader");
  at(1499);
  EXPECT_EQ(etcd_error([&] { a->lease_grant(5); }), "etcd: lease grant: electing a leader");
  at(1500);
  EXPECT_TRUE(etcd.available());
  EXPECT_EQ(a->put("k", "w"), 3);
  // Member 0 comes back as a follower (no election); the new leader is member 1 (the lowest running then):
  // freezing member 2 keeps it, freezing member 1 does not.
  etcd.restart(0);
  EXPECT_TRUE(etcd.available());
  etcd.pause(2, true);
  EXPECT_TRUE(etcd.available());
  etcd.pause(2, false);
  etcd.pause(1, true);
  EXPECT_EQ(etcd_error([&] { a->get("k"); }), "etcd: get: electing a leader");
  at(2000);
  EXPECT_EQ(a->get("k")->value, "w");
}

TEST_F(SimEtcdTest, TwoOfThreeDownIsNoQuorumUntilOneRestarts) {
  etcd.kill(1);  // a follower: the leader carries on at once
  EXPECT_TRUE(etcd.available());
  EXPECT_EQ(a->put("k", "v"), 2);
  etcd.kill(2);
  EXPECT_EQ(etcd_error([&] { a->get("k"); }), "etcd: get: no quorum (1 of 3 members running)");
  at(60'000);
  EXPECT_EQ(etcd_error([&] { a->txn({}, {}); }), "etcd: txn: no quorum (1 of 3 members running)");
  etcd.restart(2);
  EXPECT_EQ(etcd_error([&] { a->get("k"); }), "etcd: get: electing a leader");
  at(60'499);
  EXPECT_FALSE(etcd.available());
  at(60'500);
  EXPECT_EQ(a->get("k")->value, "v");  // the data survived
  etcd.restart(1);
  EXPECT_TRUE(etcd.available());
}

TEST_F(SimEtcdTest, AnElectionCutShortByLosingTheMajorityStartsAgain) {
  etcd.kill(0);  // election until 500
  at(200);
  etcd.pause(1, true);  // 1 of 3: no election
  at(300);
  etcd.pause(1, false);  // a majority again: election until 800
  at(799);
  EXPECT_EQ(etcd_error([&] { a->get("k"); }), "etcd: get: electing a leader");
  at(800);
  EXPECT_FALSE(a->get("k"));
}

TEST_F(SimEtcdTest, AFrozenLeaderMemberMeansAnElectionToo) {
  etcd.pause(0, true);
  EXPECT_EQ(etcd_error([&] { a->lease_keepalive(1); }), "etcd: lease keepalive: electing a leader");
  at(500);
  EXPECT_EQ(a->put("k", "v"), 2);
  etcd.pause(0, false);  // back as a follower
  EXPECT_TRUE(etcd.available());
  EXPECT_EQ(a->put("k", "w"), 3);
}

// EtcdClient asks again every 50 ms while the members elect, until its timeout: a client whose timeout covers the
// rest of the election is answered; one whose timeout does not gets "electing a leader"; without a majority, or cut
// off, no timeout helps.
TEST_F(SimEtcdTest, AClientWhoseTimeoutOutlastsTheElectionRidesThroughIt) {
  auto patient = etcd.client(500), hasty = etcd.client(499);
  a->put("k", "v");
  etcd.kill(0);  // election until 500
  EXPECT_EQ(etcd_error([&] { hasty->get("k"); }), "etcd: get: electing a leader");
  EXPECT_EQ(patient->get("k")->value, "v");
  EXPECT_TRUE(etcd.available());  // the election counts as ended for everyone
  etcd.kill(1);
  EXPECT_EQ(etcd_error([&] { patient->get("k"); }), "etcd: get: no quorum (1 of 3 members running)");
  etcd.restart(1);  // election until 1'000 from now (0)
  patient->set_cut(true);
  EXPECT_EQ(etcd_error([&] { patient->get("k"); }), "etcd: get: cut off from etcd");
  EXPECT_FALSE(etcd.available());
}

TEST_F(SimEtcdTest, ACutClientFailsWhileTheOthersWork) {
  a->set_cut(true);
  EXPECT_TRUE(a->cut());
  EXPECT_EQ(etcd_error([&] { a->get("k"); }), "etcd: get: cut off from etcd");
  EXPECT_EQ(etcd_error([&] { a->lease_revoke(1); }), "etcd: lease revoke: cut off from etcd");
  EXPECT_EQ(b->put("k", "v"), 2);
  a->set_cut(false);
  EXPECT_EQ(a->get("k")->value, "v");
}

TEST_F(SimEtcdTest, LeasesDoNotExpireWithoutALeaderAndAreRenewedOnElection) {
  const int64_t due_before = a->lease_grant(1), lease = a->lease_grant(2);
  a->put("early", "v", due_before);
  a->put("k", "v", lease);
  EXPECT_EQ(etcd.revision(), 3);
  at(1500);  // the 1 s lease is due at 1000, before the quorum goes: its key goes then
  etcd.kill(1);
  etcd.kill(2);
  EXPECT_EQ(etcd.revision(), 4);
  at(10'000);  // far past the 2 s lease's deadline (2000), but no leader to expire it
  EXPECT_THROW(a->lease_keepalive(lease), EtcdError);
  etcd.restart(2);  // election ends at 10,500: leases renewed to TTL + election_ms from then (13,000)
  EXPECT_EQ(etcd.revision(), 4);
  at(10'500);
  EXPECT_TRUE(a->get("k"));
  EXPECT_FALSE(a->get("early"));
  at(12'999);
  EXPECT_TRUE(a->get("k"));
  at(13'000);
  EXPECT_FALSE(a->get("k"));
  EXPECT_EQ(etcd.revision(), 5);
  EXPECT_EQ(a->lease_keepalive(lease), 0);
}

TEST_F(SimEtcdTest, ALeaderKeyOutlivesAnElectionLongerThanItsTtl) {
  // etcd_ledger_test's frozen cluster: the view is not confirmed while frozen, the leadership survives it.
  EtcdLeadership l(*a, kLeaderKey, "node-a", 2);
  ASSERT_TRUE(l.step(clock.now_ms()).leader);
  for (int i = 0; i < 3; ++i) etcd.pause(i, true);
  at(5000);
  EXPECT_THROW(l.step(clock.now_ms()), EtcdError);
  EXPECT_EQ(l.state().confirmed_ms, 0u);
  EXPECT_TRUE(l.state().leader);
  for (int i = 0; i < 3; ++i) etcd.pause(i, false);
  EXPECT_THROW(l.step(clock.now_ms()), EtcdError);  // electing
  at(5500);
  EXPECT_TRUE(l.step(clock.now_ms()).leader);
  EXPECT_EQ(l.state().confirmed_ms, 5500u);
}

TEST_F(SimEtcdTest, AKilledMemberIsSkippedAndTheLedgerCarriesOn) {
  EtcdLedger l(*a, kPrefix, "sim-a");
  const Block g = genesis_block();
  l.append_block(g);
  ASSERT_TRUE(l.add_pending_tx(text_tx("before the kill")));
  etcd.kill(0);
  EXPECT_THROW(l.append_block(child_block(g, l.pending_txs())), EtcdError);
  at(500);
  l.append_block(child_block(g, l.pending_txs()));
  EXPECT_EQ(l.block_count(), 2u);
  EXPECT_TRUE(l.add_pending_tx(text_tx("after the kill")));
  etcd.restart(0);
  EXPECT_EQ(EtcdLedger(*b, kPrefix, "sim-b").pending_txs().size(), 1u);
}

TEST_F(SimEtcdTest, MemberFaultsActAsTheSignalsDoAndUnknownMembersAreRefused) {
  EXPECT_THROW(etcd.kill(3), std::invalid_argument);
  EXPECT_THROW(etcd.restart(-1), std::invalid_argument);
  EXPECT_THROW(etcd.pause(7, true), std::invalid_argument);
  EXPECT_THROW(etcd.restart(1), std::runtime_error);  // running
  // As EtcdCluster's signals: SIGCONT of a running member, SIGKILL or SIGSTOP of a dead one change nothing; a frozen
  // member can be killed; only a restart of a member that is not dead is refused.
  etcd.pause(1, false);
  EXPECT_TRUE(etcd.available());
  etcd.kill(1);
  etcd.kill(1);
  etcd.pause(1, true);
  etcd.pause(1, false);
  EXPECT_TRUE(etcd.available());  // 2 of 3 still run (0 leads)
  etcd.restart(1);
  etcd.pause(2, true);
  etcd.pause(2, true);
  EXPECT_THROW(etcd.restart(2), std::runtime_error);  // frozen, not dead
  etcd.kill(2);  // SIGKILL of a stopped process
  etcd.restart(2);
  EXPECT_TRUE(etcd.available());
  iotw::ManualClock c;
  EXPECT_THROW(SimEtcd(c, {.members = 0}), std::invalid_argument);
  EXPECT_THROW(SimEtcd(c, {.members = 8}), std::invalid_argument);
  EXPECT_EQ(SimEtcd(c, {.members = 7}).members(), 7);
}

TEST(SimEtcdOneMember, ARestartedSoleMemberAnswersAfterAnElection) {
  iotw::ManualClock clock;
  SimEtcd etcd(clock, {.members = 1});
  auto c = etcd.client();
  c->put("k", "v");
  etcd.kill(0);
  EXPECT_EQ(etcd_error([&] { c->get("k"); }), "etcd: get: no quorum (0 of 1 members running)");
  clock.advance(1000);
  etcd.restart(0);
  EXPECT_FALSE(etcd.available());
  clock.advance(500);
  EXPECT_EQ(c->get("k")->value, "v");
}

}  // namespace
}  // namespace iotw::tn::test
