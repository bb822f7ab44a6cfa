// UdpFaultPolicy: each UDP fault does what docs/faults.md says, counts it exactly and is seeded; UdpRelay
// relays real datagrams both ways between a module socket and a trust-node socket; RigScript drives UDP links.
#include "udp_proxy.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "iotw/harness/rig_loader.hpp"
#include "rig_script.hpp"

namespace iotw::harness {
namespace {

using Bytes = std::vector<std::uint8_t>;
using std::chrono::milliseconds;

Bytes dgram(int i) { return {static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), 0x42}; }
int id_of(const Bytes& b) { return b[0] | (b[1] << 8); }

/// Ids of the deliveries for datagrams 0..n-1 sent in one direction, in delivery order (delays ignored).
std::vector<int> run(UdpFaultPolicy& p, int n, Direction dir = Direction::DeviceToNode) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i)
    for (const Delivery& d : p.on_datagram(dir, dgram(i))) out.push_back(id_of(d.bytes));
  return out;
}

TEST(UdpFaultPolicy, NoFaultIsPassThrough) {
  UdpFaultPolicy p(1);
  EXPECT_EQ(run(p, 5), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.datagrams_delivered(Direction::DeviceToNode), 5u);
  EXPECT_EQ(p.datagrams_delivered(Direction::NodeToDevice), 0u);
  const auto c = p.counts();
  EXPECT_EQ(c.lost + c.duplicated + c.reordered + c.delayed + c.partitioned, 0u);
}

TEST(UdpFaultPolicy, LossDropsTheRateOfDatagramsSeeded) {
  UdpFaultPolicy p(7), q(7);
  p.set({.loss_rate = 0.1});
  q.set({.loss_rate = 0.1});
  const auto out = run(p, 10000);
  EXPECT_EQ(out, run(q, 10000)) << "same seed, same losses";
  EXPECT_EQ(p.counts().lost, 10000u - out.size());
  EXPECT_GT(p.counts().lost, 850u);  // binomial(10000, 0.1): mean 1000, sd 30
  EXPECT_LT(p.counts().lost, 1150u);
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end())) << "loss never reorders";
  UdpFaultPolicy all(3);
  all.set({.loss_rate = 1});
  EXPECT_TRUE(run(all, 50).empty());
  EXPECT_EQ(all.counts().lost, 50u);
}

TEST(UdpFaultPolicy, DuplicateDeliversTwiceInPlace) {
  UdpFaultPolicy p(2);
  p.set({.duplicate_rate = 1});
  EXPECT_EQ(run(p, 3), (std::vector<int>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(p.counts().duplicated, 3u);
  EXPECT_EQ(p.datagrams_delivered(Direction::DeviceToNode), 6u);
  UdpFaultPolicy q(2);
  q.set({.duplicate_rate = 0.05});
  const auto out = run(q, 10000);
  EXPECT_EQ(out.size(), 10000u + q.counts().duplicated);
  EXPECT_GT(q.counts().duplicated, 400u);  // mean 500, sd 22
  EXPECT_LT(q.counts().duplicated, 600u);
}

TEST(UdpFaultPolicy, ReorderHoldsADatagramUntilTheNextOneHasGone) {
  UdpFaultPolicy p(3);
  p.set({.reorder_rate = 1});
  EXPECT_EQ(run(p, 6), (std::vector<int>{1, 0, 3, 2, 5, 4}));
  EXPECT_EQ(p.counts().reordered, 3u);
  // Directions are independent: a held device->node datagram does not move node->device traffic.
  UdpFaultPolicy q(3);
  q.set({.reorder_rate = 1});
  EXPECT_TRUE(q.on_datagram(Direction::DeviceToNode, dgram(1)).empty());
  EXPECT_TRUE(q.holding(Direction::DeviceToNode));
  EXPECT_FALSE(q.holding(Direction::NodeToDevice));
  EXPECT_TRUE(q.on_datagram(Direction::NodeToDevice, dgram(2)).empty());
  // Released by the relay when no next datagram comes (or the fault ends).
  q.set({});
  const auto held = q.take_held(Direction::DeviceToNode);
  ASSERT_TRUE(held);
  EXPECT_EQ(id_of(*held), 1);
  EXPECT_FALSE(q.take_held(Direction::DeviceToNode));
  // With the fault off, the next datagram of a direction still releases what that direction held, after it.
  std::vector<int> ids;
  for (const Delivery& d : q.on_datagram(Direction::NodeToDevice, dgram(3))) ids.push_back(id_of(d.bytes));
  EXPECT_EQ(ids, (std::vector<int>{3, 2}));
  EXPECT_EQ(q.datagrams_delivered(Direction::DeviceToNode), 1u);
  EXPECT_EQ(q.datagrams_delivered(Direction::NodeToDevice), 2u);

  UdpFaultPolicy r(4);
  r.set({.reorder_rate = 0.05});
  const auto out = run(r, 10000);
  EXPECT_EQ(out.size() + (r.holding(Direction::DeviceToNode) ? 1 : 0), 10000u) << "nothing lost or added";
  std::size_t swapped = 0;
  for (std::size_t i = 1; i < out.size(); ++i) swapped += out[i] < out[i - 1];
  EXPECT_EQ(swapped, r.counts().reordered - (r.holding(Direction::DeviceToNode) ? 1 : 0));
  EXPECT_GT(r.counts().reordered, 400u);
  EXPECT_LT(r.counts().reordered, 600u);
}

TEST(UdpFaultPolicy, DelayAndJitterPerDatagram) {
  UdpFaultPolicy p(5);
  p.set({.delay_ms = 100});
  for (int i = 0; i < 10; ++i) {
    const auto out = p.on_datagram(Direction::NodeToDevice, dgram(i));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].delay, milliseconds(100));
  }
  EXPECT_EQ(p.counts().delayed, 10u);
  p.set({.delay_ms = 100, .jitter_ms = 50});
  std::set<long> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto out = p.on_datagram(Direction::NodeToDevice, dgram(i));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_GE(out[0].delay.count(), 100);
    EXPECT_LE(out[0].delay.count(), 150);
    seen.insert(out[0].delay.count());
  }
  EXPECT_GT(seen.size(), 40u) << "jitter spreads over 0..50 ms";
  EXPECT_EQ(p.counts().delayed, 1010u);
}

TEST(UdpFaultPolicy, PartitionDropsEverythingBothWaysThenHeals) {
  UdpFaultPolicy p(6);
  p.set({.partition = true});
  EXPECT_TRUE(run(p, 4, Direction::DeviceToNode).empty());
  EXPECT_TRUE(run(p, 3, Direction::NodeToDevice).empty());
  EXPECT_EQ(p.counts().partitioned, 7u);
  EXPECT_EQ(p.datagrams_delivered(Direction::DeviceToNode), 0u);
  p.set({});
  EXPECT_EQ(run(p, 2), (std::vector<int>{0, 1}));
}

TEST(UdpFaultPolicy, SameSeedSameDamageOtherSeedOther) {
  const UdpFaults mix{.loss_rate = 0.1, .duplicate_rate = 0.05, .reorder_rate = 0.05, .delay_ms = 5, .jitter_ms = 10};
  auto trace = [&](std::uint64_t seed) {
    UdpFaultPolicy p(seed);
    p.set(mix);
    std::vector<std::pair<int, long>> out;
    for (int i = 0; i < 2000; ++i)
      for (const Delivery& d : p.on_datagram(i % 3 ? Direction::DeviceToNode : Direction::NodeToDevice, dgram(i)))
        out.emplace_back(id_of(d.bytes), d.delay.count());
    const auto c = p.counts();
    return std::make_tuple(out, c.lost, c.duplicated, c.reordered, c.delayed);
  };
  EXPECT_EQ(trace(42), trace(42));
  EXPECT_NE(std::get<0>(trace(42)), std::get<0>(trace(43)));
}

TEST(CombineUdpFaults, HighestRatePartitionLargestDelaySerialKindsIgnored) {
  FaultSpec loss{.kind = "udp_loss", .rate = 0.1}, loss2{.kind = "udp_loss", .rate = 0.3},
      dup{.kind = "udp_duplicate", .rate = 0.05}, reo{.kind = "udp_reorder", .rate = 0.02},
      delay{.kind = "udp_delay", .delay_ms = 20, .jitter_ms = 5}, part{.kind = "partition"},
      serial{.kind = "corrupt", .rate = 0.5}, serial_delay{.kind = "delay", .delay_ms = 900};
  const UdpFaults u = combine_udp_faults({&loss, &loss2, &dup, &reo, &delay, &serial, &serial_delay});
  EXPECT_DOUBLE_EQ(u.loss_rate, 0.3);
  EXPECT_DOUBLE_EQ(u.duplicate_rate, 0.05);
  EXPECT_DOUBLE_EQ(u.reorder_rate, 0.02);
  EXPECT_EQ(u.delay_ms, 20);
  EXPECT_EQ(u.jitter_ms, 5);
  EXPECT_FALSE(u.partition);
  EXPECT_TRUE(combine_udp_faults({&part}).partition);
  EXPECT_FALSE(combine_udp_faults({&serial, &serial_delay}).any());
  // and the serial proxy ignores the udp_* kinds
  EXPECT_FALSE(combine_faults({&loss, &dup, &reo, &delay}).any());
}

// Real sockets: a module socket sends to its proxy port; the "trust node" sees one peer (the relay's upstream
// socket) and answers it; the answer reaches the module.
TEST(UdpRelay, RelaysBothWaysWithOnePeerPerDevice) {
  namespace asio = boost::asio;
  using asio::ip::udp;
  asio::io_context io;
  const udp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
  udp::socket node(io, loopback), module_a(io, loopback), module_b(io, loopback);
  for (udp::socket* s : {&node, &module_a, &module_b}) {  // a guard against a hung test, not an assertion
    timeval tv{10, 0};
    ::setsockopt(s->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  UdpRelay relay(node.local_endpoint().port());
  std::vector<std::tuple<std::size_t, Direction, Bytes>> tapped;
  std::vector<UdpRelay::Flow> flows;
  std::mutex tap_mutex;
  relay.set_tap([&](std::size_t link, Direction dir, const UdpRelay::Flow& flow, const Bytes& b) {
    std::lock_guard lock(tap_mutex);
    tapped.emplace_back(link, dir, b);
    flows.push_back(flow);
  });
  auto pa = std::make_unique<UdpFaultPolicy>(1);
  UdpFaultPolicy* policy_a = pa.get();
  const std::uint16_t port_a = relay.add_link("a", std::move(pa));
  const std::uint16_t port_b = relay.add_link("b", std::make_unique<UdpFaultPolicy>(2));
  ASSERT_NE(port_a, port_b);
  const udp::endpoint proxy_a(asio::ip::make_address("127.0.0.1"), port_a), proxy_b(asio::ip::make_address("127.0.0.1"), port_b);

  std::array<std::uint8_t, 64> buf{};
  udp::endpoint from_a, from_b, back;
  module_a.send_to(asio::buffer(std::string("hello-a")), proxy_a);
  std::size_t n = node.receive_from(asio::buffer(buf), from_a);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + n), "hello-a");
  module_b.send_to(asio::buffer(std::string("hello-b")), proxy_b);
  n = node.receive_from(asio::buffer(buf), from_b);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + n), "hello-b");
  EXPECT_NE(from_a, from_b) << "one upstream socket per device";
  EXPECT_NE(from_a.port(), port_a);

  node.send_to(asio::buffer(std::string("to-a")), from_a);
  n = module_a.receive_from(asio::buffer(buf), back);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + n), "to-a");
  EXPECT_EQ(back.port(), port_a) << "the module hears its proxy endpoint";

  // Duplication on link a: the node gets the datagram twice; then the module sends again from the same peer.
  policy_a->set({.duplicate_rate = 1});
  module_a.send_to(asio::buffer(std::string("twice")), proxy_a);
  for (int i = 0; i < 2; ++i) {
    udp::endpoint from;
    n = node.receive_from(asio::buffer(buf), from);
    EXPECT_EQ(std::string(buf.begin(), buf.begin() + n), "twice");
    EXPECT_EQ(from, from_a);
  }
  policy_a->set({});
  relay.stop();

  const auto stats = relay.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].device, "a");
  EXPECT_EQ(stats[0].proxy_port, port_a);
  EXPECT_EQ(stats[0].device_to_node.datagrams, 2u);
  EXPECT_EQ(stats[0].device_to_node.delivered_datagrams, 3u);
  EXPECT_EQ(stats[0].device_to_node.bytes, 12u);
  EXPECT_EQ(stats[0].node_to_device.datagrams, 1u);
  EXPECT_EQ(stats[0].node_to_device.delivered_datagrams, 1u);
  EXPECT_EQ(stats[0].faults.duplicated, 1u);
  EXPECT_EQ(stats[1].device_to_node.delivered_datagrams, 1u);
  std::lock_guard lock(tap_mutex);
  ASSERT_EQ(tapped.size(), 5u);
  // The tap names the real ports (links.pcapng writes them into its IPv4/UDP headers).
  EXPECT_EQ(std::get<1>(tapped[0]), Direction::DeviceToNode);
  EXPECT_EQ(flows[0].src_port, module_a.local_endpoint().port()) << "the device's leg of the proxy";
  EXPECT_EQ(flows[0].dst_port, port_a);
  for (std::size_t i = 0; i < tapped.size(); ++i)
    if (std::get<0>(tapped[i]) == 0 && std::get<1>(tapped[i]) == Direction::NodeToDevice) {
      EXPECT_EQ(flows[i].src_port, port_a);
      EXPECT_EQ(flows[i].dst_port, module_a.local_endpoint().port());
    }
}

// RigScript over UDP links: udp_* faults reach the UDP policies (not the serial ones), partition reaches
// both, and recovery needs a datagram each way after the fault ended.
TEST(RigScriptUdp, UdpFaultsReachUdpLinksAndRecoverOnDatagrams) {
  struct Host : ScriptHost {
    std::vector<std::pair<std::string, nlohmann::ordered_json>> emitted;
    std::optional<Health> health() override { return Health{}; }
    std::optional<std::set<std::string>> attached_devices() override { return std::set<std::string>{"at-01", "at-02", "p-01"}; }
    std::vector<nlohmann::json> new_events() override { return {}; }
    std::optional<double> score_so_far(const std::string&) override { return std::nullopt; }
    void emit(const std::string& kind, nlohmann::ordered_json f) override { emitted.emplace_back(kind, std::move(f)); }
    void kill_trust_node(int) override {}
    void restart_trust_node(int) override {}
    void pause_trust_node(int, bool) override {}
    void set_supply(const std::string&, double, double) override {}
    void pause_traffic(bool) override {}
  } host;
  const RigSpec spec = parse_rig(R"([rig]
name = "u"
[trust_node]
witnesses = 1
[[devices]]
name_prefix = "at"
model = "esp8266"
link = "at"
count = 2
[[devices]]
name_prefix = "p"
[pass]
ledger_valid = true
[[steps]]
name = "loss"
fault = "udp_loss"
rate = 0.5
duration_s = 1
[[steps]]
name = "cut"
at_s = 5
fault = "partition"
devices = ["at-02", "p-01"]
duration_s = 1
)", "u.toml");
  FaultPolicy serial(9);
  UdpFaultPolicy u1(1), u2(2);
  RigScript script(spec, {{"p-01", {&serial}}}, host, {{"at-01", &u1}, {"at-02", &u2}});
  script.tick(0);
  EXPECT_DOUBLE_EQ(u1.faults().loss_rate, 0.5);
  EXPECT_DOUBLE_EQ(u2.faults().loss_rate, 0.5);
  EXPECT_FALSE(serial.faults().any()) << "udp_loss does not touch PTY links";
  script.tick(1.5);  // ended: recovery waits for a datagram each way on both UDP links
  EXPECT_FALSE(u1.faults().any());
  auto checks = [&] {
    std::vector<nlohmann::ordered_json> out;
    for (const auto& [k, f] : host.emitted)
      if (k == "recovery_checked") out.push_back(f);
    return out;
  };
  EXPECT_TRUE(checks().empty());
  for (UdpFaultPolicy* p : {&u1, &u2}) {
    p->on_datagram(Direction::NodeToDevice, dgram(1));
    p->on_datagram(Direction::DeviceToNode, dgram(2));
  }
  script.tick(2);
  ASSERT_EQ(checks().size(), 1u);
  EXPECT_EQ(checks()[0]["check"], "loss (line 14): udp_loss recovered");
  EXPECT_EQ(checks()[0]["pass"], true);

  script.tick(5);
  EXPECT_TRUE(u2.faults().partition);
  EXPECT_FALSE(u1.faults().partition);
  EXPECT_TRUE(serial.faults().stall) << "partition works on PTY and UDP links";
  script.tick(6.5);
  u2.on_datagram(Direction::NodeToDevice, dgram(3));  // only one way: not recovered yet
  script.tick(7);
  EXPECT_EQ(checks().size(), 1u);
  script.finish(8, "deadline");
  ASSERT_EQ(checks().size(), 2u);
  EXPECT_EQ(checks()[1]["pass"], false);
  const std::string detail = checks()[1]["detail"];
  EXPECT_NE(detail.find("at-02 (no datagram from the device)"), std::string::npos) << detail;
  EXPECT_NE(detail.find("p-01 (no frame to the device)"), std::string::npos) << detail;
}

}  // namespace
}  // namespace iotw::harness
