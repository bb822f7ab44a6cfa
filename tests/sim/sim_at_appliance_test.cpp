// SimAtAppliance, SimDatagramLink and SimTrustNode's datagram links under one Scheduler: AT appliances (ESP-AT and
// Realtek engines, ports/at on the in-memory UART) register, mine and witness; the UDP link's faults are applied and
// counted; ap_down silences a module and ap back restores it; a TCP appliance reconnects after the node is killed;
// a run is byte-for-byte the same for the same seed. Everything in virtual time: no assertion on wall time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "collusion_board.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/sim_at_appliance.hpp"
#include "iotw/sim/sim_datagram_link.hpp"
#include "iotw/sim/sim_trust_node.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/seeded_random.hpp"

namespace iotw::sim {
namespace {

using harness::Direction;
constexpr std::uint64_t kMs = 1'000'000;

/// One trust node and AT appliances (wire_at_device: each on its own SimDatagramLink, or SimLink for "tcp"), with
/// transactions at 20 per second: a small rig without the rig script.
class AtRig {
 public:
  explicit AtRig(std::uint64_t seed)
      : seed_(seed), file_(std::filesystem::path(::testing::TempDir()) / ("sim_at_" + std::to_string(seed) + ".jsonl")),
        events_(sched_, file_), node_(sched_, events_, consensus(), seed) {}
  ~AtRig() { std::filesystem::remove(file_); }

  /// Adds an appliance of `model` (before start()).
  SimAtAppliance& add(const std::string& name, const std::string& model, bool tcp = false) {
    SimAtApplianceConfig cfg;
    cfg.name = name;
    cfg.model = model;
    cfg.seed = component_seed(seed_, name);
    cfg.tcp = tcp;
    const std::uint64_t link_seed = SeededStream(component_seed(seed_, "link:" + name))();
    devices_.push_back(
        wire_at_device(sched_, events_, node_, board_, std::move(cfg), link_seed, devices_.size(), nullptr, 0, 10002));
    return *devices_.back().appliance;
  }

  void start() {
    node_.start();
    for (auto& d : devices_) d.appliance->start();
    traffic();
  }
  /// Runs `ms` of virtual time.
  void run_ms(std::uint64_t ms) { sched_.run_until(sched_.now_ns() + ms * kMs); }
  /// Runs until `done` holds (checked every 100 ms) or `limit_ms` have passed; returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t limit_ms) {
    const std::uint64_t end = sched_.now_ns() + limit_ms * kMs;
    while (!done() && sched_.now_ns() < end) sched_.run_until(std::min(end, sched_.now_ns() + 100 * kMs));
    return done();
  }
  std::uint64_t height() { return node_.core() ? node_.core()->height() : 0; }
  std::size_t attached() { return node_.core() ? node_.core()->attached_count() : 0; }
  /// Events of `kind` from `source`, and the events.jsonl bytes.
  std::vector<nlohmann::json> events(const std::string& kind, const std::string& source = "") const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events_.events())
      if (e.value("kind", "") == kind && (source.empty() || e.value("source", "") == source)) out.push_back(e);
    return out;
  }
  /// The events.jsonl bytes (ends the stream: call it last).
  std::string jsonl() {
    events_.close();
    std::ifstream in(file_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  Scheduler& sched() { return sched_; }
  SimTrustNode& node() { return node_; }
  SimDatagramLink& udp(std::size_t i) { return *devices_.at(i).udp; }
  SimAtAppliance& app(std::size_t i) { return *devices_.at(i).appliance; }

 private:
  static tn::ConsensusConfig consensus() {
    tn::ConsensusConfig c;
    c.witnesses = 2;
    c.block_interval_ms = 50;
    c.witness_timeout_ms = 500;
    c.assignment_timeout_ms = 500;
    c.device_timeout_ms = 3000;
    return c;
  }
  void traffic() {
    sched_.after(50 * kMs, [this] {
      const std::string payload = "tx-" + std::to_string(seed_) + "-" + std::to_string(tx_++);
      node_.submit(tn::Bytes(payload.begin(), payload.end()));
      traffic();
    });
  }

  std::uint64_t seed_;
  std::filesystem::path file_;
  Scheduler sched_;
  EventStream events_;
  SimTrustNode node_;
  emu::CollusionBoard board_;
  std::vector<SimAtDevice> devices_;
  std::uint64_t tx_ = 0;
};

void add_four(AtRig& rig) {
  rig.add("esp8266-at-01", "esp8266");
  rig.add("esp32-at-02", "esp32");
  rig.add("rtl8710-at-03", "rtl8710");
  rig.add("rtl8195-at-04", "rtl8195");
}

TEST(SimAtAppliance, RegistersMinesAndWitnessesOverUdpUnderTheScheduler) {
  AtRig rig(7);
  add_four(rig);
  rig.start();
  ASSERT_TRUE(rig.run_until([&] { return rig.height() >= 10; }, 60'000)) << "height " << rig.height();
  EXPECT_EQ(rig.attached(), 4u);
  std::set<std::string> registered, miners, witnesses;
  for (const auto& e : rig.events("device_registered", "trust-node")) registered.insert(e["fields"]["name"]);
  for (const auto& e : rig.events("result_accepted", "trust-node")) miners.insert(e["fields"]["miner"]);
  for (const auto& e : rig.events("attestation", "trust-node")) witnesses.insert(e["fields"]["witness_name"]);
  EXPECT_EQ(registered, (std::set<std::string>{"esp8266-at-01", "esp32-at-02", "rtl8710-at-03", "rtl8195-at-04"}));
  std::set<std::string> ours;
  for (std::size_t i = 0; i < 4; ++i) {
    ours.insert(to_hex(rig.app(i).pubkey(), 32));
    EXPECT_EQ(rig.app(i).state(), IOTW_FW_ATTACHED) << rig.app(i).name();
    EXPECT_TRUE(rig.app(i).link_up()) << rig.app(i).name();
  }
  EXPECT_FALSE(miners.empty());
  for (const auto& m : miners) EXPECT_TRUE(ours.count(m)) << m;
  EXPECT_GE(witnesses.size(), 2u);
  // The module side spoke AT on the UART and opened one UDP socket towards its proxy endpoint.
  EXPECT_EQ(rig.events("at_started").size(), 4u);
  const auto sockets = rig.events("at_socket", "emu:rtl8710-at-03");
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0]["fields"]["proto"], "udp");
  EXPECT_EQ(sockets[0]["fields"]["remote"], rig.udp(2).proxy_endpoint());
  EXPECT_GT(rig.udp(0).stats().device_to_node.delivered_datagrams, 0u);
  EXPECT_GT(rig.udp(0).stats().node_to_device.delivered_datagrams, 0u);
  EXPECT_EQ(rig.node().frame_errors(), 0u);
}

TEST(SimAtAppliance, UdpLossIsAppliedAndCounted) {
  AtRig rig(11);
  add_four(rig);
  rig.start();
  ASSERT_TRUE(rig.run_until([&] { return rig.attached() == 4; }, 30'000));
  harness::UdpFaults lossy;
  lossy.loss_rate = 0.3;
  rig.udp(0).policy().set(lossy);
  rig.run_ms(10'000);
  const harness::UdpLinkStats s = rig.udp(0).stats();
  EXPECT_GT(s.faults.lost, 0u);
  EXPECT_EQ(s.device_to_node.datagrams + s.node_to_device.datagrams -
                (s.device_to_node.delivered_datagrams + s.node_to_device.delivered_datagrams),
            s.faults.lost);
  const auto j = rig.udp(0).stats_json();
  EXPECT_EQ(j["link"], "udp");
  EXPECT_EQ(j["faults"]["lost_datagrams"], s.faults.lost);
  EXPECT_EQ(j["udp_proxy"], rig.udp(0).proxy_endpoint());
  EXPECT_EQ(rig.udp(1).stats().faults.lost, 0u);  // the other links are untouched
}

TEST(SimAtAppliance, ReorderedDatagramIsReleasedWhenNoNextOneComes) {
  Scheduler sched;
  SimDatagramLink link(sched, "d", 1, 0, nullptr, 0);
  std::vector<std::vector<std::uint8_t>> got;
  link.set_receiver(Direction::DeviceToNode, [&](const std::uint8_t* p, std::size_t n) { got.emplace_back(p, p + n); });
  harness::UdpFaults f;
  f.reorder_rate = 1.0;
  link.policy().set(f);
  link.send(Direction::DeviceToNode, {1});
  sched.run_until(sched.now_ns() + 100 * kMs);
  EXPECT_TRUE(got.empty());  // held for the next datagram
  sched.run_until(sched.now_ns() + 200 * kMs);
  ASSERT_EQ(got.size(), 1u);  // none came: released alone after the hold limit
  EXPECT_EQ(got[0], std::vector<std::uint8_t>{1});
  EXPECT_EQ(link.stats().device_to_node.delivered_datagrams, 1u);
  EXPECT_EQ(link.stats().faults.reordered, 1u);
}

TEST(SimAtAppliance, ApDownStopsTrafficAndApBackRestoresIt) {
  for (std::size_t i : {0u, 2u}) {  // ESP-AT (WIFI DISCONNECT, its own reconnect) and Realtek (silent, ATPT fails)
    AtRig rig(5);
    add_four(rig);
    rig.start();
    ASSERT_TRUE(rig.run_until([&] { return rig.attached() == 4; }, 30'000));
    SimAtAppliance& a = rig.app(i);
    const auto reply = a.set_access_point(std::nullopt, false);
    EXPECT_EQ(reply["up"], false);
    rig.run_ms(1'000);  // what was in flight lands
    const std::uint64_t sent = rig.udp(i).stats().device_to_node.datagrams;
    rig.run_ms(4'000);
    EXPECT_EQ(rig.udp(i).stats().device_to_node.datagrams, sent) << a.name() << " sent while its AP was down";
    EXPECT_FALSE(rig.node().attached_names().count(a.name())) << a.name() << " still attached";
    a.set_access_point(std::nullopt, true);
    ASSERT_TRUE(rig.run_until([&] { return rig.node().attached_names().count(a.name()) == 1; }, 20'000)) << a.name();
    EXPECT_GT(rig.udp(i).stats().device_to_node.datagrams, sent);
    EXPECT_EQ(rig.events("ap_changed", "emu:" + a.name()).size(), 2u);
  }
}

// A line typed into the module's UART (a rig's uart step) goes out when the MCU's side is idle; the module's answer up
// to its final result line comes back; the driver keeps its link; a uart_typed event records it.
TEST(SimAtAppliance, TypedLineGetsTheModulesAnswerAndTheLinkStaysUp) {
  for (std::size_t i : {0u, 2u}) {  // ESP-AT (AT+GMR) and Realtek AT v2 (ATSV)
    AtRig rig(8);
    add_four(rig);
    rig.start();
    ASSERT_TRUE(rig.run_until([&] { return rig.attached() == 4; }, 30'000));
    SimAtAppliance& a = rig.app(i);
    const bool esp = i == 0;
    std::optional<emu::UartTyped> typed;
    a.type_uart(esp ? "AT+GMR\r\n" : "ATSV\r\n", [&](const emu::UartTyped& t) { typed = t; });
    ASSERT_TRUE(rig.run_until([&] { return typed.has_value(); }, 5'000)) << a.name() << ": no answer";
    EXPECT_TRUE(typed->error.empty()) << typed->error;
    EXPECT_TRUE(typed->complete) << typed->output;
    if (esp) {
      EXPECT_NE(typed->output.find("AT version:"), std::string::npos) << typed->output;
      EXPECT_NE(typed->output.find("\r\nOK\r\n"), std::string::npos) << typed->output;
    } else {
      EXPECT_NE(typed->output.find("[ATSV] OK:v2.2.1"), std::string::npos) << typed->output;
    }
    const std::uint64_t h = rig.height();
    ASSERT_TRUE(rig.run_until([&] { return rig.height() > h + 2; }, 20'000));
    EXPECT_TRUE(a.link_up()) << a.name() << ": the driver kept its link";
    const auto ev = rig.events("uart_typed", "emu:" + a.name());
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["fields"]["output"], typed->output);
    EXPECT_EQ(ev[0]["fields"]["complete"], true);
  }
}

TEST(SimAtAppliance, TcpApplianceReconnectsAfterTheNodeIsKilled) {
  AtRig rig(3);
  SimAtAppliance& esp = rig.add("esp8266-tcp-01", "esp8266", true);
  SimAtAppliance& rtl = rig.add("rtl8710-tcp-02", "rtl8710", true);
  rig.add("esp8266-at-03", "esp8266");
  rig.start();
  ASSERT_TRUE(rig.run_until([&] { return rig.attached() == 3; }, 30'000));
  rig.node().kill();
  esp.peer_closed();
  rtl.peer_closed();
  EXPECT_EQ(rig.events("at_socket_closed").size(), 2u);
  rig.run_ms(1'000);
  EXPECT_FALSE(esp.link_up());
  rig.node().restart();
  ASSERT_TRUE(rig.run_until([&] { return rig.attached() == 3; }, 30'000));
  EXPECT_EQ(rig.events("at_socket", "emu:esp8266-tcp-01").size(), 2u);  // connected, then reconnected
  EXPECT_EQ(rig.events("at_socket", "emu:rtl8710-tcp-02").size(), 2u);
  EXPECT_TRUE(rig.run_until([&] { return rig.height() >= 5; }, 30'000));
}

TEST(SimAtAppliance, SameSeedGivesIdenticalEventLines) {
  const auto run = [](std::uint64_t seed) {
    AtRig rig(seed);
    add_four(rig);
    rig.start();
    harness::UdpFaults f;
    f.loss_rate = 0.1;
    f.duplicate_rate = 0.1;
    f.reorder_rate = 0.1;
    f.jitter_ms = 20;
    rig.udp(1).policy().set(f);
    rig.run_ms(8'000);
    rig.app(2).set_access_point(-90, std::nullopt);
    rig.run_ms(4'000);
    return rig.jsonl();
  };
  const std::string a = run(21), b = run(21);
  EXPECT_GT(a.size(), 1000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, run(22));
}

TEST(SimTrustNodeDatagram, BadDatagramIsAFrameErrorAndAGoodOneOpensTheLink) {
  Scheduler sched;
  EventStream events(sched);
  SimTrustNode node(sched, events, tn::ConsensusConfig{}, 1);
  const std::uint32_t id = node.add_datagram_link("udp:127.0.0.1:40000", [](std::vector<std::uint8_t>) {});
  node.start();
  const std::uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  node.on_datagram(id, junk, sizeof junk);
  EXPECT_EQ(node.frame_errors(), 1u);
  const auto& all = events.events();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back()["kind"], "frame_error");
  EXPECT_EQ(all.back()["fields"]["error"], "bad_crc");
  for (const auto& e : all) EXPECT_NE(e["kind"], "link_opened");  // a bad datagram opens nothing
  // A datagram with a good CRC-32 opens the peer's link; its payload (not an Envelope) is a decode error.
  const std::uint8_t payload[3] = {0xff, 0xff, 0xff};
  std::uint8_t good[16];
  const std::size_t n = iotw_datagram_encode(payload, sizeof payload, good, sizeof good);
  ASSERT_GT(n, 0u);
  node.on_datagram(id, good, n);
  const auto& after = events.events();
  ASSERT_GE(after.size(), 2u);
  EXPECT_EQ(after[after.size() - 2]["kind"], "link_opened");
  EXPECT_EQ(after[after.size() - 2]["fields"]["link"], "udp:127.0.0.1:40000");
  EXPECT_EQ(after.back()["fields"]["error"], "decode");
  EXPECT_EQ(node.frame_errors(), 2u);
}

}  // namespace
}  // namespace iotw::sim
