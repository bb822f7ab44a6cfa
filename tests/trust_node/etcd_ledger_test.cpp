// EtcdLedger and EtcdLeadership on real etcd clusters (Debian's etcd-server) started in a temporary folder: the
// Ledger contract (ledger_contract.hpp) on a 1- and a 3-member cluster, then what only a shared store has:
// two nodes racing for one height, a fenced append after the leadership moved, txs other nodes stored,
// elections, failover to another member, and a frozen cluster.
#include <signal.h>
#include <unistd.h>

#include <tuple>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "iotw/support/etcd_cluster.hpp"
#include "iotw/trust_node/etcd_client.hpp"
#include "iotw/trust_node/etcd_leadership.hpp"
#include "iotw/trust_node/etcd_ledger.hpp"
#include "ledger_contract.hpp"

namespace iotw::tn::test {
namespace {
using namespace std::chrono_literals;
using support::EtcdCluster;

std::filesystem::path temp_dir(const std::string &tag) {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "-" + info->name();
  for (char &c : name)
    if (c == '/') c = '_';
  auto dir = std::filesystem::temp_directory_path() / ("iotw-etcd-" + tag + "-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

/** A cluster of `members` in a temporary folder (removed at the end). */
struct Cluster {
  explicit Cluster(int members) : dir(temp_dir(std::to_string(members))), etcd(dir, {.members = members}) {}
  ~Cluster() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  /** The endpoints, starting at member `first` (so two clients talk to different members). */
  std::vector<std::string> endpoints(int first = 0) const {
    std::vector<std::string> out;
    for (int i = 0; i < etcd.size(); ++i) out.push_back(etcd.client_endpoint((first + i) % etcd.size()));
    return out;
  }
  std::filesystem::path dir;  // before etcd: it exists while the members run
  EtcdCluster etcd;
};

/** The contract's backend: one cluster, one client per opened instance (as separate nodes would have). */
struct EtcdBackend : LedgerBackend {
  explicit EtcdBackend(int members) : cluster(members) {}
  std::unique_ptr<Ledger> open() override {
    clients.push_back(std::make_unique<EtcdClient>(cluster.endpoints(opened++ % cluster.etcd.size())));
    return std::make_unique<EtcdLedger>(*clients.back(), "/iotw/ledger/");
  }
  Cluster cluster;
  int opened = 0;
  std::vector<std::unique_ptr<EtcdClient>> clients;  // the tests' ledgers end before the backend
};

INSTANTIATE_TEST_SUITE_P(
    Etcd, LedgerContract,
    ::testing::Values(LedgerStore{"OneMember", [] { return std::unique_ptr<LedgerBackend>(new EtcdBackend(1)); }},
                      LedgerStore{"ThreeMembers", [] { return std::unique_ptr<LedgerBackend>(new EtcdBackend(3)); }}),
    contract_name);

const std::string kPrefix = "/iotw/ledger/";
const std::string kLeaderKey = "/iotw/leader";

TEST(EtcdLedger, TwoNodesAppendingAtOneHeightExactlyOneWins) {
  Cluster c(3);
  EtcdClient ca(c.endpoints(0)), cb(c.endpoints(2));
  EtcdLedger a(ca, kPrefix), b(cb, kPrefix);
  Block tip = genesis_block();
  a.append_block(tip);
  EXPECT_THROW(b.append_block(genesis_block()), LedgerConflict);  // a second genesis
  for (int round = 0; round < 5; ++round) {
    // Same height, different blocks (different round ids give different content; the hash differs by the
    // miner signature, so change the header's timestamp too).
    Block ba = child_block(tip, {text_tx("a" + std::to_string(round))}, 10 + round);
    Block bb = child_block(tip, {text_tx("b" + std::to_string(round))}, 20 + round);
    bb.header[80] ^= 1;
    bb.hash = sha256(bb.header.data(), bb.header.size());
    ASSERT_NE(ba.hash, bb.hash);
    std::atomic<int> won{0}, conflicts{0};
    std::string other_error;
    const auto race = [&](EtcdLedger &l, const Block &blk) {
      try {
        l.append_block(blk, {{{key_of(1), 1}}, {key_of(1)}});
        ++won;
      } catch (const LedgerConflict &e) {
        EXPECT_NE(std::string(e.what()).find("tip moved"), std::string::npos) << e.what();
        ++conflicts;
      }
    };
    std::thread ta(race, std::ref(a), std::cref(ba)), tb(race, std::ref(b), std::cref(bb));
    ta.join();
    tb.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), 1) << "round " << round;
    const auto stored = a.blocks(tip.height + 1, 10);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_TRUE(same_block(stored[0], ba) || same_block(stored[0], bb));
    tip = stored[0];
  }
  EXPECT_EQ(b.block_count(), 6u);
  EXPECT_EQ(a.balances().at(key_of(1)), 5u);  // one credit per winning block, none from the losers
  EXPECT_EQ(b.reputations().at(key_of(1)).good, 5u);
}

/** Two trust nodes on a 1-member cluster, each with its own client, leadership (TTL 2 s) and ledger. */
struct TwoNodes {
  Cluster c{1};
  EtcdClient ca{c.endpoints()}, cb{c.endpoints()};
  EtcdLeadership la{ca, kLeaderKey, "node-a", 2}, lb{cb, kLeaderKey, "node-b", 2};
  EtcdLedger a{ca, kPrefix}, b{cb, kPrefix};
  std::tuple<EtcdLeadership &, EtcdLeadership &, EtcdLedger &, EtcdLedger &> parts() { return {la, lb, a, b}; }
  /** node-a wins the election, node-b sees it; a's ledger is fenced on a's term. */
  void a_leads() {
    ASSERT_TRUE(la.step(1).leader);
    ASSERT_FALSE(lb.step(1).leader);
    EXPECT_EQ(lb.state().leader_id, "node-a");
    a.set_fence(la.fence());
  }
};

TEST(EtcdLedger, AFencedAppendFailsOnceAnotherNodeLeads) {
  TwoNodes n;
  auto [la, lb, a, b] = n.parts();
  ASSERT_NO_FATAL_FAILURE(n.a_leads());
  const Block g = genesis_block();
  a.append_block(g);  // a leads: its fenced append goes through

  // A follower fenced on its own (non-)leadership cannot append.
  b.set_fence(lb.fence());
  const Tx tx = text_tx("pending while the leadership moves");
  ASSERT_TRUE(b.add_pending_tx(tx));
  try {
    b.append_block(child_block(g, {tx}));
    FAIL() << "a follower appended";
  } catch (const LedgerConflict &e) {
    EXPECT_NE(std::string(e.what()).find("not the leader"), std::string::npos) << e.what();
  }

  // a loses the leadership (resigns: its lease is revoked), b takes it.
  la.resign();
  ASSERT_TRUE(lb.step(2).leader);
  const Block stale = child_block(g, {tx}, 1, 1);
  try {
    a.append_block(stale, {{{key_of(1), 100}}, {key_of(1)}});
    FAIL() << "a appended after losing the leadership";
  } catch (const LedgerConflict &e) {
    EXPECT_NE(std::string(e.what()).find("not the leader"), std::string::npos) << e.what();
  }
  // Nothing of the refused block was written.
  EXPECT_EQ(b.block_count(), 1u);
  EXPECT_EQ(b.pending_txs().size(), 1u);
  EXPECT_TRUE(b.balances().empty());
  EXPECT_TRUE(b.reputations().empty());

  // a leads again later: a new term (new create revision), so a fence kept from its first term still fails.
  ASSERT_TRUE(lb.step(3).leader);
  lb.resign();
  ASSERT_TRUE(la.step(4).leader);
  EXPECT_THROW(a.append_block(stale), LedgerConflict);
  a.set_fence(la.fence());
  a.append_block(stale);
  EXPECT_EQ(b.block_count(), 2u);
  EXPECT_TRUE(b.pending_txs().empty());
}

TEST(EtcdLedger, RoundIdReservationsAreSharedAndFenced) {
  TwoNodes n;
  auto [la, lb, a, b] = n.parts();
  ASSERT_NO_FATAL_FAILURE(n.a_leads());
  b.set_fence(lb.fence());
  EXPECT_EQ(b.reserved_round_ids(), 0u);
  a.reserve_round_ids(1025);
  EXPECT_EQ(b.reserved_round_ids(), 1025u);  // what the next leader starts above
  EXPECT_THROW(b.reserve_round_ids(5000), LedgerConflict);  // only the leader records
  EXPECT_EQ(a.reserved_round_ids(), 1025u);
}

TEST(EtcdLedger, NewPendingTxsReportsWhatOtherNodesStored) {
  Cluster c(1);
  EtcdClient ca(c.endpoints()), cb(c.endpoints());
  EtcdLedger a(ca, kPrefix), b(cb, kPrefix);
  ASSERT_TRUE(b.add_pending_tx(text_tx("before a looked")));
  EXPECT_EQ(a.pending_txs().size(), 1u);  // a's start: everything pending so far
  EXPECT_TRUE(a.new_pending_txs().empty());
  EXPECT_EQ(b.add_pending_txs({text_tx("b1"), text_tx("b2")}), std::vector<bool>({true, true}));
  EXPECT_TRUE(a.add_pending_tx(text_tx("a1")));
  EXPECT_TRUE(b.add_pending_tx(text_tx("b3")));
  EXPECT_FALSE(a.add_pending_tx(text_tx("b1")));  // stored by the other node: a duplicate here too
  EXPECT_FALSE(b.add_pending_tx(text_tx("a1")));
  const auto fresh = a.new_pending_txs();
  ASSERT_EQ(fresh.size(), 3u);  // b's, in arrival order; not a's own
  EXPECT_EQ(fresh[0].hash, text_tx("b1").hash);
  EXPECT_EQ(fresh[1].hash, text_tx("b2").hash);
  EXPECT_EQ(fresh[2].hash, text_tx("b3").hash);
  EXPECT_TRUE(a.new_pending_txs().empty());
  const auto from_a = b.new_pending_txs();  // b never called pending_txs(): everything a stored
  ASSERT_EQ(from_a.size(), 1u);
  EXPECT_EQ(from_a[0].hash, text_tx("a1").hash);
  EXPECT_EQ(b.pending_txs().size(), 5u);
}

TEST(EtcdLeadership, OneLeaderAndTheOtherTakesOverWithinTheTtl) {
  Cluster c(3);
  EtcdClient ca(c.endpoints(0)), cb(c.endpoints(1));
  EtcdLeadership la(ca, kLeaderKey, "node-a", 2), lb(cb, kLeaderKey, "node-b", 2);
  const auto &sa = la.step(10);
  const auto &sb = lb.step(10);
  EXPECT_NE(sa.leader, sb.leader);  // exactly one
  EXPECT_TRUE(sa.leader);
  EXPECT_EQ(sa.leader_id, "node-a");
  EXPECT_EQ(sb.leader_id, "node-a");
  EXPECT_EQ(sa.leader_create_revision, sb.leader_create_revision);
  EXPECT_NE(sa.lease, 0);
  EXPECT_NE(sb.lease, 0);
  EXPECT_EQ(sa.confirmed_ms, 10u);
  for (int i = 0; i < 3; ++i) {  // steps keep the leadership where it is
    EXPECT_TRUE(la.step(20 + i).leader);
    EXPECT_FALSE(lb.step(20 + i).leader);
  }

  // The leader's lease is revoked (what resign() does, and what a crash becomes after the TTL).
  ca.lease_revoke(la.state().lease);
  EXPECT_TRUE(lb.step(30).leader);
  EXPECT_FALSE(la.step(30).leader);  // a notices its lease is gone, gets a new one, and follows
  EXPECT_EQ(la.state().leader_id, "node-b");

  // b stops stepping (paused, crashed): its lease expires and a takes over. a steps every ttl/3.
  const auto t0 = std::chrono::steady_clock::now();
  bool took_over = false;
  for (int i = 0; i < 30 && !took_over; ++i) {  // hang guard: 30 x 667 ms = 10 x the TTL
    std::this_thread::sleep_for(667ms);
    took_over = la.step(100 + i).leader;
  }
  EXPECT_TRUE(took_over);
  std::cout << "[ timing ] the follower took over "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms after the leader stopped stepping (ttl 2 s)\n";
  EXPECT_FALSE(lb.step(200).leader);
  EXPECT_EQ(lb.state().leader_id, "node-a");
}

TEST(EtcdLeadership, AFrozenClusterStopsConfirmingTheView) {
  Cluster c(3);
  EtcdClient client(c.endpoints(), 300ms);
  EtcdLeadership l(client, kLeaderKey, "node-a", 2);
  ASSERT_TRUE(l.step(1000).leader);
  ASSERT_EQ(l.state().confirmed_ms, 1000u);
  for (int i = 0; i < 3; ++i) c.etcd.stop(i);  // SIGSTOP every member
  EXPECT_THROW(l.step(2000), EtcdError);
  EXPECT_THROW(l.step(3000), EtcdError);
  EXPECT_EQ(l.state().confirmed_ms, 1000u);  // the view is as old as the last answer
  EXPECT_TRUE(l.state().leader);             // ... and says so: the daemon judges it stale by confirmed_ms
  for (int i = 0; i < 3; ++i) c.etcd.resume(i);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {  // hang guard: the members re-elect a leader first
    try {
      back = l.step(4000 + i).confirmed_ms == 4000u + i;
    } catch (const EtcdError &) {
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_TRUE(back);
}

TEST(EtcdLedger, AKilledMemberIsSkippedAndTheLedgerCarriesOn) {
  Cluster c(3);
  EtcdClient client(c.endpoints(0), 1000ms);
  EtcdLedger l(client, kPrefix);
  const Block g = genesis_block();
  l.append_block(g);
  ASSERT_TRUE(l.add_pending_tx(text_tx("before the kill")));
  c.etcd.kill(0);  // the member the client talks to
  bool appended = false;
  for (int i = 0; i < 50 && !appended; ++i) {  // hang guard: the survivors may be electing a leader
    try {
      l.append_block(child_block(g, l.pending_txs()));
      appended = true;
    } catch (const EtcdError &) {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(appended);
  EXPECT_EQ(l.block_count(), 2u);
  EXPECT_TRUE(l.add_pending_tx(text_tx("after the kill")));
  c.etcd.restart(0);
  EtcdClient back(c.endpoints(0));
  EXPECT_EQ(EtcdLedger(back, kPrefix).pending_txs().size(), 1u);
}

TEST(EtcdLedger, ANonEtcdAnswerOrNoAnswerIsAnEtcdError) {
  EXPECT_THROW(EtcdClient(std::vector<std::string>{}), std::invalid_argument);
  EXPECT_THROW(EtcdClient(std::vector<std::string>{"localhost"}), std::invalid_argument);
  // A port nobody listens on any more.
  Cluster c(1);
  const std::string live = c.etcd.client_endpoint(0);
  c.etcd.kill(0);
  EtcdClient client({live}, 300ms);
  EtcdLedger l(client, kPrefix);
  try {
    l.block_count();
    FAIL() << "no etcd answered, yet block_count returned";
  } catch (const EtcdError &e) {
    EXPECT_NE(std::string(e.what()).find(live), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/v3/kv/range"), std::string::npos) << e.what();
  }
}

/** Latency of the two writes the daemon makes most, printed (not asserted): docs/trust-node.md quotes them. */
void print_latency(int members) {
  Cluster c(members);
  EtcdClient client(c.endpoints());
  EtcdLedger l(client, kPrefix);
  using clock = std::chrono::steady_clock;
  const auto us = [](clock::duration d, int n) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / n;
  };
  constexpr int kOps = 50;
  auto t0 = clock::now();
  for (int i = 0; i < kOps; ++i) ASSERT_TRUE(l.add_pending_tx(text_tx("one " + std::to_string(i))));
  const auto one = us(clock::now() - t0, kOps);
  t0 = clock::now();
  for (int i = 0; i < 10; ++i) {
    std::vector<Tx> batch;
    for (int j = 0; j < 100; ++j) batch.push_back(text_tx("batch " + std::to_string(i) + " " + std::to_string(j)));
    ASSERT_EQ(l.add_pending_txs(batch), std::vector<bool>(100, true));
  }
  const auto hundred = us(clock::now() - t0, 10);
  Block tip = genesis_block();
  l.append_block(tip);
  std::vector<Tx> pending = l.pending_txs();
  t0 = clock::now();
  for (int i = 0; i < kOps; ++i) {  // blocks of 20 txs, one credit and one reputation each
    std::vector<Tx> txs(pending.begin() + 20 * i, pending.begin() + 20 * (i + 1));
    tip = child_block(tip, txs);
    l.append_block(tip, {{{key_of(1), 1}}, {key_of(2)}});
  }
  const auto append = us(clock::now() - t0, kOps);
  std::cout << "[ timing ] " << members << "-member etcd: add_pending_txs 1 tx " << one << " us, 100 txs " << hundred
            << " us; append_block (20 txs + effects) " << append << " us\n";
  EXPECT_EQ(l.block_count(), kOps + 1u);
}

TEST(EtcdLedgerTiming, OneMember) { print_latency(1); }
TEST(EtcdLedgerTiming, ThreeMembers) { print_latency(3); }

}  // namespace
}  // namespace iotw::tn::test
