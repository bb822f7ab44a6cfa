// A device and the trust node in virtual time: registration over a simulated link, the chip's CPU time, the
// watchdog, power.
#include <gtest/gtest.h>

#include <memory>

#include "common/chip_profile.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/sim_device.hpp"
#include "iotw/sim/sim_link.hpp"
#include "iotw/sim/sim_trust_node.hpp"
#include "iotw/support/seeded_random.hpp"

namespace iotw::sim {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

/// One device on one link to one trust node, polled every 20 ms as sim mode does.
struct World {
  explicit World(const std::string& model = "esp32", std::string behaviour = "honest") : events(sched) {
    tn::ConsensusConfig cfg;
    cfg.witnesses = 1;
    node = std::make_unique<SimTrustNode>(sched, events, cfg, 9);
    link = std::make_unique<SimLink>(sched, "dev-01", 1, 0, nullptr, 0);
    const auto id = node->add_link("sim:dev-01", [this](std::vector<std::uint8_t> b) {
      link->send(harness::Direction::NodeToDevice, std::move(b));
    });
    SimDeviceConfig c;
    c.name = "dev-01";
    c.behaviour = std::move(behaviour);
    c.seed = component_seed(9, "dev-01");
    device = std::make_unique<SimDevice>(sched, events, c, emu::chip_profile(model), board,
                                         [this](std::vector<std::uint8_t> b) {
                                           link->send(harness::Direction::DeviceToNode, std::move(b));
                                         });
    link->set_receiver(harness::Direction::DeviceToNode,
                       [this, id](const std::uint8_t* p, std::size_t n) { node->on_bytes(id, p, n); });
    link->set_receiver(harness::Direction::NodeToDevice,
                       [this](const std::uint8_t* p, std::size_t n) { device->on_rx(p, n); });
  }
  void start() {
    node->start();
    device->start();
    poll();
  }
  void poll() {
    sched.after(20 * kMs, [this] {
      device->tick();
      poll();
    });
  }
  void run_ms(std::uint64_t ms) { sched.run_until(sched.now_ns() + ms * kMs); }
  std::vector<nlohmann::json> of(const std::string& kind) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events.events())
      if (e["kind"] == kind) out.push_back(e);
    return out;
  }

  Scheduler sched;
  EventStream events;
  emu::CollusionBoard board;
  std::unique_ptr<SimTrustNode> node;
  std::unique_ptr<SimLink> link;
  std::unique_ptr<SimDevice> device;
};

TEST(SimDevice, RegistersWithTheTrustNodeOverTheSimulatedLink) {
  World w;
  w.start();
  w.run_ms(2000);
  EXPECT_EQ(w.device->state(), IOTW_FW_ATTACHED);
  ASSERT_EQ(w.of("device_registered").size(), 1u);
  EXPECT_EQ(w.node->attached_names(), (std::set<std::string>{"dev-01"}));
}

TEST(SimDevice, ItsFirstFrameWaitsForTheChipsBootTime) {
  World w("esp8266");
  w.start();
  const auto& profile = emu::chip_profile("esp8266");
  // Nothing reaches the node before the boot (and the key pair's CPU time) is over.
  w.run_ms(profile.boot_ms - 1);
  EXPECT_TRUE(w.of("device_registered").empty());
  EXPECT_EQ(w.link->stats_json()["device_to_node"]["bytes"], 0);
  w.run_ms(3000);
  EXPECT_EQ(w.of("device_registered").size(), 1u);
}

TEST(SimDevice, AHungDeviceIsResetByItsWatchdogOnItsOwnClock) {
  World w;
  w.start();
  w.run_ms(1000);
  w.device->hang();
  EXPECT_TRUE(w.device->hung());
  const auto& profile = emu::chip_profile("esp32");
  w.run_ms(profile.wdt_timeout_ms - 40);
  EXPECT_TRUE(w.of("watchdog_reset").empty());
  w.run_ms(100);
  ASSERT_EQ(w.of("watchdog_reset").size(), 1u);
  EXPECT_FALSE(w.device->hung());
  const auto resets = w.of("reset");
  ASSERT_FALSE(resets.empty());
  EXPECT_EQ(resets.back()["fields"]["cause"], "watchdog");
  EXPECT_EQ(resets.back()["fields"]["reset_reason"], profile.wdt_reset);
}

TEST(SimDevice, PowerOffStopsTheFirmwareAndPowerOnBootsItWithTheResetReason) {
  World w;
  w.start();
  w.run_ms(1000);
  const std::uint32_t boots = w.of("reset").size();
  w.device->power_off();
  EXPECT_FALSE(w.device->powered());
  EXPECT_EQ(w.device->state(), IOTW_FW_OFF);
  EXPECT_EQ(w.device->report_usage(10, 1, 1), 0);  // off: nothing consumed
  w.device->power_on(9);  // IOTW_RESET_BROWNOUT
  EXPECT_EQ(w.of("reset").size(), boots + 1);
  EXPECT_EQ(w.of("reset").back()["fields"]["reset_reason"], 9);
  w.run_ms(3000);
  EXPECT_EQ(w.device->state(), IOTW_FW_ATTACHED);
}

TEST(SimDevice, RefusesABehaviourThatIsNotTheFirmwares) {
  EXPECT_THROW(World("dps", "modbus_off_by_one"), std::invalid_argument);
}

TEST(SimTrustNode, AKilledNodeLosesItsCoreButNotItsLedger) {
  World w;
  w.start();
  w.run_ms(1500);
  ASSERT_TRUE(w.node->submit(tn::Bytes{'a', 'b'}).has_value());
  w.node->kill();
  EXPECT_FALSE(w.node->submit(tn::Bytes{'c'}).has_value());  // no answer while down
  EXPECT_THROW(w.node->kill(), std::runtime_error);
  w.node->restart();
  // The tx the dead node acknowledged is still there: a resubmission is a duplicate.
  const auto again = w.node->submit(tn::Bytes{'a', 'b'});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, tn::SubmitResult::duplicate);
}

}  // namespace
}  // namespace iotw::sim
