// SimPoweredDevice: a DPS chip / smart bulb with its firmware on the Scheduler, attached to a SimTrustNode over a
// SimLink, as sim_run.cpp wires a rig's devices. Virtual time only: every wait is a number of simulated ms.
#include "iotw/sim/sim_powered_device.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dps_supply.hpp"
#include "iotw/sim/sim_link.hpp"
#include "iotw/sim/sim_trust_node.hpp"
#include "iotw/support/seeded_random.hpp"

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::sim {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

/// One trust node and one powered device on a PTY-like link, seeded.
struct Bench {
  explicit Bench(std::uint64_t seed, const std::string& model = "dps", harness::PoweredSettings powered = {},
                 const std::string& behaviour = "honest")
      : events(sched), node(sched, events, config(), seed), link(sched, "dev", seed, 0, nullptr, 0) {
    const std::uint32_t id =
        node.add_link("sim:dev", [this](std::vector<std::uint8_t> b) { link.send(Direction::NodeToDevice, std::move(b)); });
    SimPoweredConfig cfg;
    cfg.device.name = "dev";
    cfg.device.behaviour = behaviour;
    cfg.device.seed = component_seed(seed, "dev");
    cfg.model = model;
    if (!powered.usage_period_ms) powered.usage_period_ms = 1000;
    cfg.powered = std::move(powered);
    dev = std::make_unique<SimPoweredDevice>(sched, events, std::move(cfg), board, [this](std::vector<std::uint8_t> b) {
      link.send(Direction::DeviceToNode, std::move(b));
    });
    link.set_receiver(Direction::DeviceToNode, [this, id](const std::uint8_t* p, std::size_t n) { node.on_bytes(id, p, n); });
    link.set_receiver(Direction::NodeToDevice, [this](const std::uint8_t* p, std::size_t n) { dev->on_rx(p, n); });
    node.start();
    dev->start();
  }
  static tn::ConsensusConfig config() {
    tn::ConsensusConfig c;
    c.witnesses = 1;
    return c;
  }
  void run_ms(std::uint64_t ms) { sched.run_until(sched.now_ns() + ms * kMs); }
  /// The device's events of `kind`, in order.
  std::vector<nlohmann::json> of(const std::string& kind) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events.events())
      if (e.value("source", "") == "emu:dev" && e.value("kind", "") == kind) out.push_back(e["fields"]);
    return out;
  }
  /// seq -> energy_mwh of the device's usage_report events and of the trust node's usage_accepted events.
  std::map<std::uint64_t, std::uint64_t> reported() const { return by_seq("emu:dev", "usage_report"); }
  std::map<std::uint64_t, std::uint64_t> accepted() const { return by_seq("trust-node", "usage_accepted"); }
  std::map<std::uint64_t, std::uint64_t> by_seq(const std::string& source, const std::string& kind) const {
    std::map<std::uint64_t, std::uint64_t> out;
    for (const auto& e : events.events())
      if (e.value("source", "") == source && e.value("kind", "") == kind)
        out[e["fields"]["seq"].get<std::uint64_t>()] = e["fields"]["energy_mwh"].get<std::uint64_t>();
    return out;
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& e : events.events()) out.push_back(e.dump());
    return out;
  }

  Scheduler sched;
  EventStream events;
  emu::CollusionBoard board;
  SimTrustNode node;
  SimLink link;
  std::unique_ptr<SimPoweredDevice> dev;
};

TEST(SimPoweredDevice, BootsOnTheRailAndAttaches) {
  Bench b(7);
  b.run_ms(3000);
  ASSERT_FALSE(b.of("rail").empty());
  EXPECT_EQ(b.of("rail").front()["event"], "boot");
  EXPECT_EQ(b.of("rail").front()["reset_reason"], IOTW_RESET_POWERON);
  EXPECT_TRUE(b.dev->firmware().powered());
  EXPECT_EQ(b.node.attached_names().count("dev"), 1u);
}

TEST(SimPoweredDevice, PowerLossStopsTheFirmwareAndTheRampBackRebootsItWithPowerOn) {
  Bench b(7);
  b.run_ms(3000);
  b.dev->set_supply(0, 0);
  b.run_ms(200);
  ASSERT_EQ(b.of("rail").back()["event"], "power_lost");
  EXPECT_FALSE(b.dev->firmware().powered());
  EXPECT_EQ(b.dev->firmware().state(), IOTW_FW_OFF);
  const std::size_t resets = b.of("reset").size();
  b.dev->set_supply(24, 10);  // 0 -> 6.5 V (the rail's boot threshold) in 650 ms
  b.run_ms(500);
  EXPECT_FALSE(b.dev->firmware().powered()) << "still ramping";
  b.run_ms(500);
  ASSERT_EQ(b.of("rail").back()["event"], "boot");
  EXPECT_EQ(b.of("rail").back()["reset_reason"], IOTW_RESET_POWERON);
  ASSERT_EQ(b.of("reset").size(), resets + 1);
  EXPECT_EQ(b.of("reset").back()["reset_reason"], IOTW_RESET_POWERON);
  EXPECT_TRUE(b.dev->firmware().powered());
  b.run_ms(3000);
  EXPECT_EQ(b.node.attached_names().count("dev"), 1u) << "attached again";
}

TEST(SimPoweredDevice, BrownOutStopsTheFirmwareAndTheSupplyReturnRebootsItWithBrownOut) {
  Bench b(8);
  b.run_ms(3000);
  b.dev->set_supply(4, 0);
  b.run_ms(200);
  ASSERT_EQ(b.of("rail").back()["event"], "brownout");
  EXPECT_FALSE(b.dev->firmware().powered());
  b.dev->set_supply(24, 0);
  b.run_ms(100);
  ASSERT_EQ(b.of("rail").back()["event"], "boot");
  EXPECT_EQ(b.of("rail").back()["reset_reason"], IOTW_RESET_BROWNOUT);
  EXPECT_EQ(b.of("reset").back()["reset_reason"], IOTW_RESET_BROWNOUT);
  EXPECT_TRUE(b.dev->firmware().powered());
}

TEST(SimPoweredDevice, AShortDipIsRiddenThrough) {
  Bench b(8);
  b.run_ms(3000);
  const std::size_t rails = b.of("rail").size();
  b.dev->set_supply(4, 0);
  b.dev->set_supply(24, 0);  // back within the hold-up time
  b.run_ms(200);
  EXPECT_EQ(b.of("rail").size(), rails);
  EXPECT_TRUE(b.dev->firmware().powered());
}

TEST(SimPoweredDevice, ThePowerScheduleBrownsOutAndRestores) {
  harness::PoweredSettings p;
  p.power = {{2000, 4.0, 0}, {2500, 24.0, 0}};
  Bench b(9, "dps", p);
  b.run_ms(3000);
  const auto rails = b.of("rail");
  ASSERT_EQ(rails.size(), 3u);
  EXPECT_EQ(rails[1]["event"], "brownout");
  EXPECT_EQ(rails[2]["reset_reason"], IOTW_RESET_BROWNOUT);
  ASSERT_EQ(b.of("supply").size(), 2u);
  EXPECT_EQ(b.of("supply")[0]["vin"], 4.0);
}

TEST(SimPoweredDevice, UsageReportsCarryTheMeteredEnergy) {
  harness::PoweredSettings p;
  p.load_ohm = 10.0;  // 12 V into 10 ohm: 14.4 W, 4 mWh a second
  Bench b(10, "dps", p);
  b.run_ms(10'000);
  const auto reports = b.of("usage_report");
  ASSERT_GE(reports.size(), 3u);
  std::uint64_t reported = 0;
  for (const auto& r : reports) {
    EXPECT_GT(r["energy_mwh"].get<std::uint64_t>(), 0u);
    reported += r["energy_mwh"].get<std::uint64_t>();
  }
  const double metered = b.dev->chip().chip().energy_mwh();
  EXPECT_LE(static_cast<double>(reported), metered);
  EXPECT_GE(static_cast<double>(reported), metered - 14.4 * 2 / 3.6) << "at most the last period is unreported";
  b.run_ms(500);  // the last report reaches the node
  EXPECT_EQ(b.accepted(), b.reported()) << "the trust node accepted each report with the metered energy";
}

TEST(SimPoweredDevice, InflateUsageSignsTwiceTheMeteredEnergy) {
  Bench b(10, "dps", {}, "inflate_usage");
  b.run_ms(6000);
  const auto reported = b.reported();
  b.run_ms(500);
  const auto accepted = b.accepted();
  ASSERT_FALSE(reported.empty());
  ASSERT_EQ(accepted.size(), reported.size());
  for (const auto& [seq, mwh] : reported) EXPECT_EQ(accepted.at(seq), 2 * mwh) << "seq " << seq;
}

TEST(SimPoweredDevice, ModbusOffByOneIsTheChipsAndTheFirmwareRunsHonest) {
  Bench b(11, "dps", {}, "modbus_off_by_one");
  b.run_ms(3000);
  EXPECT_EQ(b.node.attached_names().count("dev"), 1u);
  auto& map = b.dev->chip().registers();
  EXPECT_EQ(map.holding(0x00), 2000) << "U-SET's address reads I-SET (2.000 A)";
}

TEST(SimPoweredDevice, ABulbsLedIsTheLoadAndComesBackOnAfterAPowerCycle) {
  Bench b(12, "bulb");
  b.run_ms(5000);
  const double w = b.dev->chip().chip().reading().pout;
  EXPECT_NEAR(w, 9.0, 0.01) << "the LED at 100 %";
  b.dev->set_supply(0, 0);
  b.run_ms(200);
  EXPECT_EQ(b.dev->chip().chip().reading().pout, 0.0);
  b.dev->set_supply(24, 0);
  b.run_ms(200);
  EXPECT_NEAR(b.dev->chip().chip().reading().pout, 9.0, 0.01);
  EXPECT_FALSE(b.of("usage_report").empty());
}

TEST(SimPoweredDevice, ASupplyOutOfRangeIsRefused) {
  Bench b(13);
  EXPECT_THROW(b.dev->set_supply(61, 0), harness::DpsSupplyError);
  EXPECT_THROW(b.dev->set_supply(24, -1), harness::DpsSupplyError);
}

TEST(SimPoweredDevice, TheSameSeedGivesTheSameEventLines) {
  auto run = [](std::uint64_t seed) {
    harness::PoweredSettings p;
    p.power = {{2000, 0.0, 0}, {3000, 24.0, 5.0}};
    Bench b(seed, "bulb", p);
    b.run_ms(4000);
    b.dev->set_supply(4, 0);
    b.run_ms(1000);
    b.dev->set_supply(24, 0);
    b.run_ms(3000);
    return b.lines();
  };
  const auto a = run(42), again = run(42), other = run(43);
  ASSERT_GT(a.size(), 20u);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other);
}

}  // namespace
}  // namespace iotw::sim
