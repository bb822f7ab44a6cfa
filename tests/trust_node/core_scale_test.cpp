// Many devices on one core (docs/trust-node.md "Many devices", issue 17): the liveness deadlines, the counts asked
// for every Hello, the duplicate-name index and the selection sample stay correct with thousands of devices.
// Counts and events only; no timings.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

ConsensusConfig fixed_interval() {
  ConsensusConfig c;
  c.max_heartbeats_per_s = 0;  // every Welcome gives device_timeout_ms / 5
  return c;
}

size_t detached(const Rig &rig, const std::string &reason) {
  size_t n = 0;
  for (const Event &e : rig.sink.of("device_detached")) n += e.fields["reason"] == reason;
  return n;
}

TEST(TrustNodeCoreScale, SilenceDetachesExactlyTheSilentDevicesOfThousandsAtTheirTimeout) {
  Rig rig(fixed_interval());
  const size_t n = 3000;
  for (size_t i = 0; i < n; ++i) rig.add();
  ASSERT_EQ(rig.core.attached_count(), n);
  const uint64_t interval = rig.cfg.heartbeat_interval_ms(), timeout = rig.cfg.device_timeout_ms;
  // Odd links heartbeat every interval; even links fall silent from now on.
  auto beat = [&] {
    for (auto &[link, d] : rig.devices)
      if (link % 2) rig.from(d, d.heartbeat());
  };
  uint64_t silent_for = 0;
  while (silent_for + interval < timeout) {
    rig.advance(interval);
    silent_for += interval;
    beat();
    EXPECT_EQ(rig.core.attached_count(), n) << "nobody is detached before its timeout (silent " << silent_for << " ms)";
  }
  rig.advance(timeout - silent_for - 1);
  EXPECT_EQ(detached(rig, "timeout"), 0u) << "1 ms before the timeout";
  rig.advance(1);
  EXPECT_EQ(detached(rig, "timeout"), n / 2) << "every silent device, at its timeout";
  EXPECT_EQ(rig.core.attached_count(), n / 2);
  for (const Event &e : rig.sink.of("device_detached")) {
    const SimDevice *d = rig.by_hex(e.fields["device"]);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->link % 2, 0u) << d->name << " heartbeat and was detached";
  }
  // The heartbeating half stays attached for many more timeouts; the deadline queue stays one entry per device.
  for (int k = 0; k < 20; ++k) {
    rig.advance(interval);
    beat();
    EXPECT_LE(rig.core.state_sizes().silence_timers, n);
  }
  EXPECT_EQ(rig.core.attached_count(), n / 2);
  EXPECT_EQ(rig.core.state_sizes().eligible, n / 2);
  EXPECT_EQ(rig.core.state_sizes().attached_names, n / 2);
}

TEST(TrustNodeCoreScale, WelcomeStretchesTheHeartbeatIntervalWithTheAttachedDevicesAndTheTimeoutFollows) {
  ConsensusConfig cfg;
  cfg.max_heartbeats_per_s = 1000;  // base interval 1000 ms (device_timeout_ms 5000)
  EXPECT_EQ(cfg.heartbeat_interval_ms(1), 1000u);
  EXPECT_EQ(cfg.heartbeat_interval_ms(1000), 1000u);
  EXPECT_EQ(cfg.heartbeat_interval_ms(2500), 2500u);
  EXPECT_EQ(cfg.heartbeat_interval_ms(1'000'000), 5000u) << "never beyond device_timeout_ms";
  cfg.max_heartbeats_per_s = 0;
  EXPECT_EQ(cfg.heartbeat_interval_ms(1'000'000), 1000u);

  cfg.max_heartbeats_per_s = 1000;
  Rig rig(cfg);
  const size_t n = 3000;
  for (size_t i = 0; i < n; ++i) rig.add();
  auto welcome_ms = [&](const SimDevice &d) {
    for (const iotw_v1_Envelope &e : d.received)
      if (e.which_body == iotw_v1_Envelope_welcome_tag) return e.body.welcome.heartbeat_interval_ms;
    return 0u;
  };
  EXPECT_EQ(welcome_ms(rig.devices.at(1)), 1000u);
  EXPECT_EQ(welcome_ms(rig.devices.at(2500)), 2500u);
  EXPECT_EQ(welcome_ms(rig.devices.at(3000)), 3000u);
  // All heartbeats together stay near the budget: sum over devices of 1000 / interval.
  double per_s = 0;
  for (const auto &[link, d] : rig.devices) per_s += 1000.0 / welcome_ms(d);
  EXPECT_LT(per_s, 2.2 * cfg.max_heartbeats_per_s);
  // Everyone silent: the first device is detached at 5 x 1000 ms, the last at 5 x 3000 ms.
  rig.advance(5000);
  EXPECT_EQ(rig.core.attached_count(), n - 1000) << "the devices told 1000 ms (timeout 5000 ms)";
  rig.advance(14'999 - 5000);
  EXPECT_EQ(rig.core.attached_count(), 1u) << "only the one told 3000 ms is left";
  rig.advance(1);
  EXPECT_EQ(rig.core.attached_count(), 0u);
}

TEST(TrustNodeCoreScale, RegistrationsInProgressCountOpenChallengesAsLinksComeAndGo) {
  Rig rig(fixed_interval());
  std::vector<SimDevice> devs;
  for (uint32_t i = 0; i < 10; ++i) devs.emplace_back(100 + i, "reg-" + std::to_string(i), Behaviour::honest);
  for (SimDevice &d : devs) {
    rig.core.link_opened(d.link, "udp:127.0.0.1:" + std::to_string(d.link));
    rig.core.on_message(d.link, d.hello());
  }
  EXPECT_EQ(rig.core.registrations_in_progress(), 10u);
  rig.core.on_message(devs[0].link, devs[0].hello());  // a second Hello replaces the open challenge
  EXPECT_EQ(rig.core.registrations_in_progress(), 10u);
  auto challenge_of = [&](const SimDevice &d) {
    std::optional<iotw_v1_Envelope> last;
    for (const auto &[link, env] : rig.sink.out)
      if (link == d.link && env.which_body == iotw_v1_Envelope_challenge_tag) last = env;
    return *last;
  };
  for (int i = 0; i < 4; ++i) rig.core.on_message(devs[i].link, *devs[i].respond(challenge_of(devs[i])));
  EXPECT_EQ(rig.core.registrations_in_progress(), 6u) << "four proved";
  EXPECT_EQ(rig.core.attached_count(), 4u);
  for (int i = 4; i < 7; ++i) rig.core.link_closed(devs[i].link);
  EXPECT_EQ(rig.core.registrations_in_progress(), 3u) << "three links went away mid-registration";
  SimDevice bad(200, "bad", Behaviour::bad_proof);
  rig.core.link_opened(bad.link, "udp:127.0.0.1:200");
  rig.core.on_message(bad.link, bad.hello());
  EXPECT_EQ(rig.core.registrations_in_progress(), 4u);
  rig.core.on_message(bad.link, *bad.respond(challenge_of(bad)));
  EXPECT_EQ(rig.core.registrations_in_progress(), 3u) << "a failed Prove closes the registration";
  rig.core.set_assigning(false);
  EXPECT_EQ(rig.core.registrations_in_progress(), 0u);
  EXPECT_EQ(rig.core.attached_count(), 0u);
}

TEST(TrustNodeCoreScale, DuplicateNameIsRefusedAmongThousandsAndFreedWhenItsHolderLeaves) {
  Rig rig(fixed_interval());
  for (int i = 0; i < 2000; ++i) rig.add();
  SimDevice &clone = rig.devices.emplace(5000, SimDevice(5000, "clone", Behaviour::honest)).first->second;
  clone.name = "dev-1234";  // its own key, the name of an attached device
  rig.core.link_opened(clone.link, "udp:127.0.0.1:5000");
  rig.from(clone, clone.hello());
  ASSERT_EQ(rig.sink.of("registration_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("registration_rejected")[0].fields["reason"], "duplicate_name");
  EXPECT_EQ(rig.sink.of("registration_rejected")[0].fields["holder"], rig.devices.at(1234).hex());
  EXPECT_FALSE(clone.attached);
  rig.core.link_closed(1234);  // the holder leaves: its name is free
  rig.from(clone, clone.hello());
  EXPECT_TRUE(clone.attached);
  EXPECT_EQ(rig.core.attached_count(), 2000u);
  EXPECT_EQ(rig.core.state_sizes().attached_names, 2000u);
}

TEST(TrustNodeCoreScale, SelectionFromASampleOfALargePoolFinalizesBlocksAndSpreadsTheWork) {
  Rig rig(fixed_interval());
  const size_t n = TrustNodeCore::selection_sample + 500;
  for (size_t i = 0; i < n; ++i) rig.add();
  ASSERT_EQ(rig.core.state_sizes().eligible, n);
  const size_t start = rig.mem.chain.size(), blocks = 60;
  for (size_t i = 0; i < blocks; ++i) {
    rig.submit("scale-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
  }
  ASSERT_EQ(rig.mem.chain.size(), start + blocks) << "every tx became a block";
  std::set<Key> miners, witnesses;
  for (size_t h = start; h < rig.mem.chain.size(); ++h) {
    expect_verifies(rig.mem.chain[h], rig.mem.chain[h - 1]);
    miners.insert(rig.mem.chain[h].miner);
    for (const Attestation &a : rig.mem.chain[h].attestations) witnesses.insert(a.witness);
  }
  // Uniform draws over 1,524 devices: 60 miners and 180 witnesses are nearly all distinct.
  EXPECT_GT(miners.size(), 50u);
  EXPECT_GT(witnesses.size(), 150u);
  EXPECT_EQ(detached(rig, "timeout"), 0u);
}

}  // namespace
}  // namespace iotw::tn::test
